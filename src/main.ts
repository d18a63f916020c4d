import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildPipeline, resolveProfile } from './capture/profiles.js';
import { CaptureSupervisor, RING_LOCK_FILE } from './capture/supervisor.js';
import type { Config, Profile } from './config/schema.js';
import { AppClock, systemClock, type Clock } from './core/clock.js';
import { PhoneTime } from './session/phone-time.js';
import { systemClockSynchronised } from './appliance/time-sync.js';
import { EventBus } from './core/events.js';
import { createLogger, type Logger } from './core/logger.js';
import { createDevices, type Devices } from './device/factory.js';
import { deviceConfigFor } from './device/wiring.js';
import { describeError } from './core/errors.js';
import { ControlServer, controlSocketPath } from './web/control.js';
import { Privacy } from './session/privacy.js';
import { ReviewNotes } from './session/review-notes.js';
import { createSyncService, dockTrust, heldElsewhere, isFetched, type ReviewUploadSource, type SyncConfig, type SyncService } from './sync/index.js';
import { DirectoryCache } from './sync/fetch-directory.js';
import { createTeamSync, lastDocked, withFetchProgress } from './sync/fetch-service.js';
import { nominalBytesPerSecond, Recorder } from './session/recorder.js';
import { Catalogue } from './store/catalogue.js';
import { ClipStore } from './store/clips.js';
import { FragmentStore } from './store/fragments.js';
import { DEFAULT_TRAINER_ID, KeyStore } from './store/keys.js';
import { StorageGuard } from './store/storage.js';
import { DirLock, prepareDir } from './store/dir-lock.js';
import { removeTempFiles } from './store/durable.js';
import { SpaceReserve } from './store/reserve.js';
import { buildApp } from './web/app.js';
import { startListeners, type Listeners } from './web/listen.js';
import { PinLockout, pinLockoutFile } from './web/pin-lockout.js';
import { createNotifier, type Notifier } from './appliance/notify.js';
import { CecService } from './appliance/cec.js';
import { hotspotInfo } from './appliance/hotspot.js';
import { buttonActions, controlCommands, PressOutcomes } from './wiring/control-commands.js';
import { Indicators } from './wiring/indicators.js';
import { Lifecycle, type Component } from './wiring/lifecycle.js';
import { syncStatusOf, wireSync, type SyncStatus } from './wiring/sync-status.js';
import { wireOfficeLink } from './wiring/office-link.js';
import { readinessComponent, watchdogComponent } from './wiring/systemd.js';

export interface Kit {
  config: Config;
  profile: Profile;
  logger: Logger;
  bus: EventBus;
  catalogue: Catalogue;
  clips: ClipStore;
  keys: KeyStore;
  capture: CaptureSupervisor;
  recorder: Recorder;
  privacy: Privacy;
  /** The app's clock (a trainer's phone may correct it at login). */
  clock: AppClock;
  devices: Devices;
  control: ControlServer;
  sync: SyncService | null;
  app: FastifyInstance;
  /** The open web listeners (main, redirect, loopback) while started. */
  listeners: Listeners | null;
  ringDir: string;
  /** The components in start order (stopped in reverse). */
  components: string[];
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The RAM directory for plaintext segments: config, systemd's RuntimeDirectory, else /dev/shm,
 * named after the data dir (one ring per data dir: two kits with the same kit id never share one).
 */
export function ringDirFor(config: Config, env: NodeJS.ProcessEnv = process.env): string {
  if (config.capture.ringDir) return config.capture.ringDir;
  if (env.RUNTIME_DIRECTORY) return path.join(env.RUNTIME_DIRECTORY.split(':')[0]!, 'ring');
  const base = os.platform() === 'linux' ? '/dev/shm' : os.tmpdir();
  const of = createHash('sha256').update(path.resolve(config.dataDir)).digest('hex').slice(0, 12);
  return path.join(base, `vht-kit-ring-${of}-${os.userInfo().uid}`);
}

/** The sync section of the config in the shape the sync module takes. */
export function syncConfigOf(config: Config): SyncConfig {
  const s = config.sync;
  const dock = {
    ...(s.dock.caFile ? { caFile: s.dock.caFile } : {}),
    ...(s.dock.pinSha256 ? { pinSha256: s.dock.pinSha256 } : {}),
    allowInsecure: s.dock.allowInsecure,
  };
  return {
    target: s.target,
    ...(s.target === 's3'
      ? {
          s3: {
            endpoint: s.s3.endpoint!,
            region: s.s3.region,
            bucket: s.s3.bucket!,
            prefix: s.s3.prefix,
            accessKeyId: s.s3.accessKeyId!,
            secretAccessKey: s.s3.secretAccessKey!,
            forcePathStyle: s.s3.forcePathStyle,
          },
        }
      : {}),
    ...(s.target === 'dir' ? { dir: { path: s.dir.path!, requireMountPoint: s.dir.requireMountPoint } } : {}),
    dock,
    intervalSeconds: s.intervalSeconds,
    concurrency: s.concurrency,
    requestTimeoutSeconds: s.requestTimeoutSeconds,
    office: s.office,
  };
}

/** What createKit may be given instead of its defaults. */
export interface KitOptions {
  clock?: Clock;
  logger?: Logger;
  notifier?: Notifier;
  /** The built web app (default dist/ui of the package; tests point it elsewhere). */
  uiDir?: string;
  /** Where a config key's value came from, for error messages (loadConfig's `origin`). */
  origin?: (key: string) => string;
  /** Whether the system clock is synchronised (default: timesyncd / timedatectl; tests say no). */
  timeSynchronised?: () => Promise<boolean>;
}

/**
 * Composition root: constructs every component from the config (this is the one place that knows
 * the implementations), wires them, and gives them one lifecycle: started in list order, stopped in
 * reverse, each stop whatever the others do.
 */
export async function createKit(config: Config, opts: KitOptions = {}): Promise<Kit> {
  // The app's clock: the system's, corrected by a trainer's phone at login when not synchronised.
  const clock = new AppClock(opts.clock ?? systemClock);
  const logger = opts.logger ?? createLogger({ level: config.logLevel, component: 'vht-kit' });
  // systemd's notify protocol (no-op when NOTIFY_SOCKET is unset): READY, WATCHDOG, STOPPING.
  const notifier = opts.notifier ?? createNotifier({ logger: logger.child('systemd') });
  const bus = new EventBus();
  // HDMI-CEC (cec-ctl): TV on + input switch on `present`, remote keys → `tv.control`.
  const cec = new CecService(config.cec, bus, logger.child('cec'));
  const profile = resolveProfile(config.capture.profile, config.capture.device);
  // One kit per data dir and per ring dir, before anything in them is touched (exit 2 naming the key).
  const locks = lockDirs(config, opts.origin ?? (() => 'the configuration'));
  // The catalogue's own room on a full card (docs/reliability.md): login, reads, sync, delete go on.
  const space = new SpaceReserve(config.dataDir, logger.child('store'));
  const { catalogue, keys, clips, privacy, directory, fragmentStore } = buildStore(config, profile, clock, logger, space);
  const { ringDir, capture, recorder } = buildRecording(config, profile, locks.ringDir, { catalogue, clips, bus, clock, logger, space });
  // office sync: on docking, upload to the organisation's storage (with the team fetch and the office link)
  const { sync, syncStatus } = buildSync(config, { catalogue, keys, clips, privacy, directory, fragmentStore, bus, clock, logger, space });
  // kit hardware: button, LEDs, serial kit controller (or their simulated twins)
  const deviceConfig = deviceConfigFor(config, profile);
  const presses = new PressOutcomes({ bus, clock, logger });
  const devices = createDevices(deviceConfig, {
    clock,
    logger: logger.child('device'),
    state: () => recorder.state,
    perform: buttonActions(recorder),
    onOutcome: presses.handle,
  });
  const indicators = new Indicators({
    bus,
    devices,
    recorder,
    syncing: () => sync?.progress.state === 'uploading',
    lowBatteryPercent: config.leds.lowBatteryPercent,
  });
  const control = new ControlServer(
    controlSocketPath(config.dataDir),
    controlCommands({ recorder, devices, deviceConfig, indicators, presses, bus, clock, time: () => clock.time() }),
    logger.child('control'),
  );
  if (sync) {
    const statusFile = path.join(config.dataDir, 'sync-status.json');
    wireSync({ sync, bus, privacy, status: syncStatus, statusFile, onStateChange: () => indicators.show(), clock, logger: logger.child('sync') });
  }
  const synchronised = opts.timeSynchronised ?? (() => systemClockSynchronised());
  const phoneTime = new PhoneTime({ clock, catalogue, logger: logger.child('clock'), synchronised });
  const app = await buildWeb(config, {
    recorder,
    catalogue,
    clips,
    keys,
    privacy,
    bus,
    clock,
    logger,
    indicators,
    uiDir: opts.uiDir,
    syncStatus,
    sync,
    phoneTime,
    fragmentStore,
  });

  let listeners: Listeners | null = null;
  let recovered = 0;
  let dropped: string[] = [];
  // Stopped in reverse: first nothing may start a take any more (systemd, web, control socket,
  // button), then the running take is ended cleanly, before the steps that may be slow (the CEC
  // process, aborting an upload); the keys and the catalogue go last.
  const components: Component[] = [
    {
      name: 'store',
      start: () => {
        ({ recovered, dropped } = recoverStore({ dataDir: config.dataDir, capture, catalogue, clips, privacy, clock, logger }));
      },
      stop: () => {
        try {
          catalogue.close();
        } finally {
          // No plaintext stays in RAM after a stop: whatever the worker or the live tail left goes.
          const left = capture.discardLeftovers();
          if (left > 0) logger.info('emptied the RAM ring', { files: left });
          locks.release();
        }
      },
    },
    watchdogComponent(notifier),
    { name: 'keys', start: () => startKeys(keys, config.auth.pin, space, dropped, logger), stop: () => keys.lock() },
    { name: 'privacy', start: () => startPrivacy(privacy, fragmentStore), stop: () => privacy.stop() },
    { name: 'sync', start: () => sync?.start(), stop: () => stopSync(sync) },
    { name: 'cec', start: () => startCec(cec, logger), stop: () => cec.stop() },
    { name: 'recorder', start: () => recorder.start(), stop: () => recorder.stop() },
    { name: 'devices', start: () => startDevices(devices, indicators, logger), stop: () => devices.stop() },
    { name: 'control', start: () => control.start(), stop: () => control.stop() },
    {
      name: 'web',
      start: async () => {
        listeners = await startListeners(app, config, logger.child('web'));
      },
      stop: async () => {
        await listeners?.close();
        listeners = null;
        await app.close();
      },
    },
    readinessComponent({
      notifier,
      capture,
      cameraTimeoutMs: config.capture.playingTimeoutMs + 5000,
      running: () => lifecycle.running,
      onStarted: () => logger.info('kit ready', { profile, port: config.http.port, dataDir: config.dataDir, ringDir, recovered }),
    }),
  ];
  const lifecycle = new Lifecycle(components, logger);
  return {
    config,
    profile,
    logger,
    bus,
    catalogue,
    clips,
    keys,
    capture,
    recorder,
    privacy,
    clock,
    devices,
    control,
    sync,
    app,
    ringDir,
    components: lifecycle.names,
    get listeners() {
      return listeners;
    },
    start: () => lifecycle.start(),
    async stop() {
      if (lifecycle.stopped) return;
      try {
        await lifecycle.stop();
      } finally {
        logger.info('kit stopped');
      }
    },
  };
}

/** The data dir's parts: catalogue, keys, clip files, and the privacy rules over them. */
function buildStore(config: Config, profile: Profile, clock: AppClock, logger: Logger, space: SpaceReserve) {
  const catalogue = new Catalogue(path.join(config.dataDir, 'catalogue.db'), space);
  const directory = new DirectoryCache(config.dataDir, config.kitId);
  const keys = new KeyStore({
    dataDir: config.dataDir,
    orgRecipient: config.keys.orgRecipient,
    allowDemoOrg: profile === 'sim',
    logger: logger.child('keys'),
    outboxRecipients: (t) => directory.otherKitsOf(t),
  });
  const clips = new ClipStore(config.dataDir, catalogue, keys, logger.child('store'), space);
  // Every audit entry names the trainer: the one signed in, else the kit's holder (issue 20).
  catalogue.setAuditActor(() => keys.unlockedTrainer ?? keys.holder());
  const p = config.privacy;
  // Fragments and kept stills (issue 19): their own keys and files; retention erases them too.
  const fragmentStore = new FragmentStore(config.dataDir, catalogue, keys, logger.child('fragments'));
  const privacy = new Privacy(catalogue, clips, clock, logger.child('privacy'), {
    kept: {
      deleteFragment: (id) => fragmentStore.deleteFragment(id),
      deleteKeptStill: (id) => fragmentStore.deleteKeptStill(id),
      destroyReviewKey: (id) => keys.destroyContentKey({ kind: 'review', id }),
    },
    dataDir: config.dataDir,
    onWithdrawal: p.onWithdrawal,
    deleteAfterUploadHours: p.deleteAfterUploadHours,
    warnUnuploadedDays: p.warnUnuploadedDays,
    retentionIntervalMs: p.retentionIntervalMinutes * 60_000,
    unusedFragmentDays: p.unusedFragmentDays,
    afterReviewHeldDays: p.afterReviewHeldDays,
    // Retention and erasure act on the system's time, never on one only a phone vouches for.
    trustedNow: () => clock.systemNow(),
  });
  return { catalogue, keys, clips, privacy, directory, fragmentStore };
}

/**
 * The office sync: the uploads, issue 20's team fetch after them (keys sent to the trainer's other
 * kits, the directory), issue 21's office link (erasure notices before upload, case index, kit
 * status; both keep to the storage reserve) and issue 19's fragment, kept-still and review metadata.
 */
function buildSync(
  config: Config,
  deps: {
    catalogue: Catalogue;
    keys: KeyStore;
    clips: ClipStore;
    privacy: Privacy;
    directory: DirectoryCache;
    fragmentStore: FragmentStore;
    bus: EventBus;
    clock: Clock;
    logger: Logger;
    space: SpaceReserve;
  },
) {
  const { catalogue, keys, clips, privacy, directory, bus, clock, logger } = deps;
  const guard = new StorageGuard(config.dataDir, config.storage.reserveMB * 1024 * 1024, deps.space);
  // issue 20: a sign-in on a docked kit starts that trainer's fetch (the last sync run found it docked)
  const docked = () => lastDocked(sync?.progress);
  // one office bucket (issue 21): the team fetch reads the kit directory from sync.office.bucket
  // and trusts on the S3 endpoint what the dock check trusts (sync.dock)
  const trust = dockTrust(syncConfigOf(config));
  const teamConfig = {
    ...config,
    sync: {
      ...config.sync,
      s3: { ...config.sync.s3, ...(trust ? { tls: trust } : {}) },
      fetch: { ...config.sync.fetch, officeBucket: config.sync.office.bucket },
    },
  };
  const team = createTeamSync(teamConfig, { keys, catalogue, directory, clock, logger, hasRoom: (b) => guard.hasRoom(b), docked });
  const officeLink = wireOfficeLink({ config: syncConfigOf(config), kitId: config.kitId, catalogue, keys, privacy, guard, bus, clock, logger });
  const sync = createSyncService({
    config: syncConfigOf(config),
    kitId: config.kitId,
    catalogue,
    clips,
    orgRecipient: () => keys.requireOrgRecipient(),
    clock,
    logger,
    team: team.team,
    ...(officeLink ? { extensions: [officeLink] } : {}),
    review: reviewUploadSource(keys, deps.fragmentStore, {
      heldElsewhere: (ref) => heldElsewhere(config.dataDir, catalogue, ref),
      fetchedCopy: (ref) => isFetched(config.dataDir, catalogue, ref),
    }),
  });
  return { sync, syncStatus: withFetchProgress(syncStatusOf(sync, config.sync.dock.allowInsecure), team.fetch) };
}

/** What the upload of fragment, kept-still and review metadata reads (public keys and stored files only). */
function reviewUploadSource(keys: KeyStore, fragmentStore: FragmentStore, team: Pick<ReviewUploadSource, 'heldElsewhere' | 'fetchedCopy'>): ReviewUploadSource {
  const notes = new ReviewNotes(keys, fragmentStore);
  return {
    recipientsOf: (ref) => keys.recipientsOf(ref),
    fragment: (id) => fragmentStore.fragment(id),
    keptStill: (id) => fragmentStore.keptStill(id),
    ...team,
    keptStillCiphertext: (id) => fragmentStore.readKeptStill(id),
    noteCiphertext: (ref) => notes.ciphertext(ref),
  };
}

/** Fragments or kept stills a crash left unfinished go (with their keys) before retention starts. */
async function startPrivacy(privacy: Privacy, fragmentStore: FragmentStore): Promise<void> {
  await fragmentStore.recover();
  privacy.start();
}

/** The camera's supervised capture worker (its state on the bus) and the recorder over it. */
function buildRecording(
  config: Config,
  profile: Profile,
  ringDir: string,
  deps: { catalogue: Catalogue; clips: ClipStore; bus: EventBus; clock: Clock; logger: Logger; space: SpaceReserve },
) {
  const { bus, clock, logger, space, ...parts } = deps;
  const c = config.capture;
  const capture = new CaptureSupervisor({
    ringDir,
    launchFor: (location) => buildPipeline(profile, c, location).launch,
    segmentMs: c.segmentMs,
    playingTimeoutMs: c.playingTimeoutMs,
    restartMinMs: c.restartMinMs,
    restartMaxMs: c.restartMaxMs,
    clock,
    logger: logger.child('capture'),
  });
  capture.on('error', (e) => bus.emit('camera.error', { message: e.message, restartInMs: e.restartInMs }));
  capture.on('playing', () => bus.emit('camera.ok', { profile }));
  const recorder = new Recorder({
    ...parts,
    bus,
    clock,
    capture,
    logger: logger.child('recorder'),
    guard: new StorageGuard(config.dataDir, config.storage.reserveMB * 1024 * 1024, space),
    profile,
    preRollMs: Math.round(c.preRollSeconds * 1000),
    segmentMs: c.segmentMs,
    armAtStart: c.armAtStart,
    nominalBytesPerSecond: nominalBytesPerSecond(c),
  });
  return { ringDir, capture, recorder };
}

/** The web app (Fastify, built apart from listen) with what its routes use. */
function buildWeb(
  config: Config,
  deps: Pick<Parameters<typeof buildApp>[0], 'recorder' | 'catalogue' | 'clips' | 'keys' | 'privacy' | 'bus' | 'clock' | 'logger' | 'fragmentStore'> & {
    indicators: Indicators;
    uiDir: string | undefined;
    syncStatus: () => SyncStatus;
    sync: SyncService | null;
    phoneTime: PhoneTime;
  },
): Promise<FastifyInstance> {
  const { indicators, uiDir, syncStatus, sync, phoneTime, ...parts } = deps;
  return buildApp({
    ...parts,
    logger: parts.logger.child('web'),
    pin: () => config.auth.pin,
    markerLabels: config.markers.labels,
    kitId: config.kitId,
    fps: config.capture.fps,
    playback: config.playback,
    pairingCodeMinutes: config.tv.pairingCodeMinutes,
    allowedHosts: config.http.allowedHosts,
    ...(uiDir ? { uiDir } : {}),
    pinLockout: new PinLockout({ clock: parts.clock, file: pinLockoutFile(config.dataDir), logger: parts.logger.child('auth') }),
    sessionIdleMs: config.auth.sessionIdleMinutes * 60_000,
    lockAfterIdleMs: config.auth.lockAfterIdleMinutes * 60_000,
    hardware: () => indicators.hardware(),
    hotspot: () => hotspotFor(config, parts.logger),
    sync: { status: syncStatus, run: sync ? () => void sync.runOnce() : null },
    phoneTime: (clientTime) => phoneTime.fromLogin(clientTime),
    time: () => phoneTime.time(),
  });
}

/**
 * What the start finds and repairs before anything records: plaintext leftovers in the RAM ring
 * are discarded, temp files a cut left anywhere in the data dir are removed, a missing catalogue
 * is rebuilt from the data dir, takes a crash left open become recovered clips, and those that
 * never got a segment are dropped (both audited). Returns how many clips were recovered and the
 * ids of the dropped ones (their keys go once the keys are loaded).
 */
function recoverStore(deps: {
  dataDir: string;
  capture: CaptureSupervisor;
  catalogue: Catalogue;
  clips: ClipStore;
  privacy: Privacy;
  clock: Clock;
  logger: Logger;
}): {
  recovered: number;
  dropped: string[];
} {
  const { capture, catalogue, clips, privacy, clock, logger } = deps;
  const discarded = capture.discardLeftovers();
  if (discarded > 0) logger.warn('discarded plaintext leftovers in the RAM ring', { files: discarded });
  // Temp files a cut left beside any durable file (keys, lock-out count, case list; clips too).
  const temps = removeTempFiles(deps.dataDir);
  if (temps.length > 0)
    logger.warn('removed temp files a crash left', {
      files: temps.length,
      dirs: [...new Set(temps.map((t) => path.relative(deps.dataDir, path.dirname(t)) || '.'))],
    });
  if (catalogue.created) {
    privacy.restoreCases();
    const n = clips.rebuild();
    catalogue.restoreCaseTrainers(DEFAULT_TRAINER_ID, clock.now());
    if (n > 0) logger.warn('catalogue was missing: rebuilt it from the data dir', { clips: n });
  }
  const { recovered, dropped } = clips.recover(clock.now());
  try {
    for (const id of recovered) catalogue.audit('clip.recovered', clock.now(), id);
    for (const id of dropped) catalogue.audit('clip.dropped', clock.now(), id, { reason: 'no segment' });
  } catch (err) {
    // a card full past the catalogue's reserve: the kit still starts (read-mostly)
    logger.error('recovery could not be audited', { recovered, dropped, error: describeError(err) });
  }
  return { recovered: recovered.length, dropped };
}

/**
 * Unlocks what the PIN opens, makes the catalogue's reserve (now that the keys took their room),
 * destroys the keys of clips recovery dropped; fails early, with the key name, when no organisation
 * recipient is set.
 */
async function startKeys(keys: KeyStore, pin: string | null, space: SpaceReserve, dropped: string[], logger: Logger): Promise<void> {
  await keys.start(pin);
  space.ensure();
  for (const id of dropped.filter((d) => keys.hasClipKey(d))) {
    await keys.destroyClipKey(id).catch((err: unknown) => logger.warn('key of a dropped clip not destroyed yet', { clipId: id, error: describeError(err) }));
  }
  keys.requireOrgRecipient();
}

/** Locks the data dir and the ring dir for this process (a second kit on either exits 2, naming the key). */
function lockDirs(config: Config, origin: (key: string) => string) {
  prepareDir(config.dataDir, 'dataDir', origin('dataDir'));
  const data = DirLock.acquire(path.join(config.dataDir, 'kit.lock'), 'dataDir', config.dataDir, origin('dataDir'));
  const ringDir = ringDirFor(config);
  const ringFrom = config.capture.ringDir ? origin('capture.ringDir') : `made from dataDir ${config.dataDir}`;
  prepareDir(ringDir, 'capture.ringDir', ringFrom);
  const ring = DirLock.acquire(path.join(ringDir, RING_LOCK_FILE), 'capture.ringDir', ringDir, ringFrom);
  return {
    ringDir,
    release(): void {
      ring.release();
      data.release();
    },
  };
}

/** Stops the upload schedule (aborting a run) and releases the target's connections. */
async function stopSync(sync: SyncService | null): Promise<void> {
  await sync?.stop();
  sync?.close();
}

/** Starts HDMI-CEC in the background: a TV that does not answer is logged, not fatal. */
function startCec(cec: CecService, logger: Logger): void {
  void cec.start().catch((err: unknown) => logger.warn('HDMI-CEC did not start', { error: describeError(err) }));
}

/** Starts the button, LEDs and kit controller; a button that does not work is logged, not fatal. */
async function startDevices(devices: Devices, indicators: Indicators, logger: Logger): Promise<void> {
  await devices.start();
  const buttonStatus = devices.button?.status();
  if (buttonStatus && !buttonStatus.ok) logger.warn('the record button does not work', { button: devices.button?.describe(), error: buttonStatus.error });
  indicators.show();
}

/** The hotspot's name and join code for the TV screen, or null (logged) when it cannot be read. */
function hotspotFor(config: Config, logger: Logger): { ssid: string; qrSvg: string } | null {
  try {
    return hotspotInfo(config);
  } catch (err) {
    logger.warn('cannot read the hotspot settings for the TV screen', { error: describeError(err) });
    return null;
  }
}

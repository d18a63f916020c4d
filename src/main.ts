import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildPipeline, resolveProfile } from './capture/profiles.js';
import { CaptureSupervisor, RING_LOCK_FILE } from './capture/supervisor.js';
import type { Config, Profile } from './config/schema.js';
import { systemClock, type Clock } from './core/clock.js';
import { EventBus } from './core/events.js';
import { createLogger, type Logger } from './core/logger.js';
import { createDevices, type Devices } from './device/factory.js';
import { SimKitController } from './device/kit-controller.js';
import { ledPatternFor } from './device/leds.js';
import { deviceConfigFor } from './device/wiring.js';
import { AppError, describeError } from './core/errors.js';
import { ControlServer, controlSocketPath, type ControlRequest } from './web/control.js';
import { Privacy } from './session/privacy.js';
import { createSyncService, type SyncConfig, type SyncService } from './sync/index.js';
import { Recorder } from './session/recorder.js';
import { Catalogue } from './store/catalogue.js';
import { ClipStore } from './store/clips.js';
import { KeyStore } from './store/keys.js';
import { StorageGuard } from './store/storage.js';
import { DirLock, prepareDir } from './store/dir-lock.js';
import { SpaceReserve } from './store/reserve.js';
import { buildApp } from './web/app.js';
import { startListeners, type Listeners } from './web/listen.js';
import { PinLockout, pinLockoutFile } from './web/pin-lockout.js';
import { cameraSettled, createNotifier, type Notifier } from './appliance/notify.js';
import { CecService } from './appliance/cec.js';
import { hotspotInfo } from './appliance/hotspot.js';

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
  devices: Devices;
  control: ControlServer;
  sync: SyncService | null;
  app: FastifyInstance;
  /** The open web listeners (main, redirect, loopback) while started. */
  listeners: Listeners | null;
  ringDir: string;
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
            endpoint: s.s3.endpoint!, region: s.s3.region, bucket: s.s3.bucket!, prefix: s.s3.prefix,
            accessKeyId: s.s3.accessKeyId!, secretAccessKey: s.s3.secretAccessKey!, forcePathStyle: s.s3.forcePathStyle,
          },
        }
      : {}),
    ...(s.target === 'dir' ? { dir: { path: s.dir.path!, requireMountPoint: s.dir.requireMountPoint } } : {}),
    dock,
    intervalSeconds: s.intervalSeconds,
    concurrency: s.concurrency,
    requestTimeoutSeconds: s.requestTimeoutSeconds,
  };
}

/** Composition root: constructs every component from the config; start/stop in order. */
export async function createKit(
  config: Config,
  /** uiDir: the built web app (default dist/ui of the package; tests point it elsewhere). */
  /** origin: where a config key's value came from, for error messages (loadConfig's `origin`). */
  opts: { clock?: Clock; logger?: Logger; notifier?: Notifier; uiDir?: string; origin?: (key: string) => string } = {},
): Promise<Kit> {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? createLogger({ level: config.logLevel, component: 'vht-kit' });
  // systemd's notify protocol (no-op when NOTIFY_SOCKET is unset): READY, WATCHDOG, STOPPING.
  const notifier = opts.notifier ?? createNotifier({ logger: logger.child('systemd') });
  let watchdogTimer: NodeJS.Timeout | null = null;
  const bus = new EventBus();
  // HDMI-CEC (cec-ctl): TV on + input switch on `present`, remote keys → `tv.control`.
  const cec = new CecService(config.cec, bus, logger.child('cec'));
  const profile = resolveProfile(config.capture.profile, config.capture.device);
  // One kit per data dir and per ring dir, before anything in them is touched (exit 2 naming the key).
  const origin = opts.origin ?? (() => 'the configuration');
  prepareDir(config.dataDir, 'dataDir', origin('dataDir'));
  const dataLock = DirLock.acquire(path.join(config.dataDir, 'kit.lock'), 'dataDir', config.dataDir, origin('dataDir'));
  const ringDir = ringDirFor(config);
  const ringFrom = config.capture.ringDir ? origin('capture.ringDir') : `made from dataDir ${config.dataDir}`;
  prepareDir(ringDir, 'capture.ringDir', ringFrom);
  const ringLock = DirLock.acquire(path.join(ringDir, RING_LOCK_FILE), 'capture.ringDir', ringDir, ringFrom);
  // The catalogue's own room on a full card (docs/reliability.md): login, reads, sync, delete go on.
  const space = new SpaceReserve(config.dataDir, logger.child('store'));
  const catalogue = new Catalogue(path.join(config.dataDir, 'catalogue.db'), space);
  const keys = new KeyStore({
    dataDir: config.dataDir,
    orgRecipient: config.keys.orgRecipient,
    allowDemoOrg: profile === 'sim',
    logger: logger.child('keys'),
  });
  const clips = new ClipStore(config.dataDir, catalogue, keys, logger.child('store'), space);
  const privacy = new Privacy(catalogue, clips, clock, logger.child('privacy'), {
    dataDir: config.dataDir,
    onWithdrawal: config.privacy.onWithdrawal,
    deleteAfterUploadHours: config.privacy.deleteAfterUploadHours,
    warnUnuploadedDays: config.privacy.warnUnuploadedDays,
    retentionIntervalMs: config.privacy.retentionIntervalMinutes * 60_000,
    unusedFragmentDays: config.privacy.unusedFragmentDays,
    afterReviewHeldDays: config.privacy.afterReviewHeldDays,
  });
  const capture = new CaptureSupervisor({
    ringDir,
    launchFor: (location) => buildPipeline(profile, config.capture, location).launch,
    segmentMs: config.capture.segmentMs,
    playingTimeoutMs: config.capture.playingTimeoutMs,
    restartMinMs: config.capture.restartMinMs,
    restartMaxMs: config.capture.restartMaxMs,
    clock,
    logger: logger.child('capture'),
  });
  const guard = new StorageGuard(config.dataDir, config.storage.reserveMB * 1024 * 1024, space);
  const recorder = new Recorder(
    capture, clips, catalogue, guard, bus, clock, logger.child('recorder'),
    {
      profile,
      preRollMs: Math.round(config.capture.preRollSeconds * 1000),
      segmentMs: config.capture.segmentMs,
      armAtStart: config.capture.armAtStart,
    },
    ((config.capture.bitrateKbps + (config.capture.audio ? 96 : 0)) * 1000) / 8,
  );
  // --- office sync: on docking, upload to the organisation's storage ---
  const sync = createSyncService({
    config: syncConfigOf(config),
    kitId: config.kitId,
    catalogue,
    clips,
    orgRecipient: () => keys.requireOrgRecipient(),
    clock,
    logger,
  });
  const syncStatus = () => {
    if (!sync) return { state: 'off', pending: 0, bytesDone: 0, bytesTotal: 0, target: 'off', insecure: false };
    const p = sync.progress;
    return {
      state: p.state, pending: p.pending, waitingForCase: p.waitingForCase, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal,
      ...(p.etaSeconds !== undefined ? { etaSeconds: p.etaSeconds } : {}),
      ...(p.lastError ? { lastError: p.lastError.message } : {}),
      ...(p.docked !== undefined ? { docked: p.docked } : {}),
      ...(p.dockReason ? { dockReason: p.dockReason } : {}),
      ...(p.lastSuccessAt ? { lastSuccessAt: p.lastSuccessAt } : {}),
      target: sync.targetId,
      insecure: config.sync.dock.allowInsecure,
    };
  };

  // --- kit hardware: button, LEDs, serial kit controller (or their simulated twins) ---
  const deviceCfg = deviceConfigFor(config, profile);
  // `vht-kit press` waits for the outcome of its press (and reports how long it took).
  let pressWaiter: ((o: { action: string; ok: boolean; error?: string; at: number }) => void) | null = null;
  const devices = createDevices(deviceCfg, {
    clock,
    logger: logger.child('device'),
    state: () => recorder.state,
    perform: (action) => {
      if (action === 'start') return recorder.startTake(null);
      if (action === 'stop') return recorder.stopTake('stopped with the button');
      return recorder.mark(null);
    },
    onOutcome: (o) => {
      const error = o.error ? describeError(o.error) : undefined;
      pressWaiter?.({ action: o.action, ok: o.ok, at: clock.monotonic(), ...(error ? { error } : {}) });
      pressWaiter = null;
      bus.emit('button', { kind: o.kind, action: o.action, ok: o.ok, ...(error ? { error } : {}) });
      if (!o.ok) logger.warn('button action refused', { action: o.action, error: describeError(o.error) });
    },
  });
  let manualDock = false;
  const hardware = () => ({
    battery: devices.controller?.battery ?? null,
    docked: devices.controller?.docked ?? manualDock,
  });
  const showLeds = () => {
    const h = hardware();
    devices.leds?.set(ledPatternFor({
      recorder: recorder.state, docked: h.docked, syncing: sync?.progress.state === 'uploading', battery: h.battery,
      lowBatteryPercent: config.leds.lowBatteryPercent,
    }));
  };
  bus.on('state', showLeds);
  bus.on('marker', () => devices.leds?.set('marker'));
  if (devices.controller) {
    devices.controller.on('battery', (b) => {
      bus.emit('battery', { percent: b.percent, charging: b.charging });
      showLeds();
    });
    devices.controller.on('dock', (d) => {
      bus.emit('dock', { docked: d.docked, source: 'kit controller' });
      showLeds();
    });
  }
  const control = new ControlServer(
    controlSocketPath(config.dataDir),
    async (req: ControlRequest) => {
      switch (req.cmd) {
        case 'press': {
          if (!devices.simButton) {
            throw new AppError('CONFLICT', `the button is ${deviceCfg.button.backend === 'none' ? 'off' : `real hardware (${deviceCfg.button.backend})`}: \`vht-kit press\` drives the simulated button (button.backend: sim)`);
          }
          const before = recorder.state;
          const outcome = new Promise<{ action: string; ok: boolean; error?: string; at: number } | null>((resolve) => {
            pressWaiter = resolve;
            setTimeout(() => resolve(null), 5000).unref();
          });
          const pressedAt = clock.monotonic();
          await devices.simButton.press(req.long);
          const releasedAt = clock.monotonic();
          const o = await outcome;
          await devices.button?.actions.settled();
          // Latency from the moment the press is decided: the release of a short press, the
          // threshold of a long one (reached while still held).
          const decidedAt = req.long ? pressedAt + deviceCfg.button.longPressMs : releasedAt;
          return {
            before, after: recorder.state, clipId: recorder.status().clipId ?? null,
            action: o?.action ?? 'none', ok: o?.ok ?? false, ...(o?.error ? { error: o.error } : {}),
            latencyMs: o ? Math.round((o.at - decidedAt) * 10) / 10 : null,
          };
        }
        case 'dock':
          if (devices.controller instanceof SimKitController) devices.controller.setDocked(req.on);
          else {
            manualDock = req.on;
            bus.emit('dock', { docked: req.on, source: 'vht-kit dock' });
            showLeds();
          }
          return hardware();
        case 'network':
          bus.emit('dock', { docked: req.up, source: 'network' });
          return { ok: true };
        case 'status':
          return { ...recorder.status(), ...hardware() };
        case 'disarm':
          await recorder.disarm(); // CONFLICT while a take runs
          return recorder.status();
        case 'arm':
          recorder.arm();
          return recorder.status();
      }
    },
    logger.child('control'),
  );

  if (sync) {
    let lastSyncState = '';
    const statusFile = path.join(config.dataDir, 'sync-status.json');
    sync.on('progress', () => {
      const s = syncStatus();
      bus.emit('sync', s);
      // `vht-kit doctor` reads the last outcome from here (no secrets, no names).
      if (s.state === 'done' || s.state === 'error') {
        try {
          writeFileSync(statusFile, JSON.stringify({ at: clock.now(), state: s.state, pending: s.pending, lastError: sync.progress.lastError?.message ?? null }));
        } catch (err) {
          logger.warn('sync status for doctor not written', { file: statusFile, error: describeError(err) });
        }
      }
      if (s.state !== lastSyncState) {
        lastSyncState = s.state;
        showLeds();
      }
    });
    // A confirmed clip may now go (retention decides when).
    sync.on('clip.uploaded', () => void privacy.runRetention());
    // What waits for upload changes between runs too: the status follows at once.
    bus.on('clip.stopped', () => sync.recount());
    bus.on('clip.updated', () => sync.recount());
    // A trigger only starts a check: the run itself checks the dock (TLS identity) first.
    bus.on('dock', (d) => {
      if (d.docked) void sync.runOnce();
    });
  }
  capture.on('error', (e) => bus.emit('camera.error', { message: e.message, restartInMs: e.restartInMs }));
  capture.on('playing', () => bus.emit('camera.ok', { profile }));
  const app = await buildApp({
    recorder, catalogue, clips, keys, privacy, bus, clock, logger: logger.child('web'),
    pin: () => config.auth.pin,
    markerLabels: config.markers.labels,
    kitId: config.kitId,
    fps: config.capture.fps,
    pairingCodeMinutes: config.tv.pairingCodeMinutes,
    allowedHosts: config.http.allowedHosts,
    ...(opts.uiDir ? { uiDir: opts.uiDir } : {}),
    pinLockout: new PinLockout({ clock, file: pinLockoutFile(config.dataDir), logger: logger.child('auth') }),
    sessionIdleMs: config.auth.sessionIdleMinutes * 60_000,
    lockAfterIdleMs: config.auth.lockAfterIdleMinutes * 60_000,
    hardware,
    hotspot: () => {
      try {
        return hotspotInfo(config);
      } catch (err) {
        logger.warn('cannot read the hotspot settings for the TV screen', { error: describeError(err) });
        return null;
      }
    },
    sync: sync ? { status: syncStatus, run: () => void sync.runOnce() } : { status: syncStatus, run: null },
  });

  let started = false;
  let listeners: Listeners | null = null;
  return {
    config, profile, logger, bus, catalogue, clips, keys, capture, recorder, privacy, devices, control, sync, app, ringDir,
    get listeners() {
      return listeners;
    },
    async start() {
      if (started) return;
      started = true;
      const discarded = capture.discardLeftovers();
      if (discarded > 0) logger.warn('discarded plaintext leftovers in the RAM ring', { files: discarded });
      if (catalogue.created) {
        privacy.restoreCases();
        const n = clips.rebuild();
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
      await keys.start(config.auth.pin);
      space.ensure();
      for (const id of dropped.filter((d) => keys.hasClipKey(d))) {
        await keys.destroyClipKey(id).catch((err: unknown) => logger.warn('key of a dropped clip not destroyed yet', { clipId: id, error: describeError(err) }));
      }
      keys.requireOrgRecipient(); // fail early, with the key name, when no organisation recipient is set
      privacy.start();
      recorder.start();
      await devices.start();
      const buttonStatus = devices.button?.status();
      if (buttonStatus && !buttonStatus.ok) logger.warn('the record button does not work', { button: devices.button?.describe(), error: buttonStatus.error });
      showLeds();
      await control.start();
      sync?.start();
      listeners = await startListeners(app, config, logger.child('web'));
      logger.info('kit ready', { profile, port: config.http.port, dataDir: config.dataDir, ringDir, recovered: recovered.length });
      // READY=1 only now that HTTP listens, and once the camera plays or its error is known
      // (bounded); the watchdog pings from this event loop, so a blocked loop misses them.
      void cameraSettled(capture, config.capture.playingTimeoutMs + 5000).then((text) => (started ? notifier.ready(text) : undefined));
      if (notifier.watchdogIntervalMs !== null) {
        watchdogTimer = setInterval(() => void notifier.watchdog(), notifier.watchdogIntervalMs);
        watchdogTimer.unref();
      }
      void cec.start().catch((err: unknown) => logger.warn('HDMI-CEC did not start', { error: describeError(err) }));
    },
    async stop() {
      if (!started) {
        // made but never started (tests, a failed start): the locks go all the same
        ringLock.release();
        dataLock.release();
        return;
      }
      started = false;
      await notifier.stopping();
      // Nothing may start a take any more (web, control socket, button), then the running take is
      // ended cleanly, before the steps that may be slow (aborting an upload, the CEC process).
      await listeners?.close();
      listeners = null;
      await app.close();
      await control.stop();
      await devices.stop();
      await recorder.stop();
      await cec.stop();
      await sync?.stop();
      sync?.close();
      privacy.stop();
      keys.lock();
      catalogue.close();
      // No plaintext stays in RAM after a stop: whatever the worker or the live tail left goes.
      const left = capture.discardLeftovers();
      if (left > 0) logger.info('emptied the RAM ring', { files: left });
      ringLock.release();
      dataLock.release();
      if (watchdogTimer) clearInterval(watchdogTimer);
      logger.info('kit stopped');
    },
  };
}

import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildPipeline, resolveProfile } from './capture/profiles.js';
import { CaptureSupervisor } from './capture/supervisor.js';
import type { Config, Profile } from './config/schema.js';
import { systemClock, type Clock } from './core/clock.js';
import { EventBus } from './core/events.js';
import { createLogger, type Logger } from './core/logger.js';
import { Privacy } from './session/privacy.js';
import { Recorder } from './session/recorder.js';
import { Catalogue } from './store/catalogue.js';
import { ClipStore } from './store/clips.js';
import { KeyStore } from './store/keys.js';
import { StorageGuard } from './store/storage.js';
import { buildApp } from './web/app.js';

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
  app: FastifyInstance;
  ringDir: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The RAM directory for plaintext segments: config, systemd's RuntimeDirectory, else /dev/shm. */
export function ringDirFor(config: Config, env: NodeJS.ProcessEnv = process.env): string {
  if (config.capture.ringDir) return config.capture.ringDir;
  if (env.RUNTIME_DIRECTORY) return path.join(env.RUNTIME_DIRECTORY.split(':')[0]!, 'ring');
  const base = os.platform() === 'linux' ? '/dev/shm' : os.tmpdir();
  return path.join(base, `vht-kit-ring-${config.kitId}-${os.userInfo().uid}`);
}

/** Composition root: constructs every component from the config; start/stop in order. */
export async function createKit(config: Config, opts: { clock?: Clock; logger?: Logger } = {}): Promise<Kit> {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? createLogger({ level: config.logLevel, component: 'vht-kit' });
  const bus = new EventBus();
  const profile = resolveProfile(config.capture.profile, config.capture.device);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const catalogue = new Catalogue(path.join(config.dataDir, 'catalogue.db'));
  const keys = new KeyStore({
    dataDir: config.dataDir,
    orgRecipient: config.keys.orgRecipient,
    allowDemoOrg: profile === 'sim',
    logger: logger.child('keys'),
  });
  const clips = new ClipStore(config.dataDir, catalogue, keys, logger.child('store'));
  const privacy = new Privacy(catalogue, clips, clock, logger.child('privacy'), {
    dataDir: config.dataDir,
    onWithdrawal: config.privacy.onWithdrawal,
    deleteAfterUploadHours: config.privacy.deleteAfterUploadHours,
    warnUnuploadedDays: config.privacy.warnUnuploadedDays,
    retentionIntervalMs: config.privacy.retentionIntervalMinutes * 60_000,
  });
  const ringDir = ringDirFor(config);
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
  const guard = new StorageGuard(config.dataDir, config.storage.reserveMB * 1024 * 1024);
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
  capture.on('error', (e) => bus.emit('camera.error', { message: e.message, restartInMs: e.restartInMs }));
  capture.on('playing', () => bus.emit('camera.ok', { profile }));
  const app = await buildApp({
    recorder, catalogue, clips, keys, privacy, bus, clock, logger: logger.child('web'),
    pin: () => config.auth.pin,
    markerLabels: config.markers.labels,
    sessionIdleMs: config.auth.sessionIdleMinutes * 60_000,
    lockAfterIdleMs: config.auth.lockAfterIdleMinutes * 60_000,
  });

  let started = false;
  return {
    config, profile, logger, bus, catalogue, clips, keys, capture, recorder, privacy, app, ringDir,
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
      const { recovered } = clips.recover(clock.now());
      for (const id of recovered) catalogue.audit('clip.recovered', clock.now(), id);
      await keys.start(config.auth.pin);
      keys.requireOrgRecipient(); // fail early, with the key name, when no organisation recipient is set
      privacy.start();
      recorder.start();
      await app.listen({ host: config.http.host, port: config.http.port });
      logger.info('kit ready', { profile, port: config.http.port, dataDir: config.dataDir, ringDir, recovered: recovered.length });
    },
    async stop() {
      if (!started) return;
      started = false;
      await app.close();
      await recorder.stop();
      privacy.stop();
      keys.lock();
      catalogue.close();
      logger.info('kit stopped');
    },
  };
}

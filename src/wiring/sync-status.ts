import { writeFileSync } from 'node:fs';
import type { Clock } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { Privacy } from '../session/privacy.js';
import type { SyncService } from '../sync/index.js';

/** The sync status as the web API, the event stream and the LEDs see it. */
export type SyncStatus = {
  state: string;
  pending: number;
  waitingForCase?: number;
  bytesDone: number;
  bytesTotal: number;
  etaSeconds?: number;
  lastError?: string;
  docked?: boolean;
  dockReason?: string;
  lastSuccessAt?: number;
  target: string;
  insecure: boolean;
};

/** The status projection of the sync service (or of sync switched off). */
export function syncStatusOf(sync: SyncService | null, insecure: boolean): () => SyncStatus {
  return () => {
    if (!sync) return { state: 'off', pending: 0, bytesDone: 0, bytesTotal: 0, target: 'off', insecure: false };
    const p = sync.progress;
    return {
      state: p.state,
      pending: p.pending,
      waitingForCase: p.waitingForCase,
      bytesDone: p.bytesDone,
      bytesTotal: p.bytesTotal,
      ...(p.etaSeconds !== undefined ? { etaSeconds: p.etaSeconds } : {}),
      ...(p.lastError ? { lastError: p.lastError.message } : {}),
      ...(p.docked !== undefined ? { docked: p.docked } : {}),
      ...(p.dockReason ? { dockReason: p.dockReason } : {}),
      ...(p.lastSuccessAt ? { lastSuccessAt: p.lastSuccessAt } : {}),
      target: sync.targetId,
      insecure,
    };
  };
}

/**
 * Wires the sync service into the kit: progress to the bus (and, after a run, to the status file
 * `vht-kit doctor` reads), the LEDs on a change of state, retention after a confirmed clip, a
 * recount when what waits for upload changes, and a run when the kit is docked.
 */
export function wireSync(deps: {
  sync: SyncService;
  bus: EventBus;
  privacy: Privacy;
  status: () => SyncStatus;
  /** The sync-status.json file in the data dir. */
  statusFile: string;
  /** Called when the sync state changes (the LEDs show uploading). */
  onStateChange: () => void;
  clock: Clock;
  logger: Logger;
}): void {
  const { sync, bus } = deps;
  let lastState = '';
  sync.on('progress', () => {
    const s = deps.status();
    bus.emit('sync', s);
    // `vht-kit doctor` reads the last outcome from here (no secrets, no names).
    if (s.state === 'done' || s.state === 'error') writeStatusFile(deps, s);
    if (s.state !== lastState) {
      lastState = s.state;
      deps.onStateChange();
    }
  });
  // A confirmed clip may now go (retention decides when).
  sync.on('clip.uploaded', () => void deps.privacy.runRetention());
  // ... and so may a fragment, kept still or review whose metadata the organisation now holds.
  sync.on('run.finished', (r) => {
    if (r.reviewObjects?.length) void deps.privacy.runRetention();
  });
  // What waits for upload changes between runs too: the status follows at once.
  bus.on('clip.stopped', () => sync.recount());
  bus.on('clip.updated', () => sync.recount());
  // A trigger only starts a check: the run itself checks the dock (TLS identity) first.
  bus.on('dock', (d) => {
    if (d.docked) void deps.sync.runOnce();
  });
}

function writeStatusFile(deps: { sync: SyncService; statusFile: string; clock: Clock; logger: Logger }, s: SyncStatus): void {
  const record = { at: deps.clock.now(), state: s.state, pending: s.pending, lastError: deps.sync.progress.lastError?.message ?? null };
  try {
    writeFileSync(deps.statusFile, JSON.stringify(record));
  } catch (err) {
    deps.logger.warn('cannot write the sync status file for `vht-kit doctor`', { file: deps.statusFile, error: describeError(err) });
  }
}

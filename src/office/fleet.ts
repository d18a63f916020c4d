import { AppError } from '../core/errors.js';
import { decryptWith } from '../store/crypto.js';
import { parseKitStatus, type KitStatus } from '../store/office-objects.js';
import { statusKey } from '../store/objects.js';
import type { OfficeLayout } from './layout.js';
import { mapLimit } from '../core/pool.js';
import { NO_PROGRESS, type Progress } from './progress.js';

/** When a kit is flagged in `office kits`. */
export interface FleetThresholds {
  /** Not seen (no status written) for this many days. Default 14. */
  staleDays: number;
  /** A clip waiting (for a case or for upload) longer than this many days. Default 7. */
  waitingDays: number;
  /** Usable storage below this many MB. Default 2048. */
  minFreeMb: number;
  /** Software older than this version (default: the newest version in the fleet). */
  minVersion?: string;
}

export const DEFAULT_THRESHOLDS: FleetThresholds = { staleDays: 14, waitingDays: 7, minFreeMb: 2048 };

/** no-status, unreadable-status, not-seen, clips-waiting-too-long, low-storage, old-software, erase-pending, or a kit's own warning. */
export type KitFlag = string;

export interface FleetKit {
  kitId: string;
  status: KitStatus | null;
  flags: KitFlag[];
  /** Days since the kit last wrote its status (null: never). */
  daysSinceSeen: number | null;
  error?: string;
}

/** Compares dotted versions numerically (`0.10.0` > `0.9.1`); a non-numeric part compares as text. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/);
  const pb = b.split(/[.+-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '0';
    const y = pb[i] ?? '0';
    const nx = Number(x);
    const ny = Number(y);
    const c = Number.isFinite(nx) && Number.isFinite(ny) ? nx - ny : x.localeCompare(y);
    if (c !== 0) return Math.sign(c);
  }
  return 0;
}

/** Reads every kit's status object (parallel GETs, at most `concurrency` at once). */
export async function readStatuses(
  layout: OfficeLayout,
  identities: string[],
  opts: { concurrency?: number; progress?: Progress } = {},
): Promise<{ kitId: string; status: KitStatus | null; error?: string }[]> {
  const progress = opts.progress ?? NO_PROGRESS;
  const ids = await layout.kitIds();
  progress.phase('kit status', ids.length);
  return mapLimit(
    ids,
    opts.concurrency ?? 32,
    async (kitId) => {
      let body: Buffer;
      try {
        body = await layout.kit(kitId).get(statusKey(kitId));
      } catch (err) {
        if (err instanceof AppError && err.code === 'NOT_FOUND') return { kitId, status: null };
        throw err;
      }
      try {
        const status = parseKitStatus((await decryptWith(identities, body, `the status of ${kitId}`)).toString('utf8'), `the status of ${kitId}`);
        if (status.kitId !== kitId) return { kitId, status: null, error: `the status object of ${kitId} names kit ${status.kitId}` };
        return { kitId, status };
      } catch (err) {
        return { kitId, status: null, error: (err as Error).message };
      }
    },
    (n) => progress.update(n),
  );
}

/** `office kits`: the fleet, one entry a kit, with its flags. */
export async function fleet(
  layout: OfficeLayout,
  identities: string[],
  now: number,
  thresholds: FleetThresholds = DEFAULT_THRESHOLDS,
  opts: { concurrency?: number; progress?: Progress } = {},
): Promise<FleetKit[]> {
  const statuses = await readStatuses(layout, identities, opts);
  const versions = statuses.map((s) => s.status?.version).filter((v): v is string => typeof v === 'string' && v !== 'unknown');
  const newest = versions.sort(compareVersions).at(-1);
  const minVersion = thresholds.minVersion ?? newest;
  const day = 86_400_000;
  return statuses.map(({ kitId, status, error }) => {
    const flags: KitFlag[] = [];
    if (!status) {
      flags.push(error ? 'unreadable-status' : 'no-status');
      return { kitId, status, flags, daysSinceSeen: null, ...(error ? { error } : {}) };
    }
    const daysSinceSeen = Math.floor((now - status.at) / day);
    if (now - status.at > thresholds.staleDays * day) flags.push('not-seen');
    if (status.oldestWaitingAt !== null && now - status.oldestWaitingAt > thresholds.waitingDays * day) flags.push('clips-waiting-too-long');
    if (status.storage && status.storage.usableBytes < thresholds.minFreeMb * 1024 * 1024) flags.push('low-storage');
    if (minVersion && compareVersions(status.version, minVersion) < 0) flags.push('old-software');
    if (status.pendingRotations.length) flags.push('erase-pending');
    for (const w of status.warnings) if (!flags.includes(w)) flags.push(w);
    return { kitId, status, flags, daysSinceSeen };
  });
}

/** A closed case past the organisation's retention period (trajectory end + period). */
export interface RetentionDue {
  caseTag: string;
  /** The latest close time any kit reports (the case may have gone on elsewhere). */
  closedAt: number;
  dueAt: number;
  kits: string[];
}

/** `office retention`: closed cases (from the kit statuses) whose period has passed, not erased yet. */
export async function retentionDue(
  layout: OfficeLayout,
  identities: string[],
  now: number,
  periodDays: number,
  opts: { concurrency?: number; progress?: Progress } = {},
): Promise<{ due: RetentionDue[]; waiting: RetentionDue[] }> {
  if (!Number.isFinite(periodDays) || periodDays < 0)
    throw new AppError('VALIDATION', `--period-days ${JSON.stringify(periodDays)} must be 0 or more days`, { field: '--period-days' });
  const statuses = await readStatuses(layout, identities, opts);
  const erased = new Set((await layout.office.list('erasures/')).keys.filter((k) => k.endsWith('-all.json')).map((k) => k.split('-').at(-2)));
  const byTag = new Map<string, RetentionDue>();
  for (const { kitId, status } of statuses) {
    for (const c of status?.closedCases ?? []) {
      const cur = byTag.get(c.tag) ?? { caseTag: c.tag, closedAt: c.closedAt, dueAt: 0, kits: [] };
      cur.closedAt = Math.max(cur.closedAt, c.closedAt);
      cur.kits.push(kitId);
      byTag.set(c.tag, cur);
    }
  }
  const due: RetentionDue[] = [];
  const waiting: RetentionDue[] = [];
  for (const r of [...byTag.values()].sort((a, b) => a.closedAt - b.closedAt)) {
    if (erased.has(r.caseTag)) continue;
    r.dueAt = r.closedAt + periodDays * 86_400_000;
    (r.dueAt <= now ? due : waiting).push(r);
  }
  return { due, waiting };
}

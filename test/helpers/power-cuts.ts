// The power-cut loop: the real kit is killed (SIGKILL of the kit and its capture worker) at random
// moments during a start, a take, a stop and a recovery (the start-up after a cut), then started
// again; after every cut each clip must be complete or recovered and playable, or dropped as
// empty, with at most 2 s lost and no temp file left. Used by test/power-cuts.e2e.test.ts (10 cuts)
// and bench/power-cuts.mjs (50 cuts, docs/reliability.md).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { playClip, powerCut, tempFilesUnder } from './faults.js';
import { Service } from './service.js';

export type Phase = 'start' | 'take' | 'stop' | 'recovery';
export const PHASES: Phase[] = ['start', 'take', 'stop', 'recovery'];

export interface CutResult {
  n: number;
  phase: Phase;
  /** ms after the phase began that the power was cut. */
  atMs: number;
  /** The clip the phase made, as found after the restart ('dropped' = recovered as empty and removed). */
  clip: 'complete' | 'recovered' | 'dropped' | 'none';
  /** Footage lost at the end of a recovered clip: the cut's wall time − the end of its last whole segment. */
  lostMs: number | null;
  /** Seconds the recovered/complete clip plays (gst-discoverer; 0 when it cannot tell, e.g. one segment), or null. */
  playsS: number | null;
  /** gst-discoverer finds the clip's H.264 video (decrypted with the organisation's key and joined). */
  hasVideo: boolean | null;
  /** Temp files a dead kit left (one the running kit is writing right now is not counted). */
  tempFiles: number;
  /** Where they are, relative to the data dir (for the failure message). */
  tempFilePaths?: string[];
  /** Clips left in state `recording` after the restart (must be 0). */
  unfinished: number;
  /** Clips without a single segment after the restart (must be 0). */
  empty: number;
  /** gst-discoverer's words when the clip did not play (for the failure message). */
  why?: string;
}

/** A deterministic random source (mulberry32), so a failing run can be repeated with its seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function clips(svc: Service): Promise<any[]> {
  return (await svc.request('GET', '/api/clips?limit=500')).json.clips;
}

/**
 * Runs `cuts` power cuts on `svc` (started, logged in, armed), cycling through the phases in a
 * random order; `scratch` takes the joined test files. Returns one result per cut.
 */
export async function runPowerCuts(svc: Service, cuts: number, seed: number, scratch: string): Promise<CutResult[]> {
  const rnd = seeded(seed);
  const results: CutResult[] = [];
  for (let n = 1; n <= cuts; n++) {
    const phase = PHASES[(n - 1) % PHASES.length]!;
    const before = new Set((await clips(svc)).map((c) => c.id as string));
    let clipId: string | null = null;
    let cutAtWall = 0;
    let atMs = 0;
    const t0 = Date.now();
    if (phase === 'start') {
      // the start request is in flight (or just answered) when the power goes
      const req = svc.request('POST', '/api/recording/start', {}).then(
        (r) => (clipId = r.json?.clipId ?? null),
        () => null,
      );
      await sleep(Math.round(rnd() * 150));
      atMs = Date.now() - t0;
      cutAtWall = Date.now();
      await powerCut(svc);
      await req;
    } else if (phase === 'take' || phase === 'stop') {
      clipId = (await svc.request('POST', '/api/recording/start', {})).json.clipId;
      await sleep(1000 + Math.round(rnd() * 3000));
      if (phase === 'stop') {
        const req = svc.request('POST', '/api/recording/stop', {}).catch(() => null);
        await sleep(Math.round(rnd() * 400));
        atMs = Date.now() - t0;
        cutAtWall = Date.now();
        await powerCut(svc);
        await req;
      } else {
        atMs = Date.now() - t0;
        cutAtWall = Date.now();
        await powerCut(svc);
      }
    } else {
      // recovery: a take cut mid-way, then the power goes again during the start-up that recovers it
      clipId = (await svc.request('POST', '/api/recording/start', {})).json.clipId;
      await sleep(1500 + Math.round(rnd() * 1500));
      cutAtWall = Date.now();
      await powerCut(svc);
      const early = spawnServe(svc);
      atMs = Math.round(100 + rnd() * 1400);
      await sleep(atMs);
      // the whole process group: the kit and a capture worker it may have started
      const exited = new Promise((r) => early.once('exit', r));
      process.kill(-early.pid!, 'SIGKILL');
      await exited;
    }
    await svc.start();
    await svc.waitArmed();
    const after = await clips(svc);
    const mine = clipId ? after.find((c) => c.id === clipId) : after.find((c) => !before.has(c.id));
    let clip: CutResult['clip'] = 'none';
    let lostMs: number | null = null;
    let playsS: number | null = null;
    let hasVideo: boolean | null = null;
    let why: string | undefined;
    if (mine) {
      clip = mine.state;
      if (mine.state === 'recovered') lostMs = Math.max(0, cutAtWall - mine.stoppedAt);
      const p = playClip(svc, mine.id, scratch);
      playsS = Number.isFinite(p.durationS) ? p.durationS : 0;
      hasVideo = p.hasVideo;
      if (!p.hasVideo) why = `${p.segments} segments, ${mine.durationMs} ms: ${p.text.slice(0, 600)}`;
    } else if (clipId || phase !== 'start') {
      clip = 'dropped';
    }
    const left = leftTempFiles(svc);
    results.push({
      n,
      phase,
      atMs,
      clip,
      lostMs,
      playsS,
      hasVideo,
      tempFiles: left.length,
      ...(left.length > 0 ? { tempFilePaths: left } : {}),
      unfinished: after.filter((c) => c.state === 'recording').length,
      empty: after.filter((c) => c.segmentCount === 0).length,
      ...(why ? { why } : {}),
    });
  }
  return results;
}

/**
 * Temp files under the data dir that a killed kit left, relative to it. The running kit's own (its
 * pid in the name: `.tmp-<file>-<pid>[-<ms>]`, a durable write in progress that another process
 * can see for a moment) are not leftovers.
 */
export function leftTempFiles(svc: Service): string[] {
  const own = new RegExp(`-${svc.proc?.pid ?? 'none'}(-[0-9]+)?$`);
  return tempFilesUnder(svc.dataDir)
    .filter((f) => !own.test(path.basename(f)))
    .map((f) => path.relative(svc.dataDir, f));
}

/** `vht-kit serve` on the service's data dir and port, without waiting (to be cut during its start). */
function spawnServe(svc: Service): ReturnType<typeof spawn> {
  return spawn(process.execPath, [path.resolve(import.meta.dirname, '../../bin/vht-kit'), 'serve'], {
    env: {
      ...process.env,
      VHT_KIT_CONFIG: path.join(svc.dir, 'config.yaml'),
      VHT_KIT_DATA_DIR: svc.dataDir,
      VHT_KIT_RING_DIR: svc.ringDir,
      VHT_KIT_PORT: String(svc.port),
      VHT_KIT_HOST: '127.0.0.1',
      VHT_KIT_TLS: 'off',
      VHT_KIT_PIN: '1234',
    },
    stdio: 'ignore',
    detached: true,
  });
}

/** Audit entries of a type in the (stopped) kit's catalogue. */
export function auditCount(dataDir: string, type: string): number {
  const db = new Database(path.join(dataDir, 'catalogue.db'), { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM audit_events WHERE type = ?').get(type) as { n: number }).n;
  } finally {
    db.close();
  }
}

// The fault-injection harness: a tiny real file system for a kit's data dir, filled at chosen
// moments by another process, and power cuts (SIGKILL of the kit and its capture worker at once).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import path from 'node:path';
import { ageDecrypt, discover } from './media.js';
import { writeFileSync } from 'node:fs';
import type { Service } from './service.js';

/** Why the harness cannot run here (not root, no tmpfs), or null. */
export function faultHarnessUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'the fault harness mounts a tiny file system: run the tests as root';
  return null;
}

/**
 * A tmpfs of `sizeMB` mounted at `dir` (the kit's data dir), and a filler: a file written by `dd`
 * (another process, as a stranger filling the card would) until the file system is full.
 */
export class TinyFs {
  private fillers = 0;

  constructor(
    readonly dir: string,
    readonly sizeMB: number,
  ) {}

  /** Mounts it; returns why not (then the test skips with that reason), or null. */
  mount(): string | null {
    const why = faultHarnessUnavailable();
    if (why) return why;
    mkdirSync(this.dir, { recursive: true });
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${this.sizeMB}m,mode=0700`, 'tmpfs', this.dir], { encoding: 'utf8' });
    if (r.status !== 0) return `mount -t tmpfs -o size=${this.sizeMB}m failed: ${(r.stderr || r.error?.message || '').trim()}`;
    return null;
  }

  unmount(): void {
    spawnSync('umount', ['-l', this.dir]);
  }

  /** Free bytes as an unprivileged writer sees them. */
  freeBytes(): number {
    const st = statfsSync(this.dir);
    return Number(st.bavail) * Number(st.bsize);
  }

  /** Fills the file system to the last byte with a new filler file (dd until ENOSPC). */
  fill(): string {
    const file = path.join(this.dir, `filler-${++this.fillers}`);
    const r = spawnSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=64k'], { encoding: 'utf8' });
    if (!/No space left on device/.test(r.stderr)) throw new Error(`the filler did not fill ${this.dir}: ${r.stderr}`);
    // dd's last partial block: fill the remaining bytes one at a time
    spawnSync('dd', ['if=/dev/zero', `of=${file}-tail`, 'bs=1'], { encoding: 'utf8' });
    return file;
  }

  /** Removes every filler file (the card has room again). */
  unfill(): void {
    for (const name of readdirSync(this.dir)) if (name.startsWith('filler-')) rmSync(path.join(this.dir, name), { force: true });
  }
}

/** Every descendant of a process (children, their children, ...), from /proc. */
function descendants(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    let kids: number[] = [];
    try {
      kids = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      continue; // the task ended meanwhile
    }
    for (const k of kids) out.push(k, ...descendants(k));
  }
  return out;
}

/** A power cut: SIGKILL to the kit and every process under it (its capture worker) at the same moment. */
export function powerCut(svc: Service): Promise<void> {
  const proc = svc.proc;
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  const all = [proc.pid!, ...descendants(proc.pid!)];
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  for (const pid of all) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return exited;
}

/** Temp files (`.tmp-*`) anywhere under a directory. */
export function tempFilesUnder(dir: string): string[] {
  const out: string[] = [];
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...tempFilesUnder(p));
    else if (e.name.startsWith('.tmp-')) out.push(p);
  }
  return out;
}

/**
 * Decrypts a clip's segments with the organisation's key, joins them and asks gst-discoverer:
 * the seconds it plays and whether it has video. Writes the joined file beside `scratch`.
 */
export function playClip(svc: Service, clipId: string, scratch: string): { durationS: number; hasVideo: boolean; segments: number; text: string } {
  const dir = path.join(svc.dataDir, 'clips', clipId);
  const segs = readdirSync(dir)
    .filter((n) => n.endsWith('.ts.age'))
    .sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
  const joined = Buffer.concat(segs.map((n) => ageDecrypt(svc.orgKeyFile, path.join(dir, n))));
  const out = path.join(scratch, `${clipId}.ts`);
  writeFileSync(out, joined);
  const d = discover(out);
  return { durationS: d.durationS, hasVideo: d.hasVideo, segments: segs.length, text: d.text };
}

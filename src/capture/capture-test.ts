/**
 * The field capture test (`vht-kit doctor --capture-test`): runs one capture profile for a few
 * seconds through the real capture worker into a private RAM directory and measures what the
 * office technician needs to choose a profile: frames delivered against the frame rate, keyframe
 * interval under forced cuts, segment lengths, the pipeline's CPU and the audio/video offset at
 * the end. It never touches clips or the catalogue; its plaintext segments are deleted at the end.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Clock } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Profile } from '../config/schema.js';
import { CaptureSupervisor, type ClosedSegment } from './supervisor.js';
import { probeTs, type ProbedFrame, type TsPids, type TsProbe } from './ts-probe.js';

export interface CaptureCandidate {
  profile: Profile;
  /** The pipeline for a segment location pattern (buildPipeline(...).launch). */
  launchFor: (location: string) => string;
}

export interface CaptureTestOptions {
  /** A RAM directory (tmpfs); the test makes and removes its own directory inside it. */
  ramDir: string;
  seconds: number;
  fps: number;
  segmentMs: number;
  playingTimeoutMs: number;
  clock: Clock;
  logger: Logger;
  /** Reads a process's CPU time in ms (default: /proc/<pid>/stat). */
  cpuMsOf?: (pid: number) => number | null;
  /** Override of the worker entry (tests); default: the supervisor's. */
  workerPath?: string;
}

export interface CaptureTestResult {
  profile: Profile;
  ok: boolean;
  /** Why the profile failed, or what limits it; empty when it passed cleanly. */
  problems: string[];
  frames: { delivered: number; expected: number; ratio: number } | null;
  /** Between keyframes; with forced cuts this is the segment length, else the camera's own GOP. */
  keyframeIntervalMs: { mean: number; max: number } | null;
  /** True when the cuts made keyframes (encoder in the kit); false when the camera's GOP rules. */
  cutsForceKeyframes: boolean | null;
  segmentMs: { min: number; max: number; mean: number; spread: number } | null;
  /** The capture worker's CPU, in % of one core, and the machine's core count. */
  cpu: { percentOfCore: number; cores: number } | null;
  /** Audio end minus video end in the last segment (ms); null without audio. */
  avOffsetMs: number | null;
}

/** Frames delivered below this share of the frame rate fail the profile. */
export const MIN_FRAME_RATIO = 0.9;
/** An audio/video offset at the end larger than this fails the profile (lip sync). */
export const MAX_AV_OFFSET_MS = 200;

/** Runs one profile for opts.seconds and measures it; never throws (a failure is a result). */
export async function runCaptureTest(c: CaptureCandidate, opts: CaptureTestOptions): Promise<CaptureTestResult> {
  const result: CaptureTestResult = {
    profile: c.profile,
    ok: false,
    problems: [],
    frames: null,
    keyframeIntervalMs: null,
    cutsForceKeyframes: null,
    segmentMs: null,
    cpu: null,
    avOffsetMs: null,
  };
  mkdirSync(opts.ramDir, { recursive: true, mode: 0o700 });
  const dir = mkdtempSync(path.join(opts.ramDir, `capture-test-${c.profile}-`));
  const sup = new CaptureSupervisor({
    ringDir: dir,
    launchFor: c.launchFor,
    segmentMs: opts.segmentMs,
    playingTimeoutMs: opts.playingTimeoutMs,
    // one attempt: a profile that fails is reported, not retried for the length of the test
    restartMinMs: 3_600_000,
    restartMaxMs: 3_600_000,
    clock: opts.clock,
    logger: opts.logger,
    ...(opts.workerPath ? { workerPath: opts.workerPath } : {}),
  });
  const segments: { seg: ClosedSegment; arrivedMono: number }[] = [];
  // set in a callback: the cast keeps TypeScript from narrowing it to null for good
  let error = null as string | null;
  sup.on('segment', (seg) => segments.push({ seg, arrivedMono: opts.clock.monotonic() }));
  try {
    const playing = new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), opts.playingTimeoutMs + 2000);
      sup.once('playing', () => {
        clearTimeout(t);
        resolve(true);
      });
      sup.once('error', (e) => {
        error = e.message;
        clearTimeout(t);
        resolve(false);
      });
    });
    sup.arm();
    if (!(await playing)) {
      result.problems.push(`the pipeline did not start: ${error ?? `not PLAYING within ${opts.playingTimeoutMs} ms`}`);
      return result;
    }
    sup.on('error', (e) => (error ??= e.message));
    const pid = sup.status.pid;
    const cpuMsOf = opts.cpuMsOf ?? procCpuMs;
    const cpu0 = pid === undefined ? null : cpuMsOf(pid);
    const wall0 = opts.clock.monotonic();
    await new Promise<void>((resolve) => setTimeout(resolve, opts.seconds * 1000));
    const cpu1 = pid === undefined ? null : cpuMsOf(pid);
    const wall1 = opts.clock.monotonic();
    const stopMono = wall1;
    await sup.disarm(8000);
    if (error) result.problems.push(`the pipeline failed while running: ${error}`);
    if (cpu0 !== null && cpu1 !== null && wall1 > wall0) {
      result.cpu = { percentOfCore: Math.round(((cpu1 - cpu0) / (wall1 - wall0)) * 1000) / 10, cores: os.cpus().length };
    }
    measure(result, segments, stopMono, opts);
  } catch (err) {
    result.problems.push(`capture test failed: ${describeError(err)}`);
  } finally {
    await sup.disarm(8000).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
  result.ok = result.problems.length === 0;
  return result;
}

function measure(result: CaptureTestResult, segments: { seg: ClosedSegment; arrivedMono: number }[], stopMono: number, opts: CaptureTestOptions): void {
  if (segments.length < 2) {
    result.problems.push(`only ${segments.length} segment(s) in ${opts.seconds} s: the pipeline delivers too little to cut`);
    return;
  }
  // Segments of one stream: one may start without PAT/PMT; the PIDs carry over.
  let pids: TsPids = { video: null, audio: null };
  const probes = segments.map(({ seg }): TsProbe => {
    try {
      const p = probeTs(readFileSync(seg.path), pids);
      pids = p.pids;
      return p;
    } catch (err) {
      return { video: [], audio: [], problems: [`${path.basename(seg.path)}: ${describeError(err)}`], pids };
    }
  });
  // The first segment is the start-up (it may close before the first frame, even empty): it is left
  // out of every figure, and so of the checks of its contents.
  for (const [i, p] of probes.entries()) {
    if (i > 0) for (const problem of p.problems) result.problems.push(`segment ${i}: ${problem}`);
  }
  // Frames: counted after the first segment closed (start-up and the first keyframe excluded),
  // against the frame rate over the wall time from that close to the stop. A source that cannot
  // keep up (a busy CPU, a slow USB bus) delivers fewer frames than its timestamps pretend.
  const steady = probes.slice(1);
  const delivered = steady.reduce((n, p) => n + p.video.length, 0);
  const windowMs = stopMono - segments[0]!.arrivedMono;
  const expected = Math.max(1, Math.round((windowMs * opts.fps) / 1000));
  const ratio = Math.round((delivered / expected) * 1000) / 1000;
  result.frames = { delivered, expected, ratio };
  if (ratio < MIN_FRAME_RATIO) {
    result.problems.push(
      `delivers ${delivered} of ${expected} frames (${Math.round(ratio * 100)} %, needs ${Math.round(MIN_FRAME_RATIO * 100)} %): the source or the encoder cannot keep up`,
    );
  }
  // Keyframes, in presentation order.
  const frames: ProbedFrame[] = probes.flatMap((p) => p.video).sort((a, b) => a.ptsMs - b.ptsMs);
  const keys = frames.filter((f) => f.key).map((f) => f.ptsMs);
  if (keys.length >= 2) {
    const gaps = keys.slice(1).map((k, i) => k - keys[i]!);
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    result.keyframeIntervalMs = { mean: Math.round(mean), max: Math.round(Math.max(...gaps)) };
    result.cutsForceKeyframes = mean <= opts.segmentMs * 1.5;
  } else {
    result.problems.push(`${keys.length} keyframe(s) in ${opts.seconds} s: segments cannot start cleanly`);
  }
  for (const [i, p] of probes.entries()) {
    const first = [...p.video].sort((a, b) => a.ptsMs - b.ptsMs)[0];
    if (i > 0 && first && !first.key) result.problems.push(`segment ${i} does not start with a keyframe`);
  }
  // Segment lengths, without the first (start-up) and the last (ended by the stop).
  const inner = segments.slice(1, -1).map(({ seg }) => seg.endMono - seg.startMono);
  if (inner.length) {
    const mean = inner.reduce((a, b) => a + b, 0) / inner.length;
    const sd = Math.sqrt(inner.reduce((a, b) => a + (b - mean) ** 2, 0) / inner.length);
    result.segmentMs = { min: Math.round(Math.min(...inner)), max: Math.round(Math.max(...inner)), mean: Math.round(mean), spread: Math.round(sd) };
  }
  // Audio/video offset where both streams end (the stop's EOS drains both).
  const last = probes[probes.length - 1]!;
  const lastVideo = [...last.video].sort((a, b) => a.ptsMs - b.ptsMs);
  if (last.audio.length && lastVideo.length >= 2) {
    const frameMs = 1000 / opts.fps;
    const videoEnd = lastVideo[lastVideo.length - 1]!.ptsMs + frameMs;
    const a = last.audio[last.audio.length - 1]!;
    result.avOffsetMs = Math.round(a.ptsMs + a.durationMs - videoEnd);
    if (Math.abs(result.avOffsetMs) > MAX_AV_OFFSET_MS) {
      result.problems.push(`sound and picture end ${Math.abs(result.avOffsetMs)} ms apart (at most ${MAX_AV_OFFSET_MS}): lip sync drifts`);
    }
  }
}

let clockTicks: number | null = null;
/** CPU time (user + system) of a process in ms, from /proc/<pid>/stat; null when unreadable. */
export function procCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15
    const ticks = Number(fields[11]) + Number(fields[12]);
    clockTicks ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
    return (ticks * 1000) / clockTicks;
  } catch {
    return null;
  }
}

/**
 * The profile to recommend: a passing one whose segments stay short (a crash loses at most about
 * two of them), with the least CPU; else the passing one with the least CPU. Null when none passed.
 */
export function recommendProfile(results: CaptureTestResult[], segmentMs: number): CaptureTestResult | null {
  const passed = results.filter((r) => r.ok);
  const cpu = (r: CaptureTestResult) => r.cpu?.percentOfCore ?? Number.POSITIVE_INFINITY;
  const short = passed.filter((r) => (r.segmentMs?.max ?? 0) <= segmentMs * 2.5);
  const pool = short.length ? short : passed;
  return [...pool].sort((a, b) => cpu(a) - cpu(b))[0] ?? null;
}

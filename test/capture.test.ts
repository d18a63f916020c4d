import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildPipeline } from '../src/capture/profiles.js';
import { CaptureSupervisor, type ClosedSegment } from '../src/capture/supervisor.js';
import { parseConfig } from '../src/config/load.js';
import { systemClock } from '../src/core/clock.js';
import { createLogger } from '../src/core/logger.js';
import { discover } from './helpers/media.js';

const logger = createLogger({ level: 'silent' });
const capture = parseConfig({ capture: { width: 320, height: 240, bitrateKbps: 400 } }).capture;
const supervisors: CaptureSupervisor[] = [];

function supervisor(launchFor: (location: string) => string, extra: Partial<ConstructorParameters<typeof CaptureSupervisor>[0]> = {}) {
  const ringDir = mkdtempSync('/dev/shm/vht-capture-test-');
  const s = new CaptureSupervisor({
    ringDir,
    launchFor,
    segmentMs: 1000,
    playingTimeoutMs: 5000,
    restartMinMs: 100,
    restartMaxMs: 400,
    clock: systemClock,
    logger,
    ...extra,
  });
  supervisors.push(s);
  return { s, ringDir };
}

function next<T>(s: CaptureSupervisor, event: 'segment' | 'playing' | 'error', timeoutMs = 15_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
    s.once(event, (v: unknown) => {
      clearTimeout(t);
      resolve(v as T);
    });
  });
}

afterEach(async () => {
  for (const s of supervisors.splice(0)) await s.disarm();
});

describe('capture worker (real GStreamer pipeline in a child process)', () => {
  it('writes contiguous ~1 s MPEG-TS segments with H.264 and AAC into the RAM ring', async () => {
    const { s, ringDir } = supervisor((loc) => buildPipeline('sim', capture, loc).launch);
    const segs: ClosedSegment[] = [];
    s.on('segment', (seg) => segs.push(seg));
    s.arm();
    await next(s, 'playing');
    while (segs.length < 4) await next(s, 'segment');
    for (const seg of segs) {
      expect(seg.path.startsWith(ringDir)).toBe(true);
      expect(existsSync(seg.path)).toBe(true);
      expect(seg.bytes).toBeGreaterThan(1000);
      expect(seg.generation).toBe(1);
    }
    for (let i = 1; i < segs.length; i++) expect(segs[i]!.startMono).toBe(segs[i - 1]!.endMono);
    // ~1 s: the worker's cut timer may fire late on a busy machine, and the encoder may take the
    // key unit a frame or two later; a segmenter that cut on GOPs (2 s) or not at all fails
    for (const seg of segs.slice(1)) expect(seg.endMono - seg.startMono).toSatisfy((ms: number) => ms >= 800 && ms <= 1400);
    // Segments join into one stream: three of them last three seconds.
    const joined = path.join(ringDir, 'joined.ts');
    writeFileSync(joined, Buffer.concat(segs.slice(1, 4).map((seg) => readFileSync(seg.path))));
    const d = discover(joined);
    expect(d.hasVideo && d.hasAudio).toBe(true);
    expect(Math.abs(d.durationS * 1000 - (segs[3]!.endMono - segs[1]!.startMono))).toBeLessThan(150);
    expect(s.status).toMatchObject({ armed: true, ok: true });
  });

  it('ends a segment at once on a cut', async () => {
    // 10 s segments: without the cut, no segment would close for seconds. How fast a cut ends a
    // segment is measured in bench/ (ENDLIST after stop), not timed here.
    const { s } = supervisor((loc) => buildPipeline('sim', capture, loc).launch, { segmentMs: 10_000 });
    s.arm();
    await next(s, 'playing');
    await new Promise((r) => setTimeout(r, 300));
    const asked = Date.now();
    expect(s.cut()).toBe(true);
    const seg = await next<ClosedSegment>(s, 'segment', 8000);
    expect(Date.now() - asked).toBeLessThan(5000);
    expect(seg.endMono - seg.startMono).toBeLessThan(5000);
    expect(seg.bytes).toBeGreaterThan(0);
  });

  it('restarts a crashed worker as a new generation', async () => {
    const { s } = supervisor((loc) => buildPipeline('sim', capture, loc).launch);
    s.arm();
    await next(s, 'playing');
    const pid = s.status.pid!;
    s.killWorker('SIGKILL');
    const err = await next<{ message: string }>(s, 'error');
    expect(err.message).toMatch(/SIGKILL/);
    await next(s, 'playing');
    expect(s.status.pid).not.toBe(pid);
    const seg = await next<ClosedSegment>(s, 'segment');
    expect(seg.generation).toBe(2);
    expect(s.status.restarts).toBe(1);
  });

  it('reports a GStreamer error and retries with growing backoff', async () => {
    const { s } = supervisor(() => 'videotestsrc ! nosuchelement ! fakesink');
    const errors: { message: string; restartInMs: number }[] = [];
    s.on('error', (e) => errors.push(e));
    s.arm();
    while (errors.length < 3) await next(s, 'error');
    expect(errors[0]!.message).toMatch(/nosuchelement/);
    expect(errors.map((e) => e.restartInMs)).toEqual([100, 200, 400]);
    expect(s.status.ok).toBe(false);
    expect(s.status.error).toMatch(/nosuchelement/);
  });

  it('gives up on a pipeline that never reaches PLAYING within the bound', async () => {
    const { s } = supervisor(() => 'appsrc ! fakesink', { playingTimeoutMs: 1000 });
    s.arm();
    const err = await next<{ message: string }>(s, 'error', 10_000);
    expect(err.message).toMatch(/did not reach PLAYING within 1000 ms/);
  });

  it('discards plaintext leftovers in the ring', async () => {
    const { s, ringDir } = supervisor(() => 'fakesrc ! fakesink');
    writeFileSync(path.join(ringDir, 'g1-00000007.ts'), 'x');
    expect(s.discardLeftovers()).toBe(1);
    expect(existsSync(path.join(ringDir, 'g1-00000007.ts'))).toBe(false);
    rmSync(ringDir, { recursive: true, force: true });
  });
});

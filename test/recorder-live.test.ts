// The live tail of the RAM ring (the remote's camera preview, GET /api/live.m3u8): the real capture
// worker with the sim GStreamer pipeline, the real recorder, store and catalogue; and the file
// bookkeeping (which ring file may be deleted when) with segments the test closes itself.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildPipeline } from '../src/capture/profiles.js';
import type { ClosedSegment } from '../src/capture/supervisor.js';
import { parseConfig } from '../src/config/load.js';
import type { Clock, TimerHandle } from '../src/core/clock.js';
import { LIVE_GRACE_SEGMENTS, LIVE_TAIL_SEGMENTS, type LiveSegment } from '../src/session/recorder.js';
import { FakeCapture } from './helpers/fake-capture.js';
import { discover } from './helpers/media.js';
import { RecorderRig } from './helpers/recorder-rig.js';

const rig = new RecorderRig();
afterEach(() => rig.cleanup());

const seqOf = (s: LiveSegment) => Number(s.name.replace(/\.ts$/, ''));

describe('live tail with the real sim pipeline', () => {
  it('lists the newest closed segments oldest first as a sliding window, during a take too, and keeps the RAM ring small', async () => {
    const dir = rig.tempDir('vht-live-');
    const ringDir = rig.tempDir('vht-live-ring-', true);
    const capCfg = parseConfig({ capture: { width: 320, height: 240, bitrateKbps: 300 } }).capture;
    const capture = rig.captureWorker(ringDir, (loc) => buildPipeline('sim', capCfg, loc).launch);
    const store = await rig.store(dir);
    const { catalogue } = store;
    // pre-roll 1 s: the ring alone would hold fewer than LIVE_TAIL_SEGMENTS segments
    const recorder = rig.recorder({ capture, store, dir, preRollMs: 1000, armAtStart: false, nominalBytesPerSecond: 50_000 });
    expect(recorder.liveSegments()).toEqual([]);

    const closed: ClosedSegment[] = [];
    capture.on('segment', (s) => closed.push(s));
    const waitSegments = async (n: number) => {
      const want = closed.length + n;
      const until = Date.now() + 20_000;
      while (closed.length < want) {
        if (Date.now() > until) throw new Error(`only ${closed.length} of ${want} segments closed`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 20)); // the recorder handles the same event
    };
    recorder.arm();
    await waitSegments(LIVE_TAIL_SEGMENTS + 2);

    const first = recorder.liveSegments();
    expect(first).toHaveLength(LIVE_TAIL_SEGMENTS);
    const seqs = first.map(seqOf);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1);
    expect(first.map((s) => s.path)).toEqual(closed.slice(-LIVE_TAIL_SEGMENTS).map((s) => s.path));
    for (const s of first) {
      expect(s.name).toMatch(/^[1-9][0-9]*\.ts$/);
      expect(s.discontinuity).toBe(false);
      expect(existsSync(s.path)).toBe(true);
      expect(readFileSync(s.path)[0]).toBe(0x47); // MPEG-TS
    }
    for (const s of first.slice(1)) expect(s.durationMs).toSatisfy((ms: number) => ms >= 800 && ms <= 1400); // ~1 s (a late cut timer on a busy machine)
    // the listed segments are one playable stream (what the preview plays)
    const joined = path.join(dir, 'live.ts');
    writeFileSync(joined, Buffer.concat(first.map((s) => readFileSync(s.path))));
    expect(discover(joined).hasVideo).toBe(true);

    // a take: its segments are listed too while they are the newest, and still vanish afterwards
    const { clipId } = recorder.startTake(null);
    await waitSegments(3);
    const during = recorder.liveSegments();
    expect(during).toHaveLength(LIVE_TAIL_SEGMENTS);
    expect(seqOf(during[0]!)).toBeGreaterThan(seqOf(first[0]!)); // the window slid
    expect(seqOf(during[during.length - 1]!)).toBe(seqOf(first[first.length - 1]!) + 3);
    for (const s of during) expect(existsSync(s.path)).toBe(true);
    await recorder.stopTake();
    expect(catalogue.getClip(clipId)!.segmentCount).toBeGreaterThanOrEqual(3);

    await waitSegments(LIVE_TAIL_SEGMENTS + LIVE_GRACE_SEGMENTS + 1);
    const after = recorder.liveSegments();
    // the tail and its grace have slid past every earlier segment, and those are gone from RAM
    // (older than the pre-roll)
    const earlier = [...first, ...during];
    expect(after.filter((a) => earlier.some((s) => s.path === a.path))).toEqual([]);
    for (const s of earlier) {
      expect(existsSync(s.path), s.path).toBe(false);
      expect(recorder.liveSegment(s.name), s.name).toBeUndefined();
    }
    // the ring holds the pre-roll (≤ 2 closed segments), the live tail, its grace and the open segment at most
    expect(readdirSync(ringDir).length).toBeLessThanOrEqual(2 + LIVE_TAIL_SEGMENTS + LIVE_GRACE_SEGMENTS + 1);

    await recorder.disarm();
    expect(recorder.liveSegments()).toEqual([]);
    expect(readdirSync(ringDir)).toEqual([]);
  }, 60_000);
});

/** Real time is not needed here: the test moves a clock and closes segments itself. */
class StepClock implements Clock {
  t = 10_000;
  now() {
    return this.t + 1_700_000_000_000;
  }
  monotonic() {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return setTimeout(fn, ms);
  }
  clearTimeout(h: TimerHandle) {
    clearTimeout(h as NodeJS.Timeout);
  }
}

describe('live tail bookkeeping', () => {
  it('lists the newest four, keeps a ring file fetchable for five more, names never repeat across a worker restart, and marks the jump', async () => {
    expect([LIVE_TAIL_SEGMENTS, LIVE_GRACE_SEGMENTS]).toEqual([4, 5]); // the numbers below follow these
    const dir = rig.tempDir('vht-live-unit-');
    const ring = rig.tempDir('vht-live-unit-ring-');
    const store = await rig.store(dir);
    const { catalogue } = store;
    const clock = new StepClock();
    const capture = new FakeCapture(ring, { bytes: 500, cutClosesSegment: false });
    // no pre-roll: the ring itself would delete every segment at once
    const recorder = rig.recorder({ capture, store, dir, clock, preRollMs: 0, armAtStart: true, nominalBytesPerSecond: 1000 });
    const segs: ClosedSegment[] = [];
    const close = (n: number, generation = 1) => {
      for (let i = 0; i < n; i++) {
        clock.t += 1000;
        segs.push(capture.segment(clock.t - 1000, clock.t, generation));
      }
    };
    close(6);
    expect(recorder.liveSegments().map((s) => s.name)).toEqual(['3.ts', '4.ts', '5.ts', '6.ts']);
    expect(recorder.liveSegments().map((s) => s.durationMs)).toEqual([1000, 1000, 1000, 1000]);
    // 1 and 2 left the playlist but are within the grace: a reader that listed them still gets them
    expect(segs.map((s) => existsSync(s.path))).toEqual([true, true, true, true, true, true]);
    expect(recorder.liveSegment('1.ts')?.path).toBe(segs[0]!.path);
    expect(recorder.liveSegment('7.ts')).toBeUndefined();
    close(4); // 10 closed: 7–10 listed, 2–6 in the grace, 1 gone
    expect(recorder.liveSegments().map((s) => s.name)).toEqual(['7.ts', '8.ts', '9.ts', '10.ts']);
    expect(recorder.liveSegment('1.ts')).toBeUndefined();
    expect(recorder.liveSegment('2.ts')?.path).toBe(segs[1]!.path);
    expect(segs.map((s) => existsSync(s.path))).toEqual([false, true, true, true, true, true, true, true, true, true]);

    // a take of two segments: persisted (encrypted) and yet listed until newer ones push them out
    const { clipId } = recorder.startTake(null);
    close(2);
    const done = recorder.stopTake();
    await done;
    expect(catalogue.getClip(clipId)!.segmentCount).toBe(2);
    expect(existsSync(segs[10]!.path) && existsSync(segs[11]!.path)).toBe(true);
    // the worker restarts (generation 2): numbering goes on, the first new segment marks the jump
    clock.t += 500;
    close(1, 2);
    const live = recorder.liveSegments();
    expect(live.map((s) => [s.name, s.discontinuity])).toEqual([
      ['10.ts', false],
      ['11.ts', false],
      ['12.ts', false],
      ['13.ts', true],
    ]);
    close(9, 2);
    expect(recorder.liveSegments().map((s) => s.name)).toEqual(['19.ts', '20.ts', '21.ts', '22.ts']);
    // nothing older than the tail and its grace is left in RAM (pre-roll 0), the take's files included
    expect(readdirSync(ring).sort()).toEqual(
      segs
        .slice(-9)
        .map((s) => path.basename(s.path))
        .sort(),
    );
    await recorder.disarm();
    expect(recorder.liveSegments()).toEqual([]);
    expect(recorder.liveSegment('22.ts')).toBeUndefined();
    expect(readdirSync(ring)).toEqual([]);
  });
});

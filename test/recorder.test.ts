import { afterEach, describe, expect, it } from 'vitest';
import { FakeCapture } from './helpers/fake-capture.js';
import { ManualClock } from './helpers/manual-clock.js';
import { RecorderRig } from './helpers/recorder-rig.js';

const rig = new RecorderRig();
afterEach(() => rig.cleanup());

async function setup() {
  const dir = rig.tempDir('vht-recorder-');
  const store = await rig.store(dir);
  const clock = new ManualClock(1_000_000);
  const capture = new FakeCapture(rig.tempDir('vht-ring-'));
  const recorder = rig.recorder({ capture, store, dir, clock, preRollMs: 3000, armAtStart: true, nominalBytesPerSecond: 1000 });
  return { clock, capture, recorder, catalogue: store.catalogue };
}

const settle = () => new Promise((r) => setTimeout(r, 50));

/** Asks the recorder to stop; `done()` says whether the stop has finished yet. */
function stopping(recorder: { stopTake(): Promise<unknown> }): { stop: Promise<unknown>; done: () => boolean } {
  let finished = false;
  const stop = recorder.stopTake().then(() => {
    finished = true;
  });
  return { stop, done: () => finished };
}

describe('recorder', () => {
  it('starts the clip with the segment covering start − preRoll', async () => {
    const { clock, capture, recorder, catalogue } = await setup();
    const t0 = clock.t;
    for (let i = 0; i < 6; i++) {
      clock.advance(1000);
      capture.segment(t0 + i * 1000, t0 + (i + 1) * 1000);
    }
    // now = t0 + 6000; start at t0 + 6500 → from = t0 + 3500 → first segment [t0+3000, t0+4000]
    clock.advance(500);
    const { clipId } = recorder.startTake(null);
    clock.advance(500);
    capture.segment(t0 + 6000, t0 + 7000);
    clock.advance(200);
    const stop = recorder.stopTake();
    expect(capture.cuts).toBe(1);
    clock.advance(30);
    capture.segment(t0 + 7000, t0 + 7230);
    await stop;
    const segs = catalogue.segments(clipId);
    // [3000, 4000] covers start − preRoll (3500); [7000, 7230] covers the stop (7200)
    expect(segs.map((s) => s.durationMs)).toEqual([1000, 1000, 1000, 1000, 230]);
    expect(segs[0]!.startMs).toBe(segs[1]!.startMs - 1000);
    expect(catalogue.getClip(clipId)!.state).toBe('complete');
  });

  it('ends the take at once when the last segment already reaches the stop time', async () => {
    const { clock, capture, recorder, catalogue } = await setup();
    const t0 = clock.t;
    const { clipId } = recorder.startTake(null);
    clock.advance(1000);
    // the pipeline clock runs a few ms ahead: this segment ends after "now"
    capture.segment(t0, t0 + 1003);
    // The manual clock stands still: a stop that waited for another segment, or for a timeout on
    // the kit's clock, would never end. 5 s of real time leaves room for the encryption and fsyncs.
    const stop = recorder.stopTake();
    const done = await Promise.race([stop.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 5000))]);
    expect(done, 'the stop ended without another segment').toBe(true);
    expect((await stop).clipId).toBe(clipId);
    expect(catalogue.segments(clipId)).toHaveLength(1);
    // the next segment goes to the ring, not into the finished clip
    capture.segment(t0 + 1003, t0 + 2000);
    await settle();
    expect(catalogue.segments(clipId)).toHaveLength(1);
  });

  it('finishes with what it has when no segment comes after a stop (worker gone)', async () => {
    const { clock, capture, recorder, catalogue } = await setup();
    const t0 = clock.t;
    const { clipId } = recorder.startTake(null);
    clock.advance(1000);
    capture.segment(t0, t0 + 1000);
    clock.advance(500);
    const { stop, done } = stopping(recorder);
    await settle();
    expect(done()).toBe(false);
    // the worker was restarted meanwhile: the segment of the stop will never come
    capture.status = { armed: true, ok: true, restarts: 1 };
    clock.advance(4000);
    await stop;
    expect(catalogue.getClip(clipId)!.state).toBe('complete');
    expect(catalogue.segments(clipId)).toHaveLength(1);
  });

  it('waits longer for the stop segment while the capture still runs (a starved worker), up to three waits', async () => {
    const { clock, capture, recorder, catalogue } = await setup();
    const t0 = clock.t;
    const { clipId } = recorder.startTake(null);
    clock.advance(1000);
    capture.segment(t0, t0 + 1000);
    clock.advance(500);
    const { stop, done } = stopping(recorder);
    // the first wait (1 s + 1 s + 2 s) passes without a segment: the worker runs, so the kit waits on
    clock.advance(4000);
    await settle();
    expect(done(), 'a running capture gets a second wait').toBe(false);
    clock.advance(3000);
    capture.segment(t0 + 1000, t0 + 1600);
    await stop;
    expect(catalogue.segments(clipId).map((s) => s.durationMs)).toEqual([1000, 600]);

    // a take whose segment never comes still ends, after the third wait
    const second = recorder.startTake(null);
    clock.advance(1000);
    capture.segment(t0 + 8500, t0 + 9500);
    clock.advance(100);
    const { stop: stop2, done: secondDone } = stopping(recorder);
    clock.advance(4000);
    await settle();
    clock.advance(4000);
    await settle();
    expect(secondDone()).toBe(false);
    clock.advance(4000);
    await stop2;
    expect(catalogue.getClip(second.clipId)!.state).toBe('complete');
  });

  it('marks offsets on the clip timeline, leaving out a gap after a worker restart', async () => {
    const { clock, capture, recorder, catalogue } = await setup();
    const t0 = clock.t;
    const { clipId } = recorder.startTake(null);
    clock.advance(1000);
    capture.segment(t0, t0 + 1000);
    // worker restart: 2 s gap, new generation
    clock.advance(3000);
    capture.segment(t0 + 3000, t0 + 4000, 2);
    clock.advance(500);
    const m = recorder.mark('beurt');
    expect(m.offsetMs).toBe(4500 - 2000);
    const stop = recorder.stopTake();
    capture.segment(t0 + 4000, t0 + 4500, 2);
    await stop;
    const segs = catalogue.segments(clipId);
    expect(segs.map((s) => s.discontinuity)).toEqual([false, true, false]);
    expect(catalogue.markers(clipId)[0]!.offsetMs).toBe(2500);
  });
});

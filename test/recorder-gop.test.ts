// The uvc-h264 profile: the camera sends its own H.264 and its keyframes cannot be forced. Here a
// stand-in camera (a separate GStreamer process, fixed 2 s GOP, over shared memory) feeds the real
// capture worker, recorder, store and catalogue. A take must start at the keyframe at or before
// `press − pre-roll`, end at the keyframe at or after the stop, and every segment must be whole
// GOPs that start with a keyframe, with the times the kit reports being the keyframes' times.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildPipeline } from '../src/capture/profiles.js';
import type { ClosedSegment } from '../src/capture/supervisor.js';
import { probeTs } from '../src/capture/ts-probe.js';
import { parseConfig } from '../src/config/load.js';
import { systemClock } from '../src/core/clock.js';
import { decryptWith } from '../src/store/crypto.js';
import { H264Camera } from './helpers/h264-camera.js';
import { discover } from './helpers/media.js';
import { RecorderRig } from './helpers/recorder-rig.js';

const rig = new RecorderRig();
afterEach(() => rig.cleanup());

const GOP_MS = 2000;
/** A frame at 25 fps, and the slack of a loaded machine's timers around a keyframe. */
const FRAME_MS = 40;
const SLACK_MS = 150;

async function waitFor(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The stand-in camera with a fixed GOP, the real capture worker, recorder, store and catalogue. */
async function setup(gopMs: number, preRollMs: number) {
  const dir = rig.tempDir('vht-gop-');
  const ringDir = rig.tempDir('vht-gop-ring-', true);
  const cam = new H264Camera({ width: 320, height: 240, fps: 25, gopSeconds: gopMs / 1000 });
  rig.onCleanup(() => cam.stop());
  await cam.start();
  const capCfg = parseConfig({ capture: { profile: 'uvc-h264', width: 320, height: 240, fps: 25, bitrateKbps: 400 } }).capture;
  const capture = rig.captureWorker(
    ringDir,
    (loc) => buildPipeline('uvc-h264', capCfg, loc, { videoSource: cam.source(), audioSource: 'audiotestsrc is-live=true volume=0.2' }).launch,
  );
  const store = await rig.store(dir);
  const recorder = rig.recorder({ capture, store, dir, profile: 'uvc-h264', preRollMs, armAtStart: true, nominalBytesPerSecond: 50_000 });
  const closed: ClosedSegment[] = [];
  capture.on('segment', (s) => closed.push(s));
  return { org: store.org, catalogue: store.catalogue, clips: store.clips, recorder, closed, dir };
}

describe('uvc-h264: the camera owns the GOP (2 s stand-in)', () => {
  it('bounds pre-roll, stop and segment times by the keyframes, and every segment starts with one', async () => {
    const preRollMs = 3000;
    const { org, catalogue, clips, recorder, closed, dir } = await setup(GOP_MS, preRollMs);
    // Enough ring for the pre-roll: the first (start-up) segment and two whole GOPs after it.
    await waitFor('three segments in the ring', () => closed.length >= 3);
    // Press half a GOP after a keyframe, so that `press − pre-roll` falls inside a GOP.
    const lastClose = closed.length;
    await waitFor('the next keyframe', () => closed.length > lastClose);
    await new Promise((r) => setTimeout(r, GOP_MS / 2));
    const pressMono = systemClock.monotonic();
    const { clipId } = recorder.startTake(null);
    await new Promise((r) => setTimeout(r, 3300));
    const stopMono = systemClock.monotonic();
    const { durationMs } = await recorder.stopTake('test');

    const rows = catalogue.segments(clipId);
    expect(rows.length).toBeGreaterThanOrEqual(3);
    // The take's segments are a contiguous run of what the worker closed, found by their start.
    const firstIdx = closed.findIndex((s) => s.startMono <= pressMono - preRollMs && s.endMono > pressMono - preRollMs);
    expect(firstIdx).toBeGreaterThanOrEqual(0);
    const taken = closed.slice(firstIdx, firstIdx + rows.length);
    expect(taken).toHaveLength(rows.length);
    const first = taken[0]!;
    const last = taken[taken.length - 1]!;
    // pre-roll: from the keyframe at or before press − pre-roll, at most one GOP earlier
    expect(pressMono - first.startMono).toBeGreaterThanOrEqual(preRollMs);
    expect(pressMono - first.startMono).toBeLessThan(preRollMs + GOP_MS + SLACK_MS);
    // stop: to the keyframe at or after the stop, at most one GOP later
    const why = `segments ${JSON.stringify(taken.map((s) => [Math.round(s.startMono - stopMono), Math.round(s.endMono - stopMono)]))} ms from the stop; log:\n${rig.log.join('\n')}`;
    expect(last.startMono, why).toBeLessThan(stopMono);
    expect(last.endMono, why).toBeGreaterThanOrEqual(stopMono - FRAME_MS);
    expect(last.endMono - stopMono, why).toBeLessThan(GOP_MS + SLACK_MS);
    // segments: whole GOPs (the worker asked for 1 s cuts), contiguous
    for (const s of taken) expect(Math.abs(s.endMono - s.startMono - GOP_MS)).toBeLessThan(SLACK_MS);
    for (let i = 1; i < taken.length; i++) expect(taken[i]!.startMono).toBe(taken[i - 1]!.endMono);
    // what the catalogue reports is those boundaries: origin, segment starts and lengths, duration
    const clip = catalogue.getClip(clipId)!;
    const wallOf = (mono: number) => Date.now() - (systemClock.monotonic() - mono);
    expect(Math.abs(clip.originMs! - wallOf(first.startMono))).toBeLessThan(SLACK_MS);
    for (const [i, row] of rows.entries()) {
      expect(Math.abs(row.durationMs - (taken[i]!.endMono - taken[i]!.startMono))).toBeLessThan(2);
    }
    expect(Math.abs(durationMs - (last.endMono - first.startMono))).toBeLessThan(SLACK_MS);

    // The footage itself: each decrypted segment starts with a keyframe and holds exactly one GOP.
    const plain: Buffer[] = [];
    for (const row of rows) {
      const enc = readFileSync(clips.segmentFile(clipId, row.seq));
      const ts = Buffer.from(await decryptWith(org.identity, enc));
      const probe = probeTs(ts);
      expect(probe.problems).toEqual([]);
      const video = [...probe.video].sort((a, b) => a.ptsMs - b.ptsMs);
      expect(video[0]!.key).toBe(true);
      expect(video.filter((f) => f.key)).toHaveLength(1);
      expect(Math.abs(video.length - GOP_MS / FRAME_MS)).toBeLessThanOrEqual(2);
      expect(probe.audio.length).toBeGreaterThan(0);
      plain.push(ts);
    }
    const joined = path.join(dir, 'joined.ts');
    writeFileSync(joined, Buffer.concat(plain));
    const d = discover(joined);
    expect(d.hasVideo && d.hasAudio).toBe(true);
    expect(Math.abs(d.durationS * 1000 - (last.endMono - first.startMono))).toBeLessThan(SLACK_MS);
  }, 90_000);

  it('waits a whole long GOP (5 s) for the segment that holds the stop', async () => {
    const { catalogue, recorder, closed } = await setup(5000, 1000);
    await waitFor('two segments', () => closed.length >= 2, 40_000);
    const n = closed.length;
    await waitFor('the next keyframe', () => closed.length > n, 20_000);
    // Stop just after a keyframe: the next one is ~5 s away, longer than two 1 s segments + 2 s.
    const { clipId } = recorder.startTake(null);
    await new Promise((r) => setTimeout(r, 300));
    const stopMono = systemClock.monotonic();
    await recorder.stopTake('test');
    const rows = catalogue.segments(clipId);
    const holdsStop = () => closed.find((s) => s.startMono < stopMono && s.endMono >= stopMono - FRAME_MS);
    await waitFor('the segment that holds the stop', () => holdsStop() !== undefined, 20_000);
    const last = holdsStop()!;
    expect(last.endMono - stopMono).toBeGreaterThan(4000);
    // the segment holding the stop is the clip's last (before: finished without it after 4 s)
    const wallOf = (mono: number) => Date.now() - (systemClock.monotonic() - mono);
    const tail = rows[rows.length - 1]!;
    expect(Math.abs(tail.durationMs - (last.endMono - last.startMono))).toBeLessThan(2);
    expect(Math.abs(tail.startMs - wallOf(last.startMono))).toBeLessThan(SLACK_MS);
  }, 90_000);
});

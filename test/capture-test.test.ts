import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { systemClock } from '../src/core/clock.js';
import { createLogger } from '../src/core/logger.js';
import { runCaptureTestCommand } from '../src/doctor-capture.js';
import { probeTs } from '../src/capture/ts-probe.js';
import { controlSocketPath, sendControl } from '../src/web/control.js';
import { H264Camera } from './helpers/h264-camera.js';
import { Service } from './helpers/service.js';

const BIN = path.resolve(import.meta.dirname, '../bin/vht-kit');
const logger = createLogger({ level: 'silent' });
const MIC = 'audiotestsrc is-live=true wave=sine freq=440 volume=0.2';
const dirs: string[] = [];
const cameras: H264Camera[] = [];
const services: Service[] = [];

function config() {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vht-capture-test-'));
  const ringDir = mkdtempSync('/dev/shm/vht-capture-test-ring-');
  dirs.push(dataDir, ringDir);
  return parseConfig({ dataDir, capture: { width: 320, height: 240, fps: 25, bitrateKbps: 400, ringDir } });
}

/** Runs the doctor's CLI as a process; resolves with its output and exit code. */
function doctorCli(svc: Service | null, args: string[]): Promise<{ code: number | null; out: string }> {
  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  delete env.VHT_KIT_CONFIG;
  if (svc) Object.assign(env, { VHT_KIT_CONFIG: path.join(svc.dir, 'config.yaml'), VHT_KIT_DATA_DIR: svc.dataDir, VHT_KIT_RING_DIR: svc.ringDir });
  else Object.assign(env, { VHT_KIT_DATA_DIR: config().dataDir });
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, 'doctor', '--capture-test', ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (code) => resolve({ code, out }));
  });
}

afterEach(async () => {
  for (const c of cameras.splice(0)) await c.stop();
  for (const s of services.splice(0)) await s.stop();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('doctor --capture-test with stand-ins for the camera', () => {
  it('passes the uvc-h264 stand-in (2 s GOP: segments follow the camera) and fails a throttled source', async () => {
    const cfg = config();
    const cam = new H264Camera({ width: 320, height: 240, fps: 25, gopSeconds: 2 });
    cameras.push(cam);
    await cam.start();
    const lines: string[] = [];
    const report = await runCaptureTestCommand(cfg, {
      profiles: ['sim', 'uvc-h264'],
      seconds: 6,
      overrides: {
        // a camera that gives 10 of its 25 frames a second: 100 ms per frame in the source's thread
        sim: { videoSource: 'videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=25/1 ! identity sleep-time=100000' },
        'uvc-h264': { videoSource: cam.source(), audioSource: MIC },
      },
      clock: systemClock,
      logger,
      write: (l) => lines.push(l),
    });
    const text = lines.join('\n');
    expect(report.refused).toBeNull();
    expect(report.skipped).toEqual([]);
    const [sim, uvc] = report.results;
    // the throttled source: too few frames, reported as failing, with the reason
    expect(sim!.profile).toBe('sim');
    expect(sim!.ok).toBe(false);
    expect(sim!.frames!.ratio).toBeLessThan(0.7);
    expect(sim!.problems.join('\n')).toMatch(/delivers \d+ of \d+ frames .*cannot keep up/);
    expect(text).toMatch(/^sim +FAIL frames \d+\/\d+/m);
    // the camera's own H.264: every frame, keyframes every 2 s whatever the cuts ask, segments of a GOP
    expect(uvc!.profile).toBe('uvc-h264');
    expect(uvc!.problems, text).toEqual([]);
    expect(uvc!.ok).toBe(true);
    expect(uvc!.frames!.ratio).toBeGreaterThanOrEqual(0.9);
    expect(uvc!.cutsForceKeyframes).toBe(false);
    expect(uvc!.keyframeIntervalMs!.mean).toBeGreaterThan(1900);
    expect(uvc!.keyframeIntervalMs!.mean).toBeLessThan(2100);
    expect(uvc!.segmentMs!.mean).toBeGreaterThan(1800);
    expect(uvc!.segmentMs!.max).toBeLessThan(2400);
    expect(uvc!.cpu!.percentOfCore).toBeGreaterThan(0);
    expect(Math.abs(uvc!.avOffsetMs!)).toBeLessThanOrEqual(200);
    expect(text).toMatch(/^uvc-h264 +ok +frames .*the camera's own GOP: cuts wait for it/m);
    expect(report.recommended?.profile).toBe('uvc-h264');
    expect(text).toMatch(/recommended: uvc-h264[^]*\n {2}capture:\n {4}profile: uvc-h264\n/);
    // nothing left in the RAM directory: the plaintext of the test is gone
    expect(readdirSync(cfg.capture.ringDir!)).toEqual([]);
  }, 90_000);

  it('skips profiles whose elements or camera are missing, and says why', async () => {
    const cfg = config();
    const lines: string[] = [];
    const report = await runCaptureTestCommand(
      { ...cfg, capture: { ...cfg.capture, device: path.join(cfg.dataDir, 'no-camera') } },
      { clock: systemClock, logger, write: (l) => lines.push(l), hasElement: (el) => el !== 'v4l2h264enc' },
    );
    expect(report.results).toEqual([]);
    expect(report.skipped).toEqual([
      { profile: 'pi4', reason: 'missing GStreamer elements: v4l2h264enc' },
      { profile: 'pi5', reason: `no camera at ${cfg.dataDir}/no-camera (capture.device, VHT_KIT_CAMERA)` },
      { profile: 'uvc-h264', reason: `no camera at ${cfg.dataDir}/no-camera (capture.device, VHT_KIT_CAMERA)` },
    ]);
    expect(report.recommended).toBeNull();
    expect(lines.at(-1)).toBe('no profile can run here: see the reasons above');
  });
});

describe('doctor --capture-test against a running kit (sim profile, real service)', () => {
  it('asks the kit to release the camera, tests, arms it again; refuses while a take runs', async () => {
    const svc = new Service();
    services.push(svc);
    await svc.start();
    const sock = controlSocketPath(svc.dataDir);
    const state = async () => ((await sendControl(sock, { cmd: 'status' })) as { state: string }).state;
    let s = await state();
    for (let i = 0; s !== 'armed' && i < 100; i++, s = await state()) await new Promise((r) => setTimeout(r, 100));
    expect(s).toBe('armed');

    const run = await doctorCli(svc, ['--profiles', 'sim', '--seconds', '4']);
    expect(run.out).toMatch(/asked the running kit to release the camera \(it was armed\)/);
    expect(run.out).toMatch(/^sim +ok +frames \d+\/\d+ \(\d+ %\), keyframes every \d+ ms .*cuts force them/m);
    expect(run.out).toMatch(/the running kit armed its camera again/);
    expect(run.code).toBe(0);
    expect(svc.output).toMatch(/"msg":"capture worker stopped"/);
    expect(await state()).toBe('armed');

    // A take running: the test refuses and the take goes on.
    const started = (await sendControl(sock, { cmd: 'press', long: false }, 15_000)) as { after: string; clipId: string };
    expect(started.after).toBe('recording');
    const refused = await doctorCli(svc, ['--profiles', 'sim', '--seconds', '4']);
    expect(refused.out).toContain(`refused: a take is running (clip ${started.clipId}): stop it, then run the capture test again`);
    expect(refused.code).toBe(1);
    expect(await state()).toBe('recording');
  }, 90_000);

  it('names the option and the value it cannot use', async () => {
    const bad = await doctorCli(null, ['--profiles', 'pi6']);
    expect(bad.out).toMatch(/--profiles: unknown profile "pi6" \(sim, pi4, pi5, uvc-h264\)/);
    expect(bad.code).toBe(1);
    const secs = await doctorCli(null, ['--seconds', 'ten']);
    expect(secs.out).toMatch(/--seconds must be 3 to 120 \(got "ten"\)/);
  });
});

describe('MPEG-TS probe', () => {
  it('reads frames, keyframes and AAC of a real file, and reports damage instead of throwing', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vht-ts-probe-'));
    dirs.push(dir);
    const file = path.join(dir, 'a.ts');
    // 4 s at 25 fps with a keyframe every 25 frames; 4 s of 48 kHz AAC
    execFileSync('gst-launch-1.0', [
      '-q',
      ...(
        'videotestsrc num-buffers=100 ! video/x-raw,width=160,height=120,framerate=25/1 ! x264enc key-int-max=25 ! h264parse ' +
        `! mpegtsmux name=mux ! filesink location=${file} audiotestsrc num-buffers=188 samplesperbuffer=1024 ! audioconvert ` +
        '! audio/x-raw,rate=48000,channels=1 ! voaacenc ! aacparse ! mux.'
      ).split(' '),
    ]);
    const buf = readFileSync(file);
    const p = probeTs(buf);
    expect(p.problems).toEqual([]);
    expect(p.video).toHaveLength(100);
    const keys = p.video
      .filter((f) => f.key)
      .map((f) => f.ptsMs)
      .sort((a, b) => a - b);
    expect(keys.map((k) => Math.round(k - keys[0]!))).toEqual([0, 1000, 2000, 3000]);
    const audioMs = p.audio.reduce((a, x) => a + x.durationMs, 0);
    expect(Math.abs(audioMs - 4011)).toBeLessThan(50); // 188 × 1024 samples at 48 kHz
    // damaged: cut mid-packet, and garbage where a sync byte belongs
    const cut = probeTs(buf.subarray(0, buf.length - 100));
    expect(cut.problems[0]).toMatch(/^88 trailing bytes after the last whole packet$/);
    const bad = Buffer.from(buf);
    bad[188 * 50] = 0x00;
    const broken = probeTs(bad);
    expect(broken.problems).toContain(`no sync byte at offset ${188 * 50}`);
    expect(broken.video.length).toBeLessThan(100);
    expect(probeTs(Buffer.alloc(0))).toEqual({
      video: [],
      audio: [],
      problems: ['no H.264 or AAC stream in the program map'],
      pids: { video: null, audio: null },
    });
    // a later segment of the same stream without PAT/PMT: read with the PIDs of the earlier one
    const media = new Set([p.pids.video, p.pids.audio]);
    const packets: Buffer[] = [];
    for (let o = 188 * 60; o + 188 <= buf.length; o += 188) {
      if (media.has(((buf[o + 1]! & 0x1f) << 8) | buf[o + 2]!)) packets.push(buf.subarray(o, o + 188)); // no PAT/PMT
    }
    const tail = Buffer.concat(packets);
    const alone = probeTs(tail);
    expect(alone.problems).toContain('no H.264 or AAC stream in the program map');
    expect(alone.video).toEqual([]);
    const withPids = probeTs(tail, p.pids);
    expect(withPids.video.length).toBeGreaterThan(0);
    expect(withPids.pids).toEqual(p.pids);
    expect(probeTs(Buffer.from('not a transport stream at all')).problems.length).toBeGreaterThan(0);
  });
});

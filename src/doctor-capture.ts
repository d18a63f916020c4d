/**
 * `vht-kit doctor --capture-test`: on the real board, each capture profile whose GStreamer
 * elements exist runs for a few seconds against the real camera and microphone; the report says
 * per profile how it did and which profile to set. The camera belongs to the running service:
 * it is asked to disarm over its control socket (and to arm again afterwards), or the test
 * refuses, saying how to free the camera. Clips and the catalogue are never opened.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Config, Profile } from './config/schema.js';
import type { Clock } from './core/clock.js';
import { AppError, describeError } from './core/errors.js';
import type { Logger } from './core/logger.js';
import { buildPipeline, type PipelineOverrides } from './capture/profiles.js';
import { recommendProfile, runCaptureTest, type CaptureCandidate, type CaptureTestResult } from './capture/capture-test.js';
import { ringDirFor } from './main.js';
import { controlSocketPath, sendControl, type ControlRequest } from './web/control.js';

/** The profiles a camera can use, in the order they are tried. */
export const CAMERA_PROFILES: Profile[] = ['pi4', 'pi5', 'uvc-h264'];

export interface CaptureTestRun {
  /** Profiles to try (default CAMERA_PROFILES; `sim` only when asked for). */
  profiles?: Profile[];
  seconds?: number;
  /** Stand-ins for the camera and microphone (tests): same pipeline, other sources. */
  overrides?: Partial<Record<Profile, PipelineOverrides>>;
  clock: Clock;
  logger: Logger;
  write: (line: string) => void;
  /** Talks to the running kit (default: its control socket in the data dir). */
  control?: (req: ControlRequest) => Promise<unknown>;
  /** Whether a GStreamer element exists (default: gst-inspect-1.0 --exists). */
  hasElement?: (name: string) => boolean;
}

export interface CaptureTestReport {
  results: CaptureTestResult[];
  skipped: { profile: Profile; reason: string }[];
  recommended: CaptureTestResult | null;
  /** Null when the test could not run (e.g. the service refused to release the camera). */
  refused: string | null;
}

/** Runs the capture test and writes its report; resolves with what it found. */
export async function runCaptureTestCommand(config: Config, run: CaptureTestRun): Promise<CaptureTestReport> {
  const seconds = run.seconds ?? 10;
  const cap = config.capture;
  const report: CaptureTestReport = { results: [], skipped: [], recommended: null, refused: null };
  const control = run.control ?? ((req: ControlRequest) => sendControl(controlSocketPath(config.dataDir), req, 15_000));
  const hasElement = run.hasElement ?? ((el: string) => spawnSync('gst-inspect-1.0', ['--exists', el]).status === 0);

  const candidates: CaptureCandidate[] = [];
  for (const profile of run.profiles ?? CAMERA_PROFILES) {
    const over = run.overrides?.[profile] ?? {};
    const spec = buildPipeline(profile, cap, '/tmp/x%08d.ts', over);
    // A stand-in source replaces the camera's elements; the rest must exist here.
    const missing = spec.elements.filter((el) => !(over.videoSource && el === 'v4l2src') && !(over.audioSource && el === 'alsasrc') && !hasElement(el));
    if (missing.length) {
      report.skipped.push({ profile, reason: `missing GStreamer elements: ${missing.join(', ')}` });
      continue;
    }
    if (profile !== 'sim' && !over.videoSource && !existsSync(cap.device)) {
      report.skipped.push({ profile, reason: `no camera at ${cap.device} (capture.device, VHT_KIT_CAMERA)` });
      continue;
    }
    candidates.push({ profile, launchFor: (location) => buildPipeline(profile, cap, location, over).launch });
  }
  run.write(`capture test: ${seconds} s per profile, ${cap.width}x${cap.height} at ${cap.fps} fps, segments of ${cap.segmentMs} ms, camera ${cap.device}`);
  for (const s of report.skipped) run.write(`${s.profile.padEnd(9)} skipped: ${s.reason}`);
  if (!candidates.length) {
    run.write('no profile can run here: see the reasons above');
    return report;
  }

  const released = await releaseCamera(control);
  if (released.refused) {
    report.refused = released.refused;
    run.write(`refused: ${released.refused}`);
    return report;
  }
  if (released.note) run.write(released.note);
  try {
    for (const c of candidates) {
      const r = await runCaptureTest(c, {
        ramDir: ringDirFor(config),
        seconds,
        fps: cap.fps,
        segmentMs: cap.segmentMs,
        playingTimeoutMs: cap.playingTimeoutMs,
        clock: run.clock,
        logger: run.logger,
      });
      report.results.push(r);
      run.write(formatResult(r));
    }
  } finally {
    if (released.rearm) {
      await control({ cmd: 'arm' }).then(
        () => run.write('the running kit armed its camera again'),
        (err: unknown) => run.write(`the running kit could not arm again (${describeError(err)}): restart it (sudo systemctl restart vht-kit)`),
      );
    }
  }
  report.recommended = recommendProfile(report.results, cap.segmentMs);
  const rec = report.recommended;
  if (rec) {
    run.write(`recommended: ${rec.profile}. Set it in the kit's config (VHT_KIT_CONFIG, /etc/vht-kit/config.yaml on an installed kit):`);
    run.write('  capture:');
    run.write(`    profile: ${rec.profile}`);
    run.write(`(or VHT_KIT_PROFILE=${rec.profile}); then: sudo systemctl restart vht-kit`);
    if (rec.profile === 'sim') run.write('note: sim is the test pattern (development), not a camera');
  } else {
    run.write('no profile passed: see the problems above (camera, USB bus, CPU)');
  }
  return report;
}

/**
 * Asks the running kit to release the camera. No kit running: nothing to do. A take running, or a
 * kit this user cannot reach: refused, with what to do.
 */
async function releaseCamera(control: (req: ControlRequest) => Promise<unknown>): Promise<{ refused?: string; note?: string; rearm: boolean }> {
  let status: { state?: string; clipId?: string };
  try {
    status = (await control({ cmd: 'status' })) as { state?: string; clipId?: string };
  } catch (err) {
    if (err instanceof AppError && err.code === 'NOT_FOUND' && /no running kit/.test(err.message)) return { rearm: false };
    return {
      rearm: false,
      refused: `the running kit holds the camera and cannot be asked to release it (${describeError(err)}): run this as the kit's user (sudo -u vht-kit vht-kit doctor --capture-test), or stop it first (sudo systemctl stop vht-kit)`,
    };
  }
  if (status.state === 'recording') {
    return { rearm: false, refused: `a take is running (clip ${status.clipId ?? '?'}): stop it, then run the capture test again` };
  }
  const wasArmed = status.state === 'armed' || status.state === 'error';
  try {
    await control({ cmd: 'disarm' });
  } catch (err) {
    return { rearm: false, refused: `the running kit did not release the camera (${describeError(err)}): stop it first (sudo systemctl stop vht-kit)` };
  }
  return {
    rearm: wasArmed,
    note: `asked the running kit to release the camera (it was ${status.state ?? 'unknown'}); ${wasArmed ? 'it is armed again after the test' : 'it stays disarmed, as it was'}`,
  };
}

function pct(r: number): string {
  return `${Math.round(r * 100)} %`;
}

/** One profile's result as a report line (and its problems below it). */
export function formatResult(r: CaptureTestResult): string {
  const parts: string[] = [];
  if (r.frames) parts.push(`frames ${r.frames.delivered}/${r.frames.expected} (${pct(r.frames.ratio)})`);
  if (r.keyframeIntervalMs) {
    parts.push(
      `keyframes every ${r.keyframeIntervalMs.mean} ms (max ${r.keyframeIntervalMs.max}; ${r.cutsForceKeyframes ? 'cuts force them' : "the camera's own GOP: cuts wait for it"})`,
    );
  }
  if (r.segmentMs) parts.push(`segments ${r.segmentMs.mean}±${r.segmentMs.spread} ms (${r.segmentMs.min}-${r.segmentMs.max})`);
  if (r.cpu) parts.push(`CPU ${r.cpu.percentOfCore} % of a core (${r.cpu.cores} cores)`);
  parts.push(r.avOffsetMs === null ? 'no sound' : `A/V offset at the end ${r.avOffsetMs >= 0 ? '+' : ''}${r.avOffsetMs} ms`);
  const head = `${r.profile.padEnd(9)} ${r.ok ? 'ok  ' : 'FAIL'} ${parts.join(', ')}`;
  return [head, ...r.problems.map((p) => `          problem: ${p}`)].join('\n');
}

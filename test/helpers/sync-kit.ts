import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Clock, TimerHandle } from '../../src/core/clock.js';
import { createLogger, type Logger } from '../../src/core/logger.js';
import { Catalogue, type Consent } from '../../src/store/catalogue.js';
import { ClipStore } from '../../src/store/clips.js';
import { KeyStore } from '../../src/store/keys.js';

export const ALL_CONSENT: Consent = { recording: true, review: true, supervision: true, training: true };

/**
 * Real time, with every timer's delay recorded (the backoff), and an offset for a kit whose clock
 * is wrong.
 */
export class RecordingClock implements Clock {
  offsetMs = 0;
  readonly delays: number[] = [];
  now(): number {
    return Date.now() + this.offsetMs;
  }
  monotonic(): number {
    return performance.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    this.delays.push(ms);
    return setTimeout(fn, ms);
  }
  clearTimeout(h: TimerHandle): void {
    clearTimeout(h as NodeJS.Timeout);
  }
}

export interface TestKit {
  dir: string;
  dataDir: string;
  orgKeyFile: string;
  orgRecipient: string;
  keys: KeyStore;
  catalogue: Catalogue;
  clips: ClipStore;
  clock: RecordingClock;
  logger: Logger;
}

/** A kit made of the real store code: keys (PIN-sealed master), catalogue, clip files. */
export async function makeKit(dir: string, opts: { orgKeyFile?: string } = {}): Promise<TestKit> {
  mkdirSync(dir, { recursive: true });
  const dataDir = path.join(dir, 'data');
  const orgKeyFile = opts.orgKeyFile ?? path.join(dir, 'org.key');
  if (!opts.orgKeyFile) execFileSync('age-keygen', ['-o', orgKeyFile], { stdio: 'pipe' });
  const orgRecipient = /# public key: (age1\S+)/.exec(readFileSync(orgKeyFile, 'utf8'))![1]!;
  const logger = createLogger({ level: process.env.VHT_TEST_LOG === '1' ? 'debug' : 'silent' });
  const keys = new KeyStore({ dataDir, orgRecipient, allowDemoOrg: false, logger });
  await keys.start('4821');
  const catalogue = new Catalogue(path.join(dataDir, 'catalogue.db'));
  const clips = new ClipStore(dataDir, catalogue, keys, logger);
  return { dir, dataDir, orgKeyFile, orgRecipient, keys, catalogue, clips, clock: new RecordingClock(), logger };
}

export interface SegmentInput {
  data: Buffer;
  durationMs: number;
}

/**
 * Records a clip as the recorder would: createClip, prepareKey, persistSegment per segment
 * (encrypted to the organisation and the clip key), markers, finish.
 */
export async function recordClip(
  kit: TestKit,
  opts: {
    caseCode: string | null;
    segments: SegmentInput[];
    markers?: { offsetMs: number; label: string | null }[];
    finish?: 'complete' | 'recovered' | null;
    trajectory?: string;
  },
): Promise<string> {
  const now = kit.clock.now();
  if (opts.caseCode && !kit.catalogue.getCase(opts.caseCode)) {
    kit.catalogue.insertCase(opts.caseCode, opts.trajectory ?? 'k-vht', ALL_CONSENT, now);
  }
  const id = kit.clips.createClip({ caseCode: opts.caseCode, now, requestedAt: now, preRollMs: 0, originMs: now, consent: opts.caseCode ? ALL_CONSENT : null });
  await kit.clips.prepareKey(id);
  let t = now;
  for (const [seq, s] of opts.segments.entries()) {
    await kit.clips.persistSegment(id, seq, s.data, { startMs: t, durationMs: s.durationMs, discontinuity: false });
    t += s.durationMs;
  }
  for (const m of opts.markers ?? []) kit.clips.addMarker(id, m.offsetMs, m.label, now + m.offsetMs);
  if (opts.finish !== null) kit.clips.finishClip(id, opts.finish ?? 'complete', t, 'stopped');
  // clip ids are time-based: keep them apart
  await new Promise((r) => setTimeout(r, 2));
  return id;
}

/** Synthetic segment bodies (media validity does not matter for the transfer tests). */
export function syntheticSegments(n: number, bytes: number, seed = 1): SegmentInput[] {
  const out: SegmentInput[] = [];
  for (let i = 0; i < n; i++) {
    const b = Buffer.alloc(bytes);
    let x = (seed * 7919 + i * 104729) >>> 0;
    for (let j = 0; j < bytes; j += 4) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      b.writeUInt32LE(x, Math.min(j, bytes - 4));
    }
    out.push({ data: b, durationMs: 1000 });
  }
  return out;
}

/**
 * Real MPEG-TS segments (H.264 + AAC, ~1 s each, each starting with a keyframe) from
 * videotestsrc/audiotestsrc through mpegtsmux and hlssink; durations from its playlist.
 */
export function realSegments(dir: string, seconds: number): SegmentInput[] {
  mkdirSync(dir, { recursive: true });
  const fps = 30;
  const audioBuffers = Math.floor((48000 * seconds) / 1024);
  execFileSync(
    'gst-launch-1.0',
    [
      '-q',
      'videotestsrc',
      `num-buffers=${seconds * fps}`,
      'pattern=smpte',
      '!',
      `video/x-raw,width=320,height=240,framerate=${fps}/1,format=I420`,
      '!',
      'x264enc',
      `key-int-max=${fps}`,
      'speed-preset=ultrafast',
      'tune=zerolatency',
      'bitrate=300',
      '!',
      'h264parse',
      'config-interval=-1',
      '!',
      'queue',
      '!',
      'mux.',
      'audiotestsrc',
      `num-buffers=${audioBuffers}`,
      'samplesperbuffer=1024',
      '!',
      'audio/x-raw,rate=48000,channels=1',
      '!',
      'voaacenc',
      'bitrate=64000',
      '!',
      'aacparse',
      '!',
      'queue',
      '!',
      'mux.',
      'mpegtsmux',
      'name=mux',
      '!',
      'hlssink',
      'target-duration=1',
      'max-files=0',
      'playlist-length=0',
      `location=${path.join(dir, 'seg%05d.ts')}`,
      `playlist-location=${path.join(dir, 'p.m3u8')}`,
    ],
    { stdio: 'pipe', timeout: 60_000 },
  );
  const playlist = readFileSync(path.join(dir, 'p.m3u8'), 'utf8');
  const durations = [...playlist.matchAll(/#EXTINF:([\d.]+),\s*\n(\S+)/g)].map((m) => ({ file: m[2]!, ms: Math.round(Number(m[1]) * 1000) }));
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .sort();
  if (durations.length !== files.length) throw new Error(`hlssink wrote ${files.length} segments but listed ${durations.length}`);
  return durations.map((d) => ({ data: readFileSync(path.join(dir, d.file)), durationMs: d.ms }));
}

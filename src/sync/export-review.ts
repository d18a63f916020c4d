import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { AppError, describeError } from '../core/errors.js';
import { labelNl } from '../core/vht-labels.js';
import { CLIP_ID_PATTERN } from '../store/clips.js';
import { decryptWith } from '../store/crypto.js';
import { markersCsv, markersEaf, openSource, readIdentities, type ObjectSource, type SourceOptions } from './export.js';
import { decryptManifest } from './manifest.js';
import type { FragmentObject, KeptStillObject, ReviewObject } from './review-upload.js';

const run = promisify(execFile);
const REVIEW_KEY = /^([A-Za-z0-9][A-Za-z0-9._-]{0,63})\/reviews\/([a-z0-9]{10,32})\.json\.age$/;

export interface ReviewExportOptions extends SourceOptions {
  /** The organisation's age identity file. */
  identityFile: string;
  /** `s3://BUCKET/PREFIX`, `s3://BUCKET-PREFIX*` (a bucket per kit: the kit id follows the `*`) or a directory. */
  from: string;
  reviewId: string;
  /** The directory to write into (made when missing). */
  outDir: string;
  gstLaunch?: string;
}

export interface ReviewExportResult {
  kitId: string;
  reviewId: string;
  /** Per item in order: the files written and, for a fragment, its length. */
  items: { kind: 'fragment' | 'still'; id: string; file: string; durationMs?: number; frames?: number }[];
  notesCsv: string;
  notesEaf: string[];
  talks: { clipId: string; csv: string; eaf: string }[];
}

/** Raw media of a fragment's joined segments: video frames (I420) and audio (S16LE, 48 kHz, stereo). */
interface RawMedia {
  yuv: string;
  pcm: string | null;
  width: number;
  height: number;
  fpsNum: number;
  fpsDen: number;
}

const q = (p: string) => `"${p.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

async function gst(launch: string, args: string[], what: string): Promise<string> {
  try {
    return (await run(launch, args, { timeout: 600_000, maxBuffer: 32 * 1024 * 1024 })).stdout;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new AppError('INTERNAL', `${what} failed (${launch}): ${stderr.trim().split('\n').slice(-3).join(' ') || describeError(err)}`, { cause: err });
  }
}

/** Decodes a joined MPEG-TS to raw frames and samples (so that the cut is exact to the frame). */
async function decode(launch: string, ts: string, work: string, hasAudio: boolean): Promise<RawMedia> {
  const yuv = path.join(work, 'video.yuv');
  const pcm = path.join(work, 'audio.pcm');
  const video = [
    'd.',
    '!',
    'queue',
    '!',
    'h264parse',
    '!',
    'avdec_h264',
    '!',
    'videoconvert',
    '!',
    'video/x-raw,format=I420',
    '!',
    'filesink',
    `location=${q(yuv)}`,
  ];
  const audio = ['d.', '!', 'queue', '!', 'aacparse', '!', 'avdec_aac', '!', 'audioconvert', '!', 'audioresample', '!'];
  audio.push('audio/x-raw,format=S16LE,rate=48000,channels=2,layout=interleaved', '!', 'filesink', `location=${q(pcm)}`);
  const out = await gst(launch, ['-v', 'filesrc', `location=${q(ts)}`, '!', 'tsdemux', 'name=d', ...video, ...(hasAudio ? audio : [])], 'decoding a fragment');
  const line = out.split('\n').find((l) => /filesink\d*\.GstPad:sink: caps = video\/x-raw/.test(l)) ?? '';
  const w = /width=\(int\)(\d+)/.exec(line);
  const h = /height=\(int\)(\d+)/.exec(line);
  const r = /framerate=\(fraction\)(\d+)\/(\d+)/.exec(line);
  if (!w || !h || !r || r[1] === '0')
    throw new AppError('INTERNAL', `decoding a fragment: the video size and frame rate could not be read (${line.slice(0, 200)})`);
  return { yuv, pcm: hasAudio ? pcm : null, width: Number(w[1]), height: Number(h[1]), fpsNum: Number(r[1]), fpsDen: Number(r[2]) };
}

/** Copies bytes [from, to) of a file into a new one. */
async function slice(src: string, dst: string, from: number, to: number): Promise<void> {
  const fh = await open(src, 'r');
  try {
    const buf = Buffer.alloc(Math.max(0, to - from));
    await fh.read(buf, 0, buf.length, from);
    await writeFile(dst, buf);
  } finally {
    await fh.close();
  }
}

/**
 * Writes a fragment as an MP4 trimmed to its in and out points, exact to the frame: its segments
 * decoded, the frames (and samples) inside [in, out] re-encoded (x264, AAC). A fragment is a few
 * seconds: re-encoding it whole is simpler than re-encoding the boundary GOPs and just as exact.
 */
async function cutFragment(
  launch: string,
  ts: string,
  f: FragmentObject,
  out: string,
  work: string,
  hasAudio: boolean,
): Promise<{ frames: number; durationMs: number }> {
  const raw = await decode(launch, ts, work, hasAudio);
  const fps = raw.fpsNum / raw.fpsDen;
  const frameBytes = (raw.width * raw.height * 3) / 2;
  const total = Math.floor((await readFile(raw.yuv)).byteLength / frameBytes);
  const origin = f.segments[0]!.startMs;
  const first = Math.min(total, Math.max(0, Math.round(((f.inMs - origin) * fps) / 1000)));
  const last = Math.min(total, Math.max(first + 1, Math.round(((f.outMs - origin) * fps) / 1000)));
  const vClip = path.join(work, 'cut.yuv');
  await slice(raw.yuv, vClip, first * frameBytes, last * frameBytes);
  const partial = `${out}.part`;
  const video = [
    'filesrc',
    `location=${q(vClip)}`,
    `blocksize=${frameBytes}`,
    '!',
    'rawvideoparse',
    `width=${raw.width}`,
    `height=${raw.height}`,
    'format=i420',
  ];
  video.push(
    `framerate=${raw.fpsNum}/${raw.fpsDen}`,
    '!',
    'videoconvert',
    '!',
    'x264enc',
    'speed-preset=veryfast',
    '!',
    'h264parse',
    '!',
    'queue',
    '!',
    'mp4mux',
    'name=m',
  );
  video.push('!', 'filesink', `location=${q(partial)}`);
  const audio: string[] = [];
  if (raw.pcm) {
    const aClip = path.join(work, 'cut.pcm');
    const at = (frame: number) => Math.round((frame / fps) * 48_000) * 4;
    await slice(raw.pcm, aClip, at(first), at(last));
    audio.push('filesrc', `location=${q(aClip)}`, '!', 'rawaudioparse', 'format=pcm', 'pcm-format=s16le', 'sample-rate=48000', 'num-channels=2', '!');
    audio.push('audioconvert', '!', 'voaacenc', '!', 'aacparse', '!', 'queue', '!', 'm.');
  }
  await gst(launch, ['-q', ...video, ...audio], `writing fragment ${f.id} as MP4`);
  await rename(partial, out);
  await rm(vClip, { force: true });
  return { frames: last - first, durationMs: Math.round(((last - first) * 1000) / fps) };
}

async function findReview(source: ObjectSource, reviewId: string): Promise<{ kitId: string; key: string }> {
  const hits = (await source.list('')).map((k) => REVIEW_KEY.exec(k)).filter((m): m is RegExpExecArray => !!m && m[2] === reviewId);
  if (hits.length === 0) throw new AppError('NOT_FOUND', `review ${reviewId} is not at ${source.describe} (not uploaded yet?)`, { field: 'review' });
  return { kitId: hits[0]![1]!, key: hits[0]![0] };
}

function csv(v: string): string {
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/**
 * `vht-kit export --review ID`: each fragment of an uploaded review as an MP4 trimmed to its in and
 * out (±1 frame), each kept still as a JPEG, the items with their labels and notes as CSV and ELAN,
 * and the markers of every recorded review talk as CSV and ELAN. From S3 or a directory, with the
 * organisation's identity; footage is read from the source clips' objects (uploaded once).
 */
export async function exportReview(opts: ReviewExportOptions): Promise<ReviewExportResult> {
  if (!CLIP_ID_PATTERN.test(opts.reviewId))
    throw new AppError('VALIDATION', `--review ${JSON.stringify(opts.reviewId)} is not a review id`, { field: 'review' });
  const identities = readIdentities(opts.identityFile);
  const launch = opts.gstLaunch ?? 'gst-launch-1.0';
  const outDir = path.resolve(opts.outDir);
  const source = openSource(opts.from, opts);
  const work = mkdtempSync(path.join(os.tmpdir(), 'vht-export-review-'));
  const open_ = async <T>(key: string, what: string): Promise<T> =>
    JSON.parse(Buffer.from(await decryptWith(identities, await source.get(key), what)).toString('utf8')) as T;
  try {
    const { kitId, key } = await findReview(source, opts.reviewId);
    const review = await open_<ReviewObject>(key, `review ${opts.reviewId}`);
    await mkdir(outDir, { recursive: true });
    const result: ReviewExportResult = { kitId, reviewId: review.id, items: [], notesCsv: path.join(outDir, 'review.csv'), notesEaf: [], talks: [] };
    const rows = ['position,kind,id,source_clip,in_ms,out_ms,time_ms,label,label_nl,note,file'];
    for (const [i, it] of review.items.entries()) {
      const n = String(i + 1).padStart(2, '0');
      if (it.kind === 'fragment') {
        const f = await open_<FragmentObject>(it.key, `fragment ${it.id}`);
        const ts = path.join(work, `${it.id}.ts`);
        const fh = await open(ts, 'w', 0o600);
        try {
          for (const s of f.segments) await fh.write(await decryptWith(identities, await source.get(s.key), `segment ${s.seq} of clip ${f.sourceClipId}`));
        } finally {
          await fh.close();
        }
        const file = path.join(outDir, `${n}-fragment-${f.id}.mp4`);
        const discovered = await run('gst-discoverer-1.0', [ts], { timeout: 120_000, maxBuffer: 8 * 1024 * 1024 }).catch((err: unknown) => {
          throw new AppError('INTERNAL', `gst-discoverer-1.0 cannot read the segments of fragment ${f.id}: ${describeError(err)}`, { cause: err });
        });
        const cut = await cutFragment(launch, ts, f, file, work, /audio #\d+/.test(discovered.stdout));
        const note = f.noteAge ? await noteText(identities, f.noteAge, `the note of fragment ${f.id}`) : '';
        rows.push(
          [i + 1, 'fragment', f.id, f.sourceClipId, f.inMs, f.outMs, '', f.label ?? '', labelNl(f.label) ?? '', note, path.basename(file)]
            .map((v) => csv(String(v)))
            .join(','),
        );
        const eaf = file.replace(/\.mp4$/, '.eaf');
        const value = [labelNl(f.label), note].filter(Boolean).join(': ') || 'fragment';
        await writeFile(eaf, markersEaf([{ offsetMs: 0, label: value }], { mediaFile: file, durationMs: cut.durationMs, spanMs: cut.durationMs }));
        result.notesEaf.push(eaf);
        result.items.push({ kind: 'fragment', id: f.id, file, ...cut });
      } else {
        const s = await open_<KeptStillObject>(it.key, `kept still ${it.id}`);
        const jpeg = s.jpegAge
          ? await decryptWith(identities, Buffer.from(s.jpegAge, 'base64'), `kept still ${s.id}`)
          : await decryptWith(identities, await source.get(s.sourceKey!), `still ${s.sourceStillId} of clip ${s.sourceClipId}`);
        const file = path.join(outDir, `${n}-still-${s.id}.jpg`);
        await writeFile(file, jpeg);
        const caption = s.captionAge ? await noteText(identities, s.captionAge, `the caption of still ${s.id}`) : '';
        rows.push([i + 1, 'still', s.id, s.sourceClipId, '', '', s.timeMs, '', '', caption, path.basename(file)].map((v) => csv(String(v))).join(','));
        result.items.push({ kind: 'still', id: s.id, file });
      }
    }
    await writeFile(result.notesCsv, rows.join('\n') + '\n');
    for (const clipId of review.talks) {
      const manifest = await decryptManifest(
        identities,
        await source.get(`${kitId}/clips/${clipId}/manifest.json.age`),
        `the manifest of review talk ${clipId}`,
      );
      const base = path.join(outDir, `talk-${clipId}`);
      await writeFile(`${base}.csv`, markersCsv(manifest.markers));
      await writeFile(`${base}.eaf`, markersEaf(manifest.markers, { mediaFile: `${base}.mp4`, durationMs: manifest.durationMs, spanMs: 1000 }));
      result.talks.push({ clipId, csv: `${base}.csv`, eaf: `${base}.eaf` });
    }
    return result;
  } finally {
    source.close();
    rmSync(work, { recursive: true, force: true });
  }
}

async function noteText(identities: string[], b64: string, what: string): Promise<string> {
  const plain = await decryptWith(identities, Buffer.from(b64, 'base64'), what);
  const o = JSON.parse(Buffer.from(plain).toString('utf8')) as { text?: unknown };
  return typeof o.text === 'string' ? o.text : '';
}

/** The CLI's `export --review`: exports and prints what it wrote, one file a line. */
export async function runReviewExport(opts: ReviewExportOptions): Promise<void> {
  const r = await exportReview(opts);
  for (const it of r.items)
    process.stdout.write(`${it.file}${it.durationMs !== undefined ? ` (${(it.durationMs / 1000).toFixed(2)} s, ${it.frames} frames)` : ''}\n`);
  process.stdout.write([r.notesCsv, ...r.notesEaf, ...r.talks.flatMap((t) => [t.csv, t.eaf])].map((f) => `${f}\n`).join(''));
}

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { AppError, describeError } from '../core/errors.js';
import { CLIP_ID_PATTERN } from '../store/clips.js';
import { S3Connection, s3SettingsFromEnv } from '../store/bucket-store.js';
import { decryptWith } from '../store/crypto.js';
import { readIdentityFile } from '../store/identity-file.js';
import { checkKitId, decryptManifest, KIT_ID_PATTERN, MANIFEST_NAME, type ClipManifest, type ManifestMarker } from './manifest.js';

const run = promisify(execFile);

/**
 * Office side: read what kits uploaded, from a bucket (`s3://BUCKET/PREFIX`, credentials and
 * endpoint from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL) or from a
 * directory (the share, at the level that holds the kit ids).
 */
export interface ObjectSource {
  readonly describe: string;
  get(key: string): Promise<Buffer>;
  /** Every key under `prefix` (relative to the source). */
  list(prefix: string): Promise<string[]>;
  close(): void;
}

export interface SourceOptions {
  /** Where S3 settings come from; default process.env. */
  env?: NodeJS.ProcessEnv;
}

class S3Source implements ObjectSource {
  readonly describe: string;
  private readonly client: S3Client;
  private readonly conn: S3Connection;

  constructor(
    private readonly bucket: string,
    private readonly prefix: string,
    env: NodeJS.ProcessEnv,
    /** A connection shared with other buckets (closed by its owner), or null for one of its own. */
    private readonly shared: S3Connection | null = null,
  ) {
    this.describe = `s3://${bucket}/${prefix}`;
    this.conn = shared ?? new S3Connection({ ...s3SettingsFromEnv(env), maxSockets: 4 });
    this.client = this.conn.client;
  }

  private full(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  async get(key: string): Promise<Buffer> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.full(key) }));
      return Buffer.from(await res.Body!.transformToByteArray());
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === 'NoSuchKey' || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) {
        throw new AppError('NOT_FOUND', `${this.describe}: object ${JSON.stringify(key)} is not there`, { field: 'key', cause: err });
      }
      throw new AppError('INTERNAL', `${this.describe}: reading ${JSON.stringify(key)} failed: ${describeError(err)}`, { cause: err });
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    const base = this.prefix ? `${this.prefix}/` : '';
    do {
      let res;
      try {
        res = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: base + prefix, ContinuationToken: token }));
      } catch (err) {
        throw new AppError(
          'INTERNAL',
          `${this.describe}: listing failed: ${describeError(err)} (these credentials may be write-only: use the office's read credentials)`,
          { cause: err },
        );
      }
      for (const o of res.Contents ?? []) if (o.Key) out.push(o.Key.slice(base.length));
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  close(): void {
    if (!this.shared) this.conn.close();
  }
}

/**
 * `s3://PREFIX*`: a bucket per kit (`PREFIX<kit id>`, as the office's `--kits`). Every key starts with
 * its kit id, so a key names its bucket: a review made on one kit whose fragment names another kit's
 * segments (issue 20) is read across both.
 */
class KitBucketsSource implements ObjectSource {
  readonly describe: string;
  private readonly conn: S3Connection;
  private readonly kits = new Map<string, S3Source>();

  constructor(
    private readonly bucketPrefix: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.describe = `s3://${bucketPrefix}*`;
    this.conn = new S3Connection({ ...s3SettingsFromEnv(env), maxSockets: 4 });
  }

  private kit(key: string): S3Source {
    const kitId = checkKitId(key.split('/')[0]!);
    let s = this.kits.get(kitId);
    if (!s) {
      s = new S3Source(`${this.bucketPrefix}${kitId}`, '', this.env, this.conn);
      this.kits.set(kitId, s);
    }
    return s;
  }

  get(key: string): Promise<Buffer> {
    return this.kit(key).get(key);
  }

  /** Under one kit's prefix: that kit's bucket; else every kit's bucket whose id starts with the prefix. */
  async list(prefix: string): Promise<string[]> {
    if (prefix.includes('/')) return this.kit(prefix).list(prefix);
    const kitIds = (await this.conn.bucketsStartingWith(this.bucketPrefix)).map((b) => b.slice(this.bucketPrefix.length)).filter((k) => k.startsWith(prefix));
    const out: string[] = [];
    for (const k of kitIds) out.push(...(await this.kit(`${k}/`).list(`${k}/`)));
    return out;
  }

  close(): void {
    this.conn.close();
  }
}

class DirSource implements ObjectSource {
  readonly describe: string;

  constructor(private readonly root: string) {
    this.describe = root;
  }

  private file(key: string): string {
    if (key.split('/').some((p) => p === '..' || p === ''))
      throw new AppError('VALIDATION', `key ${JSON.stringify(key)} is not a relative key`, { field: 'key' });
    return path.join(this.root, ...key.split('/'));
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await readFile(this.file(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new AppError('NOT_FOUND', `${this.describe}: ${JSON.stringify(key)} is not there`, { field: 'key', cause: err });
      }
      throw err;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(path.join(this.root, rel), { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (e.name.startsWith('.')) continue;
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) await walk(r);
        else if (e.isFile() && r.startsWith(prefix)) out.push(r);
      }
    };
    await walk('');
    return out.sort();
  }

  close(): void {}
}

/** `s3://BUCKET[/PREFIX]`, `s3://PREFIX*` (a bucket per kit) or a directory. */
export function openSource(from: string, opts: SourceOptions = {}): ObjectSource {
  const perKit = /^s3:\/\/([a-z0-9.-]+)\*$/.exec(from);
  if (perKit) return new KitBucketsSource(perKit[1]!, opts.env ?? process.env);
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(from);
  if (m) {
    const prefix = m[2]!.replace(/\/+$/, '');
    return new S3Source(m[1]!, prefix, opts.env ?? process.env);
  }
  if (!existsSync(from))
    throw new AppError('NOT_FOUND', `--from ${JSON.stringify(from)} is neither s3://BUCKET/PREFIX, s3://BUCKET-PREFIX* nor an existing directory`, {
      field: 'from',
    });
  return new DirSource(path.resolve(from));
}

/** The identities (AGE-SECRET-KEY-1…) in an age identity file (`vht-kit keygen` / age-keygen). */
export const readIdentities = (identityFile: string): string[] => readIdentityFile(identityFile);

const MANIFEST_KEY = /^([^/]+)\/clips\/([^/]+)\/manifest\.json\.age$/;

export interface ListedClip {
  kitId: string;
  clipId: string;
  manifestKey: string;
  /** With an identity: what the manifest says. */
  caseCode?: string;
  trajectory?: string | null;
  createdAt?: number;
  durationMs?: number;
  segments?: number;
  markers?: number;
  recovered?: boolean;
}

/**
 * Every uploaded, complete clip (one whose manifest is there) at `from`; with `identityFile`,
 * decrypts the manifests for case, time and duration. Sorted by kit, then clip id (= time).
 */
export async function listClips(from: string, opts: SourceOptions & { identityFile?: string; kitId?: string } = {}): Promise<ListedClip[]> {
  const source = openSource(from, opts);
  try {
    const keys = await source.list(opts.kitId ? `${checkKitId(opts.kitId)}/clips/` : '');
    const out: ListedClip[] = [];
    const ids = opts.identityFile ? readIdentities(opts.identityFile) : null;
    for (const key of keys) {
      const m = MANIFEST_KEY.exec(key);
      if (!m || !KIT_ID_PATTERN.test(m[1]!) || !CLIP_ID_PATTERN.test(m[2]!)) continue;
      const entry: ListedClip = { kitId: m[1]!, clipId: m[2]!, manifestKey: key };
      if (ids) {
        const man = await decryptManifest(ids, await source.get(key), `the manifest ${key}`);
        Object.assign(entry, {
          caseCode: man.caseCode,
          trajectory: man.trajectory,
          createdAt: man.createdAt,
          durationMs: man.durationMs,
          segments: man.segments.length,
          markers: man.markers.length,
          recovered: man.recovered,
        });
      }
      out.push(entry);
    }
    return out.sort((a, b) => a.kitId.localeCompare(b.kitId) || a.clipId.localeCompare(b.clipId));
  } finally {
    source.close();
  }
}

export interface ExportOptions extends SourceOptions {
  /** The organisation's age identity file. */
  identityFile: string;
  /** `s3://BUCKET/PREFIX`, `s3://BUCKET-PREFIX*` (a bucket per kit: the kit id follows the `*`) or a directory. */
  from: string;
  clipId: string;
  /** The kit that uploaded it; found by listing when absent. */
  kitId?: string;
  /**
   * The MP4 to write; the markers go beside it as `<name>.csv` and `<name>.eaf`, the stills as
   * `<name>-still-<id>.jpg`.
   */
  out: string;
  /** Length of a marker's annotation in the .eaf (a marker is a moment). Default 1000 ms. */
  markerSpanMs?: number;
  /** gst-launch-1.0 / gst-discoverer-1.0 to use. */
  gstLaunch?: string;
  gstDiscoverer?: string;
}

export interface ExportResult {
  kitId: string;
  clipId: string;
  mp4: string;
  csv: string;
  eaf: string;
  durationMs: number;
  segments: number;
  markers: number;
  /** The stills written beside the MP4 (decrypted JPEGs), by id. */
  stills: string[];
  hasAudio: boolean;
  manifest: ClipManifest;
}

function msClock(ms: number): string {
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const r = ms % 1000;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(r).padStart(3, '0')}`;
}

function csvField(v: string): string {
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function markersCsv(markers: ManifestMarker[]): string {
  const lines = ['offset_ms,time,label'];
  for (const m of markers) lines.push(`${m.offsetMs},${msClock(m.offsetMs)},${csvField(m.label ?? '')}`);
  return lines.join('\n') + '\n';
}

function xml(v: string): string {
  return v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/**
 * An ELAN annotation document (EAF 3.0): the MP4 as media, one time slot pair per marker and one
 * tier "Markers" of annotations whose value is the label (or "marker").
 */
export function markersEaf(markers: ManifestMarker[], opts: { mediaFile: string; durationMs: number; spanMs: number; date?: Date }): string {
  const slots: string[] = [];
  const annotations: string[] = [];
  markers.forEach((m, i) => {
    const start = Math.max(0, Math.round(m.offsetMs));
    const end = Math.max(start + 1, Math.min(start + opts.spanMs, Math.max(opts.durationMs, start + 1)));
    slots.push(`        <TIME_SLOT TIME_SLOT_ID="ts${2 * i + 1}" TIME_VALUE="${start}"/>`);
    slots.push(`        <TIME_SLOT TIME_SLOT_ID="ts${2 * i + 2}" TIME_VALUE="${end}"/>`);
    annotations.push(
      `        <ANNOTATION>\n            <ALIGNABLE_ANNOTATION ANNOTATION_ID="a${i + 1}" TIME_SLOT_REF1="ts${2 * i + 1}" TIME_SLOT_REF2="ts${2 * i + 2}">\n` +
        `                <ANNOTATION_VALUE>${xml(m.label ?? 'marker')}</ANNOTATION_VALUE>\n            </ALIGNABLE_ANNOTATION>\n        </ANNOTATION>`,
    );
  });
  const media = path.basename(opts.mediaFile);
  const date = (opts.date ?? new Date()).toISOString().replace(/\.\d{3}Z$/, '+00:00');
  return `<?xml version="1.0" encoding="UTF-8"?>
<ANNOTATION_DOCUMENT AUTHOR="" DATE="${date}" FORMAT="3.0" VERSION="3.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="http://www.mpi.nl/tools/elan/EAFv3.0.xsd">
    <HEADER MEDIA_FILE="" TIME_UNITS="milliseconds">
        <MEDIA_DESCRIPTOR MEDIA_URL="${xml(`file://${path.resolve(opts.mediaFile)}`)}" MIME_TYPE="video/mp4" RELATIVE_MEDIA_URL="./${xml(media)}"/>
        <PROPERTY NAME="lastUsedAnnotationId">${markers.length}</PROPERTY>
    </HEADER>
    <TIME_ORDER>
${slots.join('\n')}
    </TIME_ORDER>
    <TIER LINGUISTIC_TYPE_REF="marker" TIER_ID="Markers">
${annotations.join('\n')}
    </TIER>
    <LINGUISTIC_TYPE GRAPHIC_REFERENCES="false" LINGUISTIC_TYPE_ID="marker" TIME_ALIGNABLE="true"/>
</ANNOTATION_DOCUMENT>
`.replace(/\n\n/g, '\n');
}

async function findManifestKey(source: ObjectSource, clipId: string, kitId?: string): Promise<{ kitId: string; key: string }> {
  if (kitId) return { kitId: checkKitId(kitId), key: `${kitId}/clips/${clipId}/${MANIFEST_NAME}` };
  const hits = (await source.list('')).map((k) => MANIFEST_KEY.exec(k)).filter((m): m is RegExpExecArray => !!m && m[2] === clipId);
  if (hits.length === 0) {
    throw new AppError('NOT_FOUND', `clip ${clipId} has no manifest at ${source.describe} (not uploaded, or its upload is not complete yet)`, {
      field: 'clipId',
    });
  }
  if (hits.length > 1) {
    throw new AppError('CONFLICT', `clip ${clipId} is there from several kits (${hits.map((h) => h[1]).join(', ')}): give --kit`, { field: 'kitId' });
  }
  return { kitId: hits[0]![1]!, key: hits[0]![0] };
}

/**
 * Exports one uploaded clip for the office: decrypts the manifest with the organisation identity,
 * fetches every segment, checks its SHA-256 and size against the manifest (a changed or damaged
 * object stops the export and is named; nothing is written then), decrypts and joins the
 * segments, remuxes them without re-encoding to MP4 (GStreamer), and writes the markers as CSV and
 * as an ELAN .eaf beside the MP4.
 */
export async function exportClip(opts: ExportOptions): Promise<ExportResult> {
  if (!CLIP_ID_PATTERN.test(opts.clipId))
    throw new AppError('VALIDATION', `clip id ${JSON.stringify(opts.clipId)} is not a valid clip id`, { field: 'clipId' });
  if (!/\.mp4$/i.test(opts.out)) throw new AppError('VALIDATION', `--out ${JSON.stringify(opts.out)} must end in .mp4`, { field: 'out' });
  const identities = readIdentities(opts.identityFile);
  const out = path.resolve(opts.out);
  const base = out.replace(/\.mp4$/i, '');
  const csvFile = `${base}.csv`;
  const eafFile = `${base}.eaf`;
  const source = openSource(opts.from, opts);
  const work = mkdtempSync(path.join(os.tmpdir(), 'vht-export-'));
  try {
    const { kitId, key } = await findManifestKey(source, opts.clipId, opts.kitId);
    const manifest = await decryptManifest(identities, await source.get(key), `the manifest of clip ${opts.clipId}`);
    /** An object of the clip, checked against its manifest entry (SHA-256, size), then decrypted. */
    const fetchVerified = async (entry: { object: string; sha256: string; bytes: number }, what: string, field: string) => {
      const objKey = `${kitId}/clips/${opts.clipId}/${entry.object}`;
      const data = await source.get(objKey);
      const sha = createHash('sha256').update(data).digest('hex');
      if (sha !== entry.sha256 || data.byteLength !== entry.bytes) {
        throw new AppError(
          'CONFLICT',
          `${what} of clip ${opts.clipId} (${objKey}) does not match the manifest: SHA-256 ${sha} (${data.byteLength} bytes), expected ${entry.sha256} (${entry.bytes} bytes); the object was changed or damaged in storage, nothing was exported`,
          { field },
        );
      }
      return decryptWith(identities, data, `${what} of clip ${opts.clipId}`);
    };
    if (manifest.clipId !== opts.clipId || manifest.kitId !== kitId) {
      throw new AppError(
        'CONFLICT',
        `the manifest at ${key} is for clip ${manifest.clipId} of kit ${manifest.kitId}, not ${opts.clipId} of ${kitId}: it was moved or replaced`,
        { field: 'clipId' },
      );
    }
    if (manifest.segments.length === 0) throw new AppError('NOT_FOUND', `clip ${opts.clipId} has no segments`, { field: 'clipId' });
    const joined = path.join(work, 'clip.ts');
    const fh = await open(joined, 'w', 0o600);
    try {
      for (const s of manifest.segments) {
        await fh.write(await fetchVerified(s, `segment ${s.seq}`, `segments[${s.seq}]`));
      }
    } finally {
      await fh.close();
    }
    // stills are fetched and checked before anything is written, like the segments
    const stills: { file: string; jpeg: Uint8Array }[] = [];
    for (const st of manifest.stills ?? []) {
      stills.push({ file: `${base}-still-${st.id}.jpg`, jpeg: await fetchVerified(st, `still ${st.id}`, `stills[${st.id}]`) });
    }
    const discoverer = opts.gstDiscoverer ?? 'gst-discoverer-1.0';
    let hasAudio = true;
    try {
      const { stdout } = await run(discoverer, [joined], { timeout: 120_000, maxBuffer: 8 * 1024 * 1024 });
      hasAudio = /audio #\d+/.test(stdout);
    } catch (err) {
      throw new AppError('INTERNAL', `${discoverer} cannot read the joined segments of clip ${opts.clipId}: ${describeError(err)}`, { cause: err });
    }
    await mkdir(path.dirname(out), { recursive: true });
    const partial = `${out}.part`;
    // gst-launch joins its arguments into one description: quote the paths (spaces, quotes)
    const q = (p: string) => `"${p.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    const pipeline = [
      'filesrc',
      `location=${q(joined)}`,
      '!',
      'tsdemux',
      'name=d',
      'd.',
      '!',
      'h264parse',
      '!',
      'queue',
      '!',
      'mp4mux',
      'name=m',
      '!',
      'filesink',
      `location=${q(partial)}`,
      ...(hasAudio ? ['d.', '!', 'aacparse', '!', 'queue', '!', 'm.'] : []),
    ];
    const launch = opts.gstLaunch ?? 'gst-launch-1.0';
    try {
      await run(launch, ['-q', ...pipeline], { timeout: 600_000, maxBuffer: 8 * 1024 * 1024 });
    } catch (err) {
      await rm(partial, { force: true });
      const stderr = (err as { stderr?: string }).stderr ?? '';
      throw new AppError(
        'INTERNAL',
        `remuxing clip ${opts.clipId} to MP4 failed (${launch} … ${partial}): ${stderr.trim().split('\n').slice(-3).join(' ') || describeError(err)}`,
        { cause: err },
      );
    }
    await rename(partial, out);
    await writeFile(csvFile, markersCsv(manifest.markers));
    await writeFile(eafFile, markersEaf(manifest.markers, { mediaFile: out, durationMs: manifest.durationMs, spanMs: opts.markerSpanMs ?? 1000 }));
    for (const st of stills) await writeFile(st.file, st.jpeg);
    return {
      kitId,
      clipId: opts.clipId,
      mp4: out,
      csv: csvFile,
      eaf: eafFile,
      durationMs: manifest.durationMs,
      segments: manifest.segments.length,
      markers: manifest.markers.length,
      stills: stills.map((st) => st.file),
      hasAudio,
      manifest,
    };
  } finally {
    source.close();
    rmSync(work, { recursive: true, force: true });
  }
}

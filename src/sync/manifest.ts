import { AppError } from '../core/errors.js';
import { consentInForce, type AuditEventRow, type Catalogue, type Consent, type ConsentScope } from '../store/catalogue.js';
import { CLIP_ID_PATTERN, segmentObjectName, stillObjectName } from '../store/clips.js';
import { decryptWith, encryptTo } from '../store/crypto.js';
import { KIT_ID_PATTERN } from '../store/objects.js';

// Object names live in one store module (src/store/objects.ts); the clip names are unchanged.
export { auditKey, clipPrefix, compactTimestamp, KIT_ID_PATTERN, manifestKey, segmentKey, stillKey } from '../store/objects.js';

/**
 * Object keys (relative to the target's prefix) carry opaque ids only:
 *   <kitId>/clips/<clipId>/<seq>.ts.age        the segments, exactly as on the kit's card
 *   <kitId>/clips/<clipId>/still-<n>.jpg.age   stills (JPEG frames taken while reviewing), as on the card
 *   <kitId>/clips/<clipId>/manifest.json.age   written last: its presence means the clip is whole
 *   <kitId>/audit/<timestamp>.json.age          audit log exports
 */
export function checkKitId(kitId: string): string {
  if (!KIT_ID_PATTERN.test(kitId)) {
    throw new AppError('VALIDATION', `kit id ${JSON.stringify(kitId)} must be 1–64 characters of [A-Za-z0-9._-]`, { field: 'kit.id' });
  }
  return kitId;
}

export const MANIFEST_NAME = 'manifest.json.age';

export interface ManifestSegment {
  seq: number;
  /** The object's name beside the manifest (`<seq>.ts.age`). */
  object: string;
  /** SHA-256 (hex) of the .ts.age ciphertext, as stored. */
  sha256: string;
  bytes: number;
  startMs: number;
  durationMs: number;
  /** A timestamp jump before this segment (the capture worker restarted mid-take). */
  discontinuity: boolean;
}

/** A JPEG frame of the clip, taken while reviewing; age-encrypted like the segments. */
export interface ManifestStill {
  id: number;
  /** The object's name beside the manifest (`still-<id>.jpg.age`). */
  object: string;
  sha256: string;
  bytes: number;
  /** Position in the clip, ms from its start. */
  timeMs: number;
  createdAt: number;
}

export interface ManifestMarker {
  /** From the clip's start (the first segment's start), ms. */
  offsetMs: number;
  label: string | null;
}

/** What the organisation gets beside the segments, age-encrypted to its recipient only. */
export interface ClipManifest {
  format: 'vht-kit.clip-manifest';
  v: 1;
  kitId: string;
  clipId: string;
  caseCode: string;
  trajectory: string | null;
  visitId: number | null;
  /** The consent in force for this clip: its snapshot narrowed by the case's current consent. */
  consent: Consent | null;
  /** The consent snapshot taken when the clip was made (or assigned). */
  consentAtRecording: Consent | null;
  purposes: ConsentScope[];
  state: 'complete' | 'recovered';
  recovered: boolean;
  createdAt: number;
  requestedAt: number;
  originMs: number | null;
  stoppedAt: number | null;
  preRollMs: number;
  durationMs: number;
  bytes: number;
  segments: ManifestSegment[];
  markers: ManifestMarker[];
  /** Absent in manifests of kits before stills existed. */
  stills?: ManifestStill[];
}

/** The manifest of a finished clip that has a case, from the catalogue. */
export function buildManifest(catalogue: Catalogue, kitId: string, clipId: string): ClipManifest {
  const clip = catalogue.getClip(clipId);
  if (!clip) throw new AppError('NOT_FOUND', `clip ${JSON.stringify(clipId)} is not in the catalogue`, { field: 'clipId' });
  if (clip.state === 'recording') throw new AppError('CONFLICT', `clip ${clipId} is still recording`, { field: 'clipId' });
  if (!clip.caseCode) throw new AppError('CONFLICT', `clip ${clipId} has no case yet; assign one before it is uploaded`, { field: 'caseCode' });
  const kase = catalogue.getCase(clip.caseCode);
  const snapshot = clip.consent;
  const consent = snapshot ? consentInForce(snapshot, kase?.consent) : null;
  const segments = catalogue.segments(clipId).map((s) => ({
    seq: s.seq,
    object: segmentObjectName(s.seq),
    sha256: s.sha256,
    bytes: s.bytes,
    startMs: s.startMs,
    durationMs: s.durationMs,
    discontinuity: s.discontinuity,
  }));
  return {
    format: 'vht-kit.clip-manifest',
    v: 1,
    kitId: checkKitId(kitId),
    clipId,
    caseCode: clip.caseCode,
    trajectory: kase?.trajectory ?? null,
    visitId: clip.visitId,
    consent,
    consentAtRecording: snapshot,
    purposes: clip.purposes,
    state: clip.state,
    recovered: clip.state === 'recovered',
    createdAt: clip.createdAt,
    requestedAt: clip.requestedAt,
    originMs: clip.originMs,
    stoppedAt: clip.stoppedAt,
    preRollMs: clip.preRollMs,
    durationMs: clip.durationMs,
    bytes: clip.bytes,
    segments,
    markers: catalogue.markers(clipId).map((m) => ({ offsetMs: m.offsetMs, label: m.label })),
    stills: catalogue.stillRows(clipId).map((st) => ({
      id: st.id,
      object: stillObjectName(st.id),
      sha256: st.sha256,
      bytes: st.bytes,
      timeMs: st.timeMs,
      createdAt: st.createdAt,
    })),
  };
}

/** The manifest's JSON (stable key order, as built). */
export function manifestJson(m: ClipManifest): string {
  return JSON.stringify(m, null, 1);
}

/** Encrypts to the organisation's recipient only (the kit cannot read its own manifests back). */
export async function encryptManifest(m: ClipManifest, orgRecipient: string, also: string[] = []): Promise<Uint8Array> {
  // issue 20: also to the clip's own key, so that a second kit can verify what it fetches
  return encryptTo([orgRecipient, ...also], manifestJson(m));
}

function fail(what: string, value: unknown): never {
  throw new AppError('BAD_REQUEST', `the manifest is not a VHT Kit clip manifest: ${what} is ${JSON.stringify(value)?.slice(0, 80)}`, { field: what });
}

/** Checks the shape of a decrypted manifest (the office must not trust an object blindly). */
export function parseManifest(text: string): ClipManifest {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (err) {
    throw new AppError('BAD_REQUEST', `the manifest is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const o = m as Record<string, unknown>;
  if (!o || typeof o !== 'object') fail('manifest', m);
  if (o.format !== 'vht-kit.clip-manifest') fail('format', o.format);
  if (o.v !== 1) fail('v', o.v);
  if (typeof o.kitId !== 'string' || !KIT_ID_PATTERN.test(o.kitId)) fail('kitId', o.kitId);
  if (typeof o.clipId !== 'string' || !CLIP_ID_PATTERN.test(o.clipId)) fail('clipId', o.clipId);
  if (!Array.isArray(o.segments)) fail('segments', o.segments);
  for (const [i, s] of (o.segments as Record<string, unknown>[]).entries()) {
    if (!Number.isInteger(s.seq) || (s.seq as number) < 0) fail(`segments[${i}].seq`, s.seq);
    if (s.object !== segmentObjectName(s.seq as number)) fail(`segments[${i}].object`, s.object);
    if (typeof s.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(s.sha256)) fail(`segments[${i}].sha256`, s.sha256);
    if (!Number.isInteger(s.bytes)) fail(`segments[${i}].bytes`, s.bytes);
    if (typeof s.durationMs !== 'number') fail(`segments[${i}].durationMs`, s.durationMs);
  }
  if (!Array.isArray(o.markers)) fail('markers', o.markers);
  if (o.stills !== undefined) {
    if (!Array.isArray(o.stills)) fail('stills', o.stills);
    for (const [i, st] of (o.stills as Record<string, unknown>[]).entries()) {
      if (!Number.isInteger(st.id) || (st.id as number) < 1) fail(`stills[${i}].id`, st.id);
      if (st.object !== stillObjectName(st.id as number)) fail(`stills[${i}].object`, st.object);
      if (typeof st.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(st.sha256)) fail(`stills[${i}].sha256`, st.sha256);
      if (!Number.isInteger(st.bytes)) fail(`stills[${i}].bytes`, st.bytes);
      if (typeof st.timeMs !== 'number') fail(`stills[${i}].timeMs`, st.timeMs);
    }
  }
  return m as ClipManifest;
}

export async function decryptManifest(identities: string[], data: Uint8Array, what = 'the manifest'): Promise<ClipManifest> {
  return parseManifest(Buffer.from(await decryptWith(identities, data, what)).toString('utf8'));
}

/** The audit log export: the catalogue's audit rows, as stored (details as the hashed string). */
export interface AuditExport {
  format: 'vht-kit.audit-export';
  v: 1;
  kitId: string;
  exportedAt: number;
  /** First and last event id in this export; exports follow each other without gaps. */
  fromId: number;
  uptoId: number;
  /** The hash the first event's prevHash must equal (the last hash of the export before). */
  prevHash: string;
  events: AuditEventRow[];
}

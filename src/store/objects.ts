import { AppError } from '../core/errors.js';
import { CLIP_ID_PATTERN, segmentObjectName, stillObjectName } from './clips.js';
import { hmacHex } from './crypto.js';
import { checkTrainerId, type ContentKind } from './keys.js';

/**
 * Object names in the organisation's store, as pure functions (docs/design/keys-layout-retention.md,
 * "Object layout"). Names carry opaque ids only: kit ids, clip/fragment/still/review ids,
 * pseudonymous trainer ids and case tags (an HMAC of the case code), never a case code or a name.
 * Every object a kit writes starts with its kit id, so the same names work in a bucket per kit
 * (Swift: container ACLs) and in one shared bucket with prefix policies (AWS, MinIO, Ceph RGW).
 *
 * Kit bucket (the kit reads and writes; the other kits of its team and the office read):
 *   <kit>/clips/<clip>/<seq>.ts.age | still-<n>.jpg.age | manifest.json.age   (as before issue 13)
 *   <kit>/audit/<ts>.json.age                                                  (as before issue 13)
 *   <kit>/status.json.age                          kit status, to the organisation
 *   <kit>/fragments/<fragment>.json.age            fragment metadata, to org + the fragment key
 *   <kit>/stills/<still>.json.age                  kept-still metadata, to org + the still key
 *   <kit>/reviews/<review>.json.age                a review, to org + the review key
 *   <kit>/cases/<caseTag>/<kind>-<id>.json.age     case index entry, to the organisation
 *   <kit>/trainers/<T-nnn>/index.json.age          what the trainer has from this kit, to org + their inbox keys
 *   <kit>/outbox/<T-nnn>/<toKit>/<kind>-<id>.key.age   a content key for that trainer on another kit
 * Office bucket (the office writes; kits read):
 *   directory/kits/<kit>.json                      the kit's team, trainers and their inbox recipients
 *   erasures/<ts>-<caseTag>-<scope>.json           erasure notices, read by every kit at each dock
 * Office-private bucket (the office only):
 *   receipts/<receipt>.json.age                    erasure receipts, to the organisation
 *   audit/<ts>-<hash>.json.age                     the office's hash-chained audit
 */

export const KIT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** A case tag: 32 hex characters (128 bits of HMAC-SHA-256). */
export const CASE_TAG_PATTERN = /^[0-9a-f]{32}$/;
export const ERASURE_SCOPES = ['all', 'recording', 'review', 'supervision', 'training'] as const;
export type ErasureScope = (typeof ERASURE_SCOPES)[number];

function kit(kitId: string): string {
  if (typeof kitId !== 'string' || !KIT_ID_PATTERN.test(kitId)) {
    throw new AppError('VALIDATION', `kit id ${JSON.stringify(kitId)?.slice(0, 80)} must be 1–64 characters of [A-Za-z0-9._-]`, { field: 'kitId' });
  }
  return kitId;
}

function opaque(id: string, field: string): string {
  if (typeof id !== 'string' || !CLIP_ID_PATTERN.test(id))
    throw new AppError('VALIDATION', `${field} ${JSON.stringify(id)?.slice(0, 80)} is not a valid id`, { field });
  return id;
}

function tag(caseTag: string): string {
  if (typeof caseTag !== 'string' || !CASE_TAG_PATTERN.test(caseTag)) {
    throw new AppError('VALIDATION', `case tag ${JSON.stringify(caseTag)?.slice(0, 80)} is not 32 hex characters (caseTag(code, key) makes one)`, {
      field: 'caseTag',
    });
  }
  return caseTag;
}

/** `20261122T120000123Z`: sorts by time, no characters that need escaping. */
export function compactTimestamp(ms: number): string {
  if (!Number.isFinite(ms)) throw new AppError('VALIDATION', `timestamp ${JSON.stringify(ms)} is not a time in ms`, { field: 'at' });
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace('.', '');
}

/** The minimum length of the organisation's case-tag key (bytes). */
export const CASE_TAG_KEY_BYTES = 32;

/**
 * The name of a case in the store: HMAC-SHA-256 of the code under the organisation's case-tag key,
 * 128 bits in hex. The office and every kit hold the key; the store alone cannot be searched for a code.
 */
export function caseTag(code: string, key: Uint8Array): string {
  if (!(key instanceof Uint8Array) || key.byteLength < CASE_TAG_KEY_BYTES) {
    throw new AppError('VALIDATION', `the case-tag key has ${key instanceof Uint8Array ? key.byteLength : 0} bytes; it needs ${CASE_TAG_KEY_BYTES}`, {
      field: 'keys.caseTagKey',
    });
  }
  if (typeof code !== 'string' || code.length === 0 || code.length > 64) {
    throw new AppError('VALIDATION', `case code ${JSON.stringify(code)?.slice(0, 80)} must be 1–64 characters`, { field: 'caseCode' });
  }
  return hmacHex(key, `vht-kit case-tag v1\0${code}`).slice(0, 32);
}

// --- the kit bucket (clip names as before issue 13, so uploaded clips keep their names) ---

export function clipPrefix(kitId: string, clipId: string): string {
  return `${kit(kitId)}/clips/${opaque(clipId, 'clipId')}`;
}
export function segmentKey(kitId: string, clipId: string, seq: number): string {
  return `${clipPrefix(kitId, clipId)}/${segmentObjectName(seq)}`;
}
export function stillKey(kitId: string, clipId: string, id: number): string {
  return `${clipPrefix(kitId, clipId)}/${stillObjectName(id)}`;
}
export function manifestKey(kitId: string, clipId: string): string {
  return `${clipPrefix(kitId, clipId)}/manifest.json.age`;
}
export function auditKey(kitId: string, at: number): string {
  return `${kit(kitId)}/audit/${compactTimestamp(at)}.json.age`;
}
export function statusKey(kitId: string): string {
  return `${kit(kitId)}/status.json.age`;
}
export function fragmentKey(kitId: string, fragmentId: string): string {
  return `${kit(kitId)}/fragments/${opaque(fragmentId, 'fragmentId')}.json.age`;
}
export function keptStillKey(kitId: string, stillId: string): string {
  return `${kit(kitId)}/stills/${opaque(stillId, 'stillId')}.json.age`;
}
export function reviewKey(kitId: string, reviewId: string): string {
  return `${kit(kitId)}/reviews/${opaque(reviewId, 'reviewId')}.json.age`;
}

// --- the kit bucket: by case and by trainer ---

/** The prefix listing what one kit holds of one case: `office case` and `office erase` list it in every kit bucket. */
export function casePrefix(kitId: string, caseTagValue: string): string {
  return `${kit(kitId)}/cases/${tag(caseTagValue)}/`;
}
export function caseIndexKey(kitId: string, caseTagValue: string, kind: ContentKind, id: string): string {
  return `${casePrefix(kitId, caseTagValue)}${kind}-${opaque(id, 'id')}.json.age`;
}
export function trainerIndexKey(kitId: string, trainerId: string): string {
  return `${kit(kitId)}/trainers/${checkTrainerId(trainerId)}/index.json.age`;
}
/** Where kit `toKitId` finds the content keys that kit `fromKitId` sent its trainer: list it in fromKit's bucket. */
export function outboxPrefix(fromKitId: string, trainerId: string, toKitId: string): string {
  return `${kit(fromKitId)}/outbox/${checkTrainerId(trainerId)}/${kit(toKitId)}/`;
}
export function outboxKey(fromKitId: string, trainerId: string, toKitId: string, kind: ContentKind, id: string): string {
  return `${outboxPrefix(fromKitId, trainerId, toKitId)}${kind}-${opaque(id, 'id')}.key.age`;
}

// --- the office buckets ---

export function directoryKitKey(kitId: string): string {
  return `directory/kits/${kit(kitId)}.json`;
}
export const ERASURES_PREFIX = 'erasures/';
/** Sorts by time, so a kit lists only what is new since its last dock (StartAfter = the last it read). */
export function erasureNoticeKey(at: number, caseTagValue: string, scope: ErasureScope): string {
  if (!ERASURE_SCOPES.includes(scope))
    throw new AppError('VALIDATION', `erasure scope ${JSON.stringify(scope)} is not one of ${ERASURE_SCOPES.join(', ')}`, { field: 'scope' });
  return `${ERASURES_PREFIX}${compactTimestamp(at)}-${tag(caseTagValue)}-${scope}.json`;
}
export function receiptKey(receiptId: string): string {
  return `receipts/${opaque(receiptId, 'receiptId')}.json.age`;
}
export function officeAuditKey(at: number, hashHex: string): string {
  if (typeof hashHex !== 'string' || !/^[0-9a-f]{12,64}$/.test(hashHex))
    throw new AppError('VALIDATION', `audit hash ${JSON.stringify(hashHex)?.slice(0, 80)} is not hex`, { field: 'hash' });
  return `audit/${compactTimestamp(at)}-${hashHex.slice(0, 12)}.json.age`;
}

/** Reads an erasure notice's name back (a kit checks each against its own case tags). */
export function parseErasureNoticeKey(key: string): { at: string; caseTag: string; scope: ErasureScope } | null {
  const m = /^erasures\/(\d{8}T\d{9}Z)-([0-9a-f]{32})-([a-z]+)\.json$/.exec(key);
  if (!m || !ERASURE_SCOPES.includes(m[3] as ErasureScope)) return null;
  return { at: m[1]!, caseTag: m[2]!, scope: m[3] as ErasureScope };
}

// --- the case inbox (issue 21: `office case` without a LIST per kit) ---

/**
 * `cases/<tag>/<kit>` in the case inbox bucket (`vht-<org>-office-inbox`: kits write, only the
 * office reads): an empty marker a kit writes before its first index entry of a case, so the office
 * finds the kits that hold a case in one LIST instead of one LIST per kit bucket.
 */
export function caseMarkerKey(caseTagValue: string, kitId: string): string {
  return `${caseMarkerPrefix(caseTagValue)}${kit(kitId)}`;
}
/** The markers of one case: one LIST names every kit that holds it. */
export function caseMarkerPrefix(caseTagValue: string): string {
  return `cases/${tag(caseTagValue)}/`;
}
/** Reads a marker's name back; null for anything else. */
export function parseCaseMarkerKey(key: string): { caseTag: string; kitId: string } | null {
  const m = /^cases\/([0-9a-f]{32})\/([^/]+)$/.exec(key);
  if (!m || !KIT_ID_PATTERN.test(m[2]!)) return null;
  return { caseTag: m[1]!, kitId: m[2]! };
}

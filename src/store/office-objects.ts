import { AppError } from '../core/errors.js';
import type { Consent, ConsentScope } from './catalogue.js';
import type { ContentKind } from './keys.js';
import { CASE_TAG_PATTERN, ERASURE_SCOPES, KIT_ID_PATTERN, type ErasureScope } from './objects.js';

/**
 * The small objects of the organisation's side (docs/design/keys-layout-retention.md, "Names"):
 * what a case index entry, a kit status and an erasure notice hold. The kit writes the first two
 * (encrypted to the organisation), the office the third (plaintext: tags, scopes and times only).
 * Both sides parse with these functions, so a damaged or foreign object is named, never trusted.
 */

/** `<kit>/cases/<tag>/<kind>-<id>.json.age`: one item of a case held by one kit. */
export interface CaseIndexEntry {
  format: 'vht-kit.case-index';
  v: 1;
  kitId: string;
  caseTag: string;
  caseCode: string;
  kind: ContentKind;
  id: string;
  /** The object that describes the item in full (a clip's manifest). */
  object: string;
  /** Every object of the item in the store is under this prefix (a clip's folder) or is `object`. */
  prefix: string | null;
  visitUid: string | null;
  trajectory: string | null;
  consent: Consent | null;
  purposes: ConsentScope[];
  trainerIds: string[];
  createdAt: number;
  durationMs: number;
  segments: number;
  stills: number;
  bytes: number;
  writtenAt: number;
}

/** `<kit>/status.json.age`: what the fleet view shows of one kit, written at every sync. */
export interface KitStatus {
  format: 'vht-kit.kit-status';
  v: 1;
  kitId: string;
  version: string;
  at: number;
  /** The end of the last run that left nothing to upload. */
  lastSuccessAt: number | null;
  waitingForCase: number;
  waitingForUpload: number;
  /** createdAt of the oldest clip not yet confirmed by the organisation. */
  oldestWaitingAt: number | null;
  storage: { freeBytes: number; usableBytes: number } | null;
  warnings: string[];
  trainerIds: string[];
  /** Trainers for whom an erase waits for their next sign-in (docs/design: "erase pending"). */
  pendingRotations: string[];
  /** Closed cases by tag (the office's retention counts from closedAt). */
  closedCases: { tag: string; closedAt: number }[];
  casesWithoutTag: number;
  erasureCursor: string | null;
}

/** `erasures/<ts>-<tag>-<scope>.json`: read by every kit at each dock before it uploads. */
export interface ErasureNotice {
  format: 'vht-kit.erasure-notice';
  v: 1;
  caseTag: string;
  scope: ErasureScope;
  at: number;
  receipt: string;
}

function bad(what: string, field: string, value: unknown): never {
  throw new AppError('BAD_REQUEST', `${what}: ${field} is ${JSON.stringify(value)?.slice(0, 80)}`, { field });
}

function parseJson(text: string, what: string): Record<string, unknown> {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (err) {
    throw new AppError('BAD_REQUEST', `${what} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) bad(what, 'object', o);
  return o as Record<string, unknown>;
}

/** Checks a decrypted case index entry. */
export function parseCaseIndexEntry(text: string, what = 'the case index entry'): CaseIndexEntry {
  const o = parseJson(text, what);
  if (o.format !== 'vht-kit.case-index' || o.v !== 1) bad(what, 'format', o.format);
  if (typeof o.kitId !== 'string' || !KIT_ID_PATTERN.test(o.kitId)) bad(what, 'kitId', o.kitId);
  if (typeof o.caseTag !== 'string' || !CASE_TAG_PATTERN.test(o.caseTag)) bad(what, 'caseTag', o.caseTag);
  if (typeof o.caseCode !== 'string') bad(what, 'caseCode', o.caseCode);
  if (typeof o.id !== 'string' || typeof o.object !== 'string') bad(what, 'id', o.id);
  if (!Array.isArray(o.trainerIds)) bad(what, 'trainerIds', o.trainerIds);
  return o as unknown as CaseIndexEntry;
}

/** Checks a decrypted kit status. */
export function parseKitStatus(text: string, what = 'the kit status'): KitStatus {
  const o = parseJson(text, what);
  if (o.format !== 'vht-kit.kit-status' || o.v !== 1) bad(what, 'format', o.format);
  if (typeof o.kitId !== 'string' || !KIT_ID_PATTERN.test(o.kitId)) bad(what, 'kitId', o.kitId);
  if (typeof o.at !== 'number') bad(what, 'at', o.at);
  if (!Array.isArray(o.trainerIds) || !Array.isArray(o.warnings) || !Array.isArray(o.closedCases)) bad(what, 'trainerIds', o.trainerIds);
  return o as unknown as KitStatus;
}

/** Checks an erasure notice against its name's tag and scope. */
export function parseErasureNotice(text: string, expect: { caseTag: string; scope: ErasureScope }, what = 'the erasure notice'): ErasureNotice {
  const o = parseJson(text, what);
  if (o.format !== 'vht-kit.erasure-notice' || o.v !== 1) bad(what, 'format', o.format);
  if (o.caseTag !== expect.caseTag) bad(what, 'caseTag', o.caseTag);
  if (!ERASURE_SCOPES.includes(o.scope as ErasureScope) || o.scope !== expect.scope) bad(what, 'scope', o.scope);
  if (typeof o.at !== 'number') bad(what, 'at', o.at);
  return o as unknown as ErasureNotice;
}

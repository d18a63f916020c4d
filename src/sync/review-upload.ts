import type { Clock } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Catalogue, Consent } from '../store/catalogue.js';
import { encryptTo } from '../store/crypto.js';
import type { FragmentFile, KeptStillFile } from '../store/fragments.js';
import type { ContentKind, ContentRef } from '../store/keys.js';
import { fragmentKey, keptStillKey, manifestKey, reviewKey, segmentKey, stillKey, trainerIndexKey } from '../store/objects.js';
import type { FragmentRow, KeptStillRow, ReviewRow } from '../store/review-ledger.js';
import { abortedError } from './errors.js';
import { md5Hex, sha256Hex } from './targets.js';

/** What the upload of the review cycle's metadata reads on the kit (public keys only: it works while locked). */
export interface ReviewUploadSource {
  recipientsOf(ref: ContentRef): string[];
  /** A whole fragment's record (its copied segments). */
  fragment(id: string): FragmentFile;
  /** A kept still's record. */
  keptStill(id: string): KeptStillFile;
  /**
   * The kit whose bucket holds the item's current object when this kit did not write it: it was
   * fetched from that kit and not changed here (issue 20); null when this kit's own object counts.
   */
  heldElsewhere?(ref: ContentRef): string | null;
  /** Whether the item was fetched from another kit (issue 20): when this kit sends it, its object moves to this kit's name. */
  fetchedCopy?(ref: ContentRef): boolean;
  /** A kept still's JPEG as stored (encrypted to [org, K_still]). */
  keptStillCiphertext(id: string): Promise<Buffer>;
  /** A note's or caption's file as stored (encrypted to [org, content key]), or null. */
  noteCiphertext(ref: ContentRef): Promise<Buffer | null>;
}

export interface ReviewUploadDeps {
  catalogue: Catalogue;
  source: ReviewUploadSource;
  kitId: string;
  targetId: string;
  clock: Clock;
  logger: Logger;
  /** PUTs one object with retries (the run's RetryingPut). */
  put: (key: string, body: Uint8Array, md5: string, sha256: string) => Promise<void>;
  /** Issue 21: the object's case index entry, written before it (src/sync/office-link.ts); 'wait': the object waits for the next run. */
  indexEntry?: (item: ReviewIndexItem) => Promise<'done' | 'wait'>;
}

/** What the case index entry of a fragment, kept still or review says (issue 21: src/sync/office-link.ts writes it). */
export interface ReviewIndexItem {
  kind: 'fragment' | 'still' | 'review';
  id: string;
  caseCode: string;
  /** The object's key (`<kit>/fragments/<f>.json.age`, …). */
  object: string;
  visitId: number | null;
  /** The source clip's consent snapshot (a review: null, the case's consent counts). */
  consent: Consent | null;
  createdAt: number;
  durationMs: number;
  bytes: number;
}

/** `<kit>/fragments/<f>.json.age`: where the organisation finds the footage (the source clip's segments), never the footage. */
export interface FragmentObject {
  format: 'vht-kit.fragment';
  v: 1;
  kitId: string;
  id: string;
  caseCode: string;
  sourceClipId: string;
  /**
   * The kit whose bucket holds the source clip's objects (the kit that recorded it): this kit, or the
   * kit a fetched clip came from (issue 20). Absent in objects written before it: then `kitId`.
   */
  sourceKitId?: string;
  visitUid: string | null;
  inMs: number;
  outMs: number;
  /** The source clip's segments that overlap the range, as uploaded objects (under `sourceKitId`). */
  segments: { seq: number; key: string; startMs: number; durationMs: number }[];
  label: string | null;
  /** The note as stored on the kit: age, to [organisation, K_frag], base64. */
  noteAge: string | null;
  createdAt: number;
  updatedAt: number;
}

/** `<kit>/stills/<s>.json.age`: the still's source object, or its JPEG when the organisation does not have that. */
export interface KeptStillObject {
  format: 'vht-kit.kept-still';
  v: 1;
  kitId: string;
  id: string;
  caseCode: string;
  sourceClipId: string;
  /** The kit whose bucket holds the source clip's objects (as in a fragment's object). Absent in objects written before it: then `kitId`. */
  sourceKitId?: string;
  sourceStillId: number;
  visitUid: string | null;
  timeMs: number;
  /** The clip's still as the organisation already holds it; null when it was never uploaded (then `jpegAge` holds it). */
  sourceKey: string | null;
  /** The kept still's JPEG, age to [organisation, K_still], base64; null when `sourceKey` is there. */
  jpegAge: string | null;
  captionAge: string | null;
  createdAt: number;
  updatedAt: number;
}

/** `<kit>/reviews/<r>.json.age`: a review's order of items and the takes that record its talk. */
export interface ReviewObject {
  format: 'vht-kit.review';
  v: 1;
  kitId: string;
  id: string;
  caseCode: string;
  plannedFor: string | null;
  createdAt: number;
  heldAt: number | null;
  items: { kind: 'fragment' | 'still'; id: string; key: string }[];
  /** Review-talk takes (raw clips of the case, purpose supervision). */
  talks: string[];
  updatedAt: number;
}

/** True when the organisation confirmed the source clip (its segments and stills are there). */
/** The item's `sourceKitId` from its record; undefined when the record cannot be read (a row a crash left: its upload fails on its own). */
function sourceKitOf(record: () => { sourceKitId?: string }): string | undefined {
  try {
    return record().sourceKitId;
  } catch {
    return undefined;
  }
}

function sourceConfirmed(catalogue: Catalogue, clipId: string, sourceKitId: string | undefined, kitId: string): boolean {
  // recorded on another kit (fetched from the store, or the item was): its objects are in that kit's bucket
  if (sourceKitId !== undefined && sourceKitId !== kitId) return true;
  const clip = catalogue.getClip(clipId);
  if (clip) return clip.uploadedAt !== null;
  return catalogue.reviewLedger.erasedClipsWithKept().some((e) => e.clipId === clipId && e.uploadedAt !== null);
}

/**
 * Uploads the metadata of fragments, kept stills and reviews that the target has not confirmed in
 * their current version, each encrypted to [organisation, its content key] under the names of
 * src/store/objects.ts. Footage is never sent again: a fragment names the source clip's segments
 * (uploaded with the clip, which goes first), a kept still names the clip's still object when the
 * target has it and carries its JPEG only when not. A fragment or still waits until its source
 * clip is confirmed. Returns the keys confirmed.
 */
export async function uploadReviewMetadata(deps: ReviewUploadDeps, signal: AbortSignal): Promise<string[]> {
  const { catalogue, clock } = deps;
  const ledger = catalogue.reviewLedger;
  const done: string[] = [];
  // fetched items this kit sent now under its own name: the reviews of this kit that name them follow
  const moved = new Set<string>();
  const send = async (
    kind: 'fragment' | 'still' | 'review',
    id: string,
    key: string,
    version: number,
    payload: object,
    index: Omit<ReviewIndexItem, 'kind' | 'id' | 'object'>,
  ) => {
    if (signal.aborted) throw abortedError();
    if (deps.indexEntry && (await deps.indexEntry({ kind, id, object: key, ...index })) === 'wait') return;
    const body = Buffer.from(await encryptTo(deps.source.recipientsOf({ kind, id }), JSON.stringify(payload)));
    await deps.put(key, body, md5Hex(body), sha256Hex(body));
    ledger.confirm(kind, id, version, clock.now());
    done.push(key);
    if (kind !== 'review' && deps.source.fetchedCopy?.({ kind, id })) moved.add(`${kind}:${id}`);
  };
  for (const f of ledger.allFragments()) {
    if (
      f.confirmedVersion === f.updatedAt ||
      !sourceConfirmed(
        catalogue,
        f.clipId,
        sourceKitOf(() => deps.source.fragment(f.id)),
        deps.kitId,
      )
    )
      continue;
    const index = { caseCode: f.caseCode, visitId: f.visitId, consent: f.consent, createdAt: f.createdAt, durationMs: f.outMs - f.inMs, bytes: f.bytes };
    await send('fragment', f.id, fragmentKey(deps.kitId, f.id), f.updatedAt, await fragmentObject(deps, f), index);
  }
  for (const s of ledger.allKeptStills()) {
    if (
      s.confirmedVersion === s.updatedAt ||
      !sourceConfirmed(
        catalogue,
        s.clipId,
        sourceKitOf(() => deps.source.keptStill(s.id)),
        deps.kitId,
      )
    )
      continue;
    const index = { caseCode: s.caseCode, visitId: s.visitId, consent: s.consent, createdAt: s.createdAt, durationMs: 0, bytes: s.bytes };
    await send('still', s.id, keptStillKey(deps.kitId, s.id), s.updatedAt, await keptStillObject(deps, s), index);
  }
  for (const r of ledger.reviews()) {
    // a review names where each item's object is: a fetched copy changed here moved to this kit's name
    // (a review fetched and not changed here stays the other kit's object)
    const follows = ledger.items(r.id).some((it) => moved.has(`${it.kind}:${it.refId}`)) && !deps.source.heldElsewhere?.({ kind: 'review', id: r.id });
    if (r.confirmedVersion === r.updatedAt && !follows) continue;
    const index = { caseCode: r.caseCode, visitId: null, consent: null, createdAt: r.createdAt, durationMs: 0, bytes: 0 };
    await send('review', r.id, reviewKey(deps.kitId, r.id), r.updatedAt, reviewObject(deps, r), index);
  }
  if (done.length) deps.logger.info('review metadata uploaded', { objects: done.length });
  return done;
}

async function fragmentObject(deps: ReviewUploadDeps, f: FragmentRow): Promise<FragmentObject> {
  const note = await deps.source.noteCiphertext({ kind: 'fragment', id: f.id });
  const file = deps.source.fragment(f.id);
  const origin = file.segments[0]!.startMs - f.playlistStartMs;
  const sourceKit = file.sourceKitId ?? deps.kitId;
  return {
    format: 'vht-kit.fragment',
    v: 1,
    kitId: deps.kitId,
    id: f.id,
    caseCode: f.caseCode,
    sourceClipId: f.clipId,
    sourceKitId: sourceKit,
    visitUid: f.visitId === null ? null : deps.catalogue.visitUid(f.visitId),
    inMs: f.inMs,
    outMs: f.outMs,
    segments: file.segments.map((s) => ({ seq: s.seq, key: segmentKey(sourceKit, f.clipId, s.seq), startMs: s.startMs - origin, durationMs: s.durationMs })),
    label: f.label,
    noteAge: note ? note.toString('base64') : null,
    createdAt: f.createdAt,
    updatedAt: f.updatedAt,
  };
}

async function keptStillObject(deps: ReviewUploadDeps, s: KeptStillRow): Promise<KeptStillObject> {
  const sourceKey = stillKey(deps.kitId, s.clipId, s.stillN);
  // The organisation has the clip's still when this target confirmed that object: then it is not sent again.
  const held = deps.catalogue.syncLedger.confirmed(deps.targetId, s.clipId).has(sourceKey);
  const caption = await deps.source.noteCiphertext({ kind: 'still', id: s.id });
  return {
    format: 'vht-kit.kept-still',
    v: 1,
    kitId: deps.kitId,
    id: s.id,
    caseCode: s.caseCode,
    sourceClipId: s.clipId,
    sourceKitId: deps.source.keptStill(s.id).sourceKitId ?? deps.kitId,
    sourceStillId: s.stillN,
    visitUid: s.visitId === null ? null : deps.catalogue.visitUid(s.visitId),
    timeMs: s.timeMs,
    sourceKey: held ? sourceKey : null,
    jpegAge: held ? null : (await deps.source.keptStillCiphertext(s.id)).toString('base64'),
    captionAge: caption ? caption.toString('base64') : null,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}

function reviewObject(deps: ReviewUploadDeps, r: ReviewRow): ReviewObject {
  const ledger = deps.catalogue.reviewLedger;
  return {
    format: 'vht-kit.review',
    v: 1,
    kitId: deps.kitId,
    id: r.id,
    caseCode: r.caseCode,
    plannedFor: r.plannedFor,
    createdAt: r.createdAt,
    heldAt: r.heldAt,
    items: ledger.items(r.id).map((it) => {
      // a fetched item not changed here is the other kit's object: the review names that one
      const at = deps.source.heldElsewhere?.({ kind: it.kind, id: it.refId }) ?? deps.kitId;
      return { kind: it.kind, id: it.refId, key: it.kind === 'fragment' ? fragmentKey(at, it.refId) : keptStillKey(at, it.refId) };
    }),
    talks: ledger.talksOfReview(r.id),
    updatedAt: r.updatedAt,
  };
}

// --- issue 20: the trainer index `<kit>/trainers/<T>/index.json.age` ---

/**
 * What trainer T has on this kit, for T's other kits (docs/design/keys-layout-retention.md): each of
 * T's cases here with the consent in force and whether it is closed (another kit keeps the
 * narrowest), and each uploaded item of those cases whose key T holds here, with its object (the
 * clip's manifest or the item's metadata) and the time the organisation confirmed it. A kit fetches
 * by reading this index instead of listing the bucket. Encrypted to [organisation, I(T, k) for each
 * other kit k of T's]: it names case codes. Items fetched from another kit are not listed (their
 * objects are in that kit's bucket, and its own index lists them).
 */
export interface TrainerIndex {
  format: 'vht-kit.trainer-index';
  v: 1;
  kitId: string;
  trainerId: string;
  writtenAt: number;
  cases: { code: string; consent: Consent; closedAt: number | null }[];
  items: { kind: ContentKind; id: string; caseCode: string; key: string; confirmedAt: number }[];
}

export interface TrainerIndexDeps {
  catalogue: Catalogue;
  kitId: string;
  keys: { trainerIds(): string[]; entitled(ref: ContentRef): string[] };
  /** The recipient of T's inbox on each of T's other kits (the office directory). */
  otherKits: (trainerId: string) => { kitId: string; recipient: string }[];
  orgRecipient: string;
  /** Whether this kit fetched the item from another kit (then that kit's index lists it). */
  fetched: (ref: ContentRef) => boolean;
  clock: Clock;
}

/** The index of one trainer on this kit (what T's other kits may fetch from here). */
export function trainerIndex(deps: TrainerIndexDeps, trainerId: string): TrainerIndex {
  const { catalogue, kitId } = deps;
  const mine = new Set(catalogue.casesOfTrainer(trainerId));
  const held = (ref: ContentRef) => deps.keys.entitled(ref).includes(trainerId) && !deps.fetched(ref);
  const items: TrainerIndex['items'] = [];
  for (const c of catalogue.allClips()) {
    if (c.caseCode === null || !mine.has(c.caseCode) || c.uploadedAt === null || c.stopReason === 'fetched' || !held({ kind: 'clip', id: c.id })) continue;
    items.push({ kind: 'clip', id: c.id, caseCode: c.caseCode, key: manifestKey(kitId, c.id), confirmedAt: c.uploadedAt });
  }
  const ledger = catalogue.reviewLedger;
  const kept: [ContentKind, { id: string; caseCode: string; confirmedAt: number | null }[], (k: string, id: string) => string][] = [
    ['fragment', ledger.allFragments(), fragmentKey],
    ['still', ledger.allKeptStills(), keptStillKey],
    ['review', ledger.reviews(), reviewKey],
  ];
  for (const [kind, rows, keyOf] of kept) {
    for (const r of rows) {
      if (!mine.has(r.caseCode) || r.confirmedAt === null || !held({ kind, id: r.id })) continue;
      items.push({ kind, id: r.id, caseCode: r.caseCode, key: keyOf(kitId, r.id), confirmedAt: r.confirmedAt });
    }
  }
  const cases = catalogue
    .listCases()
    .filter((c) => mine.has(c.code))
    .map((c) => ({ code: c.code, consent: c.consent, closedAt: catalogue.caseClosedAt(c.code) }));
  return { format: 'vht-kit.trainer-index', v: 1, kitId, trainerId, writtenAt: deps.clock.now(), cases, items };
}

/**
 * Writes the index of every trainer on this kit who is on another kit of the team (public keys
 * only: it runs while locked, at each docked run); returns the keys written.
 */
export async function uploadTrainerIndexes(deps: TrainerIndexDeps & { put: ReviewUploadDeps['put'] }): Promise<string[]> {
  const done: string[] = [];
  for (const t of deps.keys.trainerIds()) {
    const others = deps.otherKits(t);
    if (others.length === 0) continue;
    const body = Buffer.from(await encryptTo([deps.orgRecipient, ...others.map((o) => o.recipient)], JSON.stringify(trainerIndex(deps, t))));
    const key = trainerIndexKey(deps.kitId, t);
    await deps.put(key, body, md5Hex(body), sha256Hex(body));
    done.push(key);
  }
  return done;
}

/** Reads an index (age-decrypted already), checking what the fetch relies on; errors name the field and the value. */
export function parseTrainerIndex(text: string, kitId: string, trainerId: string, what: string): TrainerIndex {
  const bad = (field: string, value: unknown): never => {
    throw new AppError('BAD_REQUEST', `${what}: ${field} is ${JSON.stringify(value)?.slice(0, 80)}`, { field });
  };
  let x: TrainerIndex;
  try {
    x = JSON.parse(text) as TrainerIndex;
  } catch (err) {
    throw new AppError('BAD_REQUEST', `${what}: not JSON (${(err as Error).message})`, { field: what, cause: err });
  }
  if (x?.format !== 'vht-kit.trainer-index' || x.v !== 1) bad('format', x?.format);
  if (x.kitId !== kitId) bad('kitId', x.kitId);
  if (x.trainerId !== trainerId) bad('trainerId', x.trainerId);
  if (!Array.isArray(x.cases)) bad('cases', x.cases);
  if (!Array.isArray(x.items)) bad('items', x.items);
  x.items.forEach((it, i) => {
    if (!['clip', 'fragment', 'still', 'review'].includes(it?.kind)) bad(`items.${i}.kind`, it?.kind);
    if (typeof it.confirmedAt !== 'number') bad(`items.${i}.confirmedAt`, it.confirmedAt);
  });
  x.cases.forEach((c, i) => {
    if (typeof c?.code !== 'string' || typeof c.consent !== 'object' || c.consent === null) bad(`cases.${i}`, c);
  });
  return x;
}

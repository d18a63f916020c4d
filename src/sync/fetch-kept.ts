import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import { CONSENT_SCOPES, type Catalogue, type Consent } from '../store/catalogue.js';
import { CLIP_ID_PATTERN, segmentObjectName } from '../store/clips.js';
import { decryptWith, encryptTo } from '../store/crypto.js';
import { fsyncDir, writeFileDurable, writeFileDurableSync } from '../store/durable.js';
import type { FragmentFile, KeptStillFile } from '../store/fragments.js';
import type { ContentRef, KeyStore } from '../store/keys.js';
import { fragmentKey, KIT_ID_PATTERN, keptStillKey, reviewKey } from '../store/objects.js';
import type { DirectoryEntry } from './fetch-directory.js';
import type { FetchSource } from './fetch-source.js';
import { manifestKey, parseManifest, segmentKey, stillKey, type ClipManifest } from './manifest.js';
import type { FragmentObject, KeptStillObject, ReviewObject } from './review-upload.js';
import { sha256Hex } from './targets.js';

/** A content key another kit sent the signed-in trainer (opened from their inbox here). */
export interface ReceivedKey {
  ref: ContentRef;
  identity: string;
}

/** Why a fragment, kept still or review was not fetched (now). */
/** `erased`: fetched before and erased here since (retention, a deletion): it does not come back. */
export type KeptSkip = 'have' | 'erased' | 'case-closed' | 'budget' | 'no-room' | 'items-missing';

export interface KeptFetchResult {
  fetched: ContentRef[];
  skipped: { ref: ContentRef; why: KeptSkip }[];
  failed: { ref: ContentRef; message: string }[];
}

export interface KeptFetchOptions {
  source: FetchSource;
  dataDir: string;
  keys: Pick<KeyStore, 'importContentKey' | 'contentIdentity' | 'recipientsOf' | 'hasContentKey'>;
  catalogue: Catalogue;
  clock: Clock;
}

/** What one kit's pass needs from the clip fetch around it. */
export interface KeptPass {
  kit: DirectoryEntry;
  trainer: string;
  /** Bytes the budget has left now. */
  room: () => number;
  hasRoom: (bytes: number) => boolean;
  /** The source clip's key: received with this pass, or on the kit for this trainer; null when neither. */
  clipIdentity: (clipId: string) => Promise<string | null>;
  /** When the organisation confirmed the item, from the trainer's index (no listing then); undefined without one. */
  confirmedAt: (ref: ContentRef) => number | undefined;
  /** Whether the trainer's index says the case is closed (nothing of it is fetched). */
  closed: (code: string) => boolean;
  /** Progress: bytes of footage verified and written. */
  onBytes: (bytes: number) => void;
  /** The bucket of a kit of the team (the directory), where a source clip recorded there lives; null when the kit is not in it. */
  bucketOf: (kitId: string) => string | null;
}

/** Where an item's source clip lives: the kit that recorded it, and that kit's bucket. */
interface SourceKit {
  kitId: string;
  bucket: string;
}

/** The first 12 hex digits of a hash, for messages. */
const short = (h: string) => `${h.slice(0, 12)}…`;

/** An object of the store that does not have the shape it must have: the error names the object and the field. */
function bad(what: string, field: string, value: unknown): never {
  throw new AppError('BAD_REQUEST', `${what}: ${field} is ${JSON.stringify(value)?.slice(0, 80)}`, { field });
}

/** Parses a metadata object (age-decrypted already) and checks the fields the fetch relies on. */
function parseObject<T extends { format: string; v: number; id: string; kitId: string; caseCode: string }>(
  text: string,
  format: T['format'],
  ref: ContentRef,
  kitId: string,
  what: string,
): T {
  let o: T;
  try {
    o = JSON.parse(text) as T;
  } catch (err) {
    throw new AppError('BAD_REQUEST', `${what}: not JSON (${(err as Error).message})`, { field: what, cause: err });
  }
  if (o?.format !== format || o.v !== 1) bad(what, 'format', o?.format);
  if (o.id !== ref.id) bad(what, 'id', o.id);
  if (o.kitId !== kitId) bad(what, 'kitId', o.kitId);
  if (typeof o.caseCode !== 'string' || o.caseCode === '') bad(what, 'caseCode', o.caseCode);
  return o;
}

/**
 * The review cycle follows the trainer (issue 20): for each fragment, kept still and review key
 * another kit sent the signed-in trainer, its metadata object (encrypted to [organisation, its
 * key]) is read and checked, and its footage comes from the source clip's objects in the store —
 * the organisation never gets fragment footage twice (docs/design/keys-layout-retention.md,
 * "Fragments and stills"): each segment or still is checked against the source clip's manifest
 * (SHA-256 and size) before it counts, decrypted with the clip's key in RAM and re-encrypted to
 * [organisation, the item's key]. A segment of a clip fetched already is read from the card instead.
 * Files are written durably with the item's record last (a crash leaves nothing that counts:
 * FragmentStore.recover); the catalogue learns of an item only when all of it is on the card, with
 * the original's confirmation time and version, so retention treats it like the original and the
 * kit does not upload it as its own. A review waits until each of its items is on the kit.
 */
export class KeptFetch {
  private readonly manifests = new Map<string, ClipManifest>();

  constructor(private readonly o: KeptFetchOptions) {}

  /** Fetches the fragments and kept stills of `received` first, then their reviews. */
  async run(pass: KeptPass, received: ReceivedKey[], result: KeptFetchResult): Promise<void> {
    const order: Record<string, number> = { fragment: 0, still: 1, review: 2 };
    const items = received.filter((r) => r.ref.kind in order).sort((a, b) => order[a.ref.kind]! - order[b.ref.kind]!);
    for (const item of items) {
      try {
        const why = await this.fetchOne(pass, item);
        if (why) result.skipped.push({ ref: item.ref, why });
        else result.fetched.push(item.ref);
      } catch (err) {
        result.failed.push({ ref: item.ref, message: (err as Error).message });
      }
    }
  }

  private async fetchOne(pass: KeptPass, item: ReceivedKey): Promise<KeptSkip | null> {
    const ledger = this.o.catalogue.reviewLedger;
    const { kind, id } = item.ref;
    const present = kind === 'fragment' ? ledger.fragment(id) : kind === 'still' ? ledger.keptStill(id) : ledger.review(id);
    if (present) return 'have';
    if (erasedHere(this.o.dataDir, item.ref, false)) return 'erased';
    if (kind === 'fragment') return this.fragment(pass, item);
    if (kind === 'still') return this.keptStill(pass, item);
    return this.review(pass, item);
  }

  /** The metadata object and the time the organisation confirmed it (its time in the store). */
  private async metadata<T extends { format: string; v: number; id: string; kitId: string; caseCode: string }>(
    pass: KeptPass,
    item: ReceivedKey,
    key: string,
    format: T['format'],
  ): Promise<{ obj: T; confirmedAt: number }> {
    const indexed = pass.confirmedAt(item.ref);
    const listed = indexed === undefined ? (await this.o.source.list(pass.kit.bucket, key)).find((l) => l.key === key) : { lastModified: indexed };
    if (!listed) throw new AppError('NOT_FOUND', `${item.ref.kind} ${item.ref.id}: no object at ${key} yet (not uploaded)`, { field: 'id' });
    const plain = await decryptWith(item.identity, await this.o.source.get(pass.kit.bucket, key), key);
    return { obj: parseObject<T>(plain.toString('utf8'), format, item.ref, pass.kit.kitId, key), confirmedAt: listed.lastModified };
  }

  /** The kit an object names as holding its source clip (`sourceKitId`; before it existed, the object's own kit), and that kit's bucket. */
  private sourceKit(pass: KeptPass, what: string, obj: { kitId: string; sourceKitId?: unknown }): SourceKit {
    const kitId = obj.sourceKitId ?? obj.kitId;
    if (typeof kitId !== 'string' || !KIT_ID_PATTERN.test(kitId)) bad(what, 'sourceKitId', kitId);
    if (kitId === pass.kit.kitId) return { kitId, bucket: pass.kit.bucket };
    const bucket = pass.bucketOf(kitId);
    if (bucket === null) {
      throw new AppError('NOT_FOUND', `${what}: its source clip was recorded on kit ${kitId}, which is not in this team's directory`, { field: 'sourceKitId' });
    }
    return { kitId, bucket };
  }

  /** The source clip's manifest, opened with the clip's key (needed for the SHA-256 of its objects), from the bucket of the kit that recorded it. */
  private async sourceOf(pass: KeptPass, from: SourceKit, what: string, clipId: string): Promise<{ identity: string; manifest: ClipManifest }> {
    if (!CLIP_ID_PATTERN.test(clipId)) bad(what, 'sourceClipId', clipId);
    const identity = await pass.clipIdentity(clipId);
    if (identity === null) {
      throw new AppError(
        'FORBIDDEN',
        `${what}: no key of its source clip ${clipId} reached trainer ${pass.trainer} on this kit (it comes with the clip's outbox key)`,
        {
          field: 'sourceClipId',
        },
      );
    }
    let manifest = this.manifests.get(clipId);
    if (!manifest) {
      const mKey = manifestKey(from.kitId, clipId);
      manifest = parseManifest((await decryptWith(identity, await this.o.source.get(from.bucket, mKey), mKey)).toString('utf8'));
      if (manifest.clipId !== clipId) bad(mKey, 'clipId', manifest.clipId);
      this.manifests.set(clipId, manifest);
    }
    return { identity, manifest };
  }

  /** An object of the source clip, checked against the manifest; the card's copy when it has one that matches. */
  private async verified(bucket: string, local: string | null, key: string, expect: { sha256: string; bytes: number }, what: string): Promise<Buffer> {
    if (local !== null && existsSync(local)) {
      const body = readFileSync(local);
      if (sha256Hex(body) === expect.sha256) return body;
    }
    const body = await this.o.source.get(bucket, key);
    const got = sha256Hex(body);
    if (got !== expect.sha256 || body.length !== expect.bytes) {
      throw new AppError(
        'BAD_REQUEST',
        `${what}: SHA-256 ${short(got)} (${body.length} bytes) does not match the manifest's ${short(expect.sha256)} (${expect.bytes} bytes)`,
        {
          field: 'sha256',
        },
      );
    }
    return body;
  }

  private room(pass: KeptPass, need: number): KeptSkip | null {
    if (need > pass.room()) return 'budget';
    if (!pass.hasRoom(need)) return 'no-room';
    return null;
  }

  private async fragment(pass: KeptPass, item: ReceivedKey): Promise<KeptSkip | null> {
    const { kit } = pass;
    const key = fragmentKey(kit.kitId, item.ref.id);
    const { obj, confirmedAt } = await this.metadata<FragmentObject>(pass, item, key, 'vht-kit.fragment');
    if (this.o.catalogue.caseClosedAt(obj.caseCode) !== null || pass.closed(obj.caseCode)) return 'case-closed';
    if (!Array.isArray(obj.segments) || obj.segments.length === 0) bad(key, 'segments', obj.segments);
    const from = this.sourceKit(pass, key, obj);
    const { identity: clipIdentity, manifest } = await this.sourceOf(pass, from, key, obj.sourceClipId);
    const bySeq = new Map(manifest.segments.map((s) => [s.seq, s]));
    const segs = obj.segments.map((s, i) => bySeq.get(s.seq) ?? bad(key, `segments.${i}.seq`, s.seq));
    const skip = this.room(
      pass,
      segs.reduce((n, s) => n + s.bytes, 0),
    );
    if (skip) return skip;
    const consent = consentOf(manifest, key);
    await this.o.keys.importContentKey(item.ref, item.identity);
    const recipients = this.o.keys.recipientsOf(item.ref);
    const dir = path.join(this.o.dataDir, 'fragments', item.ref.id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    fsyncDir(path.dirname(dir));
    const segments: FragmentFile['segments'] = [];
    for (const s of segs) {
      const local = path.join(this.o.dataDir, 'clips', obj.sourceClipId, segmentObjectName(s.seq));
      const body = await this.verified(
        from.bucket,
        local,
        segmentKey(from.kitId, obj.sourceClipId, s.seq),
        s,
        `fragment ${item.ref.id}: segment ${s.seq} of clip ${obj.sourceClipId}`,
      );
      const ct = await encryptTo(recipients, await decryptWith(clipIdentity, body, `segment ${s.seq} of clip ${obj.sourceClipId}`));
      await writeFileDurable(path.join(dir, segmentObjectName(s.seq)), ct);
      segments.push({ seq: s.seq, startMs: s.startMs, durationMs: s.durationMs, bytes: ct.byteLength, sha256: sha256Hex(ct), discontinuity: s.discontinuity });
      pass.onBytes(s.bytes);
    }
    if (obj.noteAge) await writeFileDurable(path.join(dir, 'note.json.age'), Buffer.from(obj.noteAge, 'base64'));
    const file: FragmentFile & { fetchedFrom: string } = {
      v: 1,
      id: obj.id,
      sourceClipId: obj.sourceClipId,
      createdAt: obj.createdAt,
      segments,
      sourceKitId: from.kitId,
      fetchedFrom: kit.kitId,
    };
    writeFileDurableSync(path.join(dir, 'fragment.json'), JSON.stringify(file, null, 1));
    const origin = manifest.segments[0]!.startMs;
    const first = segments[0]!;
    const last = segments[segments.length - 1]!;
    const now = this.o.clock.now();
    const { catalogue } = this.o;
    catalogue.transaction(() => {
      fetchedCase(catalogue, obj.caseCode, pass.trainer, manifest, now);
      catalogue.reviewLedger.insertFragment({
        id: obj.id,
        clipId: obj.sourceClipId,
        caseCode: obj.caseCode,
        visitId: null,
        clipCreatedAt: manifest.createdAt,
        inMs: obj.inMs,
        outMs: obj.outMs,
        playlistStartMs: first.startMs - origin,
        playlistDurationMs: last.startMs + last.durationMs - first.startMs,
        bytes: segments.reduce((n, s) => n + s.bytes, 0),
        label: obj.label,
        hasNote: obj.noteAge !== null,
        consent,
        createdAt: obj.createdAt,
        updatedAt: obj.updatedAt,
        confirmedAt,
        confirmedVersion: obj.updatedAt,
        deleteRequestedAt: null,
      });
      catalogue.audit('fragment.fetched', now, obj.sourceClipId, { fragment: obj.id, fromKit: kit.kitId, segments: segments.length });
    });
    markFetched(this.o.dataDir, item.ref, kit.kitId, obj.updatedAt);
    return null;
  }

  private async keptStill(pass: KeptPass, item: ReceivedKey): Promise<KeptSkip | null> {
    const { kit } = pass;
    const key = keptStillKey(kit.kitId, item.ref.id);
    const { obj, confirmedAt } = await this.metadata<KeptStillObject>(pass, item, key, 'vht-kit.kept-still');
    if (this.o.catalogue.caseClosedAt(obj.caseCode) !== null || pass.closed(obj.caseCode)) return 'case-closed';
    const from = this.sourceKit(pass, key, obj);
    const { identity: clipIdentity, manifest } = await this.sourceOf(pass, from, key, obj.sourceClipId);
    const consent = consentOf(manifest, key);
    const fromClip = manifest.stills?.find((s) => s.id === obj.sourceStillId);
    if (obj.jpegAge === null && !fromClip) bad(key, 'sourceStillId', obj.sourceStillId);
    const skip = this.room(pass, fromClip?.bytes ?? Math.ceil(((obj.jpegAge ?? '').length * 3) / 4));
    if (skip) return skip;
    await this.o.keys.importContentKey(item.ref, item.identity);
    let ct: Buffer;
    if (obj.jpegAge !== null) {
      // the JPEG rode inside the metadata (to [organisation, K_still]): it must open with the key received
      ct = Buffer.from(obj.jpegAge, 'base64');
      await decryptWith(item.identity, ct, `${key}: jpegAge`);
    } else {
      const expected = stillKey(from.kitId, obj.sourceClipId, obj.sourceStillId);
      if (obj.sourceKey !== expected) bad(key, 'sourceKey', obj.sourceKey);
      const body = await this.verified(
        from.bucket,
        null,
        expected,
        fromClip!,
        `kept still ${item.ref.id}: still ${obj.sourceStillId} of clip ${obj.sourceClipId}`,
      );
      ct = Buffer.from(await encryptTo(this.o.keys.recipientsOf(item.ref), await decryptWith(clipIdentity, body, expected)));
    }
    const stillsDir = path.join(this.o.dataDir, 'stills');
    mkdirSync(stillsDir, { recursive: true, mode: 0o700 });
    const base = path.join(stillsDir, item.ref.id);
    await writeFileDurable(`${base}.jpg.age`, ct);
    if (obj.captionAge) await writeFileDurable(`${base}.caption.json.age`, Buffer.from(obj.captionAge, 'base64'));
    else rmSync(`${base}.caption.json.age`, { force: true });
    const file: KeptStillFile & { fetchedFrom: string } = {
      v: 1,
      id: obj.id,
      sourceClipId: obj.sourceClipId,
      sourceStillId: obj.sourceStillId,
      timeMs: obj.timeMs,
      bytes: ct.byteLength,
      sha256: sha256Hex(ct),
      createdAt: obj.createdAt,
      sourceKitId: from.kitId,
      fetchedFrom: kit.kitId,
    };
    writeFileDurableSync(`${base}.json`, JSON.stringify(file, null, 1));
    pass.onBytes(ct.byteLength);
    const now = this.o.clock.now();
    const { catalogue } = this.o;
    catalogue.transaction(() => {
      fetchedCase(catalogue, obj.caseCode, pass.trainer, manifest, now);
      catalogue.reviewLedger.insertKeptStill({
        id: obj.id,
        clipId: obj.sourceClipId,
        stillN: obj.sourceStillId,
        caseCode: obj.caseCode,
        visitId: null,
        clipCreatedAt: manifest.createdAt,
        timeMs: obj.timeMs,
        bytes: ct.byteLength,
        hasCaption: obj.captionAge !== null,
        consent,
        createdAt: obj.createdAt,
        updatedAt: obj.updatedAt,
        confirmedAt,
        confirmedVersion: obj.updatedAt,
        deleteRequestedAt: null,
      });
      catalogue.audit('still.fetched', now, obj.sourceClipId, { still: obj.id, fromKit: kit.kitId });
    });
    markFetched(this.o.dataDir, item.ref, kit.kitId, obj.updatedAt);
    return null;
  }

  private async review(pass: KeptPass, item: ReceivedKey): Promise<KeptSkip | null> {
    const { kit } = pass;
    const key = reviewKey(kit.kitId, item.ref.id);
    const { obj, confirmedAt } = await this.metadata<ReviewObject>(pass, item, key, 'vht-kit.review');
    if (this.o.catalogue.caseClosedAt(obj.caseCode) !== null || pass.closed(obj.caseCode)) return 'case-closed';
    if (!Array.isArray(obj.items)) bad(key, 'items', obj.items);
    const ledger = this.o.catalogue.reviewLedger;
    const items = obj.items.map((it, i) => {
      if (it.kind !== 'fragment' && it.kind !== 'still') bad(key, `items.${i}.kind`, it.kind);
      return { kind: it.kind, refId: it.id };
    });
    const here = items.every((it) => {
      const row = it.kind === 'fragment' ? ledger.fragment(it.refId) : ledger.keptStill(it.refId);
      return row !== undefined && row.caseCode === obj.caseCode;
    });
    if (!here) return 'items-missing';
    await this.o.keys.importContentKey(item.ref, item.identity);
    const now = this.o.clock.now();
    this.o.catalogue.transaction(() => {
      this.o.catalogue.addCaseTrainers(obj.caseCode, [pass.trainer], now);
      ledger.insertReview(
        {
          id: obj.id,
          caseCode: obj.caseCode,
          plannedFor: obj.plannedFor,
          plannedVisitUid: null,
          createdAt: obj.createdAt,
          updatedAt: obj.updatedAt,
          heldAt: obj.heldAt,
          confirmedAt,
          confirmedVersion: obj.updatedAt,
        },
        items,
      );
      this.o.catalogue.audit('review.fetched', now, null, { review: obj.id, fromKit: kit.kitId, items: items.length });
    });
    markFetched(this.o.dataDir, item.ref, kit.kitId, obj.updatedAt);
    return null;
  }
}

/**
 * The case of a fetched clip or item on this kit, with the trainer on it (it is theirs here). A case
 * new to the kit takes the consent in force that the source clip's manifest states; a case the kit
 * knows keeps the narrowest of both (docs/design/keys-layout-retention.md, "Cases and visits across kits").
 */
export function fetchedCase(catalogue: Catalogue, code: string, trainer: string, m: ClipManifest, now: number): void {
  const known = m.consent ?? m.consentAtRecording;
  const c = catalogue.getCase(code);
  if (!c) catalogue.insertCase(code, m.trajectory, known ?? { recording: false, review: false, supervision: false, training: false }, now);
  else if (known) narrowCases(catalogue, [{ code, consent: known }], now);
  catalogue.addCaseTrainers(code, [trainer], now);
}

/** The cases of a trainer's index that this kit has take the narrowest consent of both (a narrowing anywhere wins everywhere). */
export function narrowCases(catalogue: Catalogue, cases: readonly { code: string; consent: Consent }[], now: number): void {
  for (const x of cases) {
    const c = catalogue.getCase(x.code);
    if (!c || !CONSENT_SCOPES.some((s) => c.consent[s] && x.consent[s] !== true)) continue;
    const both = (s: keyof Consent) => c.consent[s] && x.consent[s] === true;
    catalogue.updateCase(
      x.code,
      c.trajectory,
      { recording: both('recording'), review: both('review'), supervision: both('supervision'), training: both('training') },
      now,
    );
  }
}

/** The consent a fetched item was made under: its source clip's snapshot (as for a fetched clip). */
function consentOf(m: ClipManifest, what: string): Consent {
  return m.consentAtRecording ?? m.consent ?? bad(what, 'consent of its source clip', null);
}

/** `<dataDir>/fetched/<kind>-<id>`: marks an item fetched from another kit (its content: that kit's id). */
function fetchedMarker(dataDir: string, ref: ContentRef): string {
  return path.join(dataDir, 'fetched', `${ref.kind}-${ref.id}`);
}

/** Whether this kit fetched the item from another kit (a raw clip fetched before the markers: its stop reason says so). */
export function isFetched(dataDir: string, catalogue: Catalogue, ref: ContentRef): boolean {
  return existsSync(fetchedMarker(dataDir, ref)) || (ref.kind === 'clip' && catalogue.getClip(ref.id)?.stopReason === 'fetched');
}

/** Whether the item was fetched here before and is gone since (erased by retention or deleted): it is not fetched again. */
export function erasedHere(dataDir: string, ref: ContentRef, present: boolean): boolean {
  return !present && existsSync(fetchedMarker(dataDir, ref));
}

/** Bytes of fetched fragments and kept stills on the card (they count against the fetch budget). */
export function fetchedKeptBytes(dataDir: string, catalogue: Catalogue): number {
  const ledger = catalogue.reviewLedger;
  let n = 0;
  for (const f of ledger.allFragments()) if (existsSync(fetchedMarker(dataDir, { kind: 'fragment', id: f.id }))) n += f.bytes;
  for (const s of ledger.allKeptStills()) if (existsSync(fetchedMarker(dataDir, { kind: 'still', id: s.id }))) n += s.bytes;
  return n;
}

/** Marks an item fetched (durably, once the catalogue has it: a marker without a row then means erased here since). */
export function markFetched(dataDir: string, ref: ContentRef, fromKit: string, version?: number): void {
  const file = fetchedMarker(dataDir, ref);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileDurableSync(file, version === undefined ? `${fromKit}\n` : `${fromKit}\n${version}\n`);
}

/**
 * The kit whose bucket holds a fetched fragment's, kept still's or review's current object: the kit it came
 * from, while it is the version fetched (not changed here since); null for an item of this kit's own
 * or one changed here (this kit uploads that version under its own name).
 */
export function heldElsewhere(dataDir: string, catalogue: Catalogue, ref: ContentRef): string | null {
  if (ref.kind === 'clip') return null;
  const file = fetchedMarker(dataDir, ref);
  if (!existsSync(file)) return null;
  const [kit, version] = readFileSync(file, 'utf8').split('\n');
  const ledger = catalogue.reviewLedger;
  const row = ref.kind === 'fragment' ? ledger.fragment(ref.id) : ref.kind === 'still' ? ledger.keptStill(ref.id) : ledger.review(ref.id);
  return kit && row && version !== undefined && version !== '' && Number(version) === row.updatedAt ? kit : null;
}

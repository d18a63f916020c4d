import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import {
  decryptWith,
  deriveKek,
  encryptTo,
  generateIdentity,
  hmacHex,
  recipientOf,
  sealWithKek,
  unsealWithKek,
  type Kek,
  type SealedSecret,
} from './crypto.js';
import { fsyncDir, writeFileDurableSync } from './durable.js';
import { CLIP_ID_PATTERN } from '../core/media.js';

export interface KeyStoreOptions {
  dataDir: string;
  orgRecipient: string | null;
  /** Only the sim profile may make a demo organisation identity (beside the data dir). */
  allowDemoOrg: boolean;
  logger: Logger;
  /** The trainer a one-PIN kit is (and a migrated kit becomes); default `T-001`. */
  defaultTrainerId?: string;
  /**
   * The other kits of a trainer and the recipient of their inbox there (the office directory,
   * issue 20): a content key made or granted for the trainer is also sealed to each, in
   * `outbox/<T>/<kit>/<kind>-<id>.key.age`, which sync uploads. Default: none.
   */
  outboxRecipients?: (trainerId: string) => { kitId: string; recipient: string }[];
}

/** Where the kit keeps the content keys it sends to a trainer's other kits until sync uploads them. */
export function outboxDir(dataDir: string): string {
  return path.join(dataDir, 'outbox');
}

/** Where the sim profile keeps its demo organisation identity: beside the data dir, never in it. */
export function demoOrgKeyPath(dataDir: string): string {
  return path.join(path.dirname(dataDir), `${path.basename(dataDir)}-demo-org.key`);
}

/** What a content key protects: a raw clip, a fragment, a kept still or a review. */
export type ContentKind = 'clip' | 'fragment' | 'still' | 'review';
export interface ContentRef {
  kind: ContentKind;
  id: string;
}

export const CONTENT_KINDS: readonly ContentKind[] = ['clip', 'fragment', 'still', 'review'];
const KIND_DIR: Record<ContentKind, string> = { clip: 'clips', fragment: 'fragments', still: 'stills', review: 'reviews' };

/** Content ids are opaque (a clip id's shape): time in base 36 + random hex. */
export const CONTENT_ID_PATTERN = CLIP_ID_PATTERN;
/** Trainer ids are pseudonymous, never names: `T-017`. */
export const TRAINER_ID_PATTERN = /^T-[0-9]{3,6}$/;
export const DEFAULT_TRAINER_ID = 'T-001';
/** A new trainer PIN: 6 to 12 digits. A kit migrated from a 4-digit PIN keeps it until it is changed. */
export const NEW_PIN_PATTERN = /^[0-9]{6,12}$/;

/** Refuses a new PIN shorter than 6 digits, naming the field (not the value: it is a secret). */
export function checkNewPin(pin: string, field: string): string {
  if (typeof pin !== 'string' || !NEW_PIN_PATTERN.test(pin)) {
    const got = typeof pin === 'string' ? `${pin.length} characters${/^[0-9]*$/.test(pin) ? '' : ', not all digits'}` : typeof pin;
    throw new AppError('VALIDATION', `${field}: a new trainer PIN has 6 to 12 digits (got ${got})`, { field });
  }
  return pin;
}

export function checkTrainerId(trainerId: string, field = 'trainerId'): string {
  if (typeof trainerId !== 'string' || !TRAINER_ID_PATTERN.test(trainerId)) {
    throw new AppError('VALIDATION', `${field}: trainer id ${JSON.stringify(trainerId)?.slice(0, 40)} is not like T-017 (T- and 3 to 6 digits)`, { field });
  }
  return trainerId;
}

function checkContentRef(ref: ContentRef): ContentRef {
  if (!CONTENT_KINDS.includes(ref.kind)) {
    throw new AppError('VALIDATION', `content kind ${JSON.stringify(ref.kind)} is not one of ${CONTENT_KINDS.join(', ')}`, { field: 'kind' });
  }
  if (typeof ref.id !== 'string' || !CONTENT_ID_PATTERN.test(ref.id)) {
    throw new AppError('VALIDATION', `${ref.kind} id ${JSON.stringify(ref.id)?.slice(0, 40)} is not a valid ${ref.kind} id`, { field: 'id' });
  }
  return ref;
}

const refName = (ref: ContentRef): string => `${ref.kind} ${ref.id}`;

/**
 * keys/<kind>s/<id>.json: a content key's public recipient and its identity wrapped (age) to each
 * entitled trainer's kit-local wrapping recipient, one ciphertext per trainer so that one trainer's
 * rotation rewrites only that trainer's entry. Format 1 (before issue 13; clips only) had one
 * `wrapped` to the kit master, which is now the default trainer's wrapping key.
 */
interface ContentKeyFile {
  v: 2;
  kind: ContentKind;
  id: string;
  recipient: string;
  /** trainer id → age ciphertext (base64) of the content identity, to that trainer's wrapping recipient. */
  wraps: Record<string, string>;
}
interface LegacyClipKeyFile {
  v: 1;
  recipient: string;
  wrapped: string;
}

/** keys/trainers/<id>.json: a trainer's kit-local wrapping identity, sealed by that trainer's PIN. */
interface TrainerFile {
  v: 2;
  trainerId: string;
  recipient: string;
  sealed: SealedSecret;
}
interface LegacyMasterFile {
  v: 1;
  recipient: string;
  sealed: SealedSecret;
}

interface Unlocked {
  trainerId: string;
  identity: string;
  kek: Kek;
  recipient: string;
  /** During this trainer's rotation: the next identity, so reads keep working half-way. */
  next: string | null;
}

/**
 * The kit's keys (docs/design/keys-layout-retention.md, "Key hierarchy").
 * - The organisation's recipient (config); the kit never holds its secret. Every object is
 *   encrypted to it as well.
 * - A content key (age X25519 identity) per clip, fragment, kept still and review: its data is
 *   encrypted to [organisation, content recipient], so recording needs only public keys and works
 *   while the kit is locked.
 * - Per trainer a kit-local wrapping key, its secret sealed by that trainer's PIN (scrypt +
 *   AES-GCM); each content key is wrapped to every trainer entitled to it.
 * - Deleting a content key marks every trainer whose wrapping key wrapped it for rotation: the
 *   trainer who is logged in rotates at once, the others at their next login (until then the erase
 *   is pending for them; removing that trainer from the kit completes it without a PIN).
 * - Every key change runs through one queue (`serial`): rotating, changing a PIN, adding or
 *   removing a trainer, destroying, granting or narrowing a key never interleave. Making a content
 *   key commits with one synchronous check-and-write against the rotation state instead of waiting
 *   behind a rotation (see createContentKey), so a rotation still includes every key that exists
 *   when it finishes, and a take's key is not held up by it.
 */
export class KeyStore {
  private orgRecipientValue: string | null = null;
  private session: Unlocked | null = null;
  private readonly identities = new Map<string, string>();
  /** Public recipients of content keys, so that persisting a segment does not read the key file. */
  private readonly recipients = new Map<string, string>();
  private readonly dir: string;
  private readonly trainersDir: string;
  private readonly rotateDir: string;
  private readonly inboxDir: string;
  private readonly defaultTrainer: string;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly unlockListeners: ((trainerId: string) => void)[] = [];
  private migrated = false;

  constructor(private readonly opts: KeyStoreOptions) {
    this.dir = path.join(opts.dataDir, 'keys');
    this.trainersDir = path.join(this.dir, 'trainers');
    this.rotateDir = path.join(this.dir, 'rotate');
    this.inboxDir = path.join(this.dir, 'inbox');
    this.defaultTrainer = checkTrainerId(opts.defaultTrainerId ?? DEFAULT_TRAINER_ID, 'defaultTrainerId');
  }

  get orgRecipient(): string | null {
    return this.orgRecipientValue;
  }

  /** Whether any trainer has a wrapping key on this kit (the kit is enrolled or has a PIN). */
  get hasMaster(): boolean {
    return this.trainerIds().length > 0;
  }

  /** The trainer a login without a trainer id is (a one-PIN kit's, and a migrated kit's): `T-001`. */
  get defaultTrainerId(): string {
    return this.defaultTrainer;
  }

  /** Whether this trainer has a wrapping key on this kit. */
  hasTrainer(trainerId: string): boolean {
    return TRAINER_ID_PATTERN.test(trainerId) && existsSync(this.trainerPath(trainerId));
  }

  get unlocked(): boolean {
    return this.session !== null;
  }

  /** The trainer whose wrapping key is in RAM, or null while locked. */
  get unlockedTrainer(): string | null {
    return this.session?.trainerId ?? null;
  }

  /** The trainers with a wrapping key on this kit, sorted. */
  trainerIds(): string[] {
    this.migrate();
    if (!existsSync(this.trainersDir)) return [];
    return readdirSync(this.trainersDir)
      .filter((n) => n.endsWith('.json') && !n.endsWith('.next.json'))
      .map((n) => n.slice(0, -'.json'.length))
      .filter((id) => TRAINER_ID_PATTERN.test(id))
      .sort();
  }

  /** Trainers whose wrapping key must still rotate after a deletion (the erase is pending for them). */
  pendingRotations(): string[] {
    if (!existsSync(this.rotateDir)) return [];
    return readdirSync(this.rotateDir)
      .filter((n) => TRAINER_ID_PATTERN.test(n))
      .sort();
  }

  /** Loads or makes the keys. `initialPin` (auth.pin, unenrolled kits) makes the default trainer when there is none. */
  async start(initialPin: string | null): Promise<void> {
    for (const kind of CONTENT_KINDS) mkdirSync(path.join(this.dir, KIND_DIR[kind]), { recursive: true, mode: 0o700 });
    this.migrate();
    this.orgRecipientValue = this.opts.orgRecipient ?? (await this.demoOrgRecipient());
    if (!this.hasMaster) {
      if (initialPin) {
        if (!NEW_PIN_PATTERN.test(initialPin))
          this.opts.logger.warn('auth.pin has fewer than 6 digits: fine for development, but enrol real kits with a PIN of 6 to 12 digits');
        await this.addTrainer(this.defaultTrainer, initialPin, { allowShortPin: true });
        this.opts.logger.info('made the trainer wrapping key (sealed by the trainer PIN)', { trainer: this.defaultTrainer });
      } else {
        this.opts.logger.warn('no trainer PIN and no enrolment: clips recorded now can be played only at the office');
      }
    }
  }

  /** Makes the default trainer's wrapping key (enrolment). Refuses when the kit has one: change the PIN instead. */
  async createMaster(pin: string): Promise<void> {
    if (this.hasMaster) throw new AppError('CONFLICT', 'the kit already has a trainer key; change the PIN instead');
    await this.addTrainer(this.defaultTrainer, pin);
  }

  /**
   * Adds a trainer: a new wrapping key sealed by their PIN (6 to 12 digits). They are entitled to
   * no existing content until it is granted to them (`grant`); new content keys include them.
   */
  async addTrainer(trainerId: string, pin: string, opts: { allowShortPin?: boolean } = {}): Promise<void> {
    checkTrainerId(trainerId);
    if (!opts.allowShortPin) checkNewPin(pin, 'pin');
    else if (!/^[0-9]{4,12}$/.test(pin)) throw new AppError('VALIDATION', `pin: 4 to 12 digits (got ${pin.length} characters)`, { field: 'pin' });
    const kek = await deriveKek(pin);
    await this.serial(async () => {
      if (existsSync(this.trainerPath(trainerId))) throw new AppError('CONFLICT', `trainer ${trainerId} has a key on this kit already`, { field: 'trainerId' });
      const { identity, recipient } = await generateIdentity();
      await this.writeInbox(trainerId, kek);
      this.writeTrainer(this.trainerPath(trainerId), { v: 2, trainerId, recipient, sealed: sealWithKek(identity, kek) });
    });
  }

  /**
   * The public recipient of a trainer's inbox key I(T, this kit) (issue 20): other kits encrypt the
   * content keys they send T here to it (`<kit>/outbox/T/<this kit>/…`); the office publishes it in
   * the directory. Null when T has none yet (a migrated trainer gets one at their next sign-in).
   */
  inboxRecipient(trainerId: string): string | null {
    const f = this.inboxPath(checkTrainerId(trainerId));
    return existsSync(f) ? this.readTrainerFile(f).recipient : null;
  }

  /** The signed-in trainer's inbox identity (to open what other kits sent them); 423 while locked. */
  inboxIdentity(): string {
    const s = this.session;
    if (!s) throw new AppError('LOCKED', 'the kit is locked: a trainer must sign in to open their inbox (de kit is vergrendeld)');
    const f = this.inboxPath(s.trainerId);
    const id = existsSync(f) ? unsealWithKek(this.readTrainerFile(f).sealed, s.kek) : null;
    if (id === null) throw new AppError('NOT_FOUND', `trainer ${s.trainerId} has no inbox key on this kit (sign in again)`, { field: 'trainerId' });
    return id;
  }

  /**
   * Takes a content key received from another kit (opened from the signed-in trainer's inbox) and
   * wraps it to that trainer's wrapping key: from then on it is like a key made here. Refuses an
   * identity that does not match a key already on the kit.
   */
  async importContentKey(ref: ContentRef, identity: string): Promise<void> {
    checkContentRef(ref);
    const s = this.session;
    if (!s) throw new AppError('LOCKED', 'the kit is locked: a trainer must sign in to import keys');
    const recipient = await recipientOf(identity);
    await this.serial(async () => {
      const cur = this.session;
      if (!cur) throw new AppError('LOCKED', 'the kit locked while a key was imported');
      const data = this.readContentKey(ref) ?? { v: 2 as const, kind: ref.kind, id: ref.id, recipient, wraps: {} };
      if (data.recipient !== recipient) throw new AppError('CONFLICT', `${refName(ref)}: the received key does not match the key on this kit`, { field: 'id' });
      if (cur.trainerId in data.wraps) return;
      const wraps = { ...data.wraps, [cur.trainerId]: await this.wrapTo(cur.recipient, identity) };
      writeFileDurableSync(this.contentPath(ref), JSON.stringify({ ...data, wraps }));
      this.recipients.set(this.cacheKey(ref), recipient);
    });
  }

  /**
   * Removes a trainer from the kit: their sealed wrapping key and their wraps in every content key
   * go, so what is left on the kit plus their PIN opens nothing. Content keys nobody else is
   * entitled to are destroyed (the organisation still holds what was uploaded). No PIN needed:
   * this is how the office completes an erase that is pending for a trainer who does not log in.
   */
  async removeTrainer(trainerId: string): Promise<{ destroyed: ContentRef[] }> {
    checkTrainerId(trainerId);
    return this.serial(async () => {
      if (!existsSync(this.trainerPath(trainerId))) throw new AppError('NOT_FOUND', `trainer ${trainerId} has no key on this kit`, { field: 'trainerId' });
      const destroyed: ContentRef[] = [];
      for (const { ref, file, data } of this.allContentKeys()) {
        if (!(trainerId in data.wraps)) continue;
        const { [trainerId]: _gone, ...wraps } = data.wraps;
        if (Object.keys(wraps).length === 0) {
          rmSync(file, { force: true });
          this.forget(ref);
          destroyed.push(ref);
        } else {
          writeFileDurableSync(file, JSON.stringify({ ...data, wraps }));
        }
      }
      this.dropOrgSecretWraps(trainerId);
      rmSync(this.trainerPath(trainerId), { force: true });
      rmSync(this.trainerPath(trainerId, true), { force: true });
      rmSync(path.join(this.rotateDir, trainerId), { force: true });
      rmSync(this.inboxPath(trainerId), { force: true });
      fsyncDir(this.trainersDir);
      if (this.session?.trainerId === trainerId) this.lock();
      this.opts.logger.info('removed a trainer key from the kit', { trainer: trainerId, contentKeysDestroyed: destroyed.length });
      return { destroyed };
    });
  }

  /** Recipients a clip's segments are encrypted to: the organisation and the clip's own key. */
  recipientsFor(clipId: string): string[] {
    return this.recipientsOf({ kind: 'clip', id: clipId });
  }

  /** Recipients content is encrypted to: the organisation and, when it has one, the content key. */
  recipientsOf(ref: ContentRef): string[] {
    const org = this.requireOrgRecipient();
    const k = this.cacheKey(ref);
    let recipient = this.recipients.get(k);
    if (recipient === undefined) {
      const data = this.readContentKey(ref);
      if (!data) return [org];
      recipient = data.recipient;
      this.recipients.set(k, recipient);
    }
    return [org, recipient];
  }

  requireOrgRecipient(): string {
    if (!this.orgRecipientValue) {
      throw new AppError('NOT_CONFIGURED', 'no organisation recipient: set keys.orgRecipient (VHT_KIT_ORG_RECIPIENT) or enrol the kit (vht-kit enrol)', {
        field: 'keys.orgRecipient',
      });
    }
    return this.orgRecipientValue;
  }

  /** Makes the clip's playback key (works while locked: it needs only public keys). */
  async createClipKey(clipId: string): Promise<string | null> {
    return this.createContentKey({ kind: 'clip', id: clipId });
  }

  /**
   * The kit's holder: the trainer who signed in last (the kit is checked out to them). A take made
   * while the kit is locked (the button) is theirs; null before anyone signed in.
   */
  holder(): string | null {
    const f = path.join(this.dir, 'holder');
    if (!existsSync(f)) return null;
    const id = readFileSync(f, 'utf8').trim();
    return TRAINER_ID_PATTERN.test(id) && existsSync(this.trainerPath(id)) ? id : null;
  }

  /**
   * Makes a content key wrapped to `trainers` (default: the kit's holder — a button take made while
   * locked is theirs — or every trainer on the kit before anyone signed in). Returns its recipient,
   * or null when the kit has no trainer (then only the organisation can read the content).
   *
   * It does not wait behind a running rotation (a take's first segments wait for this key in RAM):
   * it wraps to each trainer's *effective* wrapping key — the next one while that trainer's rotation
   * runs — and commits with one synchronous check-and-write, so no other key change can come in
   * between. A key committed before a rotation wrote its next key is on disk when the rotation
   * lists the keys and is re-wrapped; one committed after is wrapped to the next key already.
   */
  async createContentKey(ref: ContentRef, opts: { trainers?: string[] } = {}): Promise<string | null> {
    checkContentRef(ref);
    const { identity, recipient } = await generateIdentity();
    for (let attempt = 0; ; attempt++) {
      const existing = this.readContentKey(ref);
      if (existing) return existing.recipient; // made already (idempotent)
      const targets = this.wrapTargets(opts.trainers);
      if (targets.length === 0) return null;
      const wraps: Record<string, string> = {};
      for (const [t, r] of targets) wraps[t] = await this.wrapTo(r, identity);
      // Commit only if no trainer's effective key changed during the awaits (no await from here on).
      const now = this.wrapTargets(opts.trainers);
      if (now.length === targets.length && now.every(([t, r], i) => targets[i]![0] === t && targets[i]![1] === r)) {
        if (this.readContentKey(ref)) continue;
        const file: ContentKeyFile = { v: 2, kind: ref.kind, id: ref.id, recipient, wraps };
        writeFileDurableSync(this.contentPath(ref), JSON.stringify(file));
        this.recipients.set(this.cacheKey(ref), recipient);
        await this.sendToOtherKits(ref, identity, Object.keys(wraps));
        return recipient;
      }
      if (attempt >= 20) throw new AppError('INTERNAL', `the key of ${refName(ref)} could not be committed: the trainers' keys kept changing`);
    }
  }

  /** [trainer, effective wrapping recipient] for a new content key: the next key while a rotation runs. */
  private wrapTargets(requested: string[] | undefined): [string, string][] {
    const holder = this.holder();
    const onKit = new Set(this.trainerIds());
    const trainers = (requested ?? (holder ? [holder] : [...onKit])).filter((t) => onKit.has(t));
    return trainers.map((t) => {
      const next = this.trainerPath(t, true);
      return [t, existsSync(next) ? this.readTrainerFile(next).recipient : this.readTrainer(t).recipient];
    });
  }

  hasClipKey(clipId: string): boolean {
    return this.hasContentKey({ kind: 'clip', id: clipId });
  }

  hasContentKey(ref: ContentRef): boolean {
    return existsSync(this.contentPath(checkContentRef(ref)));
  }

  /** The trainers a content key is wrapped to. */
  entitled(ref: ContentRef): string[] {
    return Object.keys(this.readContentKey(ref)?.wraps ?? {}).sort();
  }

  /** Checks a PIN against a trainer's sealed key without unlocking. */
  async verifyPin(pin: string, trainerId = this.defaultTrainer): Promise<boolean> {
    const f = this.trainerPath(checkTrainerId(trainerId));
    if (!this.hasMaster || !existsSync(f)) return false;
    const t = this.readTrainerFile(f);
    return unsealWithKek(t.sealed, await deriveKek(pin, t.sealed)) !== null;
  }

  /**
   * Unseals a trainer's wrapping key into RAM (the slow scrypt runs outside the queue); false when
   * the PIN does not open it. Finishes that trainer's pending rotation (after deletions made while
   * they were not logged in, or a rotation cut short by a crash).
   */
  async unlock(pin: string, trainerId = this.defaultTrainer): Promise<boolean> {
    const f = this.trainerPath(checkTrainerId(trainerId));
    if (!this.hasMaster || !existsSync(f)) {
      // As slow as a real check, so that the answer's time does not tell which trainer ids exist.
      await deriveKek(pin);
      return false;
    }
    const params = this.readTrainerFile(f).sealed;
    let kek = await deriveKek(pin, params);
    const ok = await this.serial(async () => {
      if (!existsSync(f)) return false;
      const t = this.readTrainerFile(f);
      if (t.sealed.salt !== kek.salt) kek = await deriveKek(pin, t.sealed); // the PIN changed meanwhile
      const identity = unsealWithKek(t.sealed, kek);
      if (identity === null) return false;
      if (this.session?.trainerId !== trainerId) this.identities.clear();
      this.session = { trainerId, identity, kek, recipient: t.recipient, next: null };
      if (!existsSync(this.inboxPath(trainerId))) await this.writeInbox(trainerId, kek);
      if (this.holder() !== trainerId) writeFileDurableSync(path.join(this.dir, 'holder'), `${trainerId}\n`);
      if (existsSync(this.trainerPath(trainerId, true)) || existsSync(path.join(this.rotateDir, trainerId))) {
        await this.rotateUnlocked();
      }
      return true;
    });
    if (ok) for (const fn of this.unlockListeners) fn(trainerId);
    return ok;
  }

  lock(): void {
    this.session = null;
    this.identities.clear();
  }

  /** The clip's playback identity, or 423 Locked. */
  async clipIdentity(clipId: string): Promise<string> {
    return this.contentIdentity({ kind: 'clip', id: clipId });
  }

  /** A content key's identity for the logged-in trainer; 423 while locked, 403 when not entitled. */
  async contentIdentity(ref: ContentRef): Promise<string> {
    checkContentRef(ref);
    const s = this.session;
    if (!s) {
      throw new AppError('LOCKED', 'the kit is locked: log in with the trainer PIN to play clips (de kit is vergrendeld)');
    }
    const k = this.cacheKey(ref);
    const cached = this.identities.get(k);
    if (cached) return cached;
    const data = this.readContentKey(ref);
    if (!data) {
      throw new AppError(
        'NOT_FOUND',
        `${refName(ref)} has no playback key on this kit (recorded before enrolment, or deleted); it can be played at the office`,
      );
    }
    const wrapped = data.wraps[s.trainerId];
    if (wrapped === undefined) throw new AppError('FORBIDDEN', `${refName(ref)} is not shared with trainer ${s.trainerId} on this kit`);
    const identity = await this.unwrap(wrapped, s.next ? [s.identity, s.next] : [s.identity], ref);
    this.identities.set(k, identity);
    return identity;
  }

  /**
   * Wraps a content key to more trainers (a case's co-trainer; a button take assigned to a case).
   * The logged-in trainer must be entitled to it; the others need no PIN (public keys only).
   */
  async grant(ref: ContentRef, trainerIds: string[]): Promise<void> {
    checkContentRef(ref);
    for (const t of trainerIds) checkTrainerId(t, 'trainerIds');
    const identity = await this.contentIdentity(ref);
    await this.serial(async () => {
      const data = this.readContentKey(ref);
      if (!data) throw new AppError('NOT_FOUND', `${refName(ref)} has no key on this kit (deleted meanwhile)`, { field: 'id' });
      const wraps = { ...data.wraps };
      for (const t of trainerIds) if (!(t in wraps)) wraps[t] = await this.wrapTo(this.readTrainer(t).recipient, identity);
      writeFileDurableSync(this.contentPath(ref), JSON.stringify({ ...data, wraps }));
    });
    await this.sendToOtherKits(ref, identity, trainerIds);
  }

  /**
   * Narrows a content key to `keep` (a take assigned to a case whose trainers are fewer than the
   * kit's): the others' wraps go and their wrapping keys are marked for rotation, as for a deletion.
   */
  async narrow(ref: ContentRef, keep: string[]): Promise<'complete' | 'pending'> {
    checkContentRef(ref);
    return this.serial(async () => {
      const data = this.readContentKey(ref);
      if (!data) throw new AppError('NOT_FOUND', `${refName(ref)} has no key on this kit`, { field: 'id' });
      const dropped = Object.keys(data.wraps).filter((t) => !keep.includes(t));
      if (dropped.length === 0) return 'complete';
      const wraps = Object.fromEntries(Object.entries(data.wraps).filter(([t]) => keep.includes(t)));
      writeFileDurableSync(this.contentPath(ref), JSON.stringify({ ...data, wraps }));
      return this.markAndRotate(dropped);
    });
  }

  /** Destroys a clip's key (crypto-erase); see destroyContentKey. */
  async destroyClipKey(clipId: string): Promise<'complete' | 'pending'> {
    return this.destroyContentKey({ kind: 'clip', id: clipId });
  }

  /**
   * Destroys a content key (crypto-erase): the key file goes, and every trainer whose wrapping key
   * wrapped it is marked for rotation. The logged-in trainer rotates now; the erase is complete
   * when no affected trainer is left to rotate, else pending until their next login (or removal).
   */
  async destroyContentKey(ref: ContentRef): Promise<'complete' | 'pending'> {
    checkContentRef(ref);
    return this.serial(async () => {
      const data = this.readContentKey(ref);
      rmSync(this.contentPath(ref), { force: true });
      fsyncDir(path.dirname(this.contentPath(ref)));
      this.forget(ref);
      if (!data) return 'complete';
      return this.markAndRotate(Object.keys(data.wraps));
    });
  }

  /** Re-seals a trainer's wrapping key with a new PIN (6 to 12 digits). A wrong current PIN changes nothing. */
  async changePin(current: string, next: string, trainerId = this.defaultTrainer): Promise<boolean> {
    checkNewPin(next, 'new PIN');
    const f = this.trainerPath(checkTrainerId(trainerId));
    if (!this.hasMaster || !existsSync(f)) return false;
    const oldKek = await deriveKek(current, this.readTrainerFile(f).sealed);
    const newKek = await deriveKek(next);
    return this.serial(async () => {
      const t = this.readTrainerFile(f);
      const kek = t.sealed.salt === oldKek.salt ? oldKek : await deriveKek(current, t.sealed);
      const identity = unsealWithKek(t.sealed, kek);
      if (identity === null) return false;
      // A rotation cut short by a crash left the next key sealed by the old PIN: re-seal it too.
      const nextFile = this.trainerPath(trainerId, true);
      if (existsSync(nextFile)) {
        const n = this.readTrainerFile(nextFile);
        const nextIdentity = unsealWithKek(n.sealed, kek);
        if (nextIdentity !== null) this.writeTrainer(nextFile, { ...n, sealed: sealWithKek(nextIdentity, newKek) });
      }
      const inbox = this.inboxPath(trainerId);
      const inboxId = existsSync(inbox) ? unsealWithKek(this.readTrainerFile(inbox).sealed, kek) : null;
      if (inboxId !== null) writeFileDurableSync(inbox, JSON.stringify({ ...this.readTrainerFile(inbox), sealed: sealWithKek(inboxId, newKek) }));
      this.writeTrainer(f, { ...t, sealed: sealWithKek(identity, newKek) });
      if (this.session?.trainerId === trainerId) this.session = { ...this.session, kek: newKek };
      return true;
    });
  }

  /** Rotates the logged-in trainer's wrapping key now (queued); 423 while locked. */
  async rotate(): Promise<void> {
    if (!this.session) throw new AppError('LOCKED', 'the kit is locked: a trainer must log in to rotate their key');
    await this.serial(() => this.rotateUnlocked());
  }

  // --- internals: everything below runs inside the queue unless it only reads ---

  /** Runs a key change after every earlier one (one queue for all key changes of the kit). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch((err: unknown) => {
      this.opts.logger.debug('a key change failed (the queue goes on)', { error: (err as Error).message });
    });
    return run;
  }

  // --- issue 21: organisation secrets (the case-tag key), wrapped like a content key to each trainer ---

  /** Calls fn after each successful sign-in (the case tagger computes tags then). */
  onUnlock(fn: (trainerId: string) => void): void {
    this.unlockListeners.push(fn);
  }

  private orgSecretPath(name: string): string {
    if (!/^[a-z][a-z0-9-]{0,31}$/.test(name))
      throw new AppError('VALIDATION', `organisation secret name ${JSON.stringify(name)} is not [a-z0-9-]`, { field: 'name' });
    return path.join(this.dir, 'org', `${name}.json`);
  }

  /** Whether the kit holds this organisation secret (wrapped; opening it needs a signed-in trainer). */
  hasOrgSecret(name: string): boolean {
    return existsSync(this.orgSecretPath(name));
  }

  /**
   * Wraps an organisation secret to every trainer on the kit (public keys only) and keeps it. The
   * file keeps a check value of the secret (HMAC under the secret itself: it tells nothing of it),
   * so a different secret under the same name is refused unless `replace` says so: an office that
   * hands a kit another key file would otherwise change, say, every case tag the kit writes.
   */
  async storeOrgSecret(name: string, secret: string, opts: { replace?: boolean } = {}): Promise<void> {
    const file = this.orgSecretPath(name);
    const check = hmacHex(Buffer.from(secret, 'utf8'), `vht-kit org secret check ${name}`);
    await this.serial(async () => {
      if (!opts.replace && existsSync(file)) {
        const old = JSON.parse(readFileSync(file, 'utf8')) as { check?: string };
        if (old.check !== undefined && old.check !== check)
          throw new AppError('CONFLICT', `the ${name} key given is not the one this kit holds (its check value differs); nothing was changed`, { field: name });
      }
      const wraps: Record<string, string> = {};
      for (const [t, r] of this.wrapTargets(this.trainerIds())) wraps[t] = await this.wrapTo(r, secret);
      if (Object.keys(wraps).length === 0)
        throw new AppError('NOT_CONFIGURED', `no trainer on this kit to wrap the ${name} key to: enrol first`, { field: name });
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      writeFileDurableSync(file, JSON.stringify({ v: 1, name, check, wraps }));
    });
  }

  /** The organisation secret for the signed-in trainer (wrapped to trainers who lack it then); null when absent; 423 while locked. */
  async orgSecret(name: string): Promise<string | null> {
    const file = this.orgSecretPath(name);
    if (!existsSync(file)) return null;
    const s = this.session;
    if (!s) throw new AppError('LOCKED', `the kit is locked: the ${name} key opens only while a trainer is signed in`);
    const data = JSON.parse(readFileSync(file, 'utf8')) as { v: 1; name: string; wraps: Record<string, string> };
    const wrapped = data.wraps[s.trainerId];
    if (wrapped === undefined) throw new AppError('FORBIDDEN', `the ${name} key is not wrapped to trainer ${s.trainerId} on this kit`, { field: name });
    const ref: ContentRef = { kind: 'clip', id: name };
    const secret = await this.unwrap(wrapped, s.next ? [s.identity, s.next] : [s.identity], ref);
    const missing = this.trainerIds().filter((t) => !(t in data.wraps));
    if (missing.length) await this.storeOrgSecret(name, secret);
    return secret;
  }

  /** A removed trainer's wraps of organisation secrets go (inside the queue); a secret wrapped to nobody else goes with them. */
  private dropOrgSecretWraps(trainerId: string): void {
    const dir = path.join(this.dir, 'org');
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      if (!name.endsWith('.json') || name.startsWith('.tmp-')) continue;
      const file = path.join(dir, name);
      const data = JSON.parse(readFileSync(file, 'utf8')) as { v: 1; name: string; wraps: Record<string, string> };
      if (!(trainerId in data.wraps)) continue;
      const { [trainerId]: _gone, ...wraps } = data.wraps;
      if (Object.keys(wraps).length === 0) rmSync(file, { force: true });
      else writeFileDurableSync(file, JSON.stringify({ ...data, wraps }));
    }
  }

  /** A rotation re-wraps the trainer's wraps of organisation secrets too (inside the queue). */
  private async rewrapOrgSecrets(trainerId: string, identities: string[], recipient: string): Promise<void> {
    const dir = path.join(this.dir, 'org');
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      if (!name.endsWith('.json') || name.startsWith('.tmp-')) continue;
      const file = path.join(dir, name);
      const data = JSON.parse(readFileSync(file, 'utf8')) as { v: 1; name: string; wraps: Record<string, string> };
      const wrapped = data.wraps[trainerId];
      if (wrapped === undefined) continue;
      const secret = await this.unwrap(wrapped, identities, { kind: 'clip', id: data.name });
      writeFileDurableSync(file, JSON.stringify({ ...data, wraps: { ...data.wraps, [trainerId]: await this.wrapTo(recipient, secret) } }));
    }
  }

  private async markAndRotate(trainers: string[]): Promise<'complete' | 'pending'> {
    const onKit = new Set(this.trainerIds());
    const affected = trainers.filter((t) => onKit.has(t));
    for (const t of affected) writeFileDurableSync(path.join(this.rotateDir, t), 'rotate at the next login\n');
    if (this.session && affected.includes(this.session.trainerId)) await this.rotateUnlocked();
    return affected.some((t) => existsSync(path.join(this.rotateDir, t))) ? 'pending' : 'complete';
  }

  /**
   * New wrapping key for the logged-in trainer; each of their wraps re-wrapped to it; then the old
   * key is replaced. Runs inside the queue, so no content key appears or changes meanwhile. A crash
   * half-way leaves <trainer>.next.json, and their next unlock finishes with both identities.
   */
  private async rotateUnlocked(): Promise<void> {
    const s = this.session;
    if (!s) return;
    const nextFile = this.trainerPath(s.trainerId, true);
    let next: { identity: string; recipient: string };
    if (existsSync(nextFile)) {
      const n = this.readTrainerFile(nextFile);
      const id = unsealWithKek(n.sealed, s.kek);
      if (id === null) throw new AppError('INTERNAL', `an unfinished key rotation of trainer ${s.trainerId} cannot be opened with this PIN`);
      next = { identity: id, recipient: n.recipient };
    } else {
      next = await generateIdentity();
      this.writeTrainer(nextFile, { v: 2, trainerId: s.trainerId, recipient: next.recipient, sealed: sealWithKek(next.identity, s.kek) });
    }
    s.next = next.identity;
    let rewrapped = 0;
    for (const { ref, file, data } of this.allContentKeys()) {
      const wrapped = data.wraps[s.trainerId];
      if (wrapped === undefined) continue;
      const identity = await this.unwrap(wrapped, [s.identity, next.identity], ref);
      const wraps = { ...data.wraps, [s.trainerId]: await this.wrapTo(next.recipient, identity) };
      writeFileDurableSync(file, JSON.stringify({ ...data, wraps }));
      rewrapped += 1;
      // age runs synchronously (node:crypto): let the service breathe between keys (HTTP, the
      // recorder, a take's key) instead of holding the event loop for the whole rotation.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await this.rewrapOrgSecrets(s.trainerId, [s.identity, next.identity], next.recipient);
    renameSync(nextFile, this.trainerPath(s.trainerId));
    fsyncDir(this.trainersDir);
    rmSync(path.join(this.rotateDir, s.trainerId), { force: true });
    this.session = { trainerId: s.trainerId, identity: next.identity, kek: s.kek, recipient: next.recipient, next: null };
    this.identities.clear();
    this.opts.logger.info('rotated a trainer wrapping key', { trainer: s.trainerId, contentKeys: rewrapped });
  }

  private *allContentKeys(): Generator<{ ref: ContentRef; file: string; data: ContentKeyFile }> {
    for (const kind of CONTENT_KINDS) {
      const dir = path.join(this.dir, KIND_DIR[kind]);
      if (!existsSync(dir)) continue;
      for (const name of readdirSync(dir)) {
        if (!name.endsWith('.json') || name.startsWith('.tmp-')) continue;
        const ref = { kind, id: name.slice(0, -'.json'.length) };
        if (!CONTENT_ID_PATTERN.test(ref.id)) continue;
        const data = this.readContentKey(ref);
        if (data) yield { ref, file: path.join(dir, name), data };
      }
    }
  }

  private readContentKey(ref: ContentRef): ContentKeyFile | null {
    const f = this.contentPath(ref);
    let raw: ContentKeyFile | LegacyClipKeyFile;
    try {
      raw = JSON.parse(readFileSync(f, 'utf8')) as ContentKeyFile | LegacyClipKeyFile;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new AppError('INTERNAL', `the key file of ${refName(ref)} (${f}) cannot be read: ${(err as Error).message}`, { cause: err });
    }
    if (raw.v === 1) return { v: 2, kind: ref.kind, id: ref.id, recipient: raw.recipient, wraps: { [this.defaultTrainer]: raw.wrapped } };
    return raw;
  }

  private async wrapTo(recipient: string, identity: string): Promise<string> {
    return Buffer.from(await encryptTo([recipient], identity)).toString('base64');
  }

  private async unwrap(wrapped: string, identities: string[], ref: ContentRef): Promise<string> {
    try {
      return Buffer.from(await decryptWith(identities, Buffer.from(wrapped, 'base64'), `the key of ${refName(ref)}`)).toString('utf8');
    } catch (err) {
      throw new AppError('INTERNAL', `the key of ${refName(ref)} cannot be unwrapped: ${(err as Error).message}`, { cause: err });
    }
  }

  private forget(ref: ContentRef): void {
    this.identities.delete(this.cacheKey(ref));
    this.recipients.delete(this.cacheKey(ref));
  }

  private cacheKey(ref: ContentRef): string {
    return `${ref.kind}/${ref.id}`;
  }

  private contentPath(ref: ContentRef): string {
    checkContentRef(ref);
    return path.join(this.dir, KIND_DIR[ref.kind], `${ref.id}.json`);
  }

  private trainerPath(trainerId: string, next = false): string {
    return path.join(this.trainersDir, `${trainerId}${next ? '.next' : ''}.json`);
  }

  /**
   * Seals a content key to each trainer's inbox on their other kits (public keys only: works
   * locked) as `outbox/<T>/<kit>/<kind>-<id>.key.age`; sync uploads them. A failure to write one is
   * logged, not thrown: the key stays on this kit and a grant sends it again.
   */
  private async sendToOtherKits(ref: ContentRef, identity: string, trainers: string[]): Promise<void> {
    const targets = this.opts.outboxRecipients;
    if (!targets) return;
    for (const t of trainers) {
      for (const { kitId, recipient } of targets(t)) {
        const file = path.join(outboxDir(this.opts.dataDir), t, kitId, `${ref.kind}-${ref.id}.key.age`);
        try {
          mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
          writeFileDurableSync(file, Buffer.from(await encryptTo([recipient], identity)));
        } catch (err) {
          this.opts.logger.warn('a content key could not be put in the outbox', { trainer: t, kit: kitId, [ref.kind]: ref.id, error: (err as Error).message });
        }
      }
    }
  }

  private inboxPath(trainerId: string): string {
    return path.join(this.inboxDir, `${trainerId}.json`);
  }

  /** keys/inbox/<T>.json: a new inbox identity sealed by the trainer's PIN (the same KEK as their wrapping key). */
  private async writeInbox(trainerId: string, kek: Kek): Promise<void> {
    const { identity, recipient } = await generateIdentity();
    mkdirSync(this.inboxDir, { recursive: true, mode: 0o700 });
    writeFileDurableSync(this.inboxPath(trainerId), JSON.stringify({ v: 2, trainerId, recipient, sealed: sealWithKek(identity, kek) } satisfies TrainerFile));
  }

  private readTrainer(trainerId: string): TrainerFile {
    const f = this.trainerPath(checkTrainerId(trainerId));
    if (!existsSync(f)) throw new AppError('NOT_FOUND', `trainer ${trainerId} has no key on this kit`, { field: 'trainerId' });
    return this.readTrainerFile(f);
  }

  private readTrainerFile(file: string): TrainerFile {
    return JSON.parse(readFileSync(file, 'utf8')) as TrainerFile;
  }

  private writeTrainer(file: string, t: TrainerFile): void {
    mkdirSync(this.trainersDir, { recursive: true, mode: 0o700 });
    writeFileDurableSync(file, JSON.stringify(t));
  }

  /**
   * Moves a kit of the one-PIN format (keys/master.json, keys/clips/*.json wrapped to the master)
   * to trainer keys: the master becomes the default trainer's wrapping key, unchanged and sealed by
   * the same PIN, so no PIN is needed and no clip is lost; clip key files get the per-trainer form.
   * Idempotent and safe to cut at any point (readers accept both forms).
   */
  private migrate(): void {
    if (this.migrated) return;
    const master = path.join(this.dir, 'master.json');
    const masterNext = path.join(this.dir, 'master.next.json');
    const pending = path.join(this.dir, 'rotation-pending');
    const t = this.defaultTrainer;
    if (existsSync(master)) {
      const clipsDir = path.join(this.dir, KIND_DIR.clip);
      if (existsSync(clipsDir)) {
        for (const name of readdirSync(clipsDir)) {
          const id = name.slice(0, -'.json'.length);
          if (!name.endsWith('.json') || !CONTENT_ID_PATTERN.test(id)) continue;
          const data = this.readContentKey({ kind: 'clip', id });
          if (data) writeFileDurableSync(path.join(clipsDir, name), JSON.stringify(data));
        }
      }
      if (existsSync(masterNext)) {
        const n = JSON.parse(readFileSync(masterNext, 'utf8')) as LegacyMasterFile;
        this.writeTrainer(this.trainerPath(t, true), { v: 2, trainerId: t, recipient: n.recipient, sealed: n.sealed });
      }
      if (existsSync(pending)) writeFileDurableSync(path.join(this.rotateDir, t), readFileSync(pending, 'utf8'));
      if (!existsSync(this.trainerPath(t))) {
        const m = JSON.parse(readFileSync(master, 'utf8')) as LegacyMasterFile;
        this.writeTrainer(this.trainerPath(t), { v: 2, trainerId: t, recipient: m.recipient, sealed: m.sealed });
      }
      for (const f of [masterNext, pending, master]) rmSync(f, { force: true });
      fsyncDir(this.dir);
      this.opts.logger.info('moved the kit master key to the first trainer (same PIN; every clip key kept)', { trainer: t });
    }
    this.migrated = true;
  }

  private async demoOrgRecipient(): Promise<string | null> {
    if (!this.opts.allowDemoOrg) return null;
    const file = demoOrgKeyPath(this.opts.dataDir);
    if (existsSync(file)) {
      const m = /# public key: (age1[0-9a-z]+)/.exec(readFileSync(file, 'utf8'));
      if (m?.[1]) return m[1];
    }
    const { identity, recipient } = await generateIdentity();
    writeFileDurableSync(file, identityFileText(identity, recipient, 'VHT Kit DEMO organisation identity (sim profile only; a real kit never holds this)'));
    this.opts.logger.warn('no organisation recipient configured: made a DEMO organisation identity (sim profile)', { file });
    process.stdout.write(`VHT Kit: demo organisation identity written to ${file} (decrypt with: age -d -i ${file} SEGMENT.ts.age)\n`);
    return recipient;
  }
}

/** An identity file in the format of age-keygen, readable by `age -d -i FILE`. */
export function identityFileText(identity: string, recipient: string, title: string): string {
  return `# ${title}\n# created: ${new Date().toISOString()}\n# public key: ${recipient}\n${identity}\n`;
}

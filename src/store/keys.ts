import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import * as age from 'age-encryption';
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import {
  deriveKek, encryptTo, generateIdentity, sealWithKek, unsealWithKek, type Kek, type SealedSecret,
} from './crypto.js';
import { fsyncDir, writeFileDurableSync } from './durable.js';
import { CLIP_ID_PATTERN } from '../core/media.js';

export interface KeyStoreOptions {
  dataDir: string;
  orgRecipient: string | null;
  /** Only the sim profile may make a demo organisation identity (beside the data dir). */
  allowDemoOrg: boolean;
  logger: Logger;
}

/** Where the sim profile keeps its demo organisation identity: beside the data dir, never in it. */
export function demoOrgKeyPath(dataDir: string): string {
  return path.join(path.dirname(dataDir), `${path.basename(dataDir)}-demo-org.key`);
}

/** keys/clips/<clip>.json: the clip's playback recipient and its identity wrapped to the master. */
interface ClipKeyFile {
  v: 1;
  recipient: string;
  /** age ciphertext (base64) of the clip identity, to the master recipient. */
  wrapped: string;
}

interface MasterFile {
  v: 1;
  recipient: string;
  sealed: SealedSecret;
}


/**
 * The kit's keys.
 * - The organisation's recipient (config); the kit never holds its secret.
 * - A master identity, stored only sealed by the trainer PIN (scrypt + AES-GCM), in RAM only while
 *   unlocked.
 * - One playback identity per clip, stored wrapped (age) to the master's recipient, so that a take
 *   can start while the kit is locked. Deleting a clip destroys its key and rotates the master
 *   (every other clip key is re-wrapped): a copy of the old data dir can then not be decrypted with
 *   anything left on the kit. While locked the rotation waits for the next unlock.
 */
export class KeyStore {
  private orgRecipientValue: string | null = null;
  private master: { identity: string; kek: Kek; recipient: string } | null = null;
  private readonly clipIdentities = new Map<string, string>();
  /** Public recipients of clip keys, so that persisting a segment does not read the key file. */
  private readonly clipRecipients = new Map<string, string>();
  private readonly dir: string;
  private readonly clipKeysDir: string;

  constructor(private readonly opts: KeyStoreOptions) {
    this.dir = path.join(opts.dataDir, 'keys');
    this.clipKeysDir = path.join(this.dir, 'clips');
  }

  private get masterFile(): string {
    return path.join(this.dir, 'master.json');
  }

  private get nextMasterFile(): string {
    return path.join(this.dir, 'master.next.json');
  }

  private get pendingFile(): string {
    return path.join(this.dir, 'rotation-pending');
  }

  get orgRecipient(): string | null {
    return this.orgRecipientValue;
  }

  get hasMaster(): boolean {
    return existsSync(this.masterFile);
  }

  get unlocked(): boolean {
    return this.master !== null;
  }

  get masterRecipient(): string | null {
    return this.hasMaster ? this.readMaster(this.masterFile).recipient : null;
  }

  /** Loads or makes the keys. `initialPin` seals a new master when there is none yet. */
  async start(initialPin: string | null): Promise<void> {
    mkdirSync(this.clipKeysDir, { recursive: true, mode: 0o700 });
    this.orgRecipientValue = this.opts.orgRecipient ?? (await this.demoOrgRecipient());
    if (!this.hasMaster) {
      if (initialPin) {
        await this.createMaster(initialPin);
        this.opts.logger.info('made the kit master key (sealed by the trainer PIN)');
      } else {
        this.opts.logger.warn('no trainer PIN and no enrolment: clips recorded now can be played only at the office');
      }
    }
  }

  /** Makes the master (enrolment). Refuses when one exists: change the PIN instead. */
  async createMaster(pin: string): Promise<void> {
    if (this.hasMaster) throw new AppError('CONFLICT', 'the kit already has a master key; change the PIN instead');
    const { identity, recipient } = await generateIdentity();
    const kek = await deriveKek(pin);
    this.writeMaster(this.masterFile, { v: 1, recipient, sealed: sealWithKek(identity, kek) });
  }

  /** Recipients a clip's segments are encrypted to: the organisation and the clip's own key. */
  recipientsFor(clipId: string): string[] {
    const org = this.requireOrgRecipient();
    let recipient = this.clipRecipients.get(clipId);
    if (recipient === undefined) {
      const f = this.clipKeyPath(clipId);
      if (!existsSync(f)) return [org];
      recipient = (JSON.parse(readFileSync(f, 'utf8')) as ClipKeyFile).recipient;
      this.clipRecipients.set(clipId, recipient);
    }
    return [org, recipient];
  }

  requireOrgRecipient(): string {
    if (!this.orgRecipientValue) {
      throw new AppError('NOT_CONFIGURED', 'no organisation recipient: set keys.orgRecipient (VHT_KIT_ORG_RECIPIENT) or enrol the kit (vht-kit enrol)', { field: 'keys.orgRecipient' });
    }
    return this.orgRecipientValue;
  }

  /** Makes the clip's playback key (works while locked: it needs only the master's recipient). */
  async createClipKey(clipId: string): Promise<string | null> {
    const masterRecipient = this.masterRecipient;
    if (!masterRecipient) return null;
    const { identity, recipient } = await generateIdentity();
    const wrapped = await encryptTo([masterRecipient], identity);
    const file: ClipKeyFile = { v: 1, recipient, wrapped: Buffer.from(wrapped).toString('base64') };
    writeFileDurableSync(this.clipKeyPath(clipId), JSON.stringify(file));
    this.clipRecipients.set(clipId, recipient);
    return recipient;
  }

  hasClipKey(clipId: string): boolean {
    return existsSync(this.clipKeyPath(clipId));
  }

  /** Checks a PIN against the sealed master without unlocking. */
  async verifyPin(pin: string): Promise<boolean> {
    if (!this.hasMaster) return false;
    const m = this.readMaster(this.masterFile);
    return unsealWithKek(m.sealed, await deriveKek(pin, m.sealed)) !== null;
  }

  /** Unseals the master into RAM; false when the PIN does not open it. Finishes a pending rotation. */
  async unlock(pin: string): Promise<boolean> {
    if (!this.hasMaster) return false;
    const m = this.readMaster(this.masterFile);
    const kek = await deriveKek(pin, m.sealed);
    const identity = unsealWithKek(m.sealed, kek);
    if (identity === null) return false;
    this.master = { identity, kek, recipient: m.recipient };
    if (existsSync(this.nextMasterFile) || existsSync(this.pendingFile)) {
      await this.rotateMaster();
    }
    return true;
  }

  lock(): void {
    this.master = null;
    this.clipIdentities.clear();
  }

  /** The clip's playback identity, or 423 Locked. */
  async clipIdentity(clipId: string): Promise<string> {
    if (!this.master) {
      throw new AppError('LOCKED', 'the kit is locked: log in with the trainer PIN to play clips (de kit is vergrendeld)');
    }
    const cached = this.clipIdentities.get(clipId);
    if (cached) return cached;
    const f = this.clipKeyPath(clipId);
    if (!existsSync(f)) {
      throw new AppError('NOT_FOUND', `clip ${clipId} has no playback key on this kit (recorded before enrolment, or deleted); it can be played at the office`);
    }
    const file = JSON.parse(readFileSync(f, 'utf8')) as ClipKeyFile;
    const identity = await this.unwrap(Buffer.from(file.wrapped, 'base64'));
    this.clipIdentities.set(clipId, identity);
    return identity;
  }

  /**
   * Destroys a clip's key (crypto-erase). Unlocked: the master is rotated now. Locked: at the next
   * unlock (a marker file says so). Returns whether the erase is complete.
   */
  async destroyClipKey(clipId: string): Promise<'complete' | 'pending'> {
    rmSync(this.clipKeyPath(clipId), { force: true });
    fsyncDir(this.clipKeysDir);
    this.clipIdentities.delete(clipId);
    this.clipRecipients.delete(clipId);
    if (!this.hasMaster) return 'complete';
    writeFileDurableSync(this.pendingFile, `${Date.now()}\n`);
    if (!this.master) return 'pending';
    await this.rotateMaster();
    return 'complete';
  }

  /** Re-seals the master with a new PIN. A wrong current PIN changes nothing. */
  async changePin(current: string, next: string): Promise<boolean> {
    if (!this.hasMaster) return false;
    const m = this.readMaster(this.masterFile);
    const identity = unsealWithKek(m.sealed, await deriveKek(current, m.sealed));
    if (identity === null) return false;
    const kek = await deriveKek(next);
    this.writeMaster(this.masterFile, { v: 1, recipient: m.recipient, sealed: sealWithKek(identity, kek) });
    if (this.master) this.master = { identity, kek, recipient: m.recipient };
    return true;
  }

  /**
   * New master; every remaining clip key re-wrapped to it; then the old master is replaced. A crash
   * half-way leaves master.next.json, and the next unlock finishes with both identities.
   */
  private async rotateMaster(): Promise<void> {
    const current = this.master;
    if (!current) return;
    const identities = [current.identity];
    let next: { identity: string; recipient: string };
    if (existsSync(this.nextMasterFile)) {
      const n = this.readMaster(this.nextMasterFile);
      const id = unsealWithKek(n.sealed, current.kek);
      if (id === null) throw new AppError('INTERNAL', 'an unfinished key rotation cannot be opened with this PIN');
      next = { identity: id, recipient: n.recipient };
      identities.push(id);
    } else {
      next = await generateIdentity();
      this.writeMaster(this.nextMasterFile, { v: 1, recipient: next.recipient, sealed: sealWithKek(next.identity, current.kek) });
    }
    for (const name of readdirSync(this.clipKeysDir)) {
      if (!name.endsWith('.json')) continue;
      const f = path.join(this.clipKeysDir, name);
      const file = JSON.parse(readFileSync(f, 'utf8')) as ClipKeyFile;
      const identity = await this.unwrap(Buffer.from(file.wrapped, 'base64'), [...identities, next.identity]);
      const wrapped = await encryptTo([next.recipient], identity);
      writeFileDurableSync(f, JSON.stringify({ ...file, wrapped: Buffer.from(wrapped).toString('base64') }));
    }
    renameSync(this.nextMasterFile, this.masterFile);
    fsyncDir(this.dir);
    rmSync(this.pendingFile, { force: true });
    this.master = { identity: next.identity, kek: current.kek, recipient: next.recipient };
    this.clipIdentities.clear();
    this.opts.logger.info('rotated the kit master key');
  }

  private async unwrap(data: Uint8Array, identities?: string[]): Promise<string> {
    const d = new age.Decrypter();
    for (const id of identities ?? [this.master!.identity]) d.addIdentity(id);
    try {
      return await d.decrypt(data, 'text');
    } catch (err) {
      throw new AppError('INTERNAL', `a clip key cannot be unwrapped: ${(err as Error).message}`, { cause: err });
    }
  }

  private clipKeyPath(clipId: string): string {
    if (!CLIP_ID_PATTERN.test(clipId)) throw new AppError('VALIDATION', `clip id ${JSON.stringify(clipId)} is not a valid clip id`, { field: 'id' });
    return path.join(this.clipKeysDir, `${clipId}.json`);
  }

  private readMaster(file: string): MasterFile {
    return JSON.parse(readFileSync(file, 'utf8')) as MasterFile;
  }

  private writeMaster(file: string, m: MasterFile): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileDurableSync(file, JSON.stringify(m));
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

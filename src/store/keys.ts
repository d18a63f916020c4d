import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { generateIdentity, seal, unseal, type SealedSecret } from './crypto.js';
import { writeFileDurableSync } from './durable.js';

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

/**
 * The kit's keys. Recording needs only public keys (organisation recipient + kit playback
 * recipient). The playback identity's secret exists on disk only sealed by the trainer PIN and in
 * RAM only while a trainer has unlocked it.
 */
export class KeyStore {
  private orgRecipientValue: string | null = null;
  private playbackRecipientValue: string | null = null;
  private playbackIdentity: string | null = null;
  private readonly dir: string;

  constructor(private readonly opts: KeyStoreOptions) {
    this.dir = path.join(opts.dataDir, 'keys');
  }

  get orgRecipient(): string | null {
    return this.orgRecipientValue;
  }

  get playbackRecipient(): string | null {
    return this.playbackRecipientValue;
  }

  get unlocked(): boolean {
    return this.playbackIdentity !== null;
  }

  /** Loads or makes the keys. `pin` seals a new playback identity; without one none is made yet. */
  async start(pin: string | null): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.orgRecipientValue = this.opts.orgRecipient ?? (await this.demoOrgRecipient());
    const recipientFile = path.join(this.dir, 'playback.recipient');
    const sealedFile = path.join(this.dir, 'playback.sealed.json');
    if (existsSync(recipientFile) && existsSync(sealedFile)) {
      this.playbackRecipientValue = readFileSync(recipientFile, 'utf8').trim();
    } else if (pin) {
      const { identity, recipient } = await generateIdentity();
      const sealed = await seal(identity, pin);
      writeFileDurableSync(sealedFile, JSON.stringify(sealed));
      writeFileDurableSync(recipientFile, recipient + '\n');
      this.playbackRecipientValue = recipient;
      this.opts.logger.info('made the kit playback key (sealed by the trainer PIN)');
    } else {
      this.opts.logger.warn('no trainer PIN configured: no playback key yet; clips recorded now can be played only at the office');
    }
  }

  /** Recipients every segment is encrypted to. */
  recipients(): string[] {
    if (!this.orgRecipientValue) {
      throw new AppError('NOT_CONFIGURED', 'no organisation recipient: set keys.orgRecipient (VHT_KIT_ORG_RECIPIENT) or enrol the kit', { field: 'keys.orgRecipient' });
    }
    return this.playbackRecipientValue ? [this.orgRecipientValue, this.playbackRecipientValue] : [this.orgRecipientValue];
  }

  /** Unseals the playback identity into RAM; false when the PIN does not open it. */
  async unlock(pin: string): Promise<boolean> {
    const sealedFile = path.join(this.dir, 'playback.sealed.json');
    if (!existsSync(sealedFile)) return false;
    const sealed = JSON.parse(readFileSync(sealedFile, 'utf8')) as SealedSecret;
    const identity = await unseal(sealed, pin);
    if (identity === null) return false;
    this.playbackIdentity = identity;
    return true;
  }

  lock(): void {
    this.playbackIdentity = null;
  }

  /** The playback identity, or 423 Locked. */
  requireIdentity(): string {
    if (!this.playbackIdentity) {
      throw new AppError('LOCKED', 'the kit is locked: log in with the trainer PIN to play clips (de kit is vergrendeld)');
    }
    return this.playbackIdentity;
  }

  private async demoOrgRecipient(): Promise<string | null> {
    if (!this.opts.allowDemoOrg) return null;
    const file = demoOrgKeyPath(this.opts.dataDir);
    if (existsSync(file)) {
      const text = readFileSync(file, 'utf8');
      const m = /# public key: (age1[0-9a-z]+)/.exec(text);
      if (m?.[1]) return m[1];
    }
    const { identity, recipient } = await generateIdentity();
    writeFileDurableSync(
      file,
      `# VHT Kit DEMO organisation identity (sim profile only; a real kit never holds this)\n# created: ${new Date().toISOString()}\n# public key: ${recipient}\n${identity}\n`,
    );
    this.opts.logger.warn('no organisation recipient configured: made a DEMO organisation identity (sim profile)', { file });
    process.stdout.write(`VHT Kit: demo organisation identity written to ${file} (decrypt with: age -d -i ${file} SEGMENT.ts.age)\n`);
    return recipient;
  }
}

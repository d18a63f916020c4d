import { createCipheriv, createDecipheriv, randomBytes, scrypt as scryptCb } from 'node:crypto';
import { promisify } from 'node:util';
import * as age from 'age-encryption';
import { AppError } from '../core/errors.js';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number, opts: object) => Promise<Buffer>;

/** Encrypts to one or more age X25519 recipients (age1…); standard age format, readable by `age -d`. */
export async function encryptTo(recipients: string[], data: Uint8Array | string): Promise<Uint8Array> {
  const e = new age.Encrypter();
  for (const r of recipients) e.addRecipient(r);
  return e.encrypt(data);
}

/**
 * Decrypts age data with one or more identities (AGE-SECRET-KEY-1…); a tampered or truncated file,
 * or one for none of them, throws naming `what`.
 */
export async function decryptWith(identity: string | readonly string[], data: Uint8Array, what = 'encrypted data'): Promise<Uint8Array> {
  const d = new age.Decrypter();
  for (const id of typeof identity === 'string' ? [identity] : identity) d.addIdentity(id);
  try {
    return await d.decrypt(data);
  } catch (err) {
    throw new AppError('BAD_REQUEST', `${what} cannot be decrypted with the given identity: ${(err as Error).message}`, { cause: err });
  }
}

export async function generateIdentity(): Promise<{ identity: string; recipient: string }> {
  const identity = await age.generateX25519Identity();
  const recipient = await age.identityToRecipient(identity);
  return { identity, recipient };
}

export async function recipientOf(identity: string): Promise<string> {
  return age.identityToRecipient(identity);
}

/**
 * A secret sealed by the trainer's PIN: scrypt (N=2^15, r=8, p=1, native) derives a key (KEK) that
 * wraps the secret with AES-256-GCM. The sealed form is JSON; without the PIN it reveals nothing
 * but its length. A PIN is short, so this protects against casual access, not an offline attack on
 * a copy of the card: docs/security.md says what does.
 */
export interface SealedSecret {
  v: 1;
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
  iv: string;
  tag: string;
  ct: string;
}

/** A PIN-derived key with the parameters that made it; kept in RAM only while unlocked. */
export interface Kek {
  key: Buffer;
  salt: string;
  N: number;
  r: number;
  p: number;
}

const SEAL_N = 2 ** 15;

export async function deriveKek(pin: string, params?: { salt: string; N: number; r: number; p: number }): Promise<Kek> {
  const salt = params?.salt ?? randomBytes(16).toString('base64');
  const N = params?.N ?? SEAL_N;
  const r = params?.r ?? 8;
  const p = params?.p ?? 1;
  const key = await scrypt(pin, Buffer.from(salt, 'base64'), 32, { N, r, p, maxmem: 256 * 1024 * 1024 });
  return { key, salt, N, r, p };
}

export function sealWithKek(secret: string, kek: Kek): SealedSecret {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek.key, iv);
  const ct = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return {
    v: 1, kdf: 'scrypt', N: kek.N, r: kek.r, p: kek.p, salt: kek.salt,
    iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), ct: ct.toString('base64'),
  };
}

/** Returns the secret, or null when the key does not open it. */
export function unsealWithKek(sealed: SealedSecret, kek: Kek): string | null {
  const decipher = createDecipheriv('aes-256-gcm', kek.key, Buffer.from(sealed.iv, 'base64'));
  decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
  try {
    return Buffer.concat([decipher.update(Buffer.from(sealed.ct, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}

export async function seal(secret: string, pin: string): Promise<SealedSecret> {
  return sealWithKek(secret, await deriveKek(pin));
}

/** Returns the secret, or null when the PIN is wrong. */
export async function unseal(sealed: SealedSecret, pin: string): Promise<string | null> {
  return unsealWithKek(sealed, await deriveKek(pin, sealed));
}

// --- issue 13: the case tag (kept at the end of the file, apart from the age code above) ---
import { createHmac } from 'node:crypto';

/**
 * HMAC-SHA-256 of `message` under `key` (hex): the case tag that names a case in object keys
 * without its code (docs/design/keys-layout-retention.md, "Finding a case").
 */
export function hmacHex(key: Uint8Array, message: string): string {
  return createHmac('sha256', key).update(message, 'utf8').digest('hex');
}

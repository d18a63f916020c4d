import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  randomBytes,
  scrypt as scryptCb,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import { AppError } from '../core/errors.js';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number, opts: object) => Promise<Buffer>;

// ---------------------------------------------------------------------------------------------
// age v1 (C2SP age.md) with X25519 recipients, on node:crypto (OpenSSL). Header: version line,
// one "-> X25519 <share>" stanza per recipient with the 16-byte file key wrapped by
// ChaCha20-Poly1305, "--- <HMAC-SHA-256>"; payload: 16-byte nonce, then STREAM chunks of 64 KiB
// plaintext (ChaCha20-Poly1305, nonce = 11-byte big-endian counter || last-chunk flag).

const VERSION_LINE = 'age-encryption.org/v1';
const X25519_INFO = 'age-encryption.org/v1/X25519';
const CHUNK = 64 * 1024;
const TAG = 16;
const FILE_KEY_BYTES = 16;
const NONCE_BYTES = 16;
const COLUMNS = 64;
const RECIPIENT_HRP = 'age';
const IDENTITY_HRP = 'age-secret-key-';
const EMPTY = Buffer.alloc(0);
const ZERO_NONCE = Buffer.alloc(12);
const ONE = Buffer.from([1]);

/** A malformed or unopenable age file: the reason, without any of the file's bytes. */
class AgeFormatError extends Error {}

const BECH32 = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';

function bech32Polymod(values: number[]): number {
  const gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= gen[i]!;
  }
  return chk;
}

function hrpExpand(hrp: string): number[] {
  const codes = [...hrp].map((c) => c.charCodeAt(0));
  return [...codes.map((c) => c >> 5), 0, ...codes.map((c) => c & 31)];
}

/** Regroups bits (8→5 with padding, 5→8 without); null when 5→8 leaves non-zero or whole-byte padding. */
function convertBits(data: ArrayLike<number>, from: number, to: number, pad: boolean): number[] | null {
  let acc = 0;
  let bits = 0;
  const out: number[] = [];
  const max = (1 << to) - 1;
  for (let i = 0; i < data.length; i++) {
    acc = (acc << from) | data[i]!;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push((acc >> bits) & max);
    }
    acc &= (1 << bits) - 1;
  }
  if (pad) {
    if (bits > 0) out.push((acc << (to - bits)) & max);
  } else if (bits >= from || acc !== 0) {
    return null;
  }
  return out;
}

function bech32Encode(hrp: string, bytes: Uint8Array): string {
  const data = convertBits(bytes, 8, 5, true)!;
  const mod = bech32Polymod([...hrpExpand(hrp), ...data, 0, 0, 0, 0, 0, 0]) ^ 1;
  const checksum = [0, 1, 2, 3, 4, 5].map((i) => (mod >> (5 * (5 - i))) & 31);
  return hrp + '1' + [...data, ...checksum].map((d) => BECH32[d]).join('');
}

/** The 32-byte key of a bech32 string with the given human-readable part, or the reason it is not one. */
function bech32Decode32(s: string, hrp: string): Buffer | string {
  if (s !== s.toLowerCase() && s !== s.toUpperCase()) return 'it mixes upper and lower case';
  const lower = s.toLowerCase();
  const sep = lower.lastIndexOf('1');
  if (lower.slice(0, sep) !== hrp) return `it does not start with "${hrp}1"`;
  const data: number[] = [];
  for (const c of lower.slice(sep + 1)) {
    const d = BECH32.indexOf(c);
    if (d < 0) return 'it has a character outside the bech32 alphabet';
    data.push(d);
  }
  if (data.length < 6 || bech32Polymod([...hrpExpand(hrp), ...data]) !== 1) return 'its bech32 checksum is wrong';
  const bytes = convertBits(data.slice(0, -6), 5, 8, false);
  if (!bytes || bytes.length !== 32) return 'it does not hold a 32-byte key';
  return Buffer.from(bytes);
}

/** base64 without padding (RFC 4648 §4), as age writes it. */
function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64').replace(/=+$/, '');
}

/** Strict base64 without padding: canonical (unused bits zero), standard alphabet; null otherwise. */
function unb64(s: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]*$/.test(s) || s.length % 4 === 1) return null;
  const bytes = Buffer.from(s, 'base64');
  return b64(bytes) === s ? bytes : null;
}

/**
 * HKDF-SHA-256 (RFC 5869) for one 32-byte block: PRK = HMAC(salt, IKM), OKM = HMAC(PRK, info || 0x01).
 * Two HMACs cost ≈ 20 µs here; OpenSSL's hkdfSync ≈ 55 µs (a KDF fetch per call). The tests
 * compare it with hkdfSync.
 */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: string): Buffer {
  const prk = createHmac('sha256', salt).update(ikm).digest();
  return createHmac('sha256', prk).update(info, 'latin1').update(ONE).digest();
}

// Keys go in and out as JWK: OpenSSL 3's DER decoders cost ≈ 1 ms of CPU per key here, JWK
// ≈ 0.02 ms (Node builds the key from the raw bytes). For a private JWK Node requires "x" but
// derives the public key from "d" alone; the tests check recipients against age-keygen's.
const UNUSED_X = Buffer.alloc(32).toString('base64url');

function x25519Private(raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: Buffer.from(raw).toString('base64url'), x: UNUSED_X }, format: 'jwk' });
}

function x25519Public(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

function rawPublic(key: KeyObject): Buffer {
  return Buffer.from((key.type === 'public' ? key : createPublicKey(key)).export({ format: 'jwk' }).x!, 'base64url');
}

/** X25519; a share of small order (all-zero shared secret, which OpenSSL refuses too) is an AgeFormatError. */
function x25519(priv: KeyObject, pub: KeyObject): Buffer {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: priv, publicKey: pub });
  } catch (err) {
    throw new AgeFormatError(`X25519 with a share of small order fails (${(err as Error).message})`);
  }
  if (shared.every((b) => b === 0)) throw new AgeFormatError('an X25519 share gives an all-zero shared secret');
  return shared;
}

/** Size of the sealed payload (after the nonce) for `n` plaintext bytes: one tag per 64 KiB chunk, at least one chunk. */
function sealedPayloadSize(n: number): number {
  return n + Math.max(1, Math.ceil(n / CHUNK)) * TAG;
}

/** One ChaCha20-Poly1305 box (ciphertext || tag) of `plaintext`, written into `out` at `at`; returns the end. */
function sealInto(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, out: Buffer, at: number): number {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  const body = c.update(plaintext);
  c.final();
  body.copy(out, at);
  c.getAuthTag().copy(out, at + body.length);
  return at + body.length + TAG;
}

/** Opens one ChaCha20-Poly1305 box; null when it does not authenticate. */
function open(key: Uint8Array, nonce: Uint8Array, box: Uint8Array): Buffer | null {
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  d.setAuthTag(box.subarray(box.length - TAG));
  const plain = d.update(box.subarray(0, box.length - TAG));
  try {
    d.final();
  } catch (err) {
    // OpenSSL's "unable to authenticate data": the caller says which box failed and why it matters
    if (err instanceof Error) return null;
    throw err;
  }
  return plain;
}

function streamNonce(counter: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  n.writeUIntBE(counter, 5, 6); // the 11-byte counter's top 5 bytes stay 0 below 2^48 chunks
  n[11] = last ? 1 : 0;
  return n;
}

function parseRecipient(r: unknown, i: number, n: number): { key: KeyObject; raw: Buffer } {
  const key = typeof r !== 'string' ? 'it is not a string' : !r.startsWith('age1') ? 'it does not start with "age1"' : bech32Decode32(r, RECIPIENT_HRP);
  if (typeof key === 'string') {
    throw new AppError('VALIDATION', `recipient ${i + 1} of ${n} (${JSON.stringify(r)?.slice(0, 80)}) is not an age X25519 recipient (age1…): ${key}`, {
      field: 'recipients',
    });
  }
  return { key: x25519Public(key), raw: key };
}

/** Identities are secrets: errors name their position, never their text. */
function parseIdentity(id: unknown, i: number, n: number): { priv: KeyObject; pub: Buffer } {
  const key =
    typeof id !== 'string'
      ? 'it is not a string'
      : !id.startsWith('AGE-SECRET-KEY-1')
        ? 'it does not start with "AGE-SECRET-KEY-1"'
        : bech32Decode32(id, IDENTITY_HRP);
  if (typeof key === 'string') {
    throw new AppError('VALIDATION', `identity ${i + 1} of ${n} is not an age X25519 identity (AGE-SECRET-KEY-1…): ${key}`, { field: 'identity' });
  }
  const priv = x25519Private(key);
  return { priv, pub: rawPublic(priv) };
}

/** The stanza body as age writes it: base64 lines of 64 columns, the last one shorter (maybe empty). */
function wrapBody(body: Uint8Array): string {
  const s = b64(body);
  let out = '';
  for (let i = 0; i <= s.length; i += COLUMNS) out += s.slice(i, i + COLUMNS) + '\n';
  return out;
}

function headerMac(fileKey: Uint8Array, headerUpToDashes: Uint8Array): Buffer {
  return createHmac('sha256', hkdfSha256(fileKey, EMPTY, 'header'))
    .update(headerUpToDashes)
    .digest();
}

function sharedWithRecipient(eph: KeyObject, pub: KeyObject, recipients: readonly string[], i: number): Buffer {
  try {
    return x25519(eph, pub);
  } catch (err) {
    if (!(err instanceof AgeFormatError)) throw err;
    throw new AppError('VALIDATION', `recipient ${i + 1} of ${recipients.length} (${JSON.stringify(recipients[i])}) is a key of small order: ${err.message}`, {
      field: 'recipients',
    });
  }
}

/**
 * Recipients parsed once (bech32 decoding and the key import cost ≈ 0.1 ms a recipient): a caller
 * that encrypts many files to the same recipients (a take's segments) keeps one and passes it
 * instead of the strings. Public keys only; nothing secret is held.
 */
export interface ParsedRecipients {
  readonly recipients: readonly string[];
  readonly keys: readonly { key: KeyObject; raw: Buffer }[];
}

/** Bytes of the age file encryptSync writes for `n` plaintext bytes to `recipients` X25519 recipients. */
export function encryptedSize(recipients: number, n: number): number {
  // version line; per recipient "-> X25519 <43>\n<43>\n"; "--- <43>\n"; nonce; sealed payload
  return VERSION_LINE.length + 1 + recipients * (10 + 43 + 1 + 43 + 1) + 4 + 43 + 1 + NONCE_BYTES + sealedPayloadSize(n);
}

/** Parses age1… recipients for encryptSync; throws naming the recipient that is not one. */
export function parseRecipients(recipients: readonly string[]): ParsedRecipients {
  const given: unknown = recipients; // callers in plain JavaScript may pass anything
  if (!Array.isArray(given) || given.length === 0) {
    throw new AppError('VALIDATION', `recipients ${JSON.stringify(recipients)?.slice(0, 80)}: at least one age1… recipient is needed`, { field: 'recipients' });
  }
  return { recipients: recipients.slice(), keys: recipients.map((r, i) => parseRecipient(r, i, recipients.length)) };
}

/**
 * Encrypts to age X25519 recipients, synchronously (a few OpenSSL calls; see encryptTo). With
 * `into` (a scratch buffer the caller reuses, e.g. per segment) the file is written there when it
 * fits and a view of it is returned: valid until the caller reuses `into`; otherwise a new Buffer.
 */
export function encryptSync(recipients: readonly string[] | ParsedRecipients, data: Uint8Array | string, into?: Buffer): Buffer {
  const parsed = Array.isArray(recipients) ? parseRecipients(recipients) : (recipients as ParsedRecipients);
  const keys = parsed.keys;
  const plaintext = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  if (!(plaintext instanceof Uint8Array)) {
    throw new AppError('VALIDATION', `data to encrypt must be bytes or text, not ${typeof data}`, { field: 'data' });
  }
  const fileKey = randomBytes(FILE_KEY_BYTES);
  let header = VERSION_LINE + '\n';
  for (const [i, pub] of keys.entries()) {
    const eph = generateKeyPairSync('x25519');
    const share = rawPublic(eph.publicKey);
    const wrapKey = hkdfSha256(sharedWithRecipient(eph.privateKey, pub.key, parsed.recipients, i), Buffer.concat([share, pub.raw]), X25519_INFO);
    const body = Buffer.alloc(FILE_KEY_BYTES + TAG);
    sealInto(wrapKey, ZERO_NONCE, fileKey, body, 0);
    header += `-> X25519 ${b64(share)}\n${wrapBody(body)}`;
  }
  header += '---';
  header += ` ${b64(headerMac(fileKey, Buffer.from(header, 'latin1')))}\n`;

  const nonce = randomBytes(NONCE_BYTES);
  const payloadKey = hkdfSha256(fileKey, nonce, 'payload');
  const size = header.length + NONCE_BYTES + sealedPayloadSize(plaintext.length);
  if (size !== encryptedSize(keys.length, plaintext.length)) throw new Error(`age: header of ${header.length} bytes, not as encryptedSize says (a bug)`);
  const out = into && into.length >= size ? into.subarray(0, size) : Buffer.allocUnsafe(size);
  let at = out.write(header, 0, 'latin1');
  at += nonce.copy(out, at);
  const chunks = Math.max(1, Math.ceil(plaintext.length / CHUNK));
  for (let i = 0; i < chunks; i++) {
    at = sealInto(payloadKey, streamNonce(i, i === chunks - 1), plaintext.subarray(i * CHUNK, (i + 1) * CHUNK), out, at);
  }
  if (at !== out.length) throw new Error(`age: wrote ${at} of ${out.length} bytes (a bug in encryptSync)`);
  return out;
}

interface Stanza {
  args: string[];
  body: Buffer;
  line: number;
}

/** Splits an age header into stanzas, the MAC and the bytes the MAC covers; throws on any deviation from the grammar. */
function parseHeader(data: Uint8Array): { stanzas: Stanza[]; mac: Buffer; macInput: Uint8Array; payloadStart: number } {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let pos = 0;
  let lineNo = 0;
  const readLine = (): string => {
    const end = buf.indexOf(0x0a, pos);
    lineNo++;
    if (end < 0) throw new AgeFormatError(`the header ends without a newline in line ${lineNo}: the file is truncated or not age`);
    const line = buf.toString('latin1', pos, end);
    pos = end + 1;
    return line;
  };
  if (buf.length < VERSION_LINE.length + 1 || buf.toString('latin1', 0, VERSION_LINE.length + 1) !== VERSION_LINE + '\n') {
    throw new AgeFormatError(`it does not start with the line "${VERSION_LINE}" (not an age v1 file)`);
  }
  readLine();
  const stanzas: Stanza[] = [];
  for (;;) {
    const start = pos;
    const line = readLine();
    if (line.startsWith('---')) {
      if (stanzas.length === 0) throw new AgeFormatError('the header has no recipient stanza');
      const mac = line.startsWith('--- ') ? unb64(line.slice(4)) : null;
      if (!mac || mac.length !== 32) throw new AgeFormatError(`header line ${lineNo}: the MAC line is not "--- " and 43 base64 characters`);
      return { stanzas, mac, macInput: buf.subarray(0, start + 3), payloadStart: pos };
    }
    if (!line.startsWith('-> ')) throw new AgeFormatError(`header line ${lineNo} is neither a stanza ("-> …") nor the MAC line ("--- …")`);
    const args = line.slice(3).split(' ');
    if (args.some((a) => !/^[\x21-\x7e]+$/.test(a))) {
      throw new AgeFormatError(`header line ${lineNo}: a stanza argument is empty or has a character outside printable ASCII`);
    }
    const stanzaLine = lineNo;
    let text = '';
    for (;;) {
      const body = readLine();
      if (body.length > COLUMNS) throw new AgeFormatError(`header line ${lineNo}: a stanza body line has ${body.length} columns, at most ${COLUMNS}`);
      if (!/^[A-Za-z0-9+/]*$/.test(body)) throw new AgeFormatError(`header line ${lineNo}: a stanza body line is not base64 without padding`);
      text += body;
      if (body.length < COLUMNS) break;
    }
    const body = unb64(text);
    if (!body) throw new AgeFormatError(`header line ${stanzaLine}: the stanza body is not canonical base64`);
    stanzas.push({ args, body, line: stanzaLine });
  }
}

/** The file key from the first X25519 stanza one of the identities opens; throws on a malformed X25519 stanza. */
function unwrapFileKey(stanzas: Stanza[], ids: { priv: KeyObject; pub: Buffer }[]): Buffer | null {
  for (const s of stanzas) {
    if (s.args[0] !== 'X25519') continue; // other recipient types are not ours to open
    const share = s.args.length === 2 ? unb64(s.args[1]!) : null;
    if (!share || share.length !== 32) throw new AgeFormatError(`header line ${s.line}: an X25519 stanza needs exactly one argument, a 32-byte share`);
    if (s.body.length !== FILE_KEY_BYTES + TAG) throw new AgeFormatError(`header line ${s.line}: an X25519 stanza body is ${s.body.length} bytes, not 32`);
    const sharePub = x25519Public(share);
    for (const id of ids) {
      const wrapKey = hkdfSha256(x25519(id.priv, sharePub), Buffer.concat([share, id.pub]), X25519_INFO);
      const fileKey = open(wrapKey, ZERO_NONCE, s.body);
      if (fileKey) return fileKey;
    }
  }
  return null;
}

/** Decrypts age data synchronously (see decryptWith): one output buffer, each chunk's plaintext copied into it once. */
export function decryptSync(identity: string | readonly string[], data: Uint8Array): Buffer {
  const list = typeof identity === 'string' ? [identity] : [...identity];
  if (list.length === 0) throw new AppError('VALIDATION', 'at least one AGE-SECRET-KEY-1… identity is needed', { field: 'identity' });
  const ids = list.map((id, i) => parseIdentity(id, i, list.length));
  if (!(data instanceof Uint8Array)) throw new AgeFormatError(`it is ${typeof data}, not bytes`);
  const { stanzas, mac, macInput, payloadStart } = parseHeader(data);
  const fileKey = unwrapFileKey(stanzas, ids);
  if (!fileKey) {
    throw new AgeFormatError(
      `none of the ${ids.length} identities opens any of its ${stanzas.length} recipient stanzas (wrong key, or the stanzas were changed)`,
    );
  }
  if (!timingSafeEqual(headerMac(fileKey, macInput), mac)) throw new AgeFormatError('the header MAC is wrong: the header was changed');
  const payload = data.subarray(payloadStart);
  if (payload.length < NONCE_BYTES + TAG)
    throw new AgeFormatError(`the payload is ${payload.length} bytes, too short for the nonce and one chunk: the file is truncated`);
  const payloadKey = hkdfSha256(fileKey, payload.subarray(0, NONCE_BYTES), 'payload');
  const sealed = payload.length - NONCE_BYTES;
  const chunks = Math.ceil(sealed / (CHUNK + TAG));
  const lastSize = sealed - (chunks - 1) * (CHUNK + TAG);
  if (lastSize < TAG) throw new AgeFormatError(`the last chunk is ${lastSize} bytes, shorter than its tag: the file is truncated`);
  if (lastSize === TAG && chunks > 1) throw new AgeFormatError('the last chunk is empty after a full chunk (only an empty file may end in an empty chunk)');
  const out = Buffer.allocUnsafe(sealed - chunks * TAG);
  for (let i = 0; i < chunks; i++) {
    const from = NONCE_BYTES + i * (CHUNK + TAG);
    const last = i === chunks - 1;
    const plain = open(payloadKey, streamNonce(i, last), payload.subarray(from, last ? payload.length : from + CHUNK + TAG));
    if (!plain) {
      out.fill(0);
      throw new AgeFormatError(
        last
          ? `chunk ${i + 1} of ${chunks} (the last) does not authenticate: the file was changed, truncated or has data appended`
          : `chunk ${i + 1} of ${chunks} does not authenticate: the file was changed or reordered`,
      );
    }
    plain.copy(out, i * CHUNK);
  }
  return out;
}

/** Encrypts to one or more age X25519 recipients (age1…); standard age format, readable by `age -d`. */
export async function encryptTo(recipients: string[], data: Uint8Array | string): Promise<Uint8Array> {
  return encryptSync(recipients, data);
}

/**
 * Decrypts age data with one or more identities (AGE-SECRET-KEY-1…); a malformed, tampered or
 * truncated file, or one for none of them, throws naming `what` and the reason. The result is a
 * Buffer (send it as it is; no further copy is needed).
 */
export async function decryptWith(identity: string | readonly string[], data: Uint8Array, what = 'encrypted data'): Promise<Buffer> {
  try {
    return decryptSync(identity, data);
  } catch (err) {
    if (!(err instanceof AgeFormatError)) throw err;
    throw new AppError('BAD_REQUEST', `${what} cannot be decrypted with the given identity: ${err.message}`, { cause: err });
  }
}

/** A new age X25519 key pair: the identity (AGE-SECRET-KEY-1…, secret) and its recipient (age1…). */
export async function generateIdentity(): Promise<{ identity: string; recipient: string }> {
  const secret = randomBytes(32);
  const identity = bech32Encode(IDENTITY_HRP, secret).toUpperCase();
  return { identity, recipient: bech32Encode(RECIPIENT_HRP, rawPublic(x25519Private(secret))) };
}

/** The recipient (age1…) of an identity (AGE-SECRET-KEY-1…). */
export async function recipientOf(identity: string): Promise<string> {
  return bech32Encode(RECIPIENT_HRP, parseIdentity(identity, 0, 1).pub);
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
    v: 1,
    kdf: 'scrypt',
    N: kek.N,
    r: kek.r,
    p: kek.p,
    salt: kek.salt,
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    ct: ct.toString('base64'),
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

// --- the case tag ---

/**
 * HMAC-SHA-256 of `message` under `key` (hex): the case tag that names a case in object keys
 * without its code (docs/design/keys-layout-retention.md, "Finding a case").
 */
export function hmacHex(key: Uint8Array, message: string): string {
  return createHmac('sha256', key).update(message, 'utf8').digest('hex');
}

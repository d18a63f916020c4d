// age v1 on node:crypto (src/store/crypto.ts) against the two reference implementations: Debian's
// `age` CLI (Go, age 1.1) and `age-encryption` (JavaScript). Malformed files are made from real
// ones; where a case needs a valid MAC or chunk, the test seals it with the file key captured from
// age-encryption, and the age CLI must judge every such file the same way the kit does.
import { execFileSync, spawnSync } from 'node:child_process';
import { createCipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as age from 'age-encryption';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../src/core/errors.js';
import {
  decryptSync,
  decryptWith,
  encryptedSize,
  encryptSync,
  encryptTo,
  generateIdentity,
  hkdfSha256,
  parseRecipients,
  recipientOf,
} from '../src/store/crypto.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'vht-crypto-'));
const CHUNK = 64 * 1024;

interface Key {
  identity: string;
  recipient: string;
  file: string;
}

/** An identity made by age-keygen (the reference), in a key file the age CLI reads. */
function ageKeygen(name: string): Key {
  const file = path.join(dir, `${name}.key`);
  execFileSync('age-keygen', ['-o', file], { stdio: 'pipe' });
  const text = readFileSync(file, 'utf8');
  return { identity: /^(AGE-SECRET-KEY-1\S+)$/m.exec(text)![1]!, recipient: /# public key: (age1\S+)/.exec(text)![1]!, file };
}

/** An identity made by the kit, written to a key file for the age CLI. */
async function kitKey(name: string): Promise<Key> {
  const { identity, recipient } = await generateIdentity();
  const file = path.join(dir, `${name}.key`);
  writeFileSync(file, identity + '\n', { mode: 0o600 });
  return { identity, recipient, file };
}

function ageDecrypt(key: Key, data: Uint8Array): { ok: boolean; out: Buffer; err: string } {
  const r = spawnSync('age', ['-d', '-i', key.file], { input: data, maxBuffer: 64 * 1024 * 1024 });
  return { ok: r.status === 0, out: r.stdout, err: r.stderr.toString() };
}

function ageEncrypt(recipients: string[], data: Uint8Array): Buffer {
  return execFileSync(
    'age',
    recipients.flatMap((r) => ['-r', r]),
    { input: data, maxBuffer: 64 * 1024 * 1024 },
  );
}

async function jsDecrypt(identity: string, data: Uint8Array): Promise<Buffer> {
  const d = new age.Decrypter();
  d.addIdentity(identity);
  return Buffer.from(await d.decrypt(data));
}

async function jsEncrypt(recipients: string[], data: Uint8Array): Promise<Buffer> {
  const e = new age.Encrypter();
  for (const r of recipients) e.addRecipient(r);
  return Buffer.from(await e.encrypt(data));
}

function pattern(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** Where the header ends (after the MAC line) in an age file. */
function headerEnd(file: Buffer): number {
  return file.indexOf('\n', file.indexOf('\n---') + 1) + 1;
}

let a: Key; // the kit's identity
let b: Key; // an identity from age-keygen
let stranger: Key;

beforeAll(async () => {
  a = await kitKey('kit');
  b = ageKeygen('org');
  stranger = ageKeygen('stranger');
});

const SIZES = [0, 1, 65_535, 65_536, 65_537, 3 * 1024 * 1024 + 17];

describe('age interoperability, both ways', () => {
  for (const size of SIZES) {
    it(`${size} bytes, one and two recipients`, async () => {
      const plain = pattern(size, size + 1);
      for (const recipients of [[a.recipient], [a.recipient, b.recipient]]) {
        const ours = await encryptTo(recipients, plain);
        expect(Buffer.from(ours.subarray(0, 22)).toString()).toBe('age-encryption.org/v1\n');
        // the references read what the kit writes, with each recipient's identity
        const cliA = ageDecrypt(a, ours);
        expect(cliA.err).toBe('');
        expect(cliA.out.equals(plain)).toBe(true);
        expect((await jsDecrypt(a.identity, ours)).equals(plain)).toBe(true);
        if (recipients.length === 2) {
          expect(ageDecrypt(b, ours).out.equals(plain)).toBe(true);
          expect((await jsDecrypt(b.identity, ours)).equals(plain)).toBe(true);
        }
        expect(ageDecrypt(stranger, ours).ok).toBe(false);
        // the kit reads what the references write
        for (const theirs of [ageEncrypt(recipients, plain), await jsEncrypt(recipients, plain)]) {
          expect((await decryptWith(a.identity, theirs)).equals(plain)).toBe(true);
          if (recipients.length === 2) expect((await decryptWith([stranger.identity, b.identity], theirs)).equals(plain)).toBe(true);
          await expect(decryptWith(stranger.identity, theirs)).rejects.toThrow(/none of the 1 identities opens any of its \d recipient stanzas/);
        }
        // the size is the spec's: header + 16-byte nonce + one 16-byte tag per 64 KiB chunk (at least one)
        const chunks = Math.max(1, Math.ceil(size / CHUNK));
        expect(ours.length - headerEnd(Buffer.from(ours))).toBe(16 + size + 16 * chunks);
      }
    });
  }

  it('into a reused buffer, with recipients parsed once: each file as the age CLI reads it, the buffer reused only where it fits', () => {
    const parsed = parseRecipients([a.recipient, b.recipient]);
    const scratch = Buffer.alloc(encryptedSize(2, 70_000));
    const files: Buffer[] = [];
    for (const size of [70_000, 0, 65_536, 1]) {
      const plain = pattern(size, size + 7);
      const ct = encryptSync(parsed, plain, scratch);
      expect(ct.length).toBe(encryptedSize(2, size));
      // written into the scratch buffer (same memory), not a new one
      expect(ct.buffer).toBe(scratch.buffer);
      expect(ageDecrypt(a, ct).out.equals(plain)).toBe(true);
      expect(ageDecrypt(b, ct).out.equals(plain)).toBe(true);
      files.push(Buffer.from(ct));
    }
    // a file larger than the buffer gets its own; the buffer keeps the last file that fitted
    const big = pattern(70_001, 3);
    const own = encryptSync(parsed, big, scratch);
    expect(own.buffer).not.toBe(scratch.buffer);
    expect(ageDecrypt(a, own).out.equals(big)).toBe(true);
    expect(scratch.subarray(0, files[3]!.length).equals(files[3]!)).toBe(true);
    // a fresh file key and nonce each time: the same plaintext never gives the same bytes
    expect(encryptSync(parsed, pattern(1000, 1)).equals(encryptSync(parsed, pattern(1000, 1)))).toBe(false);
    expect(() => parseRecipients([a.recipient, 'age1nope'])).toThrow(/recipient 2 of 2 \("age1nope"\)/);
    expect(() => parseRecipients([])).toThrow(/at least one age1… recipient/);
  });

  it('text is encrypted as UTF-8', async () => {
    const text = 'manifest “ünïcode” ✓';
    const ct = await encryptTo([b.recipient], text);
    expect(ageDecrypt(b, ct).out.toString('utf8')).toBe(text);
  });

  it('keys: the kit derives the same recipient as age-keygen and age-encryption, and its own keys work in both', async () => {
    expect(await recipientOf(b.identity)).toBe(b.recipient);
    expect(await recipientOf(a.identity)).toBe(await age.identityToRecipient(a.identity));
    const js = await age.generateX25519Identity();
    expect(await recipientOf(js)).toBe(await age.identityToRecipient(js));
    expect(execFileSync('age-keygen', ['-y', a.file]).toString().trim()).toBe(a.recipient);
    expect(a.identity).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
    expect(a.recipient).toMatch(/^age1[0-9a-z]{58}$/);
  });

  it('HKDF-SHA-256 from two HMACs equals the hkdfSync of OpenSSL (empty and 16-byte salts, the labels age uses)', () => {
    for (const [ikm, salt, info] of [
      [randomBytes(16), Buffer.alloc(0), 'header'],
      [randomBytes(16), randomBytes(16), 'payload'],
      [randomBytes(32), randomBytes(64), 'age-encryption.org/v1/X25519'],
    ] as const) {
      expect(hkdfSha256(ikm, salt, info).equals(Buffer.from(hkdfSync('sha256', ikm, salt, info, 32)))).toBe(true);
    }
  });

  it('property: random sizes around the chunk boundaries, kit → age CLI and age CLI → kit', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: 0, max: 300_000 }),
          fc.integer({ min: -3, max: 3 }).chain((d) => fc.constantFrom(CHUNK + d, 2 * CHUNK + d, 3 * CHUNK + d)),
        ),
        fc.boolean(),
        fc.integer(),
        (size, two, seed) => {
          const n = Math.max(0, size);
          const plain = pattern(n, seed);
          const recipients = two ? [b.recipient, a.recipient] : [a.recipient];
          const cli = ageDecrypt(a, encryptSync(recipients, plain));
          expect(cli.ok && cli.out.equals(plain)).toBe(true);
          expect(decryptSync(a.identity, ageEncrypt(recipients, plain)).equals(plain)).toBe(true);
        },
      ),
      { numRuns: 30 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Malformed files. A file key captured from age-encryption lets the test re-seal the MAC and the
// payload chunks, so each case breaks exactly one rule.

interface Known {
  file: Buffer;
  fileKey: Buffer;
  header: string; // up to and including "---"
  payload: Buffer; // nonce + chunks
}

async function knownFile(plain: Uint8Array, recipients = [a.recipient]): Promise<Known> {
  let fileKey: Buffer | null = null;
  const e = new age.Encrypter();
  for (const r of recipients) e.addRecipient(r);
  e.addRecipient({ wrapFileKey: (k: Uint8Array) => ((fileKey = Buffer.from(k)), []) });
  const file = Buffer.from(await e.encrypt(plain));
  const end = headerEnd(file);
  return { file, fileKey: fileKey!, header: file.subarray(0, file.indexOf('\n---') + 4).toString('latin1'), payload: file.subarray(end) };
}

const b64 = (x: Uint8Array) => Buffer.from(x).toString('base64').replace(/=+$/, '');
const hkdf = (ikm: Uint8Array, salt: Uint8Array, info: string) => Buffer.from(hkdfSync('sha256', ikm, salt, info, 32));

/** A header with a correct MAC for `fileKey`. */
function withMac(fileKey: Buffer, header: string): Buffer {
  const mac = createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header'))
    .update(Buffer.from(header, 'latin1'))
    .digest();
  return Buffer.from(`${header} ${b64(mac)}\n`, 'latin1');
}

/** A payload sealed with `fileKey`: each chunk with its own last-chunk flag (so a test can lie about it). */
function sealedPayload(fileKey: Buffer, chunks: { data: Buffer; last: boolean }[]): Buffer {
  const nonce = randomBytes(16);
  const key = hkdf(fileKey, nonce, 'payload');
  const parts = [nonce];
  chunks.forEach((c, i) => {
    const n = Buffer.alloc(12);
    n.writeUInt32BE(i, 7);
    n[11] = c.last ? 1 : 0;
    const cipher = createCipheriv('chacha20-poly1305', key, n, { authTagLength: 16 });
    parts.push(cipher.update(c.data), cipher.final(), cipher.getAuthTag());
  });
  return Buffer.concat(parts);
}

/** Both the kit and the age CLI reject it; the kit's error is an AppError matching `reason`. */
async function bothReject(data: Buffer, reason: RegExp, key: Key = a): Promise<void> {
  const cli = ageDecrypt(key, data);
  expect(cli.ok, `age CLI accepted a file the kit must reject (${reason})`).toBe(false);
  const err = await decryptWith(key.identity, data, 'segment 3 of clip c1').then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe('BAD_REQUEST');
  expect((err as AppError).message).toMatch(/^segment 3 of clip c1 cannot be decrypted with the given identity: /);
  expect((err as AppError).message).toMatch(reason);
}

describe('malformed files are rejected, as the age CLI rejects them, with a reason', () => {
  let big: Known; // 3 chunks: 2 full + 1000 bytes
  const plain = pattern(2 * CHUNK + 1000, 9);

  beforeAll(async () => {
    big = await knownFile(plain);
    expect((await decryptWith(a.identity, big.file)).equals(plain)).toBe(true);
  });

  it('wrong key, and none at all', async () => {
    await bothReject(big.file, /none of the 1 identities opens any of its 1 recipient stanzas/, stranger);
    await expect(decryptWith([], big.file)).rejects.toThrow(/at least one AGE-SECRET-KEY-1… identity is needed/);
  });

  it('truncated: in the header, inside a chunk, at a chunk boundary, down to the nonce', async () => {
    const end = headerEnd(big.file);
    await bothReject(big.file.subarray(0, 30), /header ends without a newline in line 2/);
    await bothReject(big.file.subarray(0, end - 5), /header ends without a newline/);
    await bothReject(big.file.subarray(0, end + 10), /payload is 10 bytes, too short/);
    await bothReject(big.file.subarray(0, end + 16), /payload is 16 bytes, too short/);
    await bothReject(big.file.subarray(0, big.file.length - 500), /chunk 3 of 3 \(the last\) does not authenticate/);
    // cut after the second full chunk: that chunk was not sealed as the last one
    await bothReject(big.file.subarray(0, end + 16 + 2 * (CHUNK + 16)), /chunk 2 of 2 \(the last\) does not authenticate/);
    await bothReject(big.file.subarray(0, end + 16 + 2 * (CHUNK + 16) + 7), /last chunk is 7 bytes, shorter than its tag/);
  });

  it('reordered chunks, appended data and bit flips in every part', async () => {
    const end = headerEnd(big.file);
    const p = end + 16;
    const swapped = Buffer.concat([
      big.file.subarray(0, p),
      big.file.subarray(p + CHUNK + 16, p + 2 * (CHUNK + 16)),
      big.file.subarray(p, p + CHUNK + 16),
      big.file.subarray(p + 2 * (CHUNK + 16)),
    ]);
    await bothReject(swapped, /chunk 1 of 3 does not authenticate: the file was changed or reordered/);
    await bothReject(
      Buffer.concat([big.file, Buffer.from('x')]),
      /chunk 3 of 3 \(the last\) does not authenticate: the file was changed, truncated or has data appended/,
    );
    await bothReject(Buffer.concat([big.file, Buffer.alloc(CHUNK)]), /does not authenticate/);
    const flip = (at: number) => {
      const f = Buffer.from(big.file);
      f[at]! ^= 0x04;
      return f;
    };
    const stanzaBody = big.file.indexOf('\n', 30) + 3;
    const macAt = big.file.indexOf('\n---') + 10;
    await bothReject(flip(stanzaBody), /none of the 1 identities opens|not canonical base64|not base64/);
    await bothReject(flip(macAt), /header MAC is wrong|MAC line/);
    await bothReject(flip(end + 3), /chunk 1 of 3 does not authenticate/); // the payload nonce
    await bothReject(flip(end + 16 + 100), /chunk 1 of 3 does not authenticate/);
    await bothReject(flip(big.file.length - 1), /chunk 3 of 3 \(the last\) does not authenticate/);
  });

  it('a changed header with a MAC that does not cover it', async () => {
    // an extra unknown stanza keeps the file key readable, so only the MAC can catch it
    const header = big.header.replace('\n---', '\n-> extra stanza\nAAAA\n---');
    const mac = big.file.subarray(big.file.indexOf('\n---') + 4, headerEnd(big.file) - 1).toString('latin1');
    await bothReject(Buffer.concat([Buffer.from(`${header}${mac}\n`, 'latin1'), big.payload]), /header MAC is wrong/);
    // the same stanza with a fresh MAC is valid: unknown stanzas are ignored
    const ok = Buffer.concat([withMac(big.fileKey, header), big.payload]);
    expect(ageDecrypt(a, ok).out.equals(plain)).toBe(true);
    expect((await decryptWith(a.identity, ok)).equals(plain)).toBe(true);
  });

  it('header grammar: version line, stanza lines, body line lengths and base64, the MAC line', async () => {
    const bad = (header: string) => Buffer.concat([withMac(big.fileKey, header), big.payload]);
    await bothReject(Buffer.from('not age at all\n'), /does not start with the line "age-encryption.org\/v1"/);
    await bothReject(bad(big.header.replace('age-encryption.org/v1', 'age-encryption.org/v2')), /does not start with the line/);
    await bothReject(bad(big.header.replace('\n-> X25519', '\n->  X25519')), /stanza argument is empty/);
    await bothReject(bad(big.header.replace('\n-> X25519 ', '\n-> X25519 x ')), /X25519 stanza needs exactly one argument/);
    await bothReject(bad(big.header.replace('\n---', '\n-> unknown \u00e9\nAAAA\n---')), /outside printable ASCII/);
    await bothReject(bad(big.header.replace('\n---', '\n?? what\n---')), /neither a stanza/);
    await bothReject(bad(big.header.replace('\n---', '\n-> ext\r\nAAAA\n---')), /outside printable ASCII/);
    // a body of exactly 48 bytes fills a 64-column line, so it must end with an empty line
    const full = b64(Buffer.alloc(48, 1));
    expect(full).toHaveLength(64);
    const okHeader = big.header.replace('\n---', `\n-> ext\n${full}\n\n---`);
    expect((await decryptWith(a.identity, bad(okHeader))).equals(plain)).toBe(true);
    expect(ageDecrypt(a, bad(okHeader)).ok).toBe(true);
    await bothReject(bad(big.header.replace('\n---', `\n-> ext\n${full}\n---`)), /body line is not base64|MAC line/);
    await bothReject(bad(big.header.replace('\n---', `\n-> ext\n${full}A\n\n---`)), /body line has 65 columns, at most 64/);
    await bothReject(bad(big.header.replace('\n---', '\n-> ext\nAAA=\n---')), /not base64 without padding/);
    await bothReject(bad(big.header.replace('\n---', '\n-> ext\nAB\n---')), /not canonical base64/); // unused bits set
    // the X25519 body itself: 32 bytes, no more
    const x = /\n-> X25519 \S+\n(\S+)\n/.exec(big.header)!;
    await bothReject(bad(big.header.replace(x[1]!, x[1]! + 'AAAA')), /X25519 stanza body is 35 bytes, not 32/);
    // the MAC line: base64 of 32 bytes after "--- "
    const macLine = (m: string) => Buffer.concat([Buffer.from(`${big.header}${m}\n`, 'latin1'), big.payload]);
    await bothReject(macLine(' ' + b64(Buffer.alloc(31))), /MAC line is not/);
    await bothReject(macLine(''), /MAC line is not/);
    await bothReject(Buffer.concat([Buffer.from('age-encryption.org/v1\n--- ' + b64(Buffer.alloc(32)) + '\n'), big.payload]), /no recipient stanza/);
  });

  it('an empty last chunk is valid only for an empty file; a full last chunk must carry the flag', async () => {
    const empty = await knownFile(new Uint8Array(0));
    const header = withMac(empty.fileKey, empty.header);
    const both = async (chunks: { data: Buffer; last: boolean }[], ok: boolean, reason?: RegExp) => {
      const file = Buffer.concat([header, sealedPayload(empty.fileKey, chunks)]);
      if (ok) {
        const want = Buffer.concat(chunks.map((c) => c.data));
        expect(ageDecrypt(a, file).out.equals(want)).toBe(true);
        expect((await decryptWith(a.identity, file)).equals(want)).toBe(true);
      } else {
        await bothReject(file, reason!);
      }
    };
    const full = pattern(CHUNK, 3);
    await both([{ data: Buffer.alloc(0), last: true }], true);
    await both([{ data: full, last: true }], true);
    await both(
      [
        { data: full, last: false },
        { data: Buffer.alloc(0), last: true },
      ],
      false,
      /last chunk is empty after a full chunk/,
    );
    await both([{ data: full, last: false }], false, /chunk 1 of 1 \(the last\) does not authenticate/);
    await both([{ data: Buffer.alloc(0), last: false }], false, /chunk 1 of 1 \(the last\) does not authenticate/);
    await both(
      [
        { data: pattern(10), last: true },
        { data: pattern(10), last: true },
      ],
      false,
      /chunk 1 of 1 \(the last\) does not authenticate/,
    );
    await both(
      [
        { data: full, last: true },
        { data: pattern(10), last: true },
      ],
      false,
      /chunk 1 of 2 does not authenticate/,
    );
    // nothing after the header at all
    await bothReject(header, /payload is 0 bytes, too short/);
  });

  it('bad keys are named by position (identities) or value (public recipients), never crash', async () => {
    await expect(encryptTo(['age1notakey'], 'x')).rejects.toThrow(/recipient 1 of 1 \("age1notakey"\) is not an age X25519 recipient/);
    await expect(encryptTo([a.recipient, a.recipient.slice(0, -1) + (a.recipient.endsWith('q') ? 'p' : 'q')], 'x')).rejects.toThrow(
      /recipient 2 of 2 .*checksum is wrong/,
    );
    await expect(encryptTo([a.recipient.toUpperCase()], 'x')).rejects.toThrow(/does not start with "age1"/);
    await expect(encryptTo([], 'x')).rejects.toThrow(/at least one age1… recipient/);
    const badId = a.identity.slice(0, -1) + (a.identity.endsWith('Q') ? 'P' : 'Q');
    const err = await decryptWith(badId, big.file).then(
      () => null,
      (e: unknown) => e as AppError,
    );
    expect(err?.code).toBe('VALIDATION');
    expect(err?.message).toMatch(/identity 1 of 1 is not an age X25519 identity \(AGE-SECRET-KEY-1…\): its bech32 checksum is wrong/);
    expect(err?.message).not.toContain(badId.slice(16, 40)); // secrets never appear in errors
    await expect(recipientOf('AGE-SECRET-KEY-1abc')).rejects.toThrow(/identity 1 of 1 .*mixes upper and lower case/);
    // a share of small order (all-zero point) is refused, as the spec demands
    const zeroShare = big.header.replace(/\n-> X25519 \S+\n/, `\n-> X25519 ${b64(Buffer.alloc(32))}\n`);
    await bothReject(Buffer.concat([withMac(big.fileKey, zeroShare), big.payload]), /small order|all-zero shared secret/);
  });
});

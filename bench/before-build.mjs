// A "before" build for the CPU benches: a copy of dist/ in which src/store/crypto.ts's age
// functions are the previous ones (age-encryption 0.3.1, pure JavaScript ChaCha20-Poly1305,
// HKDF and HMAC; X25519 through WebCrypto), as at commit 3db2df8. Everything else, the PIN sealing
// included, is the current code, so a before/after pair in one run differs only in age.
import { cpSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO, tempDir } from './lib.mjs';

const SHIM = `// Written by bench/before-build.mjs: the age functions before issue 16 (age-encryption).
import * as age from 'age-encryption';
import { AppError } from '../core/errors.js';
export * from './crypto-native.js';

export async function encryptTo(recipients, data) {
  const e = new age.Encrypter();
  for (const r of recipients) e.addRecipient(r);
  return e.encrypt(data);
}

export async function decryptWith(identity, data, what = 'encrypted data') {
  const d = new age.Decrypter();
  for (const id of typeof identity === 'string' ? [identity] : identity) d.addIdentity(id);
  try {
    return await d.decrypt(data);
  } catch (err) {
    throw new AppError('BAD_REQUEST', \`\${what} cannot be decrypted with the given identity: \${err.message}\`, { cause: err });
  }
}

export async function generateIdentity() {
  const identity = await age.generateX25519Identity();
  return { identity, recipient: await age.identityToRecipient(identity) };
}

export async function recipientOf(identity) {
  return age.identityToRecipient(identity);
}
`;

/**
 * Copies dist/ under a temp dir inside the repo (so node_modules resolves) with the age-encryption
 * crypto module; returns the path of its cli.js. The web UI (dist/ui) comes along.
 */
export function beforeBuild() {
  const root = tempDir('.bench-before-', REPO);
  const dist = path.join(root, 'dist');
  cpSync(path.join(REPO, 'dist'), dist, { recursive: true });
  renameSync(path.join(dist, 'store', 'crypto.js'), path.join(dist, 'store', 'crypto-native.js'));
  writeFileSync(path.join(dist, 'store', 'crypto.js'), SHIM);
  return path.join(dist, 'cli.js');
}

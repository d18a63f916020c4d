import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { decryptWith, unseal } from '../../src/store/crypto.js';

/**
 * Every identity that can be got from what is in a kit's data dir now, given the PIN: each
 * trainer's wrapping identity (unsealed) and every content key wrapped to one of those (clips,
 * fragments, kept stills, reviews). What a thief with the card and the PIN would have.
 */
export async function everythingLeftOnTheKit(dataDir: string, pin: string): Promise<string[]> {
  const keysDir = path.join(dataDir, 'keys');
  const ids: string[] = [];
  for (const t of readdirSync(path.join(keysDir, 'trainers')).filter((n) => n.endsWith('.json'))) {
    const s = await unseal(JSON.parse(readFileSync(path.join(keysDir, 'trainers', t), 'utf8')).sealed, pin);
    if (s) ids.push(s);
  }
  for (const kind of ['clips', 'fragments', 'stills', 'reviews']) {
    const dir = path.join(keysDir, kind);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) {
      const wraps = JSON.parse(readFileSync(path.join(dir, f), 'utf8')).wraps as Record<string, string>;
      for (const w of Object.values(wraps)) {
        for (const id of [...ids]) {
          try {
            ids.push(Buffer.from(await decryptWith(id, Buffer.from(w, 'base64'))).toString());
          } catch {
            // not wrapped to this one
          }
        }
      }
    }
  }
  return ids;
}

/** Whether any of `ids` decrypts `data` (an age file). */
export async function opensWithAny(ids: string[], data: Uint8Array): Promise<boolean> {
  for (const id of ids) {
    try {
      await decryptWith(id, data);
      return true;
    } catch {
      // not this one
    }
  }
  return false;
}

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
    const file = readJsonIfThere(path.join(keysDir, 'trainers', t));
    const s = file ? await unseal(file.sealed, pin) : null;
    if (s) ids.push(s);
  }
  for (const kind of ['clips', 'fragments', 'stills', 'reviews']) {
    const dir = path.join(keysDir, kind);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) {
      const wraps = (readJsonIfThere(path.join(dir, f))?.wraps ?? {}) as Record<string, string>;
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

/**
 * A JSON file, or null when it is gone: a running kit writes keys durably (a temporary file renamed
 * into place), so a file listed a moment ago may have been renamed since.
 */
function readJsonIfThere(file: string): any {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
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

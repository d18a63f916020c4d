import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileDurableSync } from '../store/durable.js';
import { outboxDir } from '../store/keys.js';
import { checkKitId } from './manifest.js';
import { checkKey, md5Hex, sha256Hex, type UploadTarget } from './targets.js';

import { parseDirectoryEntry, type DirectoryEntry } from '../store/directory-entry.js';

export { directoryKitKey as directoryKey } from '../store/objects.js';
export { parseDirectoryEntry, type DirectoryEntry };

/** The directory as this kit last read it (`directory.json` in the data dir); empty before the first dock. */
export class DirectoryCache {
  constructor(
    private readonly dataDir: string,
    private readonly kitId: string,
  ) {}

  private get file(): string {
    return path.join(this.dataDir, 'directory.json');
  }

  /** Every entry of the team of this kit (this kit's included). */
  entries(): DirectoryEntry[] {
    try {
      return (JSON.parse(readFileSync(this.file, 'utf8')) as string[]).map((t, i) => parseDirectoryEntry(t, `directory.json[${i}]`));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  /** Keeps the entries read from the office bucket (the raw texts, checked again when read). */
  save(texts: string[]): void {
    texts.forEach((t, i) => parseDirectoryEntry(t, `directory entry ${i}`));
    writeFileDurableSync(this.file, JSON.stringify(texts));
  }

  /** The other kits a trainer is on and their inbox there (KeyStore's `outboxRecipients`). */
  otherKitsOf(trainerId: string): { kitId: string; recipient: string }[] {
    return this.entries()
      .filter((e) => e.kitId !== this.kitId && e.trainers[trainerId] !== undefined)
      .map((e) => ({ kitId: e.kitId, recipient: e.trainers[trainerId]!.inboxRecipient }));
  }
}

/**
 * Uploads the content keys waiting in the outbox (`outbox/<T>/<kit>/<kind>-<id>.key.age`, sealed to
 * the trainer's inbox on that kit) as `<kitId>/outbox/<T>/<kit>/…`; returns how many. Idempotent:
 * a key is put again until the file is gone, and the file goes only after a confirmed PUT.
 */
export async function uploadOutbox(dataDir: string, kitId: string, target: UploadTarget, removeFile: (file: string) => void): Promise<number> {
  const root = outboxDir(dataDir);
  let sent = 0;
  for (const t of safeList(root)) {
    for (const to of safeList(path.join(root, t))) {
      for (const name of safeList(path.join(root, t, to)).filter((n) => n.endsWith('.key.age') && !n.startsWith('.tmp-'))) {
        const file = path.join(root, t, to, name);
        const body = readFileSync(file);
        await target.put(checkKey(`${checkKitId(kitId)}/outbox/${t}/${to}/${name}`), body, { md5Hex: md5Hex(body), sha256Hex: sha256Hex(body) });
        removeFile(file);
        sent += 1;
      }
    }
  }
  return sent;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

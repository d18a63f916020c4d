import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { AppError, describeError } from '../core/errors.js';
import { writeFileDurableSync } from '../store/durable.js';
import { outboxDir, TRAINER_ID_PATTERN } from '../store/keys.js';
import { checkKitId } from './manifest.js';
import { checkKey, md5Hex, sha256Hex, type UploadTarget } from './targets.js';

/**
 * The office directory (docs/design/keys-layout-retention.md): `directory/kits/<kit>.json` in the
 * office bucket, plaintext (public recipients, pseudonymous ids): which trainers are on a kit, the
 * recipient of each one's inbox there, and the kit's team. Written by the office; kits only read it.
 */
export interface DirectoryEntry {
  format: 'vht-kit.directory-kit';
  v: 1;
  kitId: string;
  team: string;
  /** Where the kit's objects are: its own bucket (a bucket per kit) or a shared one with `<kitId>/` names. */
  bucket: string;
  trainers: Record<string, { inboxRecipient: string }>;
  /** The office's case assignment (issue 20): per case tag, the case's trainers; co-trainers reach the kit with it. */
  caseTrainers?: Record<string, string[]>;
}

/** The office bucket's name of a kit's entry. */
export function directoryKey(kitId: string): string {
  return `directory/kits/${checkKitId(kitId)}.json`;
}

/** Checks an entry's shape (a kit does not trust an object blindly); errors name the field and the value. */
export function parseDirectoryEntry(text: string, what: string): DirectoryEntry {
  let d: Partial<DirectoryEntry>;
  try {
    d = JSON.parse(text) as Partial<DirectoryEntry>;
  } catch (err) {
    throw new AppError('BAD_REQUEST', `${what}: not JSON (${describeError(err)})`, { field: what });
  }
  const bad = (field: string, value: unknown): never => {
    throw new AppError('BAD_REQUEST', `${what}: ${field} is ${JSON.stringify(value)?.slice(0, 80)}`, { field });
  };
  if (d.format !== 'vht-kit.directory-kit' || d.v !== 1) bad('format', d.format);
  checkKitId(String(d.kitId));
  if (typeof d.team !== 'string' || d.team === '') bad('team', d.team);
  if (typeof d.bucket !== 'string' || d.bucket === '') bad('bucket', d.bucket);
  if (typeof d.trainers !== 'object' || d.trainers === null) bad('trainers', d.trainers);
  for (const [t, v] of Object.entries(d.trainers!)) {
    if (!TRAINER_ID_PATTERN.test(t)) bad('trainers', t);
    if (!/^age1[0-9a-z]{58}$/.test(v?.inboxRecipient ?? '')) bad(`trainers.${t}.inboxRecipient`, v?.inboxRecipient);
  }
  if (d.caseTrainers !== undefined) {
    if (typeof d.caseTrainers !== 'object' || d.caseTrainers === null) bad('caseTrainers', d.caseTrainers);
    for (const [tag, ts] of Object.entries(d.caseTrainers)) {
      if (!/^[0-9a-f]{32}$/.test(tag)) bad('caseTrainers', tag);
      if (!Array.isArray(ts) || !ts.every((t) => typeof t === 'string' && TRAINER_ID_PATTERN.test(t))) bad(`caseTrainers.${tag}`, ts);
    }
  }
  return d as DirectoryEntry;
}

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

import { readFileSync } from 'node:fs';
import { AppError, describeError } from '../core/errors.js';
import type { BucketStore } from '../store/bucket-store.js';
import { TRAINER_ID_PATTERN } from '../store/keys.js';
import { parseDirectoryEntry, type DirectoryEntry } from '../store/directory-entry.js';
import { directoryKitKey as directoryKey } from '../store/objects.js';

/**
 * The office directory (`directory/kits/<kit>.json` in the office bucket, docs/office.md): the
 * office writes it, kits read it at each dock. An entry names the kit's team, its trainers with
 * their inbox recipients (printed by `vht-kit trainer add`), and per case tag the case's trainers,
 * which is how a co-trainer's kit learns to share and fetch a case (issue 20).
 */

/** A kit's entry, or null when the office has not written one. */
export async function readEntry(office: BucketStore, kitId: string): Promise<DirectoryEntry | null> {
  const key = directoryKey(kitId);
  if (!(await office.exists(key))) return null;
  return parseDirectoryEntry((await office.get(key)).toString('utf8'), key);
}

/** Writes an entry from a JSON file, checked by the parser the kits use; its kitId must be the kit named. */
export async function putEntryFile(office: BucketStore, kitId: string, file: string): Promise<DirectoryEntry> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new AppError('VALIDATION', `--file ${JSON.stringify(file)} cannot be read: ${describeError(err)}`, { field: '--file' });
  }
  const entry = parseDirectoryEntry(text, file);
  if (entry.kitId !== kitId)
    throw new AppError('VALIDATION', `${file}: kitId ${JSON.stringify(entry.kitId)} is not the kit named (${JSON.stringify(kitId)})`, { field: 'kitId' });
  await office.put(directoryKey(kitId), Buffer.from(`${JSON.stringify(entry, null, 1)}\n`));
  return entry;
}

/** Checks a list of trainer ids (`T-017,T-018`); an empty list is allowed (the case has no trainers left). */
export function parseTrainerList(value: string | undefined): string[] {
  if (value === undefined) throw new AppError('VALIDATION', '--trainers is required (e.g. --trainers T-017,T-018; empty to clear)', { field: '--trainers' });
  const ids = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const t of ids)
    if (!TRAINER_ID_PATTERN.test(t))
      throw new AppError('VALIDATION', `--trainers: ${JSON.stringify(t)} is not a trainer id like T-017`, { field: '--trainers' });
  return [...new Set(ids)].sort();
}

/**
 * Sets a case's trainers in every kit entry of the directory: the tag maps to the trainers, kept
 * only in entries where at least one of them is enrolled (a kit applies only its own trainers);
 * an empty list or a kit without any of them removes the tag. Returns the kits whose entry changed.
 */
export async function setCaseTrainers(office: BucketStore, tag: string, trainers: string[]): Promise<{ changed: string[]; holding: string[] }> {
  const listed = await office.list('directory/kits/');
  const changed: string[] = [];
  const holding: string[] = [];
  for (const key of listed.keys.filter((k) => k.endsWith('.json')).sort()) {
    const entry = parseDirectoryEntry((await office.get(key)).toString('utf8'), key);
    const here = trainers.filter((t) => entry.trainers[t] !== undefined);
    const next = { ...(entry.caseTrainers ?? {}) };
    const before = JSON.stringify(next[tag] ?? null);
    if (here.length > 0) next[tag] = trainers;
    else delete next[tag];
    if (here.length > 0) holding.push(entry.kitId);
    if (JSON.stringify(next[tag] ?? null) === before) continue;
    const updated: DirectoryEntry = { ...entry, caseTrainers: next };
    await office.put(key, Buffer.from(`${JSON.stringify(updated, null, 1)}\n`));
    changed.push(entry.kitId);
  }
  return { changed, holding };
}

import { AppError, describeError } from '../core/errors.js';
import { TRAINER_ID_PATTERN } from './keys.js';
import { CASE_TAG_PATTERN, directoryKitKey } from './objects.js';

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
  directoryKitKey(String(d.kitId));
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
      if (!CASE_TAG_PATTERN.test(tag)) bad('caseTrainers', tag);
      if (!Array.isArray(ts) || !ts.every((t) => typeof t === 'string' && TRAINER_ID_PATTERN.test(t))) bad(`caseTrainers.${tag}`, ts);
    }
  }
  return d as DirectoryEntry;
}

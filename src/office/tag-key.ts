import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AppError, describeError } from '../core/errors.js';
import { CASE_TAG_SECRET, parseCaseTagKey } from '../session/case-tags.js';
import type { KeyStore } from '../store/keys.js';
import { CASE_TAG_KEY_BYTES } from '../store/objects.js';

/** A new case-tag key file: a comment and 64 hex characters (32 random bytes). */
export function caseTagKeyFileText(): string {
  return `# VHT Kit case-tag key of the organisation: names cases in the store (HMAC); keep it at the office, give it to kits at enrolment\n${randomBytes(CASE_TAG_KEY_BYTES).toString('hex')}\n`;
}

/** Reads the case-tag key file named by `field` (an option or an environment variable). */
export function readCaseTagKey(file: string, field = '--case-tag-key'): Uint8Array {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new AppError('NOT_FOUND', `${field} ${JSON.stringify(file)} cannot be read: ${describeError(err)}`, { field, cause: err });
  }
  return parseCaseTagKey(text, field);
}

/** Enrolment: wraps the organisation's case-tag key to every trainer on the kit. */
export async function storeCaseTagKey(store: KeyStore, file: string): Promise<void> {
  const key = readCaseTagKey(file);
  await store.storeOrgSecret(CASE_TAG_SECRET, Buffer.from(key).toString('hex'));
}

import { readFileSync } from 'node:fs';
import { AppError, describeError } from '../core/errors.js';

/** The identities (AGE-SECRET-KEY-1…) of an age identity file (`vht-kit keygen` / age-keygen). */
export function readIdentityFile(file: string, field = '--identity'): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new AppError('NOT_FOUND', `${field} ${JSON.stringify(file)} cannot be read: ${describeError(err)}`, { field, cause: err });
  }
  const ids = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('AGE-SECRET-KEY-1'));
  if (ids.length === 0) throw new AppError('VALIDATION', `${field} ${JSON.stringify(file)} holds no AGE-SECRET-KEY-1… line`, { field });
  return ids;
}

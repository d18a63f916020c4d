import type { z } from 'zod';
import { AppError, showValue } from '../core/errors.js';

/** Parses request input with a zod schema; the 400 names the field and the value that is wrong. */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown, where: 'body' | 'params' | 'query'): T {
  const result = schema.safeParse(value ?? {}, { reportInput: true });
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = [where, ...issue.path.map(String)].join('.');
  const message =
    issue.code === 'unrecognized_keys'
      ? `${field}: unknown field(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`
      : `${field}: ${issue.message}${'input' in issue && issue.input !== undefined ? ` (got ${showValue(issue.input)})` : ''}`;
  throw new AppError('VALIDATION', message, { field });
}

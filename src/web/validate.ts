import type { FastifySchemaCompiler } from 'fastify';
import type { z } from 'zod';
import { AppError, type ErrorParams, showValue } from '../core/errors.js';

type Where = 'body' | 'params' | 'query' | 'headers';
const HTTP_PART: Record<string, Where> = { body: 'body', params: 'params', querystring: 'query', headers: 'headers' };

/** `caseCode` → `case_code` (a reason names the field it is about). */
function snake(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .toLowerCase();
}

/** The values of a zod issue that a translated message may need (limits, allowed values, keys). */
function issueParams(issue: z.core.$ZodIssue): ErrorParams {
  const params: ErrorParams = {};
  const i = issue as unknown as Record<string, unknown>;
  for (const key of ['minimum', 'maximum', 'expected', 'format', 'origin']) {
    const v = i[key];
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') params[key] = v;
    else if (typeof v === 'bigint') params[key] = Number(v);
  }
  if (Array.isArray(i.keys)) params.keys = i.keys.join(',');
  if (Array.isArray(i.values)) params.values = i.values.map(String).join(',');
  if (issue.input !== undefined) params.got = showValue(issue.input);
  const extra = issue.code === 'custom' ? (issue.params as Record<string, unknown> | undefined) : undefined;
  for (const [k, v] of Object.entries(extra ?? {})) if (k !== 'reason' && (typeof v === 'string' || typeof v === 'number')) params[k] = v;
  return params;
}

/**
 * The 400 for one zod issue: the message names the field and the value; `reason` is a stable name:
 * the refinement's own (`params: { reason }`), else `<field>_<zod issue code>` (e.g. `pin_invalid_format`).
 */
export function inputError(issue: z.core.$ZodIssue, where: Where): AppError {
  const field = [where, ...issue.path.map(String)].join('.');
  const message =
    issue.code === 'unrecognized_keys'
      ? `${field}: unknown field(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`
      : `${field}: ${issue.message}${'input' in issue && issue.input !== undefined ? ` (got ${showValue(issue.input)})` : ''}`;
  const own = issue.code === 'custom' ? (issue.params as { reason?: unknown } | undefined)?.reason : undefined;
  const last = issue.path.length > 0 ? snake(String(issue.path[issue.path.length - 1])) : null;
  const code = issue.code === 'invalid_type' && issue.input === undefined ? 'missing' : issue.code;
  const reason = typeof own === 'string' ? own : last === null || /^[0-9]+$/.test(last) ? `${where}_${code}` : `${last}_${code}`;
  return new AppError('VALIDATION', message, { field, reason, params: issueParams(issue) });
}

/**
 * Fastify's validator for the routes' zod schemas: the first issue becomes the kit's 400 (an
 * AppError, which the error plugin writes like every other error). A missing body counts as `{}`.
 */
export const zodValidatorCompiler: FastifySchemaCompiler<z.ZodType> = ({ schema, httpPart }) => {
  const where = HTTP_PART[httpPart ?? 'body'] ?? 'body';
  return (data: unknown) => {
    const result = schema.safeParse(data ?? {}, { reportInput: true });
    return result.success ? { value: result.data } : { error: inputError(result.error.issues[0]!, where) };
  };
};

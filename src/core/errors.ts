/**
 * One table of error codes for the whole kit. Every error that reaches a user (HTTP, CLI, UI)
 * carries one of these codes, a message that names the field and the value where there is one,
 * and the HTTP status it maps to.
 */
export const ErrorCodes = {
  BAD_REQUEST: 400,
  VALIDATION: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  MISDIRECTED: 421,
  NOT_FOUND: 404,
  CONFLICT: 409,
  LOCKED: 423,
  TOO_MANY_ATTEMPTS: 429,
  STORAGE_FULL: 507,
  CAMERA_NOT_READY: 503,
  NOT_CONFIGURED: 503,
  CONFIG: 500,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** Values a message was built from, for the UI to say it in its own language. */
export type ErrorParams = Record<string, string | number | boolean | null>;

/** The body of every error reply: `{ error: ErrorBody }`. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  field?: string;
  /** A stable, specific name of what is wrong (e.g. `case_code_needs_digits`), for translation. */
  reason?: string;
  params?: ErrorParams;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly reason: string | undefined;
  readonly params: ErrorParams | undefined;
  readonly status: number;

  constructor(code: ErrorCode, message: string, opts: { field?: string; reason?: string; params?: ErrorParams; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AppError';
    this.code = code;
    this.field = opts.field;
    this.reason = opts.reason;
    this.params = opts.params;
    this.status = ErrorCodes[code];
  }

  /** The error reply's body: code and message always; field, reason and params when known. */
  toJSON(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message };
    if (this.field !== undefined) body.field = this.field;
    if (this.reason !== undefined) body.reason = this.reason;
    if (this.params !== undefined) body.params = this.params;
    return body;
  }
}

/** Short, loggable description of any thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Renders a value for an error message: short, quoted, never huge. */
export function showValue(value: unknown): string {
  let s: string;
  try {
    s = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    s = String(value);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

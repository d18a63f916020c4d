import type { FastifyInstance } from 'fastify';
import { AppError } from '../core/errors.js';

/** How deep arrays and objects may nest in a JSON body (the kit's own bodies need 3). */
export const MAX_JSON_DEPTH = 32;

/** How many event streams (SSE) one session may hold open at once. */
export const MAX_STREAMS_PER_SESSION = 8;

/**
 * Where a JSON text nests deeper than `maxDepth` ("… at character N"), or null. A linear scan that
 * skips strings, run before parsing, so a body of 30 000 `[` costs a loop, not the stack.
 */
export function jsonDepthProblem(text: string, maxDepth = MAX_JSON_DEPTH): string | null {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i += 1; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth += 1;
      if (depth > maxDepth) return `body: arrays/objects nest deeper than ${maxDepth} levels (at character ${i + 1})`;
    } else if (c === 0x5d || c === 0x7d) depth -= 1;
  }
  return null;
}

/**
 * Replaces the app's JSON body parser with one that refuses over-deep nesting (400, naming the
 * body) before Fastify's own parser (prototype-poisoning checks included) sees the text.
 */
export function installJsonDepthLimit(app: FastifyInstance, maxDepth = MAX_JSON_DEPTH): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const problem = jsonDepthProblem(body as string, maxDepth);
    if (problem) {
      done(Object.assign(new Error(problem), { statusCode: 400, code: 'VHT_JSON_TOO_DEEP' }), undefined);
      return;
    }
    // the default parser answers through `done`; what it returns carries nothing more
    void parse(req, body as string, done);
  });
}

/** Counts the open event streams per session and refuses one more than the cap (429). */
export class StreamLimit {
  private readonly open = new Map<string, number>();

  constructor(private readonly max = MAX_STREAMS_PER_SESSION) {}

  /** Takes a slot for this session's new stream; the returned function gives it back (once). */
  acquire(sessionKey: string): () => void {
    const n = this.open.get(sessionKey) ?? 0;
    if (n >= this.max) {
      throw new AppError(
        'TOO_MANY_ATTEMPTS',
        `this session already has ${n} event streams open (at most ${this.max}): close a tab or reload (te veel open verbindingen)`,
        { field: 'events' },
      );
    }
    this.open.set(sessionKey, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(sessionKey) ?? 1) - 1;
      if (left <= 0) this.open.delete(sessionKey);
      else this.open.set(sessionKey, left);
    };
  }

  /** Open streams of a session. */
  count(sessionKey: string): number {
    return this.open.get(sessionKey) ?? 0;
  }
}

import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';

/**
 * The kit controller's line protocol (docs/kit-controller.md): `\n`-ended ASCII lines, an optional
 * `*XX` checksum (XOR of every character before the `*`, two hex digits). This module is pure:
 * bytes in, messages and counted problems out; it never throws on input.
 */

export const MAX_LINE_BYTES = 256;

export type KitMessage =
  | { type: 'hello'; firmware: string }
  | { type: 'button'; id: string; pressed: boolean }
  | { type: 'battery'; percent: number; charging: boolean }
  | { type: 'dock'; docked: boolean };

/** Why a line was ignored. */
export type LineProblem = 'garbage' | 'overlong' | 'badChecksum' | 'unknown' | 'malformed';

export interface ProtocolStats {
  bytes: number;
  /** Valid messages. */
  messages: number;
  /** Lines with bytes outside printable ASCII (binary noise, wrong baud rate). */
  garbage: number;
  /** Lines longer than the cap; dropped up to the next `\n`. */
  overlong: number;
  badChecksum: number;
  /** Well-formed lines with a command this host does not know. */
  unknown: number;
  /** Known command with wrong arguments. */
  malformed: number;
}

export function emptyStats(): ProtocolStats {
  return { bytes: 0, messages: 0, garbage: 0, overlong: 0, badChecksum: 0, unknown: 0, malformed: 0 };
}

/** XOR of the character codes of `body`, as two upper-case hex digits. */
export function checksum(body: string): string {
  let x = 0;
  for (let i = 0; i < body.length; i++) x ^= body.charCodeAt(i) & 0xff;
  return x.toString(16).toUpperCase().padStart(2, '0');
}

/** A line to send: `body`, optionally `*XX`, and `\n`. */
export function formatLine(body: string, withChecksum: boolean): string {
  return withChecksum ? `${body}*${checksum(body)}\n` : `${body}\n`;
}

export type ParseResult = { ok: true; message: KitMessage } | { ok: false; problem: LineProblem; detail: string };

const FIRMWARE_RE = /^[\x21-\x7e]{1,40}$/;
const BUTTON_ID_RE = /^[A-Za-z0-9_.-]{1,16}$/;

/** Parses one line (without `\n`; a trailing `\r` is allowed). */
export function parseLine(raw: string): ParseResult {
  const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  if (!/^[\x20-\x7e]*$/.test(line)) return { ok: false, problem: 'garbage', detail: 'bytes outside printable ASCII' };
  let body = line;
  const star = line.lastIndexOf('*');
  if (star >= 0) {
    const given = line.slice(star + 1);
    body = line.slice(0, star);
    if (!/^[0-9A-Fa-f]{2}$/.test(given)) {
      return { ok: false, problem: 'badChecksum', detail: `checksum must be two hex digits after "*", got ${JSON.stringify(given.slice(0, 8))}` };
    }
    const want = checksum(body);
    if (given.toUpperCase() !== want) {
      return { ok: false, problem: 'badChecksum', detail: `checksum ${given.toUpperCase()} does not match ${want}` };
    }
  }
  const words = body.trim().split(/ +/);
  const cmd = words[0] ?? '';
  const args = words.slice(1);
  const bad = (detail: string): ParseResult => ({ ok: false, problem: 'malformed', detail: `${cmd}: ${detail}` });
  switch (cmd) {
    case 'HELLO': {
      const fw = args[0];
      if (args.length !== 1 || fw === undefined || !FIRMWARE_RE.test(fw)) return bad('expected HELLO <firmware-version>');
      return { ok: true, message: { type: 'hello', firmware: fw } };
    }
    case 'BTN': {
      const [id, edge] = args;
      if (args.length !== 2 || id === undefined || !BUTTON_ID_RE.test(id)) return bad('expected BTN <id> <down|up>');
      if (edge !== 'down' && edge !== 'up') return bad(`edge must be down or up, got ${JSON.stringify(edge)}`);
      return { ok: true, message: { type: 'button', id, pressed: edge === 'down' } };
    }
    case 'BAT': {
      const [pct, chg] = args;
      if (args.length !== 2 || pct === undefined || !/^\d{1,3}$/.test(pct) || Number(pct) > 100) {
        return bad(`expected BAT <percent 0-100> <0|1>, got ${JSON.stringify(args.join(' ').slice(0, 20))}`);
      }
      if (chg !== '0' && chg !== '1') return bad(`charging must be 0 or 1, got ${JSON.stringify(chg)}`);
      return { ok: true, message: { type: 'battery', percent: Number(pct), charging: chg === '1' } };
    }
    case 'DOCK': {
      const [d] = args;
      if (args.length !== 1 || (d !== '0' && d !== '1')) return bad(`expected DOCK <0|1>, got ${JSON.stringify(args.join(' ').slice(0, 20))}`);
      return { ok: true, message: { type: 'dock', docked: d === '1' } };
    }
    default:
      return { ok: false, problem: 'unknown', detail: `unknown command ${JSON.stringify(cmd.slice(0, 16))}` };
  }
}

export interface DecoderOptions {
  maxLineBytes?: number;
  onMessage: (message: KitMessage) => void;
  onProblem: (problem: LineProblem, detail: string) => void;
}

/**
 * Splits a byte stream into lines and parses them. Partial lines wait for the next chunk; a line
 * longer than the cap is dropped up to its `\n` (resync); empty lines are skipped.
 */
export class KitLineDecoder {
  readonly stats: ProtocolStats = emptyStats();
  private readonly max: number;
  private parts: Buffer[] = [];
  private partLen = 0;
  private discarding = false;

  constructor(private readonly opts: DecoderOptions) {
    this.max = opts.maxLineBytes ?? MAX_LINE_BYTES;
  }

  /** Forgets a partial line (after a reconnect its start is gone). */
  reset(): void {
    this.parts = [];
    this.partLen = 0;
    this.discarding = false;
  }

  push(chunk: Buffer): void {
    this.stats.bytes += chunk.length;
    let start = 0;
    while (start <= chunk.length) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl === -1 ? chunk.length : nl;
      const piece = chunk.subarray(start, end);
      if (this.discarding) {
        if (nl !== -1) this.discarding = false;
      } else if (this.partLen + piece.length > this.max) {
        this.stats.overlong += 1;
        this.opts.onProblem('overlong', `line longer than ${this.max} bytes dropped`);
        this.parts = [];
        this.partLen = 0;
        this.discarding = nl === -1;
      } else if (nl === -1) {
        if (piece.length > 0) {
          this.parts.push(Buffer.from(piece));
          this.partLen += piece.length;
        }
      } else {
        const line = this.parts.length === 0 ? piece : Buffer.concat([...this.parts, piece]);
        this.parts = [];
        this.partLen = 0;
        this.line(line);
      }
      if (nl === -1) break;
      start = nl + 1;
    }
  }

  private line(bytes: Buffer): void {
    if (bytes.length === 0 || (bytes.length === 1 && bytes[0] === 0x0d)) return;
    const result = parseLine(bytes.toString('latin1'));
    if (result.ok) {
      this.stats.messages += 1;
      this.opts.onMessage(result.message);
      return;
    }
    this.stats[result.problem] += 1;
    this.opts.onProblem(result.problem, result.detail);
  }
}

/**
 * Logs at most `perWindow` messages per key per `windowMs`, then counts; the count is logged when
 * the next window begins (or on flush). Keeps a flood of noise from flooding the journal.
 */
export class LogLimiter {
  private readonly windows = new Map<string, { start: number; logged: number; suppressed: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly opts: { windowMs: number; perWindow: number } = { windowMs: 10_000, perWindow: 5 },
  ) {}

  warn(key: string, msg: string, fields: Record<string, unknown> = {}): void {
    const now = this.clock.monotonic();
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.opts.windowMs) {
      if (w && w.suppressed > 0) this.summary(key, w.suppressed);
      w = { start: now, logged: 0, suppressed: 0 };
      this.windows.set(key, w);
    }
    if (w.logged < this.opts.perWindow) {
      w.logged += 1;
      this.logger.warn(msg, fields);
    } else {
      w.suppressed += 1;
    }
  }

  /** Logs the counts still held back. */
  flush(): void {
    for (const [key, w] of this.windows) {
      if (w.suppressed > 0) this.summary(key, w.suppressed);
    }
    this.windows.clear();
  }

  private summary(key: string, suppressed: number): void {
    this.logger.warn('similar messages suppressed', { kind: key, suppressed, windowMs: this.opts.windowMs });
  }
}

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { describeError } from '../core/errors.js';
import type { EventBus, TvControl } from '../core/events.js';
import type { Logger } from '../core/logger.js';

/**
 * HDMI-CEC through `cec-ctl` (v4l-utils): the kit registers as a playback device with its OSD
 * name, turns the TV on and switches it to the kit's input when the trainer presents a clip, and
 * turns the TV remote's keys into player commands (`tv.control`, source 'cec').
 *
 * cec-ctl is driven as a process: one-shot calls to send, one long-running monitor to receive.
 * The monitor runs as `cec-ctl -m` (messages to the kit): `-M` (monitor-all) needs CAP_NET_ADMIN,
 * which the service does not have; both print messages in the same format, which parseCecLine reads.
 */

// ---------------------------------------------------------------- runner (real or fake)

export interface CecProcess {
  onLine(fn: (line: string) => void): void;
  onExit(fn: (code: number | null) => void): void;
  kill(): void;
}

export interface CecRunner {
  /** One call of cec-ctl; resolves with its exit code and output. */
  run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** A long-running cec-ctl (the monitor), line by line. */
  stream(args: string[]): CecProcess;
}

export const cecCtlRunner: CecRunner = {
  run: (args) =>
    new Promise((resolve) => {
      const child = spawn('cec-ctl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.on('error', (err) => {
        clearTimeout(t);
        resolve({ code: null, stdout, stderr: stderr + err.message });
      });
      child.on('close', (code) => {
        clearTimeout(t);
        resolve({ code, stdout, stderr });
      });
    }),
  stream: (args) => {
    const child = spawn('cec-ctl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const lineFns: ((l: string) => void)[] = [];
    const exitFns: ((c: number | null) => void)[] = [];
    let buf = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      buf += c;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        for (const fn of lineFns) fn(line);
      }
    });
    child.stderr.resume();
    child.on('error', () => undefined); // 'close' follows
    child.on('close', (code) => exitFns.forEach((fn) => fn(code)));
    return {
      onLine: (fn) => lineFns.push(fn),
      onExit: (fn) => exitFns.push(fn),
      kill: () => child.kill('SIGTERM'),
    };
  },
};

// ---------------------------------------------------------------- parser

export interface CecMessage {
  direction: 'rx' | 'tx';
  from: number;
  to: number;
  fromName: string;
  toName: string;
  /** e.g. USER_CONTROL_PRESSED (any CEC_MSG_ prefix of older cec-ctl removed). */
  opcode: string;
  code: number;
  params: Record<string, string>;
}

const HEADER =
  /^\s*(?:[0-9]+\.[0-9]+:\s+)?(Received from|Transmitted by) (.+?) to (.+?) \((\d+) to (\d+)\): (?:CEC_MSG_)?([A-Z0-9_]+)(?: \(0x([0-9a-f]{2})\))?:?\s*$/;
const PARAM = /^[\t ]+([a-z0-9-]+): (.*?)\s*$/;

/**
 * Reads cec-ctl's monitor output line by line: a header line ("Received from TV to Playback
 * Device 1 (0 to 4): USER_CONTROL_PRESSED (0x44):") and its indented parameters ("\tui-cmd: right
 * (0x04)"). A message is complete at the next header or unindented line; a key press as soon as
 * its key is known (no waiting for the release).
 */
export class CecMonitorParser {
  private current: CecMessage | null = null;

  constructor(private readonly onMessage: (m: CecMessage) => void) {}

  push(line: string): void {
    const h = HEADER.exec(line);
    if (h) {
      this.flush();
      this.current = {
        direction: h[1] === 'Received from' ? 'rx' : 'tx',
        fromName: h[2]!,
        toName: h[3]!,
        from: Number(h[4]),
        to: Number(h[5]),
        opcode: h[6]!,
        code: h[7] ? parseInt(h[7], 16) : -1,
        params: {},
      };
      if (!line.trimEnd().endsWith(':')) this.flush(); // no parameters follow
      return;
    }
    const p = PARAM.exec(line);
    if (p && this.current) {
      const value = p[2]!.replace(/\s*\(0x[0-9a-f]+\)$/, '');
      this.current.params[p[1]!] = value;
      if (this.current.opcode === 'USER_CONTROL_PRESSED' && p[1] === 'ui-cmd') this.flush();
      return;
    }
    if (!/^[\t ]/.test(line)) this.flush(); // events, blank lines, errors end a message
  }

  flush(): void {
    const m = this.current;
    this.current = null;
    if (m) this.onMessage(m);
  }
}

/** Parses a whole recorded monitor output. */
export function parseCecMonitor(text: string): CecMessage[] {
  const out: CecMessage[] = [];
  const parser = new CecMonitorParser((m) => out.push(m));
  for (const line of text.split(/\r?\n/)) parser.push(line);
  parser.flush();
  return out;
}

/** A TV remote key (cec-ctl's ui-cmd name) as a player command; null for keys the kit ignores. */
export function keyToControl(uiCmd: string): Pick<TvControl, 'action' | 'direction'> | null {
  switch (uiCmd) {
    case 'play':
      return { action: 'play' };
    case 'pause':
    case 'stop':
      return { action: 'pause' };
    case 'select':
    case 'pause-play-function':
      return { action: 'toggle' };
    case 'left':
    case 'rewind':
    case 'backward':
      return { action: 'step', direction: -1 };
    case 'right':
    case 'fast-forward':
    case 'forward':
      return { action: 'step', direction: 1 };
    case 'up':
      return { action: 'marker', direction: -1 };
    case 'down':
      return { action: 'marker', direction: 1 };
    case 'back':
    case 'exit':
      return { action: 'back' };
    default:
      return null;
  }
}

/** Physical and logical address from cec-ctl's driver info (printed after configuring). */
export function parseCecInfo(text: string): { physAddr: string | null; logAddr: number | null } {
  const pa = /Physical Address\s*:\s*([0-9a-f]\.[0-9a-f]\.[0-9a-f]\.[0-9a-f])/.exec(text);
  const la = /Logical Address\s*:\s*(\d+)/.exec(text);
  return { physAddr: pa ? pa[1]! : null, logAddr: la ? Number(la[1]) : null };
}

// ---------------------------------------------------------------- service

export type CecState = 'off' | 'absent' | 'starting' | 'on' | 'error';

export class CecService {
  private monitor: CecProcess | null = null;
  private offPresent: (() => void) | null = null;
  private running = false;
  private physAddr: string | null = null;
  private logAddr: number | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private restartDelayMs = 1000;
  private nextId = 1_000_000;
  private queue: Promise<unknown> = Promise.resolve();
  state: CecState = 'off';
  lastError: string | null = null;

  constructor(
    private readonly config: Config['cec'],
    private readonly bus: EventBus,
    private readonly logger: Logger,
    private readonly runner: CecRunner = cecCtlRunner,
    private readonly exists: (path: string) => boolean = existsSync,
  ) {}

  /** Whether CEC is used: mode on, or auto and the device exists. */
  get wanted(): boolean {
    if (this.config.mode === 'off') return false;
    if (this.config.mode === 'on') return true;
    return this.exists(this.config.device);
  }

  async start(): Promise<void> {
    if (this.running) return;
    if (!this.wanted) {
      this.state = this.config.mode === 'off' ? 'off' : 'absent';
      return;
    }
    this.running = true;
    this.state = 'starting';
    const r = await this.runner.run(['-d', this.config.device, '--playback', '--osd-name', this.config.osdName]);
    if (r.code !== 0) {
      this.state = 'error';
      this.lastError = `cec-ctl could not register on ${this.config.device}: ${(r.stderr || r.stdout).trim().split('\n').pop() ?? `exit ${r.code}`}`;
      this.logger.warn('HDMI-CEC off', { device: this.config.device, error: this.lastError });
      this.running = false;
      return;
    }
    const info = parseCecInfo(r.stdout);
    this.physAddr = info.physAddr;
    this.logAddr = info.logAddr;
    this.state = 'on';
    this.logger.info('HDMI-CEC on', { device: this.config.device, physAddr: this.physAddr, logAddr: this.logAddr });
    this.offPresent = this.bus.on('present', (p) => {
      if (p.clipId !== null) void this.wakeTv();
    });
    this.startMonitor();
  }

  /** TV on (image view on) and its input to the kit (active source). */
  wakeTv(): Promise<void> {
    const run = async () => {
      const dev = ['-d', this.config.device, '--to', '0'];
      const a = await this.runner.run([...dev, '--image-view-on']);
      const b = this.physAddr ? await this.runner.run([...dev, '--active-source', `phys-addr=${this.physAddr}`]) : { code: 0, stderr: '', stdout: '' };
      if (a.code !== 0 || b.code !== 0) this.logger.warn('HDMI-CEC: the TV did not take the command', { imageViewOn: a.code, activeSource: b.code });
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p.catch((err: unknown) => this.logger.warn('HDMI-CEC send failed', { error: describeError(err) }));
  }

  private startMonitor(): void {
    const proc = this.runner.stream(['-d', this.config.device, '-m']);
    this.monitor = proc;
    const parser = new CecMonitorParser((m) => this.onMessage(m));
    proc.onLine((line) => {
      this.restartDelayMs = 1000;
      parser.push(line);
    });
    proc.onExit((code) => {
      parser.flush();
      if (this.monitor !== proc) return;
      this.monitor = null;
      if (!this.running) return;
      this.logger.warn('cec-ctl monitor exited; restarting', { code, inMs: this.restartDelayMs });
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (this.running) this.startMonitor();
      }, this.restartDelayMs);
      this.restartDelayMs = Math.min(30_000, this.restartDelayMs * 2);
    });
  }

  private onMessage(m: CecMessage): void {
    if (m.direction !== 'rx' || m.opcode !== 'USER_CONTROL_PRESSED') return;
    // Only keys sent to the kit (monitor-all output shows other devices' traffic too).
    if (this.logAddr !== null ? m.to !== this.logAddr : !m.toName.startsWith('Playback Device')) return;
    const key = m.params['ui-cmd'];
    if (!key) return;
    const c = keyToControl(key);
    if (!c) {
      this.logger.debug('HDMI-CEC key ignored', { key });
      return;
    }
    this.bus.emit('tv.control', { ...c, source: 'cec', id: this.nextId++ });
  }

  async stop(): Promise<void> {
    this.running = false;
    this.offPresent?.();
    this.offPresent = null;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const m = this.monitor;
    this.monitor = null;
    m?.kill();
    await this.queue;
    if (this.state === 'on') this.state = 'off';
  }
}

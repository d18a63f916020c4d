import { realpath } from 'node:fs/promises';
import type { Clock, TimerHandle } from '../core/clock.js';
import { AppError, describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { TypedEmitter } from './emitter.js';
import type { BackendStatus, ButtonBackend } from './gpio.js';
import { formatLine, KitLineDecoder, LogLimiter, type KitMessage, type ProtocolStats } from './kit-protocol.js';
import type { LedPattern } from './leds.js';

/**
 * The kit controller: a small microcontroller on USB serial that owns the kit's buttons, LEDs,
 * battery gauge and dock contact, and speaks the line protocol of docs/kit-controller.md.
 * KitController talks to a real one through `serialport` and reconnects after unplug or errors;
 * SimKitController is its twin for machines without the hardware.
 */

export interface BatteryState {
  percent: number;
  charging: boolean;
}

export interface KitControllerEvents {
  /** The controller identified itself (after connect, after a PING, after its own reset). */
  hello: { firmware: string };
  /** A button edge; `pressed` true = down. */
  button: { id: string; pressed: boolean };
  /** The battery report changed. */
  battery: BatteryState;
  /** The dock contact changed (also `false` when the controller goes away while docked). */
  dock: { docked: boolean };
  /** The serial link came up or went down. */
  connection: { connected: boolean; path: string; reason?: string };
}

export interface KitControllerSnapshot {
  connected: boolean;
  firmware: string | null;
  battery: BatteryState | null;
  docked: boolean;
  /** ms since the last valid line, or null when none came on this connection. */
  lastSeenMs: number | null;
}

/** What the rest of the kit uses of a kit controller, real or simulated. */
export interface KitControllerLike {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly connected: boolean;
  readonly firmware: string | null;
  readonly battery: BatteryState | null;
  readonly docked: boolean;
  snapshot(): KitControllerSnapshot;
  /** Sends `LED <pattern>`; false when not connected (nothing is queued). */
  sendLed(pattern: LedPattern): boolean;
  /** Sends `PING`; the controller answers with HELLO, BAT and DOCK. False when not connected. */
  ping(): boolean;
  on<K extends Extract<keyof KitControllerEvents, string>>(name: K, fn: (payload: KitControllerEvents[K]) => void): () => void;
  describe(): string;
  status(): BackendStatus;
}

/** What KitController uses of serialport's SerialPort. */
export interface SerialLink {
  open(cb: (err: Error | null) => void): void;
  close(cb?: (err: Error | null) => void): void;
  write(data: string, cb?: (err: Error | null | undefined) => void): boolean;
  on(event: 'data', fn: (chunk: Buffer) => void): unknown;
  on(event: 'close', fn: (err?: Error & { disconnected?: boolean }) => void): unknown;
  on(event: 'error', fn: (err: Error) => void): unknown;
  removeAllListeners(): unknown;
  readonly isOpen: boolean;
}

export type SerialLinkFactory = (opts: { path: string; baudRate: number }) => SerialLink;

/** serialport, imported when first needed so a machine without its native binding still runs. */
export async function loadSerialPort(): Promise<SerialLinkFactory> {
  const mod = await import('serialport');
  return ({ path, baudRate }) => new mod.SerialPort({ path, baudRate, dataBits: 8, parity: 'none', stopBits: 1, autoOpen: false });
}

export interface KitControllerOptions {
  /** Serial device; prefer the stable `/dev/serial/by-id/usb-…` symlink (reopened by this path). */
  path: string;
  baudRate?: number;
  clock: Clock;
  logger: Logger;
  /** First reconnect delay, doubling per failed attempt up to maxMs. Default 500 / 10000. */
  reconnect?: { initialMs: number; maxMs: number };
  /** PING every this many ms while connected (0 = only once at connect). Default 5000. */
  pingIntervalMs?: number;
  /** Warn when no valid line came for this long while connected. Default 3 × pingIntervalMs (15 s). */
  staleAfterMs?: number;
  /** Append `*XX` to lines sent. Default true (firmware must accept and may check it). */
  appendChecksum?: boolean;
  maxLineBytes?: number;
  /** Injected for machines without serialport; default loads serialport. */
  loadSerial?: () => Promise<SerialLinkFactory>;
}

/**
 * The serial kit controller, 115200 8N1. Garbage, bad checksums, unknown commands and floods are
 * counted and logged (rate-limited), never thrown. When the port cannot be opened, closes or
 * errors, it retries with backoff (0.5 s doubling to 10 s, reset by the first valid line).
 */
/** What the controller's messages change; the real controller and its twin keep the same state. */
interface ControllerState {
  fw: string | null;
  bat: BatteryState | null;
  dock: boolean;
}

/** Applies one message to the state and emits what changed (battery and dock only on change). */
function applyMessage(
  state: ControllerState,
  m: KitMessage,
  emit: <K extends Extract<keyof KitControllerEvents, string>>(name: K, payload: KitControllerEvents[K]) => void,
): void {
  switch (m.type) {
    case 'hello':
      state.fw = m.firmware;
      emit('hello', { firmware: m.firmware });
      return;
    case 'button':
      emit('button', { id: m.id, pressed: m.pressed });
      return;
    case 'battery':
      if (state.bat && state.bat.percent === m.percent && state.bat.charging === m.charging) return;
      state.bat = { percent: m.percent, charging: m.charging };
      emit('battery', { ...state.bat });
      return;
    case 'dock':
      if (state.dock === m.docked) return;
      state.dock = m.docked;
      emit('dock', { docked: m.docked });
      return;
  }
}

export class KitController extends TypedEmitter<KitControllerEvents> implements KitControllerLike {
  private factory: SerialLinkFactory | null = null;
  private port: SerialLink | null = null;
  private running = false;
  private opening = false;
  private reconnectTimer: TimerHandle | null = null;
  private pingTimer: TimerHandle | null = null;
  private backoffMs: number;
  private failures = 0;
  private lastLineAt: number | null = null;
  private connectedAt = 0;
  private staleWarned = false;
  private state: BackendStatus = { ok: false, error: 'not started' };
  private readonly ctl: ControllerState = { fw: null, bat: null, dock: false };
  private readonly decoder: KitLineDecoder;
  private readonly limiter: LogLimiter;
  private readonly log: Logger;
  private readonly reconnectCfg: { initialMs: number; maxMs: number };
  private readonly pingIntervalMs: number;
  private readonly staleAfterMs: number;

  constructor(private readonly opts: KitControllerOptions) {
    super((name, err) => opts.logger.error('kit controller listener failed', { event: name, error: describeError(err) }));
    if (typeof opts.path !== 'string' || opts.path.length === 0) {
      throw new AppError('CONFIG', `kitController.port must be a serial device path, got ${JSON.stringify(opts.path)}`, {
        field: 'kitController.port',
      });
    }
    this.log = opts.logger;
    this.reconnectCfg = opts.reconnect ?? { initialMs: 500, maxMs: 10_000 };
    this.backoffMs = this.reconnectCfg.initialMs;
    this.pingIntervalMs = opts.pingIntervalMs ?? 5000;
    this.staleAfterMs = opts.staleAfterMs ?? 3 * (this.pingIntervalMs || 5000);
    this.limiter = new LogLimiter(opts.clock, opts.logger);
    this.decoder = new KitLineDecoder({
      ...(opts.maxLineBytes === undefined ? {} : { maxLineBytes: opts.maxLineBytes }),
      onMessage: (m) => this.onMessage(m),
      onProblem: (problem, detail) => this.limiter.warn(problem, 'kit controller line ignored', { problem, detail }),
    });
  }

  get connected(): boolean {
    return this.port !== null && !this.opening;
  }

  get firmware(): string | null {
    return this.ctl.fw;
  }

  get battery(): BatteryState | null {
    return this.ctl.bat ? { ...this.ctl.bat } : null;
  }

  get docked(): boolean {
    return this.ctl.dock;
  }

  /** Counters of bytes, messages and ignored lines since start. */
  get stats(): Readonly<ProtocolStats> {
    return this.decoder.stats;
  }

  snapshot(): KitControllerSnapshot {
    return {
      connected: this.connected,
      firmware: this.ctl.fw,
      battery: this.battery,
      docked: this.ctl.dock,
      lastSeenMs: this.lastLineAt === null ? null : Math.round(this.opts.clock.monotonic() - this.lastLineAt),
    };
  }

  describe(): string {
    return `kit controller on ${this.opts.path}${this.ctl.fw ? ` (firmware ${this.ctl.fw})` : ''}`;
  }

  status(): BackendStatus {
    return { ...this.state };
  }

  /** Begins connecting; resolves after the first attempt, whether or not it worked (it keeps retrying). */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.backoffMs = this.reconnectCfg.initialMs;
    this.failures = 0;
    try {
      this.factory = await (this.opts.loadSerial ?? loadSerialPort)();
    } catch (err) {
      this.running = false;
      this.state = { ok: false, error: `serial port support could not be loaded: ${describeError(err)}` };
      this.log.error('kit controller unavailable', { path: this.opts.path, error: this.state.error });
      return;
    }
    await this.connect();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.clearTimers();
    this.limiter.flush();
    const port = this.port;
    const wasConnected = this.connected;
    this.port = null;
    if (port) {
      port.removeAllListeners();
      this.ignoreLateErrors(port);
      await new Promise<void>((resolve) => {
        if (!port.isOpen) {
          resolve();
          return;
        }
        port.close((err) => {
          if (err) this.log.debug('kit controller port close reported an error', { error: describeError(err) });
          resolve();
        });
      });
      if (wasConnected) this.lost('stopped', false);
    }
    this.state = { ok: false, error: 'stopped' };
  }

  sendLed(pattern: LedPattern): boolean {
    return this.send(`LED ${pattern}`);
  }

  ping(): boolean {
    return this.send('PING');
  }

  private send(body: string): boolean {
    const port = this.port;
    if (!port || this.opening) return false;
    port.write(formatLine(body, this.opts.appendChecksum ?? true), (err) => {
      if (err) this.limiter.warn('write', 'kit controller write failed', { line: body, error: describeError(err) });
    });
    return true;
  }

  private async connect(): Promise<void> {
    if (!this.running || this.port || !this.factory) return;
    const path = this.opts.path;
    // A /dev/serial/by-id/… path is a symlink that udev re-creates on replug: reopen by the path,
    // log where it points now.
    const target = await realpath(path).catch((e: unknown) => `unresolved (${describeError(e)})`);
    if (!this.running || this.port) return;
    let port: SerialLink;
    try {
      port = this.factory({ path, baudRate: this.opts.baudRate ?? 115200 });
    } catch (e) {
      this.retry(`cannot open ${path}: ${describeError(e)}`);
      return;
    }
    this.port = port;
    this.opening = true;
    const err = await new Promise<Error | null>((resolve) => {
      try {
        port.open(resolve);
      } catch (e) {
        resolve(e instanceof Error ? e : new Error(String(e)));
      }
    });
    this.opening = false;
    if (!this.running || this.port !== port) {
      // Stopped while opening.
      this.ignoreLateErrors(port);
      if (!err) port.close();
      return;
    }
    if (err) {
      this.port = null;
      this.retry(`cannot open ${path}: ${describeError(err)}`);
      return;
    }
    port.on('data', (chunk) => {
      if (this.port === port) this.decoder.push(chunk);
    });
    port.on('error', (e) => this.onPortGone(port, `port error: ${describeError(e)}`));
    port.on('close', (e) => this.onPortGone(port, e?.disconnected ? 'device disconnected' : `port closed${e ? `: ${describeError(e)}` : ''}`));
    this.decoder.reset();
    this.connectedAt = this.opts.clock.monotonic();
    this.lastLineAt = null;
    this.staleWarned = false;
    this.state = { ok: true };
    this.log.info('kit controller connected', { path, device: target, attempts: this.failures + 1 });
    this.emit('connection', { connected: true, path });
    this.ping();
    this.schedulePing();
  }

  private onPortGone(port: SerialLink, reason: string): void {
    if (this.port !== port) return;
    this.port = null;
    port.removeAllListeners();
    this.ignoreLateErrors(port);
    if (port.isOpen) port.close();
    this.lost(reason, true);
    if (this.running) this.retry(reason);
  }

  /** Clears what the controller told us; emits the connection change. */
  private lost(reason: string, warn: boolean): void {
    if (this.pingTimer !== null) this.opts.clock.clearTimeout(this.pingTimer);
    this.pingTimer = null;
    if (warn) this.log.warn('kit controller connection lost', { path: this.opts.path, reason });
    const wasDocked = this.ctl.dock;
    this.ctl.fw = null;
    this.ctl.bat = null;
    this.ctl.dock = false;
    this.lastLineAt = null;
    this.decoder.reset();
    this.emit('connection', { connected: false, path: this.opts.path, reason });
    if (wasDocked) this.emit('dock', { docked: false });
  }

  private retry(reason: string): void {
    if (!this.running) return;
    this.failures += 1;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.reconnectCfg.maxMs);
    this.state = { ok: false, error: `${reason}; retrying in ${delay} ms` };
    if (this.failures === 1) this.log.warn('kit controller not reachable, retrying', { path: this.opts.path, reason, delayMs: delay });
    else this.log.debug('kit controller retry', { path: this.opts.path, reason, delayMs: delay, failures: this.failures });
    if (this.reconnectTimer !== null) this.opts.clock.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = this.opts.clock.setTimeout(() => {
      this.reconnectTimer = null;
      void this.connect();
    }, delay);
  }

  private schedulePing(): void {
    if (this.pingIntervalMs <= 0) return;
    this.pingTimer = this.opts.clock.setTimeout(() => {
      this.pingTimer = null;
      if (!this.port) return;
      const silentFor = this.opts.clock.monotonic() - (this.lastLineAt ?? this.connectedAt);
      if (silentFor >= this.staleAfterMs && !this.staleWarned) {
        this.staleWarned = true;
        this.log.warn('kit controller silent: no valid line', { path: this.opts.path, silentMs: Math.round(silentFor) });
      }
      this.ping();
      this.schedulePing();
    }, this.pingIntervalMs);
  }

  /** An abandoned port may still report an error while closing: log it, never let it throw. */
  private ignoreLateErrors(port: SerialLink): void {
    port.on('error', (err) => this.log.debug('kit controller: error from a closed port', { error: describeError(err) }));
  }

  private clearTimers(): void {
    for (const t of [this.reconnectTimer, this.pingTimer]) if (t !== null) this.opts.clock.clearTimeout(t);
    this.reconnectTimer = this.pingTimer = null;
  }

  private onMessage(m: KitMessage): void {
    this.lastLineAt = this.opts.clock.monotonic();
    if (this.staleWarned) {
      this.staleWarned = false;
      this.log.info('kit controller answers again', { path: this.opts.path });
    }
    if (this.failures > 0) {
      this.failures = 0;
      this.backoffMs = this.reconnectCfg.initialMs;
    }
    if (m.type === 'hello' && this.ctl.fw !== m.firmware) this.log.info('kit controller identified', { firmware: m.firmware });
    applyMessage(this.ctl, m, (name, payload) => this.emit(name, payload));
  }
}

export interface SimKitControllerOptions {
  clock: Clock;
  logger: Logger;
  firmware?: string;
  /** Battery at start; default 100 %, not charging. */
  battery?: BatteryState;
  docked?: boolean;
}

/**
 * The simulated twin of the kit controller: same interface and events, driven by setBattery,
 * setDocked, pressButton, unplug and replug. Lines the kit sends are kept in `sent`.
 */
export class SimKitController extends TypedEmitter<KitControllerEvents> implements KitControllerLike {
  /** Every line the kit sent (`LED recording`, `PING`), without checksum. */
  readonly sent: string[] = [];
  private running = false;
  private plugged = true;
  private readonly fwVersion: string;
  private simBattery: BatteryState;
  private simDocked: boolean;
  private readonly ctl: ControllerState = { fw: null, bat: null, dock: false };
  private lastLineAt: number | null = null;

  constructor(private readonly opts: SimKitControllerOptions) {
    super((name, err) => opts.logger.error('kit controller listener failed', { event: name, error: describeError(err) }));
    this.fwVersion = opts.firmware ?? 'sim-1.0';
    this.simBattery = opts.battery ?? { percent: 100, charging: false };
    this.simDocked = opts.docked ?? false;
  }

  get connected(): boolean {
    return this.running && this.plugged;
  }

  get firmware(): string | null {
    return this.ctl.fw;
  }

  get battery(): BatteryState | null {
    return this.ctl.bat ? { ...this.ctl.bat } : null;
  }

  get docked(): boolean {
    return this.ctl.dock;
  }

  snapshot(): KitControllerSnapshot {
    return {
      connected: this.connected,
      firmware: this.ctl.fw,
      battery: this.battery,
      docked: this.ctl.dock,
      lastSeenMs: this.lastLineAt === null ? null : Math.round(this.opts.clock.monotonic() - this.lastLineAt),
    };
  }

  describe(): string {
    return 'simulated kit controller';
  }

  status(): BackendStatus {
    if (!this.running) return { ok: false, error: 'not started' };
    return this.plugged ? { ok: true } : { ok: false, error: 'simulated controller unplugged' };
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    if (this.plugged) this.linkUp();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    const wasConnected = this.connected;
    this.running = false;
    if (wasConnected) this.linkDown('stopped');
  }

  sendLed(pattern: LedPattern): boolean {
    if (!this.connected) return false;
    this.sent.push(`LED ${pattern}`);
    return true;
  }

  ping(): boolean {
    if (!this.connected) return false;
    this.sent.push('PING');
    this.identify();
    return true;
  }

  setBattery(percent: number, charging: boolean): void {
    if (!Number.isInteger(percent) || percent < 0 || percent > 100) {
      throw new RangeError(`battery percent must be an integer 0–100, got ${String(percent)}`);
    }
    this.simBattery = { percent, charging };
    if (this.connected) this.receive({ type: 'battery', percent, charging });
  }

  setDocked(docked: boolean): void {
    this.simDocked = docked;
    if (this.connected) this.receive({ type: 'dock', docked });
  }

  /** A press of button `id` (default `1`): down, held `holdMs` (default 150, long 1500), up. */
  async pressButton(id = '1', long = false, holdMs?: number): Promise<void> {
    if (!this.connected) throw new AppError('CONFLICT', 'the simulated kit controller is not connected');
    const hold = holdMs ?? (long ? 1500 : 150);
    this.receive({ type: 'button', id, pressed: true });
    await new Promise<void>((resolve) =>
      this.opts.clock.setTimeout(() => {
        if (this.connected) this.receive({ type: 'button', id, pressed: false });
        resolve();
      }, hold),
    );
  }

  /** Pulls the USB cable. */
  unplug(): void {
    if (!this.plugged) return;
    const wasConnected = this.connected;
    this.plugged = false;
    if (wasConnected) this.linkDown('device disconnected');
  }

  /** Plugs it back in: connection, then HELLO, BAT and DOCK as the firmware sends them. */
  replug(): void {
    if (this.plugged) return;
    this.plugged = true;
    if (this.running) this.linkUp();
  }

  private linkUp(): void {
    this.emit('connection', { connected: true, path: 'sim' });
    this.ping();
  }

  private linkDown(reason: string): void {
    const wasDocked = this.ctl.dock;
    this.ctl.fw = null;
    this.ctl.bat = null;
    this.ctl.dock = false;
    this.lastLineAt = null;
    this.emit('connection', { connected: false, path: 'sim', reason });
    if (wasDocked) this.emit('dock', { docked: false });
  }

  private identify(): void {
    this.receive({ type: 'hello', firmware: this.fwVersion });
    this.receive({ type: 'battery', ...this.simBattery });
    this.receive({ type: 'dock', docked: this.simDocked });
  }

  /** Handles a message as KitController does (same change rules). */
  private receive(m: KitMessage): void {
    this.lastLineAt = this.opts.clock.monotonic();
    applyMessage(this.ctl, m, (name, payload) => this.emit(name, payload));
  }
}

/** What ControllerButton needs of a kit controller. */
export interface ButtonSource {
  readonly connected: boolean;
  on(name: 'button', fn: (e: { id: string; pressed: boolean }) => void): () => void;
  on(name: 'connection', fn: (e: { connected: boolean }) => void): () => void;
}

/**
 * A button on the kit controller (`BTN <id> down|up`) as a ButtonBackend. When the controller goes
 * away while the button is down, `onReset` is called (the press is dropped, not completed: a lost
 * release must not turn into a marker or a start).
 */
export class ControllerButton implements ButtonBackend {
  private offs: (() => void)[] = [];
  private down = false;

  constructor(private readonly opts: { controller: ButtonSource; id: string }) {}

  async start(onLevel: (pressed: boolean) => void, onReset?: () => void): Promise<void> {
    if (this.offs.length > 0) return;
    this.offs.push(
      this.opts.controller.on('button', (e) => {
        if (e.id !== this.opts.id) return;
        this.down = e.pressed;
        onLevel(e.pressed);
      }),
      this.opts.controller.on('connection', (e) => {
        if (!e.connected && this.down) {
          this.down = false;
          onReset?.();
        }
      }),
    );
  }

  async stop(): Promise<void> {
    for (const off of this.offs) off();
    this.offs = [];
    this.down = false;
  }

  describe(): string {
    return `kit controller button ${this.opts.id}`;
  }

  status(): BackendStatus {
    if (this.offs.length === 0) return { ok: false, error: 'not started' };
    return this.opts.controller.connected ? { ok: true } : { ok: false, error: 'kit controller not connected' };
  }
}

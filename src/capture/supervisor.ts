import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { FromWorker, ToWorker } from './protocol.js';

/** The kit's lock file inside the ring dir (one kit per ring); never a segment. */
export const RING_LOCK_FILE = '.kit.lock';

export interface ClosedSegment {
  /** Plaintext segment file in the RAM ring directory. */
  path: string;
  /** Monotonic ms (core/clock.ts): compare with Clock.monotonic(), never with wall time. */
  startMono: number;
  endMono: number;
  bytes: number;
  /** Increments with every worker start: a new generation means a timestamp discontinuity. */
  generation: number;
}

export interface CaptureStatus {
  armed: boolean;
  ok: boolean;
  error?: string;
  restarts: number;
  pid?: number;
}

export interface SupervisorOptions {
  ringDir: string;
  /** Builds the launch string for a worker generation (the location differs per generation). */
  launchFor: (location: string) => string;
  segmentMs: number;
  playingTimeoutMs: number;
  restartMinMs: number;
  restartMaxMs: number;
  clock: Clock;
  logger: Logger;
  /** Override of the worker entry (tests); default: worker.js beside this module. */
  workerPath?: string;
}

export interface SupervisorEvents {
  segment: [ClosedSegment];
  playing: [{ generation: number; mono: number }];
  error: [{ message: string; restartInMs: number }];
  status: [CaptureStatus];
}

/**
 * Supervises the capture worker: starts it, restarts it with exponential backoff after a GStreamer
 * error, a crash or a pipeline that never reaches PLAYING, and relays closed segments.
 */
export class CaptureSupervisor extends EventEmitter<SupervisorEvents> {
  private child: ChildProcess | null = null;
  private wantArmed = false;
  private generation = 0;
  /**
   * Tags this run's ring files, so a file name never repeats across runs: a leftover of a killed
   * run is never mistaken for (or overwritten by) a segment of this one.
   */
  private readonly runTag = randomBytes(4).toString('hex');
  private failures = 0;
  private restartTimer: TimerHandle | null = null;
  private stableTimer: TimerHandle | null = null;
  private lastError: string | undefined;
  private playing = false;
  private restarts = 0;

  constructor(private readonly opts: SupervisorOptions) {
    super();
  }

  get status(): CaptureStatus {
    const s: CaptureStatus = { armed: this.wantArmed, ok: this.wantArmed && this.playing, restarts: this.restarts };
    if (this.lastError !== undefined && !this.playing) s.error = this.lastError;
    if (this.child?.pid !== undefined) s.pid = this.child.pid;
    return s;
  }

  /** Plaintext leftovers of an earlier run (crash, power loss) are discarded, never persisted. */
  discardLeftovers(): number {
    mkdirSync(this.opts.ringDir, { recursive: true, mode: 0o700 });
    let n = 0;
    for (const name of readdirSync(this.opts.ringDir)) {
      if (name === RING_LOCK_FILE) continue; // the running kit's lock on the ring, not a leftover
      rmSync(path.join(this.opts.ringDir, name), { force: true, recursive: true });
      n += 1;
    }
    return n;
  }

  arm(): void {
    if (this.wantArmed) return;
    this.wantArmed = true;
    this.failures = 0;
    this.spawn();
  }

  /** Ends the pipeline cleanly (EOS, so the last segment is complete) and waits for the worker. */
  async disarm(timeoutMs = 5000): Promise<void> {
    this.wantArmed = false;
    this.clearTimers();
    const child = this.child;
    if (!child) {
      this.emitStatus();
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve();
      }, timeoutMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.send({ type: 'disarm' });
    });
    this.emitStatus();
  }

  /** Ends the current segment now (at the next frame): used when a take stops. */
  cut(): boolean {
    if (!this.child || !this.playing) return false;
    this.send({ type: 'cut' });
    return true;
  }

  /** Kills the worker as a crash would (tests, and a hung pipeline). */
  killWorker(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child?.kill(signal);
  }

  private send(msg: ToWorker): void {
    if (this.child?.connected) this.child.send(msg);
  }

  private workerEntry(): { file: string; execArgv: string[] } {
    if (this.opts.workerPath) return { file: this.opts.workerPath, execArgv: [] };
    const here = fileURLToPath(import.meta.url);
    if (here.endsWith('.ts')) {
      // Running from source (vitest): let tsx load the TypeScript worker.
      return { file: path.join(path.dirname(here), 'worker.ts'), execArgv: ['--import', 'tsx'] };
    }
    return { file: path.join(path.dirname(here), 'worker.js'), execArgv: [] };
  }

  private spawn(): void {
    if (!this.wantArmed || this.child) return;
    this.generation += 1;
    const generation = this.generation;
    mkdirSync(this.opts.ringDir, { recursive: true, mode: 0o700 });
    const location = path.join(this.opts.ringDir, `r${this.runTag}-g${generation}-%08d.ts`);
    const { file, execArgv } = this.workerEntry();
    const child = fork(file, [], {
      execArgv,
      env: { ...process.env, UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? '8' },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      serialization: 'json',
    });
    this.child = child;
    this.playing = false;
    let stderrTail = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderrTail = (stderrTail + chunk).slice(-2000);
    });
    child.on('message', (msg: FromWorker) => this.onMessage(generation, msg));
    child.on('error', (err) => {
      this.lastError = `capture worker: ${err.message}`;
    });
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = null;
      const wasPlaying = this.playing;
      this.playing = false;
      if (!this.wantArmed) {
        this.opts.logger.info('capture worker stopped', { code, signal, generation });
        this.emitStatus();
        return;
      }
      const reason = this.lastError ?? `capture worker exited (${signal ?? `code ${code}`})${stderrTail ? `: ${lastLine(stderrTail)}` : ''}`;
      this.lastError = reason;
      this.failures = wasPlaying ? Math.min(this.failures, 1) : this.failures;
      this.scheduleRestart(reason);
    });
    this.send({
      type: 'arm',
      launch: this.opts.launchFor(location),
      segmentMs: this.opts.segmentMs,
      playingTimeoutMs: this.opts.playingTimeoutMs,
    });
    this.emitStatus();
  }

  private onMessage(generation: number, msg: FromWorker): void {
    switch (msg.type) {
      case 'playing':
        this.playing = true;
        this.lastError = undefined;
        this.opts.logger.info('capture pipeline playing', { generation });
        this.stableTimer = this.opts.clock.setTimeout(() => {
          this.failures = 0;
        }, 30_000);
        this.emit('playing', { generation, mono: msg.mono });
        this.emitStatus();
        break;
      case 'segment':
        this.emit('segment', { path: msg.path, startMono: msg.startMono, endMono: msg.endMono, bytes: msg.bytes, generation });
        break;
      case 'error': {
        this.lastError = msg.source ? `${msg.message} (${msg.source})` : msg.message;
        this.opts.logger.warn('capture pipeline error', { error: this.lastError, generation });
        // The worker exits by itself after an error; one that hangs is killed.
        const child = this.child;
        const t = setTimeout(() => child?.kill('SIGKILL'), 2000);
        child?.once('exit', () => clearTimeout(t));
        break;
      }
      case 'eos':
        break;
    }
  }

  private scheduleRestart(reason: string): void {
    const delay = Math.min(this.opts.restartMaxMs, this.opts.restartMinMs * 2 ** this.failures);
    this.failures += 1;
    this.restarts += 1;
    this.opts.logger.warn('capture worker failed; restarting', { reason, restartInMs: delay });
    this.emit('error', { message: reason, restartInMs: delay });
    this.emitStatus();
    this.restartTimer = this.opts.clock.setTimeout(() => {
      this.restartTimer = null;
      this.spawn();
    }, delay);
  }

  private clearTimers(): void {
    if (this.restartTimer) this.opts.clock.clearTimeout(this.restartTimer);
    if (this.stableTimer) this.opts.clock.clearTimeout(this.stableTimer);
    this.restartTimer = null;
    this.stableTimer = null;
  }

  private emitStatus(): void {
    this.emit('status', this.status);
  }
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

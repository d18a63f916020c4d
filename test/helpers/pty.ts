import { spawn, type ChildProcess } from 'node:child_process';
import { constants, existsSync, openSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import tty from 'node:tty';

/**
 * A real pseudo-terminal pair from socat: `kitPath` is the end the kit controller opens with
 * serialport, `peer` plays the controller firmware on the other end with plain fs reads/writes.
 * Killing socat is the "unplug"; `start()` again with the same link names is the "replug".
 */
export class PtyPair {
  private proc: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  peer: PtyPeer | null = null;

  readonly kitPath: string;
  readonly peerPath: string;

  constructor(dir: string) {
    this.kitPath = path.join(dir, 'kit');
    this.peerPath = path.join(dir, 'controller');
  }

  get running(): boolean {
    return this.proc !== null;
  }

  /** Starts socat and opens the peer end; resolves once data flows. */
  async start(): Promise<PtyPeer> {
    if (this.proc) throw new Error('socat already running');
    const proc = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${this.kitPath}`, `pty,raw,echo=0,link=${this.peerPath}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`socat did not start within 5 s: ${log}`)), 5000);
      proc.stderr?.on('data', (d: Buffer) => {
        log += d.toString();
        if (log.includes('starting data transfer loop')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`socat exited with ${String(code)}: ${log}`));
      });
      proc.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    if (!existsSync(this.kitPath) || !existsSync(this.peerPath)) throw new Error(`socat links missing: ${log}`);
    this.peer = await PtyPeer.open(this.peerPath);
    return this.peer;
  }

  /** Kills socat (the controller is unplugged): both pty ends hang up. */
  async kill(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    await this.peer?.close();
    this.peer = null;
    if (!proc) return;
    proc.kill('SIGTERM');
    await this.exited;
  }
}

/** The controller's end of the pty: collects what the kit sent, writes what the firmware says. */
export class PtyPeer {
  private received = '';
  private closed = false;
  readonly errors: string[] = [];

  private constructor(
    private readonly writer: FileHandle,
    private readonly reader: tty.ReadStream,
  ) {
    reader.on('data', (d: Buffer | string) => {
      this.received += typeof d === 'string' ? d : d.toString('latin1');
    });
    reader.on('error', (err) => {
      this.errors.push(err.message);
    });
  }

  static async open(devicePath: string): Promise<PtyPeer> {
    const writer = await open(devicePath, constants.O_RDWR | constants.O_NOCTTY);
    // A plain fd (not a FileHandle): the tty stream owns it and closes it on destroy.
    const reader = new tty.ReadStream(openSync(devicePath, constants.O_RDWR | constants.O_NOCTTY));
    return new PtyPeer(writer, reader);
  }

  /** Everything the kit sent so far. */
  get text(): string {
    return this.received;
  }

  /** Complete lines the kit sent so far. */
  lines(): string[] {
    return this.received.split('\n').slice(0, -1);
  }

  /** Writes bytes to the kit, all of them (in chunks, so the kit reads meanwhile). */
  async write(data: string | Buffer): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    let off = 0;
    while (off < buf.length) {
      try {
        const { bytesWritten } = await this.writer.write(buf, off, Math.min(64 * 1024, buf.length - off));
        off += bytesWritten;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        await sleep(2);
      }
    }
  }

  /** Waits until the kit has sent a line matching `pred`; returns it. */
  async waitForLine(pred: (line: string) => boolean, timeoutMs = 3000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines().find(pred);
      if (found !== undefined) return found;
      if (Date.now() > end) throw new Error(`no matching line from the kit within ${timeoutMs} ms; got ${JSON.stringify(this.received.slice(-200))}`);
      await sleep(10);
    }
  }

  /** Forgets what was received so far. */
  clear(): void {
    this.received = '';
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reader.destroy();
    await this.writer.close();
  }
}

/** Polls `pred` every 10 ms until true; throws with `what` after timeoutMs. */
export async function waitUntil(pred: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

import { spawn } from 'node:child_process';
import type { Logger } from '../core/logger.js';

/**
 * systemd's notify protocol (sd_notify) without a native module.
 *
 * Node has no AF_UNIX datagram sockets, so each message goes through systemd's own
 * `systemd-notify` binary, a child of the service. Two things make that sound:
 *  - the unit says NotifyAccess=all (the sender is a child, not the main PID);
 *  - systemd-notify (systemd ≥ 246) waits, after sending, on a barrier (BARRIER=1 with a pipe fd)
 *    until PID 1 has processed the message, so the message is never dropped because the sender
 *    exited before systemd looked up its cgroup (the old race, systemd issue #2737). We therefore
 *    never pass --no-block.
 * `--pid=<our pid>` adds MAINPID=<our pid>, so systemd keeps supervising this process even though
 * the message comes from a child. Without NOTIFY_SOCKET (not under systemd) every call is a no-op.
 */
export interface Notifier {
  /** True when NOTIFY_SOCKET is set (running under a Type=notify unit or a test harness). */
  readonly enabled: boolean;
  /** How often to call watchdog() (half of WATCHDOG_USEC), or null when no watchdog is configured. */
  readonly watchdogIntervalMs: number | null;
  ready(status?: string): Promise<void>;
  watchdog(): Promise<void>;
  stopping(): Promise<void>;
  status(text: string): Promise<void>;
}

/** Runs `systemd-notify` with the given arguments; resolves with its exit code. Tests may swap it. */
export type NotifySender = (args: string[], env: NodeJS.ProcessEnv) => Promise<number | null>;

export const spawnSystemdNotify: NotifySender = (args, env) =>
  new Promise((resolve) => {
    const child = spawn('systemd-notify', args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (c: string) => (err = (err + c).slice(-500)));
    child.on('error', () => resolve(null));
    // The barrier waits at most 5 s in systemd-notify itself; guard against a hung binary anyway.
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });

/** The watchdog interval from WATCHDOG_USEC/WATCHDOG_PID (sd_watchdog_enabled semantics), halved. */
export function watchdogIntervalFrom(env: NodeJS.ProcessEnv, pid: number): number | null {
  const usec = env.WATCHDOG_USEC;
  if (!usec || !/^[0-9]+$/.test(usec)) return null;
  const us = Number(usec);
  if (us <= 0) return null;
  // WATCHDOG_PID names the process that must ping; another one's watchdog is not ours.
  if (env.WATCHDOG_PID && env.WATCHDOG_PID !== String(pid)) return null;
  return Math.max(1, Math.floor(us / 2000));
}

/** One line of a status text: systemd shows it in `systemctl status`; no newlines. */
function statusLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 200);
}

export function createNotifier(
  opts: {
    env?: NodeJS.ProcessEnv;
    pid?: number;
    logger?: Logger;
    send?: NotifySender;
  } = {},
): Notifier {
  const env = opts.env ?? process.env;
  const pid = opts.pid ?? process.pid;
  const socket = env.NOTIFY_SOCKET;
  if (!socket) {
    const noop = async () => undefined;
    return { enabled: false, watchdogIntervalMs: null, ready: noop, watchdog: noop, stopping: noop, status: noop };
  }
  const send = opts.send ?? spawnSystemdNotify;
  // Only what systemd-notify needs: the socket (and nothing secret from our environment).
  const childEnv: NodeJS.ProcessEnv = { NOTIFY_SOCKET: socket, PATH: env.PATH ?? '/usr/bin:/bin' };
  let watchdogInFlight = false;
  let warned = false;
  const run = async (vars: string[]): Promise<void> => {
    const code = await send([`--pid=${pid}`, ...vars], childEnv);
    if (code !== 0 && !warned) {
      warned = true; // once: a missing binary would otherwise log at every watchdog ping
      opts.logger?.warn('systemd-notify failed', { vars: vars.map((v) => v.split('=')[0]), code });
    }
  };
  return {
    enabled: true,
    watchdogIntervalMs: watchdogIntervalFrom(env, pid),
    ready: (status) => run(['READY=1', ...(status ? [`STATUS=${statusLine(status)}`] : [])]),
    // A ping still on its way is not doubled; the next tick sends again.
    watchdog: async () => {
      if (watchdogInFlight) return;
      watchdogInFlight = true;
      try {
        await run(['WATCHDOG=1']);
      } finally {
        watchdogInFlight = false;
      }
    },
    stopping: () => run(['STOPPING=1', 'STATUS=stopping']),
    status: (text) => run([`STATUS=${statusLine(text)}`]),
  };
}

/**
 * Resolves when the camera's state is known: the pipeline plays, or it failed (the error is then
 * in /api/status and on the LEDs), or `boundMs` passed. Returns a short status text for systemd.
 */
export function cameraSettled(
  capture: {
    on(event: 'playing', fn: () => void): unknown;
    on(event: 'error', fn: (e: { message: string }) => void): unknown;
    off(event: 'playing', fn: () => void): unknown;
    off(event: 'error', fn: (e: { message: string }) => void): unknown;
    readonly status: { armed: boolean; ok: boolean; error?: string };
  },
  boundMs: number,
): Promise<string> {
  const s = capture.status;
  if (!s.armed) return Promise.resolve('ready; camera not armed');
  if (s.ok) return Promise.resolve('ready; camera armed');
  if (s.error !== undefined) return Promise.resolve(`ready; camera error: ${statusLine(s.error)}`);
  return new Promise((resolve) => {
    const finish = (text: string) => {
      clearTimeout(t);
      capture.off('playing', onPlaying);
      capture.off('error', onError);
      resolve(text);
    };
    const onPlaying = () => finish('ready; camera armed');
    const onError = (e: { message: string }) => finish(`ready; camera error: ${statusLine(e.message)}`);
    const t = setTimeout(() => finish(`ready; camera not playing after ${boundMs} ms`), boundMs);
    capture.on('playing', onPlaying);
    capture.on('error', onError);
  });
}

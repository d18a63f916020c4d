import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNotifier, watchdogIntervalFrom } from '../src/appliance/notify.js';
import { Service, TEST_CAPTURE } from './helpers/service.js';
/**
 * A stand-in for PID 1's notify socket: a real AF_UNIX datagram socket (python3, since Node has
 * none) that records every message with its arrival time. Like systemd it drops the fds of a
 * BARRIER=1 message (plain recv), which ends systemd-notify's barrier wait.
 */
const RECEIVER = `
import socket, sys, json, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps({"bound": True}), flush=True)
while True:
    data = s.recv(65536)
    print(json.dumps({"t": time.time() * 1000, "msg": data.decode("utf-8", "replace")}), flush=True)
`;

interface NotifyMessage {
  /** Arrival, ms since the epoch. */
  t: number;
  vars: Record<string, string>;
}

class NotifySocket {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'vht-notify-'));
  readonly path = path.join(this.dir, 'notify.sock');
  readonly messages: NotifyMessage[] = [];
  private proc: ChildProcess | null = null;

  async start(): Promise<void> {
    const proc = spawn('python3', ['-c', RECEIVER, this.path], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.proc = proc;
    let buf = '';
    let bound = false;
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (c: string) => {
      buf += c;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, nl)) as { bound?: boolean; t?: number; msg?: string };
        buf = buf.slice(nl + 1);
        if (line.bound) bound = true;
        else if (line.msg !== undefined) {
          const vars: Record<string, string> = {};
          for (const l of line.msg.split('\n')) {
            const eq = l.indexOf('=');
            if (eq > 0) vars[l.slice(0, eq)] = l.slice(eq + 1);
          }
          this.messages.push({ t: line.t!, vars });
        }
      }
    });
    const deadline = Date.now() + 10_000;
    while (!bound) {
      if (proc.exitCode !== null) throw new Error('notify receiver (python3) exited');
      if (Date.now() > deadline) throw new Error('notify receiver did not bind');
      await sleep(20);
    }
  }

  /** Messages that set `name` (e.g. READY, WATCHDOG, STOPPING). */
  with(name: string): NotifyMessage[] {
    return this.messages.filter((m) => m.vars[name] !== undefined);
  }

  async waitFor(name: string, timeoutMs = 20_000, count = 1): Promise<NotifyMessage> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = this.with(name);
      if (found.length >= count) return found[count - 1]!;
      await sleep(20);
    }
    throw new Error(`no ${name}=… (x${count}) on the notify socket within ${timeoutMs} ms; got ${JSON.stringify(this.messages.map((m) => m.vars))}`);
  }

  stop(): void {
    this.proc?.kill('SIGTERM');
    this.proc = null;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const PRE_ROLL = TEST_CAPTURE.replace('preRollSeconds: 3', 'preRollSeconds: 1');
if (PRE_ROLL === TEST_CAPTURE) throw new Error('TEST_CAPTURE no longer sets preRollSeconds: 3; update PRE_ROLL');

describe('systemd notify protocol (harness socket, real service)', () => {
  let sock: NotifySocket;
  let svc: Service;

  beforeAll(async () => {
    sock = new NotifySocket();
    await sock.start();
    // WatchdogSec=1 s: the kit pings every 500 ms.
    svc = new Service({ config: PRE_ROLL, env: { NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: '1000000' } });
    // READY=1 must come after HTTP answers: probe /healthz the moment it arrives.
    const probe = (async () => {
      const ready = await sock.waitFor('READY', 30_000);
      const health = await fetch(`${svc.url}/healthz`).then(
        (r) => r.status,
        () => 0,
      );
      return { ready, health };
    })();
    await svc.start();
    const { ready, health } = await probe;
    expect(health).toBe(200);
    expect(ready.vars.MAINPID).toBe(String(svc.proc!.pid));
    expect(ready.vars.STATUS).toMatch(/^ready; camera (armed|error)/);
  });

  afterAll(async () => {
    await svc?.stop('SIGKILL');
    svc?.cleanup();
    sock?.stop();
  });

  it('sends READY=1 once, only after HTTP listens and the camera is armed', async () => {
    expect(sock.with('READY')).toHaveLength(1);
    const s = await svc.status();
    expect(s.camera.ok).toBe(true);
    // Nothing but the watchdog came before READY (no READY before listen).
    const readyAt = sock.with('READY')[0]!.t;
    expect(sock.messages.filter((m) => m.t < readyAt).every((m) => m.vars.WATCHDOG === '1' || m.vars.BARRIER === '1')).toBe(true);
  });

  it('keeps sending WATCHDOG=1 at half of WATCHDOG_USEC', async () => {
    // counted by the receiver's arrival times over 3 s, once a ping after the window has arrived
    const t0 = Date.now();
    const deadline = t0 + 15_000;
    while (!sock.with('WATCHDOG').some((m) => m.t >= t0 + 3000)) {
      if (Date.now() > deadline) throw new Error('no WATCHDOG=1 after the 3 s window');
      await sleep(20);
    }
    const pings = sock.with('WATCHDOG').filter((m) => m.t >= t0 && m.t < t0 + 3000);
    // 3 s at a 500 ms interval: 6 pings; a loaded 2-core machine may lose one or two.
    expect(pings.length).toBeGreaterThanOrEqual(4);
    expect(pings.length).toBeLessThanOrEqual(8);
    for (const p of pings) expect(p.vars.MAINPID).toBe(String(svc.proc!.pid));
  });

  it('after a stall (SIGSTOP stands in for a hang) the pings resume at once', async () => {
    const pid = svc.proc!.pid!;
    await sock.waitFor('WATCHDOG', 5000, sock.with('WATCHDOG').length + 1);
    process.kill(pid, 'SIGSTOP');
    await sleep(2500); // longer than the 1 s watchdog: systemd would kill and restart the kit
    process.kill(pid, 'SIGCONT');
    const resumedAt = Date.now();
    const next = await sock.waitFor('WATCHDOG', 5000, sock.with('WATCHDOG').length + 1);
    expect(next.t).toBeGreaterThanOrEqual(resumedAt - 50);
  });

  it('on SIGTERM sends STOPPING=1 and ends a running take cleanly (clip complete)', async () => {
    await svc.waitArmed();
    const start = await svc.request('POST', '/api/recording/start', {});
    expect(start.status).toBe(200);
    const clipId = start.json.clipId as string;
    await sleep(2500);
    const termAt = Date.now();
    const code = await svc.stop('SIGTERM');
    const tookMs = Date.now() - termAt;
    expect(code).toBe(0);
    // Well within the unit's TimeoutStopSec (30 s).
    expect(tookMs).toBeLessThan(15_000);
    await sock.waitFor('STOPPING', 5000); // the receiver's report may come after the exit
    const stopping = sock.with('STOPPING');
    expect(stopping).toHaveLength(1);
    expect(stopping[0]!.t).toBeGreaterThanOrEqual(termAt - 50);

    const again = new Service({ dir: svc.dir, port: svc.port, config: PRE_ROLL });
    try {
      await again.start();
      const clip = (await again.request('GET', `/api/clips/${clipId}`)).json;
      expect(clip.state).toBe('complete');
      expect(clip.durationMs).toBeGreaterThan(1500);
    } finally {
      await again.stop();
    }
  });

  it('without NOTIFY_SOCKET the notifier does nothing', async () => {
    const n = createNotifier({ env: { WATCHDOG_USEC: '1000000' }, send: () => Promise.reject(new Error('must not send')) });
    expect(n.enabled).toBe(false);
    expect(n.watchdogIntervalMs).toBeNull();
    await n.ready('x');
    await n.watchdog();
  });

  it('reads the watchdog interval like sd_watchdog_enabled', () => {
    expect(watchdogIntervalFrom({ WATCHDOG_USEC: '20000000' }, 42)).toBe(10_000);
    expect(watchdogIntervalFrom({ WATCHDOG_USEC: '20000000', WATCHDOG_PID: '41' }, 42)).toBeNull();
    expect(watchdogIntervalFrom({ WATCHDOG_USEC: '20000000', WATCHDOG_PID: '42' }, 42)).toBe(10_000);
    expect(watchdogIntervalFrom({ WATCHDOG_USEC: 'x' }, 42)).toBeNull();
    expect(watchdogIntervalFrom({}, 42)).toBeNull();
  });
});

describe('watchdog supervision (the harness plays systemd: WatchdogSec=1s, Restart=on-failure)', () => {
  // The harness plays systemd's part (no systemd as PID 1 here, so no `systemd-run --user`): it
  // sees the pings stop, kills with SIGABRT as WatchdogSec would, and starts the kit again as
  // Restart=on-failure would. What this proves is the kit's side: pings stop when it hangs, and a
  // kit killed mid-take comes back READY with the take recovered.
  it('a kit that stops pinging is killed with SIGABRT and restarted; READY again, the take recovered', async () => {
    const sock = new NotifySocket();
    await sock.start();
    const env = { NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: '1000000' };
    const first = new Service({ config: PRE_ROLL, env });
    let second: Service | null = null;
    try {
      await first.start();
      await sock.waitFor('READY', 30_000);
      await first.waitArmed();
      const start = await first.request('POST', '/api/recording/start', {});
      expect(start.status).toBe(200);
      const clipId = start.json.clipId as string;
      // Wait for the take to hold more than a second of stored segments and for a ping (events, not
      // a fixed sleep: a loaded CI machine may take longer than 2 s to store two segments).
      const deadline = Date.now() + 30_000;
      for (;;) {
        const now = (await first.request('GET', `/api/clips/${clipId}`)).json;
        if ((now.durationMs ?? 0) > 1500) break;
        if (Date.now() > deadline) throw new Error(`take ${clipId} still holds ${now.durationMs} ms after 30 s`);
        await sleep(100);
      }
      await sock.waitFor('WATCHDOG', 5000); // it was pinging before the hang

      // The event loop stalls (SIGSTOP stands in for a hang); systemd's check: no WATCHDOG=1
      // within WatchdogSec → WatchdogSignal (SIGABRT), then a restart.
      const pid = first.proc!.pid!;
      const exited = new Promise<void>((resolve) => first.proc!.once('exit', () => resolve()));
      process.kill(pid, 'SIGSTOP');
      await sleep(1200); // past WatchdogSec (1 s)
      process.kill(pid, 'SIGABRT');
      process.kill(pid, 'SIGCONT');
      await exited;

      second = new Service({ dir: first.dir, port: first.port, config: PRE_ROLL, env });
      await second.start();
      await sock.waitFor('READY', 30_000, 2);
      const clip = (await second.request('GET', `/api/clips/${clipId}`)).json;
      expect(clip.state).toBe('recovered');
      expect(clip.durationMs).toBeGreaterThan(1000);
      const pingsBefore = sock.with('WATCHDOG').length;
      const ping = await sock.waitFor('WATCHDOG', 5000, pingsBefore + 1);
      expect(ping.vars.MAINPID).toBe(String(second.proc!.pid)); // the new process pings
    } finally {
      await second?.stop();
      await first.stop('SIGKILL');
      first.cleanup();
      sock.stop();
    }
  });
});

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { createLogger, type Logger } from '../src/core/logger.js';
import { createKit } from '../src/main.js';
import { controlSocketPath } from '../src/web/control.js';
import { Lifecycle, type Component } from '../src/wiring/lifecycle.js';

/** A logger that keeps its JSON lines for the test to read. */
function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { lines, logger: createLogger({ level: 'info', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }) };
}

/** Components that record what ran, in order; `failing` names the ones whose stop (or start) throws. */
function parts(names: string[], failing: { stop?: string; start?: string } = {}): { list: Component[]; ran: string[] } {
  const ran: string[] = [];
  const list = names.map((name) => ({
    name,
    async start() {
      await Promise.resolve();
      if (failing.start === name) throw new Error(`${name} cannot start`);
      ran.push(`start ${name}`);
    },
    stop() {
      ran.push(`stop ${name}`);
      if (failing.stop === name) throw new Error(`${name} is stuck`);
    },
  }));
  return { list, ran };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

describe('lifecycle', () => {
  it('starts in order and stops in reverse, once each', async () => {
    const { logger } = capturingLogger();
    const { list, ran } = parts(['store', 'keys', 'recorder', 'web']);
    const lc = new Lifecycle(list, logger);
    await lc.start();
    await lc.start();
    expect(lc.running).toBe(true);
    await lc.stop();
    await lc.stop();
    expect(ran).toEqual(['start store', 'start keys', 'start recorder', 'start web', 'stop web', 'stop recorder', 'stop keys', 'stop store']);
    expect(lc.running).toBe(false);
  });

  it('a stop that throws does not keep the others from stopping; the log and the error name it', async () => {
    const { logger, lines } = capturingLogger();
    const { list, ran } = parts(['store', 'keys', 'recorder', 'web'], { stop: 'keys' });
    const lc = new Lifecycle(list, logger);
    await lc.start();
    await expect(lc.stop()).rejects.toThrow(/components did not stop cleanly: keys/);
    expect(ran.filter((r) => r.startsWith('stop'))).toEqual(['stop web', 'stop recorder', 'stop keys', 'stop store']);
    expect(lines.filter((l) => l.level === 'error')).toEqual([expect.objectContaining({ component: 'keys', error: expect.stringContaining('keys is stuck') })]);
  });

  it('a start that throws stops every component in reverse and rethrows its error, naming the component in the log', async () => {
    const { logger, lines } = capturingLogger();
    const { list, ran } = parts(['store', 'keys', 'recorder', 'web'], { start: 'recorder' });
    const lc = new Lifecycle(list, logger);
    await expect(lc.start()).rejects.toThrow('recorder cannot start');
    expect(ran).toEqual(['start store', 'start keys', 'stop web', 'stop recorder', 'stop keys', 'stop store']);
    expect(lines).toContainEqual(expect.objectContaining({ level: 'error', component: 'recorder', msg: expect.stringContaining('did not start') }));
    expect(lc.running).toBe(false);
  });

  it('stops a kit that was made but never started, once', async () => {
    const { logger } = capturingLogger();
    const { list, ran } = parts(['store', 'web']);
    const lc = new Lifecycle(list, logger);
    await lc.stop();
    await lc.stop();
    expect(ran).toEqual(['stop web', 'stop store']);
  });

  it('refuses two components of one name', () => {
    const { logger } = capturingLogger();
    expect(() => new Lifecycle(parts(['web', 'web']).list, logger)).toThrow(/"web" is used twice/);
  });
});

describe('the kit: one component whose stop throws', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vht-lifecycle-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('still stops every other component (web, camera, keys, catalogue), and the log names the one that failed', async () => {
    const port = await freePort();
    const config = parseConfig({
      dataDir: path.join(dir, 'data'),
      http: { tls: 'off', host: '127.0.0.1', port },
      auth: { pin: '1234' },
      capture: { profile: 'sim', armAtStart: true, ringDir: path.join(dir, 'ring'), width: 320, height: 240, bitrateKbps: 300 },
    });
    const { logger, lines } = capturingLogger();
    const kit = await createKit(config, { uiDir: path.join(dir, 'no-ui'), logger });
    expect(kit.components).toEqual(['store', 'watchdog', 'keys', 'privacy', 'sync', 'cec', 'recorder', 'devices', 'control', 'web', 'systemd']);
    await kit.start();
    expect(await connects(port)).toBe(true);
    expect(await kit.keys.unlock('1234')).toBe(true); // as a trainer's login does
    expect(kit.keys.unlocked).toBe(true);
    expect(kit.capture.status.armed).toBe(true);
    expect(existsSync(controlSocketPath(config.dataDir))).toBe(true);

    kit.control.stop = () => Promise.reject(new Error('the control socket is stuck'));
    await expect(kit.stop()).rejects.toThrow(/did not stop cleanly: control/);

    expect(lines).toContainEqual(
      expect.objectContaining({ level: 'error', component: 'control', error: expect.stringContaining('the control socket is stuck') }),
    );
    // the components before and after it in the stop order all stopped
    expect(kit.listeners).toBeNull();
    expect(await connects(port)).toBe(false);
    expect(kit.capture.status.armed).toBe(false);
    expect(kit.keys.unlocked).toBe(false);
    expect(() => kit.catalogue.listClips()).toThrow(/not open/);
    expect(lines.at(-1)).toMatchObject({ msg: 'kit stopped' });
    // the failed one really did not run: its socket is still there
    expect(existsSync(controlSocketPath(config.dataDir))).toBe(true);
  });
});

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../src/core/clock.js';
import { createLogger } from '../src/core/logger.js';
import { KitController, type KitControllerOptions } from '../src/device/kit-controller.js';
import { checksum } from '../src/device/kit-protocol.js';
import { PtyPair, waitUntil, type PtyPeer } from './helpers/pty.js';

/**
 * The serial kit controller over a real pty pair (socat): serialport opens one end as it would
 * /dev/ttyACM0; the test plays the controller firmware on the other end.
 */

const withSum = (body: string) => `${body}*${checksum(body)}`;

let dir: string;
let pair: PtyPair;
let peer: PtyPeer;
let kit: KitController | null = null;
let logs: Record<string, unknown>[] = [];
let events: string[] = [];

function controller(extra: Partial<KitControllerOptions> = {}): KitController {
  const logger = createLogger({ level: 'debug', write: (l) => logs.push(JSON.parse(l) as Record<string, unknown>) });
  kit = new KitController({
    path: pair.kitPath,
    clock: systemClock,
    logger,
    reconnect: { initialMs: 100, maxMs: 400 },
    ...extra,
  });
  kit.on('connection', (e) => events.push(`connection:${e.connected}`));
  kit.on('hello', (e) => events.push(`hello:${e.firmware}`));
  kit.on('battery', (e) => events.push(`battery:${e.percent}:${e.charging}`));
  kit.on('dock', (e) => events.push(`dock:${e.docked}`));
  kit.on('button', (e) => events.push(`button:${e.id}:${e.pressed ? 'down' : 'up'}`));
  return kit;
}

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vht-pty-'));
  pair = new PtyPair(dir);
  peer = await pair.start();
  logs = [];
  events = [];
});

afterEach(async () => {
  await kit?.stop();
  kit = null;
  await pair.kill();
  rmSync(dir, { recursive: true, force: true });
});

describe('KitController over a real pty', () => {
  it('handshake: PING at connect, HELLO/BAT/DOCK answer, LED lines with checksum', async () => {
    const k = controller();
    await k.start();
    expect(k.connected).toBe(true);
    expect(k.firmware).toBeNull();
    await peer.waitForLine((l) => l === 'PING*10');
    await peer.write(`HELLO 1.4.0\r\nBAT 76 0\n${withSum('DOCK 1')}\n`);
    await waitUntil(() => k.docked, 'DOCK 1');
    expect(k.snapshot()).toMatchObject({ connected: true, firmware: '1.4.0', battery: { percent: 76, charging: false }, docked: true });
    expect(k.snapshot().lastSeenMs).toBeGreaterThanOrEqual(0);
    expect(events).toEqual(['connection:true', 'hello:1.4.0', 'battery:76:false', 'dock:true']);
    expect(k.sendLed('recording')).toBe(true);
    await peer.waitForLine((l) => l === `LED recording*${checksum('LED recording')}`);
    // The link name is a symlink (as /dev/serial/by-id/… is); the log names where it pointed.
    const connected = logs.find((l) => l.msg === 'kit controller connected');
    expect(connected?.device).toMatch(/^\/dev\/pts\/\d+$/);
  });

  it('checksums: a bad one is ignored and counted, a good one and none are accepted; lines split across writes', async () => {
    const k = controller({ appendChecksum: false });
    await k.start();
    await peer.waitForLine((l) => l === 'PING');
    expect(checksum('BAT 50 1')).not.toBe('6F');
    await peer.write('BAT 50 1*6F\n');
    await peer.write(`${withSum('BTN rec down')}\nBTN rec up\n`);
    await waitUntil(() => events.includes('button:rec:up'), 'button up');
    expect(k.battery).toBeNull();
    expect(k.stats.badChecksum).toBe(1);
    expect(logs.some((l) => l.problem === 'badChecksum' && String(l.detail).includes('does not match'))).toBe(true);
    for (const part of ['BA', 'T 4', `0 1*${checksum('BAT 40 1')}`, '\r', '\n']) {
      await peer.write(part);
      await sleep(15);
    }
    await waitUntil(() => k.battery !== null, 'BAT split over five writes');
    expect(k.battery).toEqual({ percent: 40, charging: true });
    expect(events).toEqual(['connection:true', 'button:rec:down', 'button:rec:up', 'battery:40:true']);
  });

  it('1 MB of random bytes: no crash, counted and rate-limited, and the next line is parsed', async () => {
    const k = controller();
    await k.start();
    await peer.waitForLine((l) => l.startsWith('PING'));
    await peer.write(`HELLO 3.1\n`);
    await waitUntil(() => k.firmware === '3.1', 'HELLO');
    const noise = randomBytes(1024 * 1024);
    await peer.write(noise);
    await peer.write('\nDOCK 1\n'); // a newline ends whatever the noise left open
    await waitUntil(() => k.docked, 'DOCK 1 after the noise', 10_000);
    expect(k.connected).toBe(true);
    expect(k.firmware).toBe('3.1');
    expect(k.stats.bytes).toBeGreaterThan(1024 * 1024);
    expect(k.stats.garbage + k.stats.overlong).toBeGreaterThan(1000);
    const ignored = logs.filter((l) => l.msg === 'kit controller line ignored');
    expect(ignored.length).toBeGreaterThan(0);
    expect(ignored.length).toBeLessThanOrEqual(25); // 5 per kind of problem per 10 s
    await k.stop();
    expect(logs.some((l) => l.msg === 'similar messages suppressed')).toBe(true);
  });

  it('unplug and replug: notices, retries with backoff, reconnects by the same path and parses again', async () => {
    const k = controller();
    await k.start();
    await peer.waitForLine((l) => l.startsWith('PING'));
    await peer.write('HELLO 1.0\nDOCK 1\n');
    await waitUntil(() => k.docked, 'DOCK 1');

    await pair.kill(); // the cable is pulled
    await waitUntil(() => !k.connected, 'the controller to notice the unplug');
    expect(k.snapshot()).toMatchObject({ connected: false, firmware: null, battery: null, docked: false });
    // a few failed attempts (the link names are gone)
    await waitUntil(() => logs.some((l) => l.msg === 'kit controller retry'), 'a retry', 5000);
    expect(k.status().ok).toBe(false);
    expect(k.status().error).toMatch(/retrying in \d+ ms/);

    peer = await pair.start(); // plugged in again: same link names, new pts devices
    await peer.waitForLine((l) => l.startsWith('PING'), 3000);
    expect(k.connected).toBe(true);
    await peer.write('HELLO 1.1\nBAT 12 1\n');
    await waitUntil(() => k.battery !== null, 'BAT after the replug');
    expect(k.snapshot()).toMatchObject({ connected: true, firmware: '1.1', battery: { percent: 12, charging: true } });
    expect(events).toEqual(['connection:true', 'hello:1.0', 'dock:true', 'connection:false', 'dock:false', 'connection:true', 'hello:1.1', 'battery:12:true']);
    const lost = logs.find((l) => l.msg === 'kit controller connection lost');
    expect(lost?.reason).toMatch(/device disconnected|port error|port closed/);
  });

  it('a port that is not there yet: start does not fail, it connects once the device appears', async () => {
    await pair.kill();
    const k = controller();
    await k.start();
    expect(k.connected).toBe(false);
    expect(k.status().error).toMatch(/cannot open .*kit.*retrying/);
    peer = await pair.start();
    await peer.waitForLine((l) => l.startsWith('PING'), 3000);
    await waitUntil(() => k.connected, 'connection');
  });

  it('pings periodically and warns once when the controller stays silent', async () => {
    const k = controller({ pingIntervalMs: 80, staleAfterMs: 200 });
    await k.start();
    await waitUntil(() => peer.lines().filter((l) => l.startsWith('PING')).length >= 4, 'four PINGs', 2000);
    await waitUntil(() => logs.some((l) => l.msg === 'kit controller silent: no valid line'), 'the silence warning');
    // still silent for four more pings: still one warning, not one per ping
    const pings = peer.lines().filter((l) => l.startsWith('PING')).length;
    await waitUntil(() => peer.lines().filter((l) => l.startsWith('PING')).length >= pings + 4, 'four more PINGs', 3000);
    expect(logs.filter((l) => l.msg === 'kit controller silent: no valid line')).toHaveLength(1);
    await peer.write('HELLO 9\n');
    await waitUntil(() => logs.some((l) => l.msg === 'kit controller answers again'), 'recovery');
  });

  it('stop closes the port and stays stopped', async () => {
    const k = controller();
    await k.start();
    await peer.waitForLine((l) => l.startsWith('PING'));
    await k.stop();
    expect(k.connected).toBe(false);
    expect(k.sendLed('idle')).toBe(false);
    peer.clear();
    await sleep(300);
    expect(peer.text).toBe('');
    expect(events).toEqual(['connection:true', 'connection:false']);
  });
});

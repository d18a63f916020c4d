import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Service, TEST_CAPTURE } from './helpers/service.js';

const BIN = path.resolve(import.meta.dirname, '../bin/vht-kit');

function cli(svc: Service, args: string[]): { code: number; out: string; err: string } {
  try {
    const out = execFileSync(process.execPath, [BIN, ...args], {
      env: { ...process.env, VHT_KIT_DATA_DIR: svc.dataDir },
      encoding: 'utf8',
      stdio: 'pipe',
      timeout: 20_000,
    });
    return { code: 0, out, err: '' };
  } catch (e) {
    const x = e as { status: number; stdout: string; stderr: string };
    return { code: x.status, out: x.stdout, err: x.stderr };
  }
}

describe('the simulated button and dock through the local control channel', () => {
  const svc = new Service();
  beforeAll(async () => {
    await svc.start();
    await svc.waitArmed();
  });
  afterAll(async () => {
    await svc.stop();
    svc.cleanup();
  });

  it('short press starts a take, a short press during it marks, a long press stops it', async () => {
    const start = cli(svc, ['press']);
    expect(start.code).toBe(0);
    expect(start.out).toMatch(/short press: armed → recording \(clip [a-z0-9]+\)/);
    const clipId = /clip ([a-z0-9]+)/.exec(start.out)![1]!;
    expect((await svc.status()).state).toBe('recording');
    await sleep(1000);
    expect(cli(svc, ['press']).out).toMatch(/recording → recording/);
    await sleep(500);
    const stop = cli(svc, ['press', '--long']);
    expect(stop.out).toMatch(/long press: recording → armed/);
    const clip = (await svc.request('GET', `/api/clips/${clipId}`)).json;
    expect(clip.state).toBe('complete');
    expect(clip.stopReason).toBe('stopped with the button');
    expect(clip.markers).toHaveLength(1);
  });

  it('reports battery and dock state, and `vht-kit dock` changes it with an event', async () => {
    const s = await svc.status();
    expect(s.battery).toEqual({ percent: expect.any(Number), charging: expect.any(Boolean) });
    expect(s.docked).toBe(false);
    const ctrl = new AbortController();
    const res = await fetch(`${svc.url}/api/events`, { headers: { cookie: svc.cookie }, signal: ctrl.signal });
    const reader = res.body!.getReader();
    expect(cli(svc, ['dock', 'on']).out).toBe('docked: yes\n');
    let text = '';
    const deadline = Date.now() + 3000;
    while (!text.includes('event: dock') && Date.now() < deadline) text += Buffer.from((await reader.read()).value!).toString();
    ctrl.abort();
    expect(text).toMatch(/event: dock\ndata: \{"docked":true/);
    expect((await svc.status()).docked).toBe(true);
    expect(cli(svc, ['dock', 'off']).out).toBe('docked: no\n');
    expect(cli(svc, ['dock', 'maybe']).err).toMatch(/say "on" or "off"/);
  });

  it('says clearly when no kit is running', () => {
    const other = new Service();
    const r = cli(other, ['press']);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/no running kit found at .*control\.sock/);
    other.cleanup();
  });
});

describe('a kit whose button is real hardware', () => {
  it('refuses a simulated press with the reason, and keeps running where GPIO is not accessible', async () => {
    const svc = new Service({ config: `${TEST_CAPTURE}\nbutton:\n  backend: gpio\n` });
    try {
      await svc.start();
      const r = cli(svc, ['press']);
      expect(r.code).not.toBe(0);
      expect(r.err).toMatch(/real hardware \(gpio\)/);
      expect(svc.output).toMatch(/the record button does not work.*GPIO/);
      expect((await svc.status()).state).toMatch(/armed|idle/);
    } finally {
      await svc.stop();
      svc.cleanup();
    }
  });
});

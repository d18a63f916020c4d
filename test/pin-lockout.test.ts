import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PinLockout } from '../src/web/pin-lockout.js';
import { ManualClock } from './helpers/manual-clock.js';
import { rawRequest, Service, TEST_CAPTURE } from './helpers/service.js';

/** A check that takes real time (like scrypt) and counts how often it ran. */
function slowCheck(right: string): { check: (pin: string) => () => Promise<boolean>; runs: () => number } {
  let runs = 0;
  return {
    check: (pin) => async () => {
      runs += 1;
      await new Promise((r) => setTimeout(r, 20));
      return pin === right;
    },
    runs: () => runs,
  };
}

describe('PinLockout: counted before the check, capped, durable', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vht-pin-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('400 parallel wrong PINs run at most 5 real checks; the rest are refused with 429', async () => {
    const clock = new ManualClock();
    const lock = new PinLockout({ clock, file: path.join(dir, 'a.json') });
    const c = slowCheck('2468');
    const results = await Promise.allSettled(Array.from({ length: 400 }, () => lock.attempt(c.check('0000'))));
    expect(c.runs()).toBe(5);
    const refused = results.filter((r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'TOO_MANY_ATTEMPTS');
    expect(refused).toHaveLength(395);
    expect(results.filter((r) => r.status === 'fulfilled' && !r.value.ok)).toHaveLength(5);
    // even the right PIN waits for the lock-out to end
    await expect(lock.attempt(c.check('2468'))).rejects.toThrow(/try again in 30 s/);
  });

  it('doubles the lock-out per miss up to a 15 min cap; the right PIN works after it and resets the count', async () => {
    const clock = new ManualClock();
    const lock = new PinLockout({ clock, file: null });
    const c = slowCheck('2468');
    const waits: number[] = [];
    for (let i = 0; i < 60; i++) {
      const r = await lock.attempt(c.check('1111'));
      expect(r.ok).toBe(false);
      if (r.lockedForMs > 0) waits.push(r.lockedForMs);
      clock.advance(Math.max(r.lockedForMs, 1));
    }
    expect(waits.slice(0, 6)).toEqual([30_000, 60_000, 120_000, 240_000, 480_000, 900_000]);
    expect(Math.max(...waits)).toBe(900_000);
    expect(lock.remainingMs()).toBe(0);
    const right = await lock.attempt(c.check('2468'));
    expect(right.ok).toBe(true);
    expect(lock.count).toBe(0);
  });

  it('keeps the count across a restart in a 0600 file, and caps a lock-out stretched by a clock jump', async () => {
    const clock = new ManualClock();
    const file = path.join(dir, 'b.json');
    const first = new PinLockout({ clock, file });
    const c = slowCheck('2468');
    for (let i = 0; i < 5; i++) await first.attempt(c.check('1111'));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const second = new PinLockout({ clock, file });
    expect(second.count).toBe(5);
    await expect(second.attempt(c.check('2468'))).rejects.toThrow(/too many wrong PINs/);
    // the wall clock went back a year (no RTC): the lock-out is still at most the cap
    const back = new ManualClock(-365 * 24 * 3600_000);
    expect(new PinLockout({ clock: back, file }).remainingMs()).toBeLessThanOrEqual(900_000);
    // a damaged file locks out for the cap rather than forgetting
    const bad = path.join(dir, 'c.json');
    writeFileSync(bad, '{not json');
    const third = new PinLockout({ clock, file: bad });
    expect(third.remainingMs()).toBe(900_000);
  });
});

describe('PinLockout per trainer and kit-wide (issue 20)', () => {
  it('locks one trainer id after 5 misses while another id still signs in', async () => {
    const lock = new PinLockout({ clock: new ManualClock(), file: null });
    const c = slowCheck('170017');
    for (let i = 0; i < 5; i++) expect((await lock.attempt(c.check('000000'), 'T-017')).ok).toBe(false);
    await expect(lock.attempt(c.check('170017'), 'T-017')).rejects.toThrow(/too many wrong PINs/);
    expect((await lock.attempt(c.check('170017'), 'T-018')).ok).toBe(true);
  });

  it('one PIN tried against many ids locks the whole kit after 10, and a right PIN of another trainer does not forgive them', async () => {
    const clock = new ManualClock();
    const lock = new PinLockout({ clock, file: null });
    const c = slowCheck('180018');
    for (let i = 0; i < 9; i++) expect((await lock.attempt(c.check('123456'), `T-${100 + i}`)).ok).toBe(false);
    // a trainer who knows their own PIN signs in between: the count of guesses at others stays
    expect((await lock.attempt(c.check('180018'), 'T-018')).ok).toBe(true);
    expect(lock.count).toBe(9);
    const tenth = await lock.attempt(c.check('123456'), 'T-200');
    expect(tenth.lockedForMs).toBe(30_000);
    await expect(lock.attempt(c.check('180018'), 'T-018')).rejects.toThrow(/try again in 30 s/);
    clock.advance(30_000);
    expect((await lock.attempt(c.check('180018'), 'T-018')).ok).toBe(true);
    // the eleventh miss doubles the kit-wide lock-out
    expect((await lock.attempt(c.check('123456'), 'T-201')).lockedForMs).toBe(60_000);
  });

  it('keeps per-trainer counts across a restart, and reads the one-PIN file of before (v1) as the kit-wide and default count', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vht-pin2-'));
    const clock = new ManualClock();
    const file = path.join(dir, 'p.json');
    const first = new PinLockout({ clock, file });
    const c = slowCheck('170017');
    for (let i = 0; i < 5; i++) await first.attempt(c.check('000000'), 'T-017');
    const second = new PinLockout({ clock, file });
    expect(second.remainingMs('T-017')).toBe(30_000);
    expect(second.remainingMs('T-018')).toBe(0);
    writeFileSync(file, JSON.stringify({ v: 1, failures: 7, lockedUntil: clock.now() + 60_000 }));
    const v1 = new PinLockout({ clock, file });
    expect(v1.count).toBe(7);
    expect(v1.remainingMs()).toBe(60_000);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('PIN lock-out of the real service under 400 parallel guesses over many connections', () => {
  let svc: Service;
  beforeAll(async () => {
    svc = new Service({ config: `${TEST_CAPTURE}\nkitId: kit-pin\n`, env: { VHT_KIT_ARM_AT_START: 'false', VHT_KIT_PIN: '1234' }, pin: null });
    // The PIN seals the master key at the first start (scrypt checks from then on); no login yet.
    await svc.start();
  });
  afterAll(async () => {
    await svc.stop();
    svc.cleanup();
  });

  it('checks at most 5 of 400 wrong PINs, then locks out, and a restart keeps the count', async () => {
    // VHT_KIT_PIN seals the first master; the service helper does not log in (pin: null above).
    const send = (pin: string) =>
      rawRequest({
        port: svc.port,
        method: 'POST',
        path: '/api/login',
        timeoutMs: 120_000,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ pin }),
      });
    const statuses: number[] = [];
    // 64 connections at a time (each request on its own connection), 400 in all
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < 400) {
          next += 1;
          statuses.push((await send('99999')).status);
        }
      }),
    );
    expect(statuses).toHaveLength(400);
    const unauthorized = statuses.filter((s) => s === 401).length;
    expect(unauthorized).toBeLessThanOrEqual(5);
    expect(statuses.filter((s) => s === 429).length).toBe(400 - unauthorized);
    const right = await send('1234');
    expect(right.status).toBe(429);
    expect(right.json.error.message).toMatch(/try again in \d+ s/);

    expect(await svc.stop()).toBe(0);
    const db = new Database(path.join(svc.dataDir, 'catalogue.db'), { readonly: true });
    const checks = (db.prepare("SELECT count(*) AS n FROM audit_events WHERE type = 'pin.failed'").get() as { n: number }).n;
    db.close();
    expect(checks).toBe(unauthorized);
    const persisted = JSON.parse(readFileSync(path.join(svc.dataDir, 'pin-lockout.json'), 'utf8'));
    expect(persisted.failures).toBeGreaterThanOrEqual(5);

    await svc.start();
    const afterRestart = await send('1234');
    expect(afterRestart.status).toBe(429);
  });
});

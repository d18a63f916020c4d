// A kit without a battery clock whose clock is a week behind (a power cut, no NTP at a family's
// home): the trainer's login carries the phone's time and the app's clock follows it, bounded and
// audited, without setting the system clock or moving the monotonic clock that times takes.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { AppClock, phoneTimeDecision, systemClock, type Clock } from '../src/core/clock.js';
import { createLogger } from '../src/core/logger.js';
import { timeCheck } from '../src/doctor-time.js';
import { createKit, type Kit } from '../src/main.js';

const WEEK = 7 * 24 * 3600_000;
const PIN = '4821';

/** The system clock of a kit that thinks it is last week (monotonic time as it is). */
const weekBehind: Clock = { ...systemClock, now: () => Date.now() - WEEK };

describe('phoneTimeDecision: when a phone may set the app clock', () => {
  const floorMs = Date.UTC(2026, 5, 1);
  const systemMs = floorMs + 3600_000;
  const base = { systemMs, appMs: systemMs, floorMs, synchronised: false };
  it('takes a phone a week ahead of an unsynchronised kit', () => {
    expect(phoneTimeDecision({ ...base, phoneMs: systemMs + WEEK })).toEqual({ take: true });
  });
  it('refuses a synchronised kit, a non-time, a time before the last known one, one too far ahead, a small one', () => {
    expect(phoneTimeDecision({ ...base, synchronised: true, phoneMs: systemMs + WEEK })).toEqual({ take: false, reason: 'synchronised' });
    expect(phoneTimeDecision({ ...base, phoneMs: 'tomorrow' })).toEqual({ take: false, reason: 'not_a_time' });
    expect(phoneTimeDecision({ ...base, phoneMs: Number.NaN })).toEqual({ take: false, reason: 'not_a_time' });
    expect(phoneTimeDecision({ ...base, phoneMs: floorMs - 1 })).toEqual({ take: false, reason: 'before_last_known' });
    expect(phoneTimeDecision({ ...base, phoneMs: systemMs + 401 * 24 * 3600_000 })).toEqual({ take: false, reason: 'too_far_ahead' });
    expect(phoneTimeDecision({ ...base, phoneMs: systemMs + 30_000 })).toEqual({ take: false, reason: 'close_enough' });
  });
  it('the app clock moves its wall time only; monotonic time and the system time stay', () => {
    let wall = floorMs;
    let mono = 1000;
    const clock = new AppClock({ ...systemClock, now: () => wall, monotonic: () => mono });
    clock.followPhone(floorMs + WEEK);
    expect(clock.now()).toBe(floorMs + WEEK);
    expect(clock.systemNow()).toBe(floorMs);
    expect(clock.monotonic()).toBe(1000);
    wall += 5000;
    mono += 5000;
    expect(clock.now()).toBe(floorMs + WEEK + 5000);
    expect(clock.time()).toEqual({ source: 'phone', offsetMs: WEEK, setAt: floorMs + WEEK });
  });
});

describe('a kit whose clock is a week behind', () => {
  let root: string;
  let kit: Kit;
  let kitConfig: ReturnType<typeof parseConfig>;

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'vht-clock-'));
    const config = parseConfig({
      kitId: 'kit-clock',
      dataDir: path.join(root, 'data'),
      http: { tls: 'off' },
      auth: { pin: PIN },
      capture: { profile: 'sim', armAtStart: true, ringDir: path.join('/dev/shm', path.basename(root)), width: 320, height: 240, bitrateKbps: 300 },
    });
    kitConfig = config;
    kit = await createKit(config, { clock: weekBehind, logger: createLogger({ level: 'silent' }), timeSynchronised: async () => false });
    await kit.keys.start(PIN);
    kit.recorder.start();
    await kit.control.start();
    // two segments in the ring: the camera runs
    await new Promise<void>((resolve) => {
      let n = 0;
      const off = kit.bus.on('segment.closed', () => {
        if (++n >= 2) {
          off();
          resolve();
        }
      });
    });
  }, 60_000);

  afterAll(async () => {
    await kit?.control.stop();
    await kit?.app.close();
    await kit?.recorder.stop();
    kit?.catalogue.close();
    rmSync(root, { recursive: true, force: true });
  });

  const login = (body: Record<string, unknown>) => kit.app.inject({ method: 'POST', url: '/api/login', payload: body, headers: { host: 'localhost' } });

  it("after a login with the phone's time, new clips carry the right date; a take across the correction keeps its length", async () => {
    // A take starts while the kit still thinks it is last week.
    const startMono = kit.clock.monotonic();
    const before = kit.recorder.startTake(null);
    expect(Math.abs(kit.catalogue.getClip(before.clipId)!.createdAt - (Date.now() - WEEK))).toBeLessThan(5000);

    // The trainer logs in; the phone's time comes with it.
    const res = await login({ pin: PIN, clientTime: Date.now() });
    expect(res.statusCode).toBe(204);
    expect(kit.clock.time().source).toBe('phone');
    expect(Math.abs(kit.clock.time().offsetMs - WEEK)).toBeLessThan(5000);
    expect(Math.abs(kit.clock.now() - Date.now())).toBeLessThan(5000);
    // The system's own time is untouched (retention acts on it).
    expect(Math.abs(kit.clock.systemNow() - (Date.now() - WEEK))).toBeLessThan(5000);

    // Two more segments into the take, then stop: its length is what the monotonic clock measured,
    // not a week longer (and not cut short).
    await new Promise<void>((resolve) => {
      let n = 0;
      const off = kit.bus.on('segment.closed', () => {
        if (++n >= 2) {
          off();
          resolve();
        }
      });
    });
    const stopped = await kit.recorder.stopTake();
    const spanMs = kit.clock.monotonic() - startMono;
    const clip = kit.catalogue.getClip(before.clipId)!;
    const preRoll = clip.requestedAt - (clip.originMs ?? clip.requestedAt);
    expect(stopped.durationMs).toBeGreaterThan(spanMs + preRoll - 1500);
    expect(stopped.durationMs).toBeLessThan(spanMs + preRoll + 1500);
    expect(clip.durationMs).toBe(stopped.durationMs);

    // A new take is dated by the corrected clock: today, not last week.
    // (compared with the time of the start: a stop on a loaded machine may wait seconds for its segment)
    const startedAt = Date.now();
    const after = kit.recorder.startTake(null);
    await kit.recorder.stopTake();
    expect(Math.abs(kit.catalogue.getClip(after.clipId)!.createdAt - startedAt)).toBeLessThan(5000);

    // Audited; the status says where the time comes from.
    expect(kit.catalogue.auditEvents().filter((e) => e.type === 'clock.phone')).toHaveLength(1);
    const cookies = res.cookies as { name: string; value: string }[];
    const status = await kit.app.inject({
      method: 'GET',
      url: '/api/status',
      headers: { host: 'localhost', cookie: cookies.map((c) => `${c.name}=${c.value}`).join('; ') },
    });
    expect(status.statusCode).toBe(200);
    expect(status.json().time).toMatchObject({ source: 'phone' });
    expect(Math.abs(status.json().time.offsetMs - WEEK)).toBeLessThan(5000);
  }, 60_000);

  it('`doctor` says the time comes from the phone, asking the running kit', async () => {
    const line = await timeCheck(kitConfig, async () => false);
    expect(line.name).toBe('time');
    expect(line.detail).toMatch(/^a trainer's phone at login: the system clock \+60[0-9]{4} s \(the system clock, not synchronised/);
    expect(line.detail).toContain("retention uses the system's time");
  }, 30_000);

  it('refuses a phone time before the last time the kit knew, audited; a wrong PIN never sets it; a bad value is a 400 naming it', async () => {
    const offset = kit.clock.time().offsetMs;
    expect((await login({ pin: PIN, clientTime: Date.UTC(2020, 0, 1) })).statusCode).toBe(204);
    expect(kit.clock.time().offsetMs).toBe(offset);
    const refused = kit.catalogue.auditEvents().filter((e) => e.type === 'clock.phone.refused');
    expect(refused).toHaveLength(1);
    expect((await login({ pin: '0000', clientTime: Date.now() + 30 * 24 * 3600_000 })).statusCode).toBe(401);
    expect(kit.clock.time().offsetMs).toBe(offset);
    const bad = await login({ pin: PIN, clientTime: 'now' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatchObject({ code: 'VALIDATION', field: 'body.clientTime' });
    expect(bad.json().error.message).toContain('"now"');
  }, 60_000);
});

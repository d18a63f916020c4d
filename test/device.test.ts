import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecorderStateName } from '../src/core/events.js';
import { createLogger } from '../src/core/logger.js';
import { KitButton } from '../src/device/button.js';
import { GPIO_NOT_ACCESSIBLE, GpioButton, loadOnoff, resolveSysfsGpio, SimButton, type BitValue, type GpioLine, type GpioModule } from '../src/device/gpio.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { ControllerButton, KitController, SimKitController, type SerialLink } from '../src/device/kit-controller.js';
import { checksum, formatLine, KitLineDecoder, LogLimiter, parseLine, type KitMessage } from '../src/device/kit-protocol.js';
import { createDevices, DEFAULT_DEVICE_CONFIG, type DeviceConfig } from '../src/device/factory.js';
import { ControllerLeds, GpioLeds, LED_PATTERN_TABLE, LED_PATTERNS, LedPatternPlayer, ledPatternFor, SimLeds } from '../src/device/leds.js';
import { actionFor, PressActions, PressDetector, type ButtonAction, type PressEvent, type PressKind, type PressOutcome } from '../src/device/press.js';
import { ManualClock } from './helpers/manual-clock.js';

const silent = createLogger({ level: 'silent' });

function detector(clock: ManualClock, opts: { debounceMs?: number; longPressMs?: number; doublePressMs?: number } = {}) {
  const presses: PressEvent[] = [];
  const d = new PressDetector({ clock, logger: silent, onPress: (e) => presses.push(e), ...opts });
  return { d, presses, kinds: () => presses.map((p) => p.kind) };
}

/** Feeds levels at given ms offsets: [[0, true], [3, false], ...]. */
function play(clock: ManualClock, d: PressDetector, edges: [number, boolean][]): void {
  let at = 0;
  for (const [t, level] of edges) {
    clock.advance(t - at);
    at = t;
    d.input(level);
  }
}

describe('PressDetector', () => {
  it('turns a bouncing contact into exactly one short press, timed from the edge that stuck', () => {
    const clock = new ManualClock();
    const { d, presses } = detector(clock);
    // Press with 3 bounces over 8 ms, hold, release with 2 bounces.
    play(clock, d, [
      [0, true],
      [2, false],
      [4, true],
      [6, false],
      [8, true],
      [300, false],
      [302, true],
      [304, false],
    ]);
    expect(presses).toEqual([]); // the release has not settled yet
    clock.advance(30);
    expect(presses).toHaveLength(1);
    expect(presses[0]).toMatchObject({ kind: 'short', heldMs: 296 });
    clock.advance(5000);
    expect(presses).toHaveLength(1);
  });

  it('ignores a glitch shorter than the debounce time', () => {
    const clock = new ManualClock();
    const { d, presses } = detector(clock);
    play(clock, d, [
      [0, true],
      [10, false],
      [20, true],
      [29, false],
    ]);
    clock.advance(2000);
    expect(presses).toEqual([]);
    expect(d.pressed).toBe(false);
  });

  it('fires a long press at the threshold while still held, and nothing on release', () => {
    const clock = new ManualClock();
    const { d, presses } = detector(clock);
    d.input(true);
    clock.advance(999);
    expect(presses).toEqual([]);
    clock.advance(1);
    expect(d.pressed).toBe(true);
    expect(presses).toEqual([{ kind: 'long', heldMs: 1000, at: 1000 }]);
    clock.advance(3000);
    d.input(false);
    clock.advance(100);
    expect(presses).toHaveLength(1);
  });

  it('reports a press held just under the threshold as short', () => {
    const clock = new ManualClock();
    const { d, kinds } = detector(clock, { longPressMs: 800 });
    play(clock, d, [
      [0, true],
      [790, false],
    ]);
    clock.advance(100);
    expect(kinds()).toEqual(['short']);
  });

  it('a contact glitch right at the threshold still gives the long press (once)', () => {
    const clock = new ManualClock();
    const { d, presses } = detector(clock);
    play(clock, d, [
      [0, true],
      [990, false],
      [1005, true],
    ]);
    expect(presses).toEqual([]); // at 1000 the release was not yet confirmed
    clock.advance(30);
    expect(presses.map((p) => p.kind)).toEqual(['long']);
    play(clock, d, [[0, false]]);
    clock.advance(100);
    expect(presses).toHaveLength(1);
  });

  it('recognises a double press and delays a lone short press by the window', () => {
    const clock = new ManualClock();
    const { d, kinds } = detector(clock, { doublePressMs: 300 });
    play(clock, d, [
      [0, true],
      [100, false],
      [250, true],
      [350, false],
    ]);
    clock.advance(1000);
    expect(kinds()).toEqual(['double']);

    const single = detector(clock, { doublePressMs: 300 });
    play(clock, single.d, [
      [0, true],
      [100, false],
    ]);
    clock.advance(299); // the window runs from the release edge
    expect(single.kinds()).toEqual([]);
    clock.advance(2);
    expect(single.kinds()).toEqual(['short']);
  });

  it('two presses further apart than the window are two short presses; a short then a long is short + long', () => {
    const clock = new ManualClock();
    const apart = detector(clock, { doublePressMs: 300 });
    play(clock, apart.d, [
      [0, true],
      [100, false],
      [600, true],
      [700, false],
    ]);
    clock.advance(1000);
    expect(apart.kinds()).toEqual(['short', 'short']);

    const thenLong = detector(clock, { doublePressMs: 300 });
    play(clock, thenLong.d, [
      [0, true],
      [100, false],
      [200, true],
    ]);
    clock.advance(1500);
    expect(thenLong.kinds()).toEqual(['short', 'long']);
  });

  it('reset drops a half-seen press', () => {
    const clock = new ManualClock();
    const { d, presses } = detector(clock);
    d.input(true);
    clock.advance(500);
    d.reset();
    clock.advance(2000);
    expect(presses).toEqual([]);
    expect(clock.pending).toBe(0);
  });

  it('rejects timings that cannot work, naming the key and value', () => {
    const clock = new ManualClock();
    expect(() => detector(clock, { debounceMs: -1 })).toThrow(/button\.debounceMs.*-1/);
    expect(() => detector(clock, { longPressMs: 20, debounceMs: 30 })).toThrow(/button\.longPressMs \(20\)/);
  });
});

describe('actionFor', () => {
  const cases: [PressKind, Parameters<typeof actionFor>[1], ButtonAction][] = [
    ['long', 'idle', 'start'],
    ['long', 'armed', 'start'],
    ['long', 'error', 'start'],
    ['long', 'recording', 'stop'],
    ['short', 'recording', 'mark'],
    ['short', 'armed', 'start'],
    ['short', 'idle', 'start'],
    ['double', 'recording', 'stop'],
    ['double', 'armed', 'start'],
    ['long', 'starting', 'none'],
    ['short', 'starting', 'none'],
    ['long', 'stopping', 'none'],
    ['short', 'stopping', 'none'],
    ['double', 'stopping', 'none'],
  ];
  it.each(cases)('%s press while %s → %s', (kind, state, action) => {
    expect(actionFor(kind, state)).toBe(action);
  });

  it('follows the mapping', () => {
    const mapping = { shortWhenIdle: 'none', doubleWhenRecording: 'mark' } as const;
    expect(actionFor('short', 'armed', mapping)).toBe('none');
    expect(actionFor('double', 'idle', mapping)).toBe('none');
    expect(actionFor('double', 'recording', mapping)).toBe('mark');
    expect(actionFor('long', 'armed', mapping)).toBe('start');
  });
});

/** A recorder stand-in whose stop (and optionally start) completes when the test says so. */
function fakeRecorder(opts: { asyncStart?: boolean } = {}) {
  let state: RecorderStateName = 'armed';
  const calls: string[] = [];
  const pending: { resolve: () => void; reject: (e: Error) => void }[] = [];
  const wait = (then: () => void) =>
    new Promise<void>((resolve, reject) => {
      pending.push({
        resolve: () => {
          then();
          resolve();
        },
        reject,
      });
    });
  const perform = (action: 'start' | 'stop' | 'mark'): unknown => {
    calls.push(action);
    if (action === 'start') {
      if (opts.asyncStart) return wait(() => (state = 'recording'));
      state = 'recording';
      return { clipId: 'c1' };
    }
    if (action === 'stop') return wait(() => (state = 'armed'));
    return undefined;
  };
  return { perform, calls, pending, state: () => state, setState: (s: RecorderStateName) => (state = s) };
}

describe('PressActions: a press during a state change', () => {
  it('ignores presses while a stop is in flight, then acts again', async () => {
    const rec = fakeRecorder();
    const outcomes: PressOutcome[] = [];
    const actions = new PressActions({ state: rec.state, perform: rec.perform, logger: silent, onOutcome: (o) => outcomes.push(o) });
    expect(actions.handle('long')).toBe('start');
    expect(actions.state).toBe('recording');
    expect(actions.handle('short')).toBe('mark');
    expect(actions.handle('long')).toBe('stop');
    expect(actions.state).toBe('stopping');
    expect(actions.handle('long')).toBe('none'); // must not stop twice or start a new take
    expect(actions.handle('short')).toBe('none'); // must not mark a take that is ending
    expect(rec.calls).toEqual(['start', 'mark', 'stop']);
    rec.pending[0]?.resolve();
    await actions.settled();
    expect(actions.inFlight).toBeNull();
    expect(actions.state).toBe('armed');
    expect(actions.handle('long')).toBe('start');
    expect(rec.calls).toEqual(['start', 'mark', 'stop', 'start']);
    expect(outcomes.map((o) => `${o.kind}:${o.action}:${o.ok}`)).toEqual([
      'long:start:true',
      'short:mark:true',
      'long:none:true',
      'short:none:true',
      'long:stop:true',
      'long:start:true',
    ]);
  });

  it('never double-starts while a start is still being confirmed', async () => {
    const rec = fakeRecorder({ asyncStart: true });
    const actions = new PressActions({ state: rec.state, perform: rec.perform, logger: silent });
    expect(actions.handle('short')).toBe('start');
    expect(actions.state).toBe('starting');
    expect(actions.handle('short')).toBe('none');
    expect(actions.handle('long')).toBe('none');
    expect(rec.calls).toEqual(['start']);
    rec.pending[0]?.resolve();
    await actions.settled();
    expect(actions.handle('short')).toBe('mark');
  });

  it('reports a refused action and clears the in-flight state', async () => {
    const rec = fakeRecorder({ asyncStart: true });
    const outcomes: PressOutcome[] = [];
    const actions = new PressActions({ state: rec.state, perform: rec.perform, logger: silent, onOutcome: (o) => outcomes.push(o) });
    actions.handle('long');
    rec.pending[0]?.reject(new Error('the camera is not recording: no device'));
    await actions.settled();
    expect(actions.state).toBe('armed');
    expect(outcomes).toEqual([{ kind: 'long', state: 'armed', action: 'start', ok: false, error: 'the camera is not recording: no device' }]);
    const throwing = new PressActions({
      state: () => 'armed',
      perform: () => {
        throw new Error('storage full');
      },
      logger: silent,
      onOutcome: (o) => outcomes.push(o),
    });
    expect(throwing.handle('long')).toBe('start');
    expect(outcomes[1]).toMatchObject({ ok: false, error: 'storage full' });
  });
});

describe('SimButton + KitButton', () => {
  it('a simulated finger goes through the same path as GPIO: long starts, short marks, long stops', async () => {
    const clock = new ManualClock();
    const rec = fakeRecorder();
    const sim = new SimButton({ clock });
    const presses: PressKind[] = [];
    const button = new KitButton({ backend: sim, clock, logger: silent, state: rec.state, perform: rec.perform, onPress: (e) => presses.push(e.kind) });
    await button.start();
    expect(button.status()).toEqual({ ok: true });

    const long = sim.press(true);
    clock.advance(1100); // still held (long hold is 1500): the take has started already
    expect(rec.calls).toEqual(['start']);
    clock.advance(1000);
    await long;
    const short = sim.press(false);
    clock.advance(500);
    await short;
    expect(rec.calls).toEqual(['start', 'mark']);
    void sim.press(true);
    clock.advance(2000);
    expect(rec.calls).toEqual(['start', 'mark', 'stop']);
    expect(presses).toEqual(['long', 'short', 'long']);
    await button.stop();
    expect(() => sim.set(true)).toThrow(/not started/);
  });

  it('a button that is not started does not deliver presses', async () => {
    const clock = new ManualClock();
    const sim = new SimButton({ clock });
    await expect(sim.press()).rejects.toThrow(/not started/);
  });
});

describe('resolveSysfsGpio against a fake sysfs tree', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'vht-sysfs-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  function tree(name: string, chips: { dir: string; label: string; base: number; ngpio?: number }[]): string {
    const dir = path.join(root, name);
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'export'), '');
    for (const c of chips) {
      mkdirSync(path.join(dir, c.dir));
      writeFileSync(path.join(dir, c.dir, 'label'), `${c.label}\n`);
      writeFileSync(path.join(dir, c.dir, 'base'), `${c.base}\n`);
      if (c.ngpio !== undefined) writeFileSync(path.join(dir, c.dir, 'ngpio'), `${c.ngpio}\n`);
    }
    return dir;
  }

  it('Pi 4 on Bookworm: pinctrl-bcm2711 at base 512 → BCM 17 is 529', async () => {
    const dir = tree('pi4', [
      { dir: 'gpiochip512', label: 'pinctrl-bcm2711', base: 512, ngpio: 58 },
      { dir: 'gpiochip570', label: 'raspberrypi-exp-gpio', base: 570, ngpio: 8 },
    ]);
    expect(await resolveSysfsGpio(17, dir)).toBe(529);
    expect(await resolveSysfsGpio(0, dir)).toBe(512);
  });

  it('Pi 5: pinctrl-rp1 at base 571 wins over the SoC chips → BCM 17 is 588', async () => {
    const dir = tree('pi5', [
      { dir: 'gpiochip512', label: 'gpio-brcmstb@107d508500', base: 512, ngpio: 32 },
      { dir: 'gpiochip544', label: 'gpio-brcmstb@107d508520', base: 544, ngpio: 4 },
      { dir: 'gpiochip571', label: 'pinctrl-rp1', base: 571, ngpio: 54 },
    ]);
    expect(await resolveSysfsGpio(17, dir)).toBe(588);
  });

  it('an older kernel (pinctrl-bcm2835 at base 0) and an unrelated chip', async () => {
    const dir = tree('pi3', [
      { dir: 'gpiochip0', label: 'pinctrl-bcm2835', base: 0, ngpio: 54 },
      { dir: 'gpiochip504', label: 'raspberrypi-exp-gpio', base: 504, ngpio: 8 },
    ]);
    expect(await resolveSysfsGpio(27, dir)).toBe(27);
  });

  it('no Pi chip: the error names the pin and lists what was found', async () => {
    const dir = tree('other', [{ dir: 'gpiochip0', label: 'gpio-mockup-A', base: 0, ngpio: 8 }]);
    const err = (await resolveSysfsGpio(17, dir).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/BCM GPIO 17/);
    expect(err.message).toMatch(/gpiochip0 label "gpio-mockup-A" base 0/);
    expect(err.message).toMatch(/pinctrl-rp1/);
  });

  it('a missing sysfs directory and a pin beyond the chip give clear errors', async () => {
    await expect(resolveSysfsGpio(17, path.join(root, 'absent'))).rejects.toThrow(/no sysfs GPIO at .*absent/);
    const dir = tree('small', [{ dir: 'gpiochip512', label: 'pinctrl-bcm2711', base: 512, ngpio: 58 }]);
    await expect(resolveSysfsGpio(60, dir)).rejects.toThrow(/BCM GPIO 60 does not exist on gpiochip512/);
    await expect(resolveSysfsGpio(-1, dir)).rejects.toThrow(/button\.pin must be a BCM GPIO number 0–63, got -1/);
  });
});

/** A minimal stand-in for onoff's Gpio, injected through the constructor (no module mocking). */
function fakeOnoff(opts: { accessible?: boolean; fail?: NodeJS.ErrnoException } = {}) {
  const opened: { gpio: number; direction: string; edge?: string; activeLow?: boolean; line: FakeLine }[] = [];
  class FakeLine implements GpioLine {
    value: BitValue = 0;
    writes: BitValue[] = [];
    watcher: ((err: Error | null | undefined, v: BitValue) => void) | null = null;
    unexported = false;
    readSync(): BitValue {
      return this.value;
    }
    writeSync(v: BitValue): void {
      this.writes.push(v);
    }
    watch(cb: (err: Error | null | undefined, v: BitValue) => void): void {
      this.watcher = cb;
    }
    unwatchAll(): void {
      this.watcher = null;
    }
    unexport(): void {
      this.unexported = true;
    }
  }
  const Gpio = function (this: unknown, gpio: number, direction: string, edge?: string, o?: { activeLow?: boolean }) {
    if (opts.fail) throw opts.fail;
    const line = new FakeLine();
    opened.push({ gpio, direction, edge, activeLow: o?.activeLow, line });
    return line;
  } as unknown as GpioModule['Gpio'];
  Object.defineProperty(Gpio, 'accessible', { value: opts.accessible ?? true });
  return { mod: { Gpio } as GpioModule, opened };
}

describe('GpioButton and GpioLeds', () => {
  let sysfs: string;
  beforeAll(() => {
    sysfs = mkdtempSync(path.join(os.tmpdir(), 'vht-gpio-'));
    mkdirSync(path.join(sysfs, 'gpiochip512'));
    writeFileSync(path.join(sysfs, 'gpiochip512', 'label'), 'pinctrl-bcm2711\n');
    writeFileSync(path.join(sysfs, 'gpiochip512', 'base'), '512\n');
  });
  afterAll(() => rmSync(sysfs, { recursive: true, force: true }));

  it('on a machine without GPIO: a clear status, no crash', async () => {
    const { Gpio } = await loadOnoff();
    if (Gpio.accessible) return; // a real Pi: this case cannot happen here
    const button = new GpioButton({ pin: 17, logger: silent });
    await button.start(() => undefined);
    expect(button.status().ok).toBe(false);
    expect(button.status().error).toContain(GPIO_NOT_ACCESSIBLE);
    expect(button.status().error).toContain('BCM 17');
    expect(button.describe()).toContain('GPIO not accessible');
    await button.stop();
  });

  it('opens the resolved sysfs number with edge both and active low, and reports levels', async () => {
    const { mod, opened } = fakeOnoff();
    const levels: boolean[] = [];
    const button = new GpioButton({ pin: 17, logger: silent, sysfsRoot: sysfs, loadOnoff: async () => mod });
    await button.start((p) => levels.push(p));
    expect(button.status()).toEqual({ ok: true });
    expect(opened).toHaveLength(1);
    expect(opened[0]).toMatchObject({ gpio: 529, direction: 'in', edge: 'both', activeLow: true });
    expect(button.describe()).toBe('gpio BCM 17 (sysfs 529, active low)');
    opened[0]?.line.watcher?.(null, 1);
    opened[0]?.line.watcher?.(null, 0);
    opened[0]?.line.watcher?.(new Error('EIO'), 0);
    expect(levels).toEqual([true, false]);
    await button.stop();
    expect(opened[0]?.line.unexported).toBe(true);
  });

  it('a busy line and an inaccessible GPIO become status errors naming the pin', async () => {
    const busy = Object.assign(new Error('EBUSY: resource busy'), { code: 'EBUSY' });
    const b1 = new GpioButton({ pin: 17, logger: silent, sysfsRoot: sysfs, loadOnoff: async () => fakeOnoff({ fail: busy }).mod });
    await b1.start(() => undefined);
    expect(b1.status().error).toMatch(/BCM 17 \(sysfs GPIO 529\).*EBUSY.*in use/);
    const b2 = new GpioButton({ pin: 4, logger: silent, sysfsRoot: sysfs, loadOnoff: async () => fakeOnoff({ accessible: false }).mod });
    await b2.start(() => undefined);
    expect(b2.status().error).toMatch(/GPIO not accessible on this machine.*BCM 4/);
    const b3 = new GpioButton({
      pin: 4,
      logger: silent,
      loadOnoff: async () => {
        throw new Error('Cannot find module onoff');
      },
    });
    await b3.start(() => undefined);
    expect(b3.status().error).toMatch(/onoff module could not be loaded.*Cannot find module onoff/);
  });

  it('GpioLeds blinks the pattern on the injected clock', async () => {
    const clock = new ManualClock();
    const { mod, opened } = fakeOnoff();
    const leds = new GpioLeds({ pin: 27, clock, logger: silent, sysfsRoot: sysfs, loadOnoff: async () => mod });
    leds.set('armed');
    await leds.start();
    const line = opened[0]!.line;
    expect(opened[0]).toMatchObject({ gpio: 539, direction: 'out' });
    expect(line.writes).toEqual([1]);
    clock.advance(100);
    expect(line.writes).toEqual([1, 0]);
    clock.advance(900);
    expect(line.writes).toEqual([1, 0, 1]);
    leds.set('recording');
    clock.advance(5000);
    expect(line.writes).toEqual([1, 0, 1]); // steady on: no change, no timers
    expect(clock.pending).toBe(0);
    await leds.stop();
    expect(line.writes.at(-1)).toBe(0);
    expect(line.unexported).toBe(true);
  });
});

describe('LedPatternPlayer', () => {
  function player() {
    const clock = new ManualClock();
    const levels: [number, boolean][] = [];
    const p = new LedPatternPlayer(clock, (on) => levels.push([clock.monotonic(), on]));
    return { clock, levels, p };
  }

  it('every pattern has a meaning and sane steps', () => {
    for (const name of LED_PATTERNS) {
      const spec = LED_PATTERN_TABLE[name];
      expect(spec.meaning.length).toBeGreaterThan(5);
      for (const s of spec.steps) expect(s.ms).toBeGreaterThan(0);
      if (spec.steps.length === 0) expect(typeof spec.steady).toBe('boolean');
    }
  });

  it('blinks error at 5 Hz and keeps the phase when the same pattern is set again', () => {
    const { clock, levels, p } = player();
    p.set('error');
    clock.advance(150);
    p.set('error');
    clock.advance(250);
    expect(levels).toEqual([
      [0, true],
      [100, false],
      [200, true],
      [300, false],
      [400, true],
    ]);
  });

  it('a marker flash plays once and returns to the pattern before it', () => {
    const { clock, levels, p } = player();
    p.set('recording');
    p.set('marker');
    expect(p.pattern).toBe('recording');
    clock.advance(2000);
    expect(levels).toEqual([
      [0, true],
      [0, false],
      [120, true],
      [240, false],
      [360, true],
      [480, false],
      [600, true],
    ]);
    expect(clock.pending).toBe(0);
  });
});

describe('SimLeds, ControllerLeds and the simulated kit controller', () => {
  it('SimLeds records what it was asked', async () => {
    const leds = new SimLeds();
    await leds.start();
    leds.set('recording');
    leds.set('marker');
    expect(leds.pattern).toBe('recording');
    await leds.stop();
    expect(leds.history).toEqual(['idle', 'recording', 'marker', 'off']);
  });

  it('ControllerLeds sends LED lines and repeats the current pattern after a replug', async () => {
    const clock = new ManualClock();
    const kit = new SimKitController({ clock, logger: silent });
    await kit.start();
    const leds = new ControllerLeds(kit);
    await leds.start();
    leds.set('recording');
    leds.set('marker');
    expect(kit.sent).toEqual(['PING', 'LED idle', 'LED recording', 'LED marker']);
    kit.unplug();
    leds.set('error'); // not sent: no link; remembered
    expect(kit.sent.at(-1)).toBe('LED marker');
    kit.replug();
    expect(kit.sent.slice(-2)).toEqual(['PING', 'LED error']);
  });

  it('SimKitController: hello, battery and dock on connect; changes only; unplug clears', async () => {
    const clock = new ManualClock();
    const kit = new SimKitController({ clock, logger: silent, battery: { percent: 80, charging: false } });
    const events: string[] = [];
    kit.on('connection', (e) => events.push(`connection:${e.connected}`));
    kit.on('hello', (e) => events.push(`hello:${e.firmware}`));
    kit.on('battery', (e) => events.push(`battery:${e.percent}:${e.charging}`));
    kit.on('dock', (e) => events.push(`dock:${e.docked}`));
    await kit.start();
    expect(kit.snapshot()).toMatchObject({ connected: true, firmware: 'sim-1.0', battery: { percent: 80, charging: false }, docked: false });
    kit.setBattery(80, false); // unchanged: no event
    kit.setBattery(79, true);
    kit.setDocked(true);
    kit.unplug();
    expect(kit.snapshot()).toMatchObject({ connected: false, firmware: null, battery: null, docked: false });
    expect(events).toEqual(['connection:true', 'hello:sim-1.0', 'battery:80:false', 'battery:79:true', 'dock:true', 'connection:false', 'dock:false']);
    expect(() => kit.setBattery(101, false)).toThrow(/0–100, got 101/);
  });

  it('ControllerButton: controller button edges become presses; an unplug mid-press drops the press', async () => {
    const clock = new ManualClock();
    const kit = new SimKitController({ clock, logger: silent });
    await kit.start();
    const rec = fakeRecorder();
    const button = new KitButton({
      backend: new ControllerButton({ controller: kit, id: 'rec' }),
      clock,
      logger: silent,
      state: rec.state,
      perform: rec.perform,
    });
    await button.start();
    void kit.pressButton('other', true);
    clock.advance(2000);
    expect(rec.calls).toEqual([]);
    void kit.pressButton('rec', true);
    clock.advance(2000);
    expect(rec.calls).toEqual(['start']);
    void kit.pressButton('rec', false, 400);
    clock.advance(200);
    kit.unplug();
    clock.advance(2000);
    expect(rec.calls).toEqual(['start']); // no phantom marker from a lost release
    kit.replug();
    void kit.pressButton('rec');
    clock.advance(500);
    expect(rec.calls).toEqual(['start', 'mark']);
  });
});

describe('kit controller line protocol', () => {
  it('checksum is the NMEA XOR', () => {
    expect(checksum('GPGLL,5300.97914,N,00259.98174,E,125926,A')).toBe('28');
    expect(checksum('BAT 80 1')).toBe('6E');
    expect(formatLine('PING', true)).toBe('PING*10\n');
    expect(formatLine('PING', false)).toBe('PING\n');
  });

  it('parses the four messages, with or without checksum, with CR LF', () => {
    expect(parseLine('HELLO 1.2.3')).toEqual({ ok: true, message: { type: 'hello', firmware: '1.2.3' } });
    expect(parseLine('BTN rec down*' + checksum('BTN rec down'))).toEqual({ ok: true, message: { type: 'button', id: 'rec', pressed: true } });
    expect(parseLine('BAT 80 1*6e\r')).toEqual({ ok: true, message: { type: 'battery', percent: 80, charging: true } });
    expect(parseLine('DOCK 0\r')).toEqual({ ok: true, message: { type: 'dock', docked: false } });
  });

  it('names what is wrong with a bad line', () => {
    expect(parseLine('BAT 80 1*6F')).toMatchObject({ ok: false, problem: 'badChecksum', detail: 'checksum 6F does not match 6E' });
    expect(parseLine('BAT 80 1*6')).toMatchObject({ ok: false, problem: 'badChecksum' });
    expect(parseLine('BAT 101 0')).toMatchObject({ ok: false, problem: 'malformed' });
    expect(parseLine('BAT 50 2')).toMatchObject({ ok: false, problem: 'malformed', detail: 'BAT: charging must be 0 or 1, got "2"' });
    expect(parseLine('BTN rec sideways')).toMatchObject({ ok: false, problem: 'malformed' });
    expect(parseLine('DOCK')).toMatchObject({ ok: false, problem: 'malformed' });
    expect(parseLine('TEMP 41')).toMatchObject({ ok: false, problem: 'unknown', detail: 'unknown command "TEMP"' });
    expect(parseLine('HELLO \x00\x01')).toMatchObject({ ok: false, problem: 'garbage' });
  });

  it('decoder: partial lines across chunks, empty lines, overlong lines resync at the next newline', () => {
    const got: KitMessage[] = [];
    const problems: string[] = [];
    const dec = new KitLineDecoder({ maxLineBytes: 32, onMessage: (m) => got.push(m), onProblem: (p) => problems.push(p) });
    for (const part of ['BA', 'T 5', '0 0\r', '\n\n\r\nDO', 'CK 1\n']) dec.push(Buffer.from(part));
    dec.push(Buffer.from('X'.repeat(20)));
    dec.push(Buffer.from('Y'.repeat(20)));
    dec.push(Buffer.from('DOCK 0\nHELLO 2\n'));
    dec.push(Buffer.from(`${'Z'.repeat(40)}\nDOCK 0\n`));
    expect(got).toEqual([
      { type: 'battery', percent: 50, charging: false },
      { type: 'dock', docked: true },
      { type: 'hello', firmware: '2' },
      { type: 'dock', docked: false },
    ]);
    expect(problems).toEqual(['overlong', 'overlong']);
    expect(dec.stats).toMatchObject({ messages: 4, overlong: 2, garbage: 0 });
  });

  it('the example session in docs/kit-controller.md is valid protocol', () => {
    const doc = readFileSync(path.join(import.meta.dirname, '../docs/kit-controller.md'), 'utf8');
    const session = doc.split('## Example session')[1]?.split('```')[1] ?? '';
    const lines = session.split('\n').filter((l) => /^(Pi|ctl) +→ /.test(l));
    expect(lines.length).toBeGreaterThan(10);
    for (const l of lines) {
      const text = l.replace(/^(Pi|ctl) +→ /, '');
      if (l.startsWith('ctl')) expect(parseLine(text), text).toMatchObject({ ok: true });
      else expect(formatLine(text.split('*')[0]!, text.includes('*')), text).toBe(`${text}\n`);
    }
  });

  it('LogLimiter lets 5 warnings per window through and then counts', () => {
    const clock = new ManualClock();
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', write: (l) => lines.push(l) });
    const limiter = new LogLimiter(clock, logger);
    for (let i = 0; i < 100; i++) limiter.warn('garbage', 'line ignored');
    expect(lines).toHaveLength(5);
    clock.advance(10_000);
    limiter.warn('garbage', 'line ignored');
    expect(lines).toHaveLength(7);
    expect(JSON.parse(lines[5]!)).toMatchObject({ msg: 'similar messages suppressed', kind: 'garbage', suppressed: 95 });
  });
});

describe('ledPatternFor and createDevices', () => {
  it('shows the most urgent state; recording is never hidden', () => {
    const low = { percent: 10, charging: false };
    expect(ledPatternFor({ recorder: 'error', battery: low })).toBe('error');
    expect(ledPatternFor({ recorder: 'recording', battery: low, syncing: true })).toBe('recording');
    expect(ledPatternFor({ recorder: 'armed', battery: low, docked: true })).toBe('low-battery');
    expect(ledPatternFor({ recorder: 'armed', battery: { percent: 10, charging: true }, docked: true })).toBe('docked');
    expect(ledPatternFor({ recorder: 'idle', docked: true, syncing: true })).toBe('syncing');
    expect(ledPatternFor({ recorder: 'armed', battery: { percent: 16, charging: false } })).toBe('armed');
    expect(ledPatternFor({ recorder: 'idle', battery: null })).toBe('idle');
  });

  it('builds the simulated kit from config and a long press starts a take', async () => {
    const clock = new ManualClock();
    const rec = fakeRecorder();
    const cfg: DeviceConfig = {
      ...DEFAULT_DEVICE_CONFIG,
      button: { ...DEFAULT_DEVICE_CONFIG.button, backend: 'sim', longPressMs: 600 },
      leds: { ...DEFAULT_DEVICE_CONFIG.leds, backend: 'controller' },
      kitController: { ...DEFAULT_DEVICE_CONFIG.kitController, backend: 'sim' },
    };
    const devices = createDevices(cfg, { clock, logger: silent, state: rec.state, perform: rec.perform });
    await devices.start();
    expect(devices.controller?.connected).toBe(true);
    expect(devices.button?.status()).toEqual({ ok: true });
    void devices.simButton?.press(true);
    clock.advance(700);
    expect(rec.calls).toEqual(['start']);
    devices.leds?.set('recording');
    expect((devices.controller as SimKitController).sent).toEqual(['PING', 'LED idle', 'LED recording']);
    await devices.stop();
    expect(devices.controller?.connected).toBe(false);
  });

  it('a part that needs the controller without one is a config error naming the key', () => {
    const rec = fakeRecorder();
    const cfg: DeviceConfig = { ...DEFAULT_DEVICE_CONFIG, button: { ...DEFAULT_DEVICE_CONFIG.button, backend: 'controller' } };
    expect(() => createDevices(cfg, { clock: new ManualClock(), logger: silent, state: rec.state, perform: rec.perform })).toThrow(
      'button.backend is "controller" but kitController.backend is "none"',
    );
  });
});

describe('KitController reconnect backoff (manual clock)', () => {
  it('retries 0.5 s doubling to 10 s while the device is missing, never throwing', async () => {
    const clock = new ManualClock();
    let attempts = 0;
    const missing = (): SerialLink => ({
      open: (cb) => {
        attempts += 1;
        cb(new Error('Error: No such file or directory, cannot open /dev/serial/by-id/usb-vht-kit-ctl'));
      },
      close: () => undefined,
      write: () => true,
      on: () => undefined,
      removeAllListeners: () => undefined,
      isOpen: false,
    });
    const k = new KitController({ path: '/dev/serial/by-id/usb-vht-kit-ctl', clock, logger: silent, loadSerial: async () => missing });
    await k.start();
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      const m = /retrying in (\d+) ms/.exec(k.status().error ?? '');
      expect(k.status().error).toContain('cannot open /dev/serial/by-id/usb-vht-kit-ctl');
      const delay = Number(m?.[1]);
      delays.push(delay);
      const before = attempts;
      clock.advance(delay - 1);
      await sleep(5);
      expect(attempts).toBe(before);
      clock.advance(1);
      for (let w = 0; w < 200 && attempts === before; w++) await sleep(1);
      expect(attempts).toBe(before + 1);
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 10000, 10000]);
    expect(k.connected).toBe(false);
    await k.stop();
    clock.advance(60_000);
    await sleep(5);
    expect(clock.pending).toBe(0);
  });
});

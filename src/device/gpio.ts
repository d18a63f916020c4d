import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import { AppError, describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

/**
 * GPIO through the kernel's sysfs interface (via the `onoff` package), the button backends, and
 * the resolver from a BCM pin number (what the Pi's pinout shows) to the sysfs GPIO number.
 *
 * Since kernel 6.6 (Raspberry Pi OS Bookworm) the gpiochips get dynamic bases: the Pi 4's header
 * chip `pinctrl-bcm2711` sits at 512 and the Pi 5's `pinctrl-rp1` at 571, so BCM 17 is sysfs 529
 * or 588, not 17. The base is read from sysfs, never assumed.
 */

// ---------------------------------------------------------------------------------------------
// BCM pin → sysfs GPIO number

/** Labels of the chip that drives the 40-pin header, most specific first. */
export const PI_HEADER_CHIP_LABELS: readonly string[] = [
  'pinctrl-rp1', // Pi 5 (RP1 south bridge; the SoC's own pinctrl-bcm2712 chips are not on the header)
  'pinctrl-bcm2711', // Pi 4, Pi 400, CM4
  'pinctrl-bcm2837', // some Pi 3 kernels
  'pinctrl-bcm2836',
  'pinctrl-bcm2835', // Pi 1, 2, 3, Zero (and Pi 4 on older kernels)
];

export interface GpioChipInfo {
  /** Directory name, e.g. `gpiochip512`. */
  name: string;
  label: string;
  base: number;
  /** Number of lines, or null when sysfs has no `ngpio`. */
  ngpio: number | null;
}

/** Lists `gpiochip*` entries under sysfsRoot with label, base and ngpio; unreadable ones are skipped. */
export async function listGpioChips(sysfsRoot = '/sys/class/gpio'): Promise<GpioChipInfo[]> {
  let names: string[];
  try {
    names = (await readdir(sysfsRoot)).filter((n) => /^gpiochip\d+$/.test(n));
  } catch (err) {
    throw new AppError('NOT_CONFIGURED', `no sysfs GPIO at ${sysfsRoot}: ${describeError(err)}`, {
      field: 'button.pin',
      cause: err,
    });
  }
  const chips: GpioChipInfo[] = [];
  for (const name of names.sort()) {
    const dir = join(sysfsRoot, name);
    const label = await readText(join(dir, 'label'));
    const baseText = await readText(join(dir, 'base'));
    const base = baseText === null ? NaN : Number(baseText);
    if (label === null || !Number.isInteger(base)) continue;
    const ngpioText = await readText(join(dir, 'ngpio'));
    const ngpio = ngpioText === null || !/^\d+$/.test(ngpioText) ? null : Number(ngpioText);
    chips.push({ name, label, base, ngpio });
  }
  return chips;
}

async function readText(path: string): Promise<string | null> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** The chip that drives the Raspberry Pi's 40-pin header, or null. */
export function pickPiHeaderChip(chips: readonly GpioChipInfo[]): GpioChipInfo | null {
  for (const label of PI_HEADER_CHIP_LABELS) {
    const found = chips.filter((c) => c.label === label).sort((a, b) => a.base - b.base);
    if (found[0]) return found[0];
  }
  return null;
}

function describeChips(chips: readonly GpioChipInfo[]): string {
  if (chips.length === 0) return 'no gpiochip entries';
  return chips.map((c) => `${c.name} label "${c.label}" base ${c.base}${c.ngpio === null ? '' : ` ngpio ${c.ngpio}`}`).join('; ');
}

/**
 * The sysfs GPIO number of BCM pin `bcm`: the base of the Pi's header chip plus the pin. Throws an
 * AppError naming the pin and what sysfs holds when it cannot be resolved.
 */
export async function resolveSysfsGpio(bcm: number, sysfsRoot = '/sys/class/gpio', field = 'button.pin'): Promise<number> {
  if (!Number.isInteger(bcm) || bcm < 0 || bcm > 63) {
    throw new AppError('CONFIG', `${field} must be a BCM GPIO number 0–63, got ${String(bcm)}`, { field });
  }
  const chips = await listGpioChips(sysfsRoot);
  const chip = pickPiHeaderChip(chips);
  if (!chip) {
    throw new AppError(
      'NOT_CONFIGURED',
      `cannot resolve BCM GPIO ${bcm} (${field}): no Raspberry Pi GPIO chip (${PI_HEADER_CHIP_LABELS.join(', ')}) under ${sysfsRoot}; found ${describeChips(chips)}`,
      { field },
    );
  }
  if (chip.ngpio !== null && bcm >= chip.ngpio) {
    throw new AppError('CONFIG', `${field} BCM GPIO ${bcm} does not exist on ${chip.name} ("${chip.label}", ${chip.ngpio} lines)`, { field });
  }
  return chip.base + bcm;
}

// ---------------------------------------------------------------------------------------------
// onoff, loaded on demand

export type BitValue = 0 | 1;

/** The part of onoff's `Gpio` the kit uses. */
export interface GpioLine {
  readSync(): BitValue;
  writeSync(value: BitValue): void;
  watch(callback: (err: Error | null | undefined, value: BitValue) => void): void;
  unwatchAll(): void;
  unexport(): void;
}

export interface GpioModule {
  Gpio: {
    new (
      gpio: number,
      direction: 'in' | 'out' | 'high' | 'low',
      edge?: 'none' | 'rising' | 'falling' | 'both',
      options?: { activeLow?: boolean; reconfigureDirection?: boolean },
    ): GpioLine;
    readonly accessible: boolean;
  };
}

/** Imports onoff when first needed, so a machine without it (or its native epoll) still runs. */
export async function loadOnoff(): Promise<GpioModule> {
  const mod = (await import('onoff')) as unknown as GpioModule & { default?: GpioModule };
  return typeof mod.Gpio === 'function' ? mod : (mod.default as GpioModule);
}

export const GPIO_NOT_ACCESSIBLE = 'GPIO not accessible on this machine';

export interface BackendStatus {
  ok: boolean;
  error?: string;
}

/** Opens a sysfs GPIO line; every failure comes back as a message naming the pin. */
export async function openGpioLine(opts: {
  pin: number;
  field: string;
  direction: 'in' | 'out';
  edge: 'none' | 'both';
  activeLow: boolean;
  sysfsRoot: string;
  loadOnoff: () => Promise<GpioModule>;
}): Promise<{ line: GpioLine; sysfs: number } | { error: string }> {
  let mod: GpioModule;
  try {
    mod = await opts.loadOnoff();
  } catch (err) {
    return { error: `${GPIO_NOT_ACCESSIBLE}: the onoff module could not be loaded (${describeError(err)}); ${opts.field} BCM ${opts.pin} is not used` };
  }
  if (!mod.Gpio.accessible) {
    return { error: `${GPIO_NOT_ACCESSIBLE} (${opts.sysfsRoot}/export missing or not writable); ${opts.field} BCM ${opts.pin} is not used` };
  }
  let sysfs: number;
  try {
    sysfs = await resolveSysfsGpio(opts.pin, opts.sysfsRoot, opts.field);
  } catch (err) {
    return { error: describeError(err) };
  }
  try {
    const line = new mod.Gpio(sysfs, opts.direction, opts.edge, { activeLow: opts.activeLow });
    return { line, sysfs };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint = code === 'EBUSY' ? ' (the line is in use: a device-tree overlay such as gpio-key, or another process)' : '';
    return { error: `cannot open ${opts.field} BCM ${opts.pin} (sysfs GPIO ${sysfs}): ${describeError(err)}${hint}` };
  }
}

// ---------------------------------------------------------------------------------------------
// Buttons

/** A source of raw button levels: GPIO, the kit controller or a simulation. */
export interface ButtonBackend {
  /**
   * Begins delivering raw level changes (true = pressed, i.e. after active-low inversion). Never
   * throws for missing hardware: see status(). `onReset` is called when the source lost track of
   * the level (controller unplugged while the button was down): drop the half-seen press.
   */
  start(onLevel: (pressed: boolean) => void, onReset?: () => void): Promise<void>;
  stop(): Promise<void>;
  /** One line for logs and `doctor`, e.g. `gpio BCM 17 (sysfs 529, active low)`. */
  describe(): string;
  status(): BackendStatus;
}

export interface GpioButtonOptions {
  /** BCM pin number as on the Pi's pinout (17 = header pin 11). */
  pin: number;
  /** The button pulls the pin to GND (with the pull-up from config.txt): pressed = low. Default true. */
  activeLow?: boolean;
  logger: Logger;
  sysfsRoot?: string;
  loadOnoff?: () => Promise<GpioModule>;
}

/**
 * A push button on a GPIO pin, edges both ways. Debouncing is not done here but by PressDetector
 * on the injected clock. Without accessible GPIO the button reports an error status and stays off.
 */
export class GpioButton implements ButtonBackend {
  private line: GpioLine | null = null;
  private sysfs: number | null = null;
  private state: BackendStatus = { ok: false, error: 'not started' };
  private readonly activeLow: boolean;

  constructor(private readonly opts: GpioButtonOptions) {
    this.activeLow = opts.activeLow ?? true;
  }

  async start(onLevel: (pressed: boolean) => void): Promise<void> {
    if (this.line) return;
    const opened = await openGpioLine({
      pin: this.opts.pin,
      field: 'button.pin',
      direction: 'in',
      edge: 'both',
      activeLow: this.activeLow,
      sysfsRoot: this.opts.sysfsRoot ?? '/sys/class/gpio',
      loadOnoff: this.opts.loadOnoff ?? loadOnoff,
    });
    if ('error' in opened) {
      this.state = { ok: false, error: opened.error };
      this.opts.logger.warn('button unavailable', { pin: this.opts.pin, error: opened.error });
      return;
    }
    this.line = opened.line;
    this.sysfs = opened.sysfs;
    try {
      if (opened.line.readSync() === 1) {
        this.opts.logger.warn('button reads pressed at start: held, stuck or wired wrong? (ignored until released)', {
          pin: this.opts.pin,
          activeLow: this.activeLow,
        });
      }
    } catch (err) {
      this.opts.logger.warn('button level could not be read at start', { pin: this.opts.pin, error: describeError(err) });
    }
    opened.line.watch((err, value) => {
      if (err) {
        this.opts.logger.warn('button edge error', { pin: this.opts.pin, error: describeError(err) });
        return;
      }
      onLevel(value === 1);
    });
    this.state = { ok: true };
  }

  async stop(): Promise<void> {
    const line = this.line;
    this.line = null;
    if (!line) return;
    try {
      line.unwatchAll();
      line.unexport();
    } catch (err) {
      this.opts.logger.warn('button GPIO could not be released', { pin: this.opts.pin, error: describeError(err) });
    }
    this.state = { ok: false, error: 'stopped' };
  }

  describe(): string {
    const polarity = this.activeLow ? 'active low' : 'active high';
    if (this.sysfs !== null) return `gpio BCM ${this.opts.pin} (sysfs ${this.sysfs}, ${polarity})`;
    return `gpio BCM ${this.opts.pin} (${polarity}${this.state.error ? `: ${this.state.error}` : ''})`;
  }

  status(): BackendStatus {
    return { ...this.state };
  }
}

export interface SimButtonOptions {
  clock: Clock;
  /** Contact bounces on each edge (default 3) ... */
  bounces?: number;
  /** ... each this long in ms (default 2). */
  bounceMs?: number;
  /** How long a short press is held (default 150 ms). */
  shortHoldMs?: number;
  /** How long a long press is held (default 1500 ms). */
  longHoldMs?: number;
}

/**
 * The simulated twin of a button: `press()` produces the level sequence of a finger on a real
 * contact (bounce on press and release, then the hold), on the injected clock, through the same
 * interface as GpioButton.
 */
export class SimButton implements ButtonBackend {
  private onLevel: ((pressed: boolean) => void) | null = null;
  private level = false;
  private readonly bounces: number;
  private readonly bounceMs: number;
  private readonly shortHoldMs: number;
  private readonly longHoldMs: number;

  constructor(private readonly opts: SimButtonOptions) {
    this.bounces = opts.bounces ?? 3;
    this.bounceMs = opts.bounceMs ?? 2;
    this.shortHoldMs = opts.shortHoldMs ?? 150;
    this.longHoldMs = opts.longHoldMs ?? 1500;
  }

  async start(onLevel: (pressed: boolean) => void): Promise<void> {
    this.onLevel = onLevel;
  }

  async stop(): Promise<void> {
    this.onLevel = null;
    this.level = false;
  }

  describe(): string {
    return 'simulated button';
  }

  status(): BackendStatus {
    return this.onLevel ? { ok: true } : { ok: false, error: 'not started' };
  }

  /** Sets the raw level at once (no bounce). */
  set(pressed: boolean): void {
    if (!this.onLevel) throw new AppError('CONFLICT', 'the simulated button is not started');
    this.level = pressed;
    this.onLevel(pressed);
  }

  /**
   * A press as a finger makes it: bouncing contact, held `holdMs` (default: the short or long hold),
   * bouncing release. Resolves after the last edge (advance a manual clock to get there).
   */
  async press(long = false, holdMs?: number): Promise<void> {
    const hold = holdMs ?? (long ? this.longHoldMs : this.shortHoldMs);
    if (!Number.isFinite(hold) || hold < 0) throw new RangeError(`holdMs must be ≥ 0, got ${String(hold)}`);
    if (this.level) throw new AppError('CONFLICT', 'the simulated button is already held');
    const edges: { at: number; level: boolean }[] = [];
    let t = 0;
    edges.push({ at: t, level: true });
    for (let i = 0; i < this.bounces; i++) {
      edges.push({ at: (t += this.bounceMs), level: false }, { at: (t += this.bounceMs), level: true });
    }
    t = Math.max(t, hold);
    edges.push({ at: t, level: false });
    for (let i = 0; i < this.bounces; i++) {
      edges.push({ at: (t += this.bounceMs), level: true }, { at: (t += this.bounceMs), level: false });
    }
    this.set(true);
    // Every edge is scheduled now, so a manual test clock plays the whole press in one advance.
    return new Promise<void>((resolve) => {
      for (const [i, edge] of edges.entries()) {
        if (i === 0) continue;
        this.opts.clock.setTimeout(() => {
          if (this.onLevel) this.set(edge.level); // a stopped button drops the rest of the press
          if (i === edges.length - 1) resolve();
        }, edge.at);
      }
    });
  }
}

import type { Clock, TimerHandle } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { loadOnoff, openGpioLine, type BackendStatus, type GpioLine, type GpioModule } from './gpio.js';

/**
 * The kit's status light. One table says what each state looks like; an LedOutput shows it: on
 * GPIO pins (GpioLeds, blinking on the injected clock), through the kit controller (ControllerLeds,
 * which sends the pattern's name and lets the firmware blink), or not at all (SimLeds, which records
 * what it was asked).
 */

export const LED_PATTERNS = ['off', 'idle', 'armed', 'recording', 'marker', 'error', 'syncing', 'docked', 'low-battery'] as const;

export type LedPattern = (typeof LED_PATTERNS)[number];

export function isLedPattern(value: string): value is LedPattern {
  return (LED_PATTERNS as readonly string[]).includes(value);
}

export interface LedStep {
  on: boolean;
  ms: number;
}

export interface LedPatternSpec {
  /** The steps, played in order; an empty list with `steady` means constantly `steady`. */
  steps: readonly LedStep[];
  /** Constant level for patterns without steps. */
  steady?: boolean;
  /** Played once, then the previous repeating pattern comes back (the marker flash). */
  once?: boolean;
  meaning: string;
}

const blink = (onMs: number, offMs: number): LedStep[] => [
  { on: true, ms: onMs },
  { on: false, ms: offMs },
];

/** What each pattern looks like on a single LED (a controller with more LEDs may show more). */
export const LED_PATTERN_TABLE: Readonly<Record<LedPattern, LedPatternSpec>> = Object.freeze({
  off: { steps: [], steady: false, meaning: 'off (service stopped)' },
  idle: { steps: blink(100, 2900), meaning: 'heartbeat every 3 s: running, camera off' },
  armed: { steps: blink(100, 900), meaning: 'short blink every second: camera armed, pre-roll ready, press to record' },
  recording: { steps: [], steady: true, meaning: 'steady on: a take is being recorded' },
  marker: {
    steps: [{ on: false, ms: 120 }, ...blink(120, 120), ...blink(120, 120)],
    once: true,
    meaning: 'two quick flashes, then back: a marker was set (or a press was taken)',
  },
  error: { steps: blink(100, 100), meaning: 'fast blink 5 Hz: camera or recording error' },
  syncing: { steps: blink(500, 500), meaning: 'slow blink 1 Hz: uploading at the office' },
  docked: {
    steps: [
      { on: true, ms: 2900 },
      { on: false, ms: 100 },
    ],
    meaning: 'on with a short gap every 3 s: docked, all uploaded',
  },
  'low-battery': { steps: [...blink(100, 150), ...blink(100, 1650)], meaning: 'double blink every 2 s: battery low' },
});

/** Something that shows LED patterns. */
export interface LedOutput {
  start(): Promise<void>;
  /** Shows a pattern; a `once` pattern (marker) plays and then returns to the previous one. */
  set(pattern: LedPattern): void;
  /** The repeating pattern shown now (a marker flash in progress is not reported). */
  readonly pattern: LedPattern;
  stop(): Promise<void>;
  describe(): string;
  status(): BackendStatus;
}

/**
 * Plays a pattern table on the injected clock by calling `write(on)` at each change. Shared by the
 * GPIO LEDs; tests drive it with a manual clock.
 */
export class LedPatternPlayer {
  private current: LedPattern = 'off';
  private playing: LedPattern = 'off';
  private step = 0;
  private timer: TimerHandle | null = null;
  private level: boolean | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly write: (on: boolean) => void,
    private readonly table: Readonly<Record<LedPattern, LedPatternSpec>> = LED_PATTERN_TABLE,
  ) {}

  get pattern(): LedPattern {
    return this.current;
  }

  set(pattern: LedPattern): void {
    const spec = this.table[pattern];
    if (!spec.once) {
      // Re-setting the shown state keeps the blink phase (no flicker) and lets a flash finish.
      const unchanged = pattern === this.current && (this.playing === pattern || this.table[this.playing].once === true) && this.level !== null;
      this.current = pattern;
      if (unchanged) return;
    }
    this.play(pattern);
  }

  /** Writes the current pattern again from its start (after the output was (re)opened). */
  refresh(): void {
    this.level = null;
    this.play(this.current);
  }

  /** Stops the timers and writes off. */
  halt(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.current = this.playing = 'off';
    this.output(false);
  }

  private play(pattern: LedPattern): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.playing = pattern;
    this.step = 0;
    const spec = this.table[pattern];
    if (spec.steps.length === 0) {
      this.output(spec.steady ?? false);
      return;
    }
    this.runStep();
  }

  private runStep(): void {
    const spec = this.table[this.playing];
    const step = spec.steps[this.step];
    if (!step) {
      if (spec.once) {
        this.play(this.current);
        return;
      }
      this.step = 0;
      this.runStep();
      return;
    }
    this.output(step.on);
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.step += 1;
      this.runStep();
    }, step.ms);
  }

  private output(on: boolean): void {
    if (this.level === on) return;
    this.level = on;
    this.write(on);
  }
}

export interface GpioLedsOptions {
  /** BCM pin of the LED (through its series resistor to GND). */
  pin: number;
  /** The LED is wired from 3.3 V to the pin (lit when low). Default false. */
  activeLow?: boolean;
  clock: Clock;
  logger: Logger;
  sysfsRoot?: string;
  loadOnoff?: () => Promise<GpioModule>;
  table?: Readonly<Record<LedPattern, LedPatternSpec>>;
}

/** An LED on a GPIO pin; blinking runs on the injected clock. Without GPIO it reports an error status and shows nothing. */
export class GpioLeds implements LedOutput {
  private line: GpioLine | null = null;
  private sysfs: number | null = null;
  private state: BackendStatus = { ok: false, error: 'not started' };
  private readonly player: LedPatternPlayer;
  private writeFailures = 0;

  constructor(private readonly opts: GpioLedsOptions) {
    this.player = new LedPatternPlayer(opts.clock, (on) => this.write(on), opts.table);
  }

  get pattern(): LedPattern {
    return this.player.pattern;
  }

  async start(): Promise<void> {
    if (this.line) return;
    const opened = await openGpioLine({
      pin: this.opts.pin,
      field: 'leds.pin',
      direction: 'out',
      edge: 'none',
      activeLow: this.opts.activeLow ?? false,
      sysfsRoot: this.opts.sysfsRoot ?? '/sys/class/gpio',
      loadOnoff: this.opts.loadOnoff ?? loadOnoff,
    });
    if ('error' in opened) {
      this.state = { ok: false, error: opened.error };
      this.opts.logger.warn('status LED unavailable', { pin: this.opts.pin, error: opened.error });
      return;
    }
    this.line = opened.line;
    this.sysfs = opened.sysfs;
    this.state = { ok: true };
    if (this.player.pattern === 'off') this.player.set('idle');
    this.player.refresh();
  }

  set(pattern: LedPattern): void {
    this.player.set(pattern);
  }

  async stop(): Promise<void> {
    this.player.halt();
    const line = this.line;
    this.line = null;
    if (!line) return;
    try {
      line.unexport();
    } catch (err) {
      this.opts.logger.warn('status LED GPIO could not be released', { pin: this.opts.pin, error: describeError(err) });
    }
    this.state = { ok: false, error: 'stopped' };
  }

  describe(): string {
    if (this.sysfs !== null) return `gpio LED BCM ${this.opts.pin} (sysfs ${this.sysfs})`;
    return `gpio LED BCM ${this.opts.pin}${this.state.error ? ` (${this.state.error})` : ''}`;
  }

  status(): BackendStatus {
    return { ...this.state };
  }

  private write(on: boolean): void {
    if (!this.line) return;
    try {
      this.line.writeSync(on ? 1 : 0);
      this.writeFailures = 0;
    } catch (err) {
      this.writeFailures += 1;
      if (this.writeFailures === 1 || this.writeFailures % 100 === 0) {
        this.opts.logger.warn('status LED write failed', { pin: this.opts.pin, failures: this.writeFailures, error: describeError(err) });
      }
    }
  }
}

/** What ControllerLeds needs of a kit controller (KitController and SimKitController have it). */
export interface LedController {
  sendLed(pattern: LedPattern): boolean;
  on(name: 'hello', fn: (e: { firmware: string }) => void): () => void;
}

/**
 * LEDs on the kit controller: sends `LED <pattern>` and leaves blinking to the firmware. The
 * current pattern is sent again after each HELLO (controller reset or replugged).
 */
export class ControllerLeds implements LedOutput {
  private current: LedPattern = 'off';
  private off: (() => void) | null = null;

  constructor(private readonly controller: LedController) {}

  get pattern(): LedPattern {
    return this.current;
  }

  async start(): Promise<void> {
    if (this.off) return;
    this.off = this.controller.on('hello', () => {
      this.controller.sendLed(this.current);
    });
    if (this.current === 'off') this.current = 'idle';
    this.controller.sendLed(this.current);
  }

  set(pattern: LedPattern): void {
    if (!LED_PATTERN_TABLE[pattern].once) this.current = pattern;
    this.controller.sendLed(pattern);
  }

  async stop(): Promise<void> {
    this.off?.();
    this.off = null;
    this.current = 'off';
    this.controller.sendLed('off');
  }

  describe(): string {
    return 'LEDs on the kit controller';
  }

  status(): BackendStatus {
    return this.off ? { ok: true } : { ok: false, error: 'not started' };
  }
}

/** LEDs that only remember what they were asked: for machines without LEDs and for tests. */
export class SimLeds implements LedOutput {
  /** Every pattern asked for, in order. */
  readonly history: LedPattern[] = [];
  private current: LedPattern = 'off';
  private started = false;

  get pattern(): LedPattern {
    return this.current;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    if (this.current === 'off') this.set('idle');
  }

  set(pattern: LedPattern): void {
    this.history.push(pattern);
    if (!LED_PATTERN_TABLE[pattern].once) this.current = pattern;
  }

  async stop(): Promise<void> {
    this.started = false;
    this.set('off');
  }

  describe(): string {
    return 'simulated LEDs';
  }

  status(): BackendStatus {
    return this.started ? { ok: true } : { ok: false, error: 'not started' };
  }
}

export interface LedInputs {
  recorder: 'idle' | 'armed' | 'recording' | 'error';
  docked?: boolean;
  syncing?: boolean;
  battery?: { percent: number; charging: boolean } | null;
  /** At or below this (and not charging) the battery counts as low. Default 15. */
  lowBatteryPercent?: number;
}

/**
 * The one pattern to show for the kit's state, most urgent first: error, recording (never hidden:
 * the trainer must see a take runs), low battery, syncing, docked, armed, idle.
 */
export function ledPatternFor(s: LedInputs): LedPattern {
  if (s.recorder === 'error') return 'error';
  if (s.recorder === 'recording') return 'recording';
  const low = s.lowBatteryPercent ?? 15;
  if (s.battery && !s.battery.charging && s.battery.percent <= low) return 'low-battery';
  if (s.syncing) return 'syncing';
  if (s.docked) return 'docked';
  return s.recorder;
}

import type { Clock } from '../core/clock.js';
import type { RecorderStateName } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { BackendStatus, ButtonBackend } from './gpio.js';
import { PressActions, PressDetector, type ButtonAction, type PressEvent, type PressMapping, type PressOutcome, type PressTimings } from './press.js';

export interface KitButtonOptions extends Partial<PressTimings> {
  backend: ButtonBackend;
  clock: Clock;
  logger: Logger;
  mapping?: PressMapping;
  /** The recorder's state, read at each press. */
  state: () => RecorderStateName;
  /** Start a take / stop it (resolve when complete) / drop a marker. */
  perform: (action: Exclude<ButtonAction, 'none'>) => unknown;
  /** Each press's result (for the marker flash or the error LED). */
  onOutcome?: (outcome: PressOutcome) => void;
  /** Every classified press, before its action (for logs, tests, the web UI). */
  onPress?: (event: PressEvent) => void;
}

/**
 * The kit's record button: a backend's raw levels → PressDetector → PressActions. The one object
 * the service needs to construct, start and stop.
 */
export class KitButton {
  readonly detector: PressDetector;
  readonly actions: PressActions;
  private started = false;

  constructor(private readonly opts: KitButtonOptions) {
    const log = opts.logger;
    this.actions = new PressActions({
      state: opts.state,
      perform: opts.perform,
      logger: log,
      ...(opts.mapping ? { mapping: opts.mapping } : {}),
      ...(opts.onOutcome ? { onOutcome: opts.onOutcome } : {}),
    });
    this.detector = new PressDetector({
      clock: opts.clock,
      logger: log,
      ...(opts.debounceMs === undefined ? {} : { debounceMs: opts.debounceMs }),
      ...(opts.longPressMs === undefined ? {} : { longPressMs: opts.longPressMs }),
      ...(opts.doublePressMs === undefined ? {} : { doublePressMs: opts.doublePressMs }),
      onPress: (event) => {
        opts.onPress?.(event);
        this.actions.handle(event);
      },
    });
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.opts.backend.start(
      (pressed) => this.detector.input(pressed),
      () => this.detector.reset(),
    );
    const status = this.opts.backend.status();
    if (status.ok) this.opts.logger.info('button ready', { backend: this.opts.backend.describe(), ...this.detector.timings });
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.opts.backend.stop();
    this.detector.reset();
  }

  describe(): string {
    return this.opts.backend.describe();
  }

  status(): BackendStatus {
    return this.opts.backend.status();
  }
}

import type { AppTime, Clock } from '../core/clock.js';
import { AppError, describeError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { DeviceConfig, Devices } from '../device/factory.js';
import type { ButtonAction, PressOutcome } from '../device/press.js';
import type { Recorder } from '../session/recorder.js';
import type { ControlHandler, ControlRequest } from '../web/control.js';
import type { Indicators } from './indicators.js';

/** The outcome of one press as `vht-kit press` reports it: what it did, whether it worked, when (monotonic ms). */
export interface PressReport {
  action: string;
  ok: boolean;
  error?: string;
  at: number;
}

/**
 * Button outcomes: each goes on the bus (and a refused one to the log), and `vht-kit press` waits
 * for the outcome of its own press.
 */
export class PressOutcomes {
  private waiter: ((o: PressReport) => void) | null = null;

  constructor(private readonly deps: { bus: EventBus; clock: Clock; logger: Logger }) {}

  /** The handler to give createDevices as `onOutcome`. */
  readonly handle = (o: PressOutcome): void => {
    const error = o.error ? describeError(o.error) : undefined;
    this.waiter?.({ action: o.action, ok: o.ok, at: this.deps.clock.monotonic(), ...(error ? { error } : {}) });
    this.waiter = null;
    this.deps.bus.emit('button', { kind: o.kind, action: o.action, ok: o.ok, ...(error ? { error } : {}) });
    if (!o.ok) this.deps.logger.warn('button action refused', { action: o.action, error: describeError(o.error) });
  };

  /** The next outcome, or null when none comes within timeoutMs. */
  next(timeoutMs: number): Promise<PressReport | null> {
    return new Promise((resolve) => {
      this.waiter = resolve;
      setTimeout(() => resolve(null), timeoutMs).unref();
    });
  }
}

/** What the button does in each case: start or stop a take, or mark a moment. */
export function buttonActions(recorder: Recorder): (action: Exclude<ButtonAction, 'none'>) => unknown {
  return (action) => {
    if (action === 'start') return recorder.startTake(null);
    if (action === 'stop') return recorder.stopTake('stopped with the button');
    return recorder.mark(null);
  };
}

export interface ControlDeps {
  recorder: Recorder;
  devices: Devices;
  deviceConfig: DeviceConfig;
  indicators: Indicators;
  presses: PressOutcomes;
  bus: EventBus;
  clock: Clock;
  /** Where the app's time comes from (the system clock, or a trainer's phone). */
  time?: () => AppTime;
}

/**
 * The control socket's commands: `press` drives the simulated button and reports the latency of
 * the press's action, `dock` sets the (simulated) dock contact, `network` is the network hook's
 * dock trigger, `status` the recorder's and hardware's state, `arm`/`disarm` the camera.
 */
export function controlCommands(deps: ControlDeps): ControlHandler {
  const { recorder, devices, indicators, bus } = deps;
  return async (req: ControlRequest) => {
    switch (req.cmd) {
      case 'press':
        return press(deps, req.long);
      case 'dock':
        if (devices.simController) devices.simController.setDocked(req.on);
        else indicators.setManualDock(req.on);
        return indicators.hardware();
      case 'network':
        bus.emit('dock', { docked: req.up, source: 'network' });
        return { ok: true };
      case 'status':
        return { ...recorder.status(), ...indicators.hardware(), ...(deps.time ? { time: deps.time() } : {}) };
      case 'disarm':
        await recorder.disarm(); // CONFLICT while a take runs
        return recorder.status();
      case 'arm':
        recorder.arm();
        return recorder.status();
    }
  };
}

/** One press of the simulated button, with its outcome and latency. */
async function press(deps: ControlDeps, long: boolean): Promise<unknown> {
  const { recorder, devices, deviceConfig, clock, presses } = deps;
  if (!devices.simButton) {
    const backend = deviceConfig.button.backend;
    throw new AppError(
      'CONFLICT',
      `the button is ${backend === 'none' ? 'off' : `real hardware (${backend})`}: \`vht-kit press\` drives the simulated button (button.backend: sim)`,
    );
  }
  const before = recorder.state;
  const outcome = presses.next(5000);
  const pressedAt = clock.monotonic();
  await devices.simButton.press(long);
  const releasedAt = clock.monotonic();
  const o = await outcome;
  await devices.button?.actions.settled();
  // Latency from the moment the press is decided: the release of a short press, the threshold of
  // a long one (reached while still held).
  const decidedAt = long ? pressedAt + deviceConfig.button.longPressMs : releasedAt;
  return {
    before,
    after: recorder.state,
    clipId: recorder.status().clipId ?? null,
    action: o?.action ?? 'none',
    ok: o?.ok ?? false,
    ...(o?.error ? { error: o.error } : {}),
    latencyMs: o ? Math.round((o.at - decidedAt) * 10) / 10 : null,
  };
}

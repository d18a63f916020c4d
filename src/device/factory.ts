import type { Clock } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { KitButton, type KitButtonOptions } from './button.js';
import { GpioButton, SimButton, type ButtonBackend } from './gpio.js';
import { ControllerButton, KitController, SimKitController, type KitControllerLike } from './kit-controller.js';
import { ControllerLeds, GpioLeds, SimLeds, type LedOutput } from './leds.js';
import { DEFAULT_PRESS_MAPPING, DEFAULT_PRESS_TIMINGS, type PressMapping, type PressTimings } from './press.js';

/**
 * Device settings as plain data (the config schema maps onto this) and the one place that picks
 * the implementations. `sim` backends are the simulated twins; `none` turns a part off.
 */
export interface DeviceConfig {
  button: PressTimings &
    PressMapping & {
      backend: 'gpio' | 'controller' | 'sim' | 'none';
      /** BCM pin (gpio backend). */
      pin: number;
      activeLow: boolean;
      /** Button id in `BTN <id> …` (controller backend). */
      controllerId: string;
    };
  leds: {
    backend: 'gpio' | 'controller' | 'sim' | 'none';
    pin: number;
    activeLow: boolean;
  };
  kitController: {
    backend: 'serial' | 'sim' | 'none';
    /** Prefer /dev/serial/by-id/usb-…; reopened by this path after a replug. */
    port: string;
    baudRate: number;
    pingIntervalMs: number;
    /** Append `*XX` to lines sent to the controller. */
    checksum: boolean;
  };
}

export const DEFAULT_DEVICE_CONFIG: DeviceConfig = {
  button: {
    backend: 'gpio',
    pin: 17,
    activeLow: true,
    controllerId: '1',
    ...DEFAULT_PRESS_TIMINGS,
    ...DEFAULT_PRESS_MAPPING,
  },
  leds: { backend: 'gpio', pin: 27, activeLow: false },
  kitController: { backend: 'none', port: '/dev/ttyACM0', baudRate: 115200, pingIntervalMs: 5000, checksum: true },
};

export interface Devices {
  controller: KitControllerLike | null;
  leds: LedOutput | null;
  button: KitButton | null;
  /** The simulated button behind `button` when its backend is `sim` (for `vht-kit press`, tests). */
  simButton: SimButton | null;
  /** The simulated kit controller when its backend is `sim` (`vht-kit dock` sets its dock contact). */
  simController: SimKitController | null;
  /** Starts controller, LEDs, button, in that order; missing hardware shows in status(), never throws. */
  start(): Promise<void>;
  /** Stops in reverse order. */
  stop(): Promise<void>;
}

export interface DeviceDeps {
  clock: Clock;
  logger: Logger;
  state: KitButtonOptions['state'];
  perform: KitButtonOptions['perform'];
  onOutcome?: KitButtonOptions['onOutcome'];
}

export function createDevices(cfg: DeviceConfig, deps: DeviceDeps): Devices {
  const { clock, logger } = deps;
  let controller: KitControllerLike | null = null;
  let simController: SimKitController | null = null;
  if (cfg.kitController.backend === 'serial') {
    controller = new KitController({
      path: cfg.kitController.port,
      baudRate: cfg.kitController.baudRate,
      pingIntervalMs: cfg.kitController.pingIntervalMs,
      appendChecksum: cfg.kitController.checksum,
      clock,
      logger: logger.child('kit-controller'),
    });
  } else if (cfg.kitController.backend === 'sim') {
    controller = simController = new SimKitController({ clock, logger: logger.child('kit-controller') });
  }
  const needController = (field: string): KitControllerLike => {
    if (controller) return controller;
    throw new AppError('CONFIG', `${field} is "controller" but kitController.backend is "${cfg.kitController.backend}"`, { field });
  };

  let leds: LedOutput | null = null;
  const ledLog = logger.child('leds');
  if (cfg.leds.backend === 'gpio') leds = new GpioLeds({ pin: cfg.leds.pin, activeLow: cfg.leds.activeLow, clock, logger: ledLog });
  else if (cfg.leds.backend === 'controller') leds = new ControllerLeds(needController('leds.backend'));
  else if (cfg.leds.backend === 'sim') leds = new SimLeds();

  let backend: ButtonBackend | null = null;
  let simButton: SimButton | null = null;
  const b = cfg.button;
  if (b.backend === 'gpio') backend = new GpioButton({ pin: b.pin, activeLow: b.activeLow, logger: logger.child('button') });
  else if (b.backend === 'controller') backend = new ControllerButton({ controller: needController('button.backend'), id: b.controllerId });
  else if (b.backend === 'sim') backend = simButton = new SimButton({ clock, longHoldMs: b.longPressMs + 500 });

  const button = backend
    ? new KitButton({
        backend,
        clock,
        logger: logger.child('button'),
        debounceMs: b.debounceMs,
        longPressMs: b.longPressMs,
        doublePressMs: b.doublePressMs,
        mapping: { shortWhenIdle: b.shortWhenIdle, doubleWhenRecording: b.doubleWhenRecording },
        state: deps.state,
        perform: deps.perform,
        ...(deps.onOutcome ? { onOutcome: deps.onOutcome } : {}),
      })
    : null;

  return {
    controller,
    leds,
    button,
    simButton,
    simController,
    async start() {
      await controller?.start();
      await leds?.start();
      await button?.start();
    },
    async stop() {
      await button?.stop();
      await leds?.stop();
      await controller?.stop();
    },
  };
}

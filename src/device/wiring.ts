import type { Profile, Config } from '../config/schema.js';
import { AppError } from '../core/errors.js';
import type { DeviceConfig } from './factory.js';

/** Maps the config onto device settings; `auto` = simulated twins on the sim profile, hardware elsewhere. */
export function deviceConfigFor(config: Config, profile: Profile): DeviceConfig {
  const sim = profile === 'sim';
  const c = config.kitController;
  const controllerBackend = c.backend === 'auto' ? (sim ? 'sim' : c.port ? 'serial' : 'none') : c.backend;
  if (controllerBackend === 'serial' && !c.port) {
    throw new AppError('CONFIG', 'kitController.port: set the serial port (VHT_KIT_SERIAL_PORT) for kitController.backend "serial"', {
      field: 'kitController.port',
    });
  }
  const b = config.button;
  const l = config.leds;
  return {
    button: {
      backend: b.backend === 'auto' ? (sim ? 'sim' : 'gpio') : b.backend,
      pin: b.pin,
      activeLow: b.activeLow,
      controllerId: b.controllerId,
      debounceMs: b.debounceMs,
      longPressMs: b.longPressMs,
      doublePressMs: b.doublePressMs,
      shortWhenIdle: b.shortWhenIdle,
      doubleWhenRecording: b.doubleWhenRecording,
    },
    leds: {
      backend: l.backend === 'auto' ? (sim ? 'sim' : 'gpio') : l.backend,
      pin: l.pin,
      activeLow: l.activeLow,
    },
    kitController: {
      backend: controllerBackend,
      port: c.port ?? '/dev/ttyACM0',
      baudRate: c.baudRate,
      pingIntervalMs: c.pingIntervalMs,
      checksum: c.checksum,
    },
  };
}

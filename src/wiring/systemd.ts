import { cameraSettled, type Notifier } from '../appliance/notify.js';
import type { CaptureSupervisor } from '../capture/supervisor.js';
import type { Component } from './lifecycle.js';

/**
 * systemd's watchdog: WATCHDOG=1 at half of WATCHDOG_USEC from this event loop (a blocked loop
 * misses them). First in the start order, so it pings until the very end of a stop.
 */
export function watchdogComponent(notifier: Notifier): Component {
  let timer: NodeJS.Timeout | null = null;
  return {
    name: 'watchdog',
    start() {
      if (notifier.watchdogIntervalMs === null || timer) return;
      timer = setInterval(() => void notifier.watchdog(), notifier.watchdogIntervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}

/**
 * READY=1 and STOPPING=1. Last in the start order: READY only once HTTP listens and the camera
 * plays or its error is known (bounded), and STOPPING before any other component stops.
 */
export function readinessComponent(deps: {
  notifier: Notifier;
  capture: CaptureSupervisor;
  /** How long to wait for the camera before READY anyway. */
  cameraTimeoutMs: number;
  /** Whether the kit still runs when the camera has settled. */
  running: () => boolean;
  /** Called once everything has started (the "kit ready" log line). */
  onStarted: () => void;
}): Component {
  return {
    name: 'systemd',
    start() {
      deps.onStarted();
      void cameraSettled(deps.capture, deps.cameraTimeoutMs).then((text) => (deps.running() ? deps.notifier.ready(text) : undefined));
    },
    stop: () => deps.notifier.stopping(),
  };
}

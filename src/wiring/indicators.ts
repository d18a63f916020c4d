import type { EventBus } from '../core/events.js';
import type { Devices } from '../device/factory.js';
import { ledPatternFor } from '../device/leds.js';
import type { Recorder } from '../session/recorder.js';

/** What the kit's hardware reports: battery (null without a controller) and dock contact. */
export interface HardwareState {
  battery: { percent: number; charging: boolean } | null;
  docked: boolean;
}

/**
 * The kit's indicators: the LED pattern for the recorder, dock, sync and battery state, and the
 * dock/battery events of the kit controller on the bus. Without a controller, the dock state is the
 * one `vht-kit dock` set by hand.
 */
export class Indicators {
  private manualDock = false;

  constructor(
    private readonly deps: {
      bus: EventBus;
      devices: Devices;
      recorder: Pick<Recorder, 'state'>;
      /** Whether an upload runs now (the LEDs show it). */
      syncing: () => boolean;
      lowBatteryPercent: number;
    },
  ) {
    const { bus, devices } = deps;
    bus.on('state', () => this.show());
    bus.on('marker', () => devices.leds?.set('marker'));
    devices.controller?.on('battery', (b) => {
      bus.emit('battery', { percent: b.percent, charging: b.charging });
      this.show();
    });
    devices.controller?.on('dock', (d) => {
      bus.emit('dock', { docked: d.docked, source: 'kit controller' });
      this.show();
    });
  }

  /** Battery and dock as the hardware (or the hand-set dock) reports them. */
  hardware(): HardwareState {
    const c = this.deps.devices.controller;
    return { battery: c?.battery ?? null, docked: c?.docked ?? this.manualDock };
  }

  /** Sets the LEDs to the pattern for the kit's state now. */
  show(): void {
    const h = this.hardware();
    this.deps.devices.leds?.set(
      ledPatternFor({
        recorder: this.deps.recorder.state,
        docked: h.docked,
        syncing: this.deps.syncing(),
        battery: h.battery,
        lowBatteryPercent: this.deps.lowBatteryPercent,
      }),
    );
  }

  /** The dock contact set by hand (`vht-kit dock` without a kit controller): event and LEDs. */
  setManualDock(on: boolean): void {
    this.manualDock = on;
    this.deps.bus.emit('dock', { docked: on, source: 'vht-kit dock' });
    this.show();
  }
}

import { systemClockSynchronised } from './appliance/time-sync.js';
import type { AppTime } from './core/clock.js';
import { describeError } from './core/errors.js';
import type { Config } from './config/schema.js';
import { controlSocketPath, sendControl } from './web/control.js';

/** A `doctor` line: where the kit's time comes from (NTP, the unsynchronised system clock, or a trainer's phone). */
export async function timeCheck(
  config: Config,
  synchronised: () => Promise<boolean> = () => systemClockSynchronised(),
): Promise<{ name: string; ok: boolean; detail: string }> {
  const synced = await synchronised();
  let running: AppTime | null | undefined;
  let notRunning = '';
  try {
    const s = (await sendControl(controlSocketPath(config.dataDir), { cmd: 'status' }, 3000)) as { time?: AppTime };
    running = s.time ?? null;
  } catch (err) {
    running = undefined; // no kit running here: only the system's side can be told
    notRunning = describeError(err).split(':')[0] ?? '';
  }
  const system = synced ? 'the system clock, synchronised (NTP)' : 'the system clock, not synchronised (no NTP yet)';
  const detail =
    running === undefined
      ? `${system}; the running kit's time is unknown (${notRunning})`
      : running?.source === 'phone'
        ? `a trainer's phone at login: the system clock ${running.offsetMs >= 0 ? '+' : ''}${Math.round(running.offsetMs / 1000)} s (${system}); retention uses the system's time`
        : `${system}${synced ? '' : "; a trainer's login will set the app's time from the phone"}`;
  return { name: 'time', ok: true, detail };
}

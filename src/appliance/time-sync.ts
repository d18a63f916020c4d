import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

/** systemd-timesyncd's flag file: present once the clock was set by NTP in this boot. */
const TIMESYNC_FLAG = '/run/systemd/timesync/synchronized';

/**
 * Whether the system clock is synchronised: timesyncd's flag, else `timedatectl`'s
 * NTPSynchronized (the kernel's own state, chrony included). False when neither can tell.
 */
export async function systemClockSynchronised(flagFile = TIMESYNC_FLAG): Promise<boolean> {
  if (existsSync(flagFile)) return true;
  return new Promise((resolve) => {
    execFile('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], { timeout: 3000 }, (err, stdout) => {
      resolve(!err && stdout.trim() === 'yes');
    });
  });
}

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statfsSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { clockProblem } from '../core/clock-sanity.js';
import { hotspotFile } from './hotspot.js';

/** A doctor check (the same shape as src/doctor.ts's). */
export interface HealthCheck {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

/**
 * What the appliance checks read from the machine: files under a root (so tests point it at a
 * fake /sys and /proc), commands on a PATH (so tests put fake systemctl, nmcli and vcgencmd
 * scripts first), the wall clock and free space.
 */
export interface HealthSystem {
  readFile(p: string): string | null;
  exists(p: string): boolean;
  list(dir: string): string[];
  /** Runs a command; null when it is not installed. */
  run(cmd: string, args: string[]): { code: number | null; stdout: string } | null;
  now(): number;
  /** Free and total bytes of the file system holding `p`. */
  space(p: string): { free: number; total: number } | null;
}

export function realSystem(opts: { root?: string; env?: NodeJS.ProcessEnv; now?: () => number } = {}): HealthSystem {
  const root = opts.root ?? '/';
  const at = (p: string) => path.join(root, p);
  return {
    readFile: (p) => {
      try {
        return readFileSync(at(p), 'utf8');
      } catch {
        return null;
      }
    },
    exists: (p) => existsSync(at(p)),
    list: (dir) => {
      try {
        return readdirSync(at(dir));
      } catch {
        return [];
      }
    },
    run: (cmd, args) => {
      const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000, env: opts.env ?? process.env });
      if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      return { code: r.status, stdout: r.stdout ?? '' };
    },
    now: opts.now ?? (() => Date.now()),
    space: (p) => {
      try {
        let dir = at(p);
        while (!existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
        const s = statfsSync(dir);
        return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
      } catch {
        return null;
      }
    },
  };
}

const UNITS = ['vht-kit.service', 'vht-kit-tv.service'];

/** Bits of `vcgencmd get_throttled` (Raspberry Pi firmware). */
const THROTTLE_BITS: [number, string][] = [
  [0, 'under-voltage now'],
  [1, 'ARM frequency capped now'],
  [2, 'throttled now'],
  [3, 'soft temperature limit now'],
  [16, 'under-voltage has occurred'],
  [17, 'ARM frequency capping has occurred'],
  [18, 'throttling has occurred'],
  [19, 'soft temperature limit has occurred'],
];

export function decodeThrottled(value: number): string[] {
  return THROTTLE_BITS.filter(([bit]) => (value & (1 << bit)) !== 0).map(([, text]) => text);
}

/** The appliance part of `vht-kit doctor`. */
export function applianceChecks(config: Config, sys: HealthSystem): HealthCheck[] {
  const pid1 = (sys.readFile('/proc/1/comm') ?? '').trim();
  const underSystemd = pid1 === 'systemd';
  return [...serviceChecks(config, sys, pid1), ...boardChecks(config, sys, underSystemd)];
}

/** Services, watchdog, hotspot and HDMI-CEC. */
function serviceChecks(config: Config, sys: HealthSystem, pid1: string): HealthCheck[] {
  const checks: HealthCheck[] = [];
  const underSystemd = pid1 === 'systemd';

  // --- services and watchdog ---
  if (!underSystemd) {
    checks.push({ name: 'services', ok: true, detail: `not under systemd (PID 1 is ${pid1 || 'unknown'}): nothing to check` });
    checks.push({ name: 'watchdog', ok: true, detail: 'not under systemd' });
  } else {
    const r = sys.run('systemctl', ['is-active', ...UNITS]);
    const states = (r?.stdout ?? '').trim().split('\n');
    const kit = states[0] ?? 'unknown';
    const tv = states[1] ?? 'unknown';
    checks.push({
      name: 'services',
      ok: kit === 'active',
      detail: `vht-kit.service ${kit}, vht-kit-tv.service ${tv}`,
      ...(kit === 'active'
        ? {}
        : { fix: 'systemctl status vht-kit.service; journalctl -u vht-kit.service -b (run scripts/install-pi if the unit is missing)' }),
    });
    const show = sys.run('systemctl', ['show', 'vht-kit.service', '-p', 'Type', '-p', 'WatchdogUSec', '-p', 'NotifyAccess']);
    const props: Record<string, string> = {};
    for (const line of (show?.stdout ?? '').split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) props[line.slice(0, eq)] = line.slice(eq + 1).trim();
    }
    const wd = props.WatchdogUSec ?? '';
    const on = props.Type === 'notify' && wd !== '' && wd !== '0' && wd !== 'infinity';
    checks.push({
      name: 'watchdog',
      ok: on,
      detail: on
        ? `Type=notify, WatchdogSec ${wd}, NotifyAccess=${props.NotifyAccess ?? '?'}`
        : `not configured (Type=${props.Type ?? '?'}, WatchdogUSec=${wd || '?'})`,
      ...(on ? {} : { fix: 'install the unit from systemd/vht-kit.service (scripts/install-pi), then systemctl daemon-reload' }),
    });
  }

  // --- hotspot ---
  const passFile = sys.exists(hotspotFile(config.dataDir));
  if (!config.hotspot.enabled) {
    checks.push({ name: 'hotspot', ok: true, detail: `off (hotspot.enabled: false)${passFile ? '; a passphrase is ready' : ''}` });
  } else {
    const r = sys.run('nmcli', ['-t', '-f', 'NAME,DEVICE,TYPE', 'connection', 'show', '--active']);
    if (!r) {
      checks.push({ name: 'hotspot', ok: false, detail: 'nmcli not found', fix: 'apt-get install network-manager (scripts/install-pi does)' });
    } else {
      const line = r.stdout.split('\n').find((l) => l.startsWith('vht-kit-hotspot:'));
      const up = line !== undefined;
      checks.push({
        name: 'hotspot',
        ok: up && passFile,
        detail: up ? `up on ${line.split(':')[1] || config.hotspot.interface} (10.42.0.1)` : passFile ? 'not up' : 'no passphrase yet',
        ...(up && passFile
          ? {}
          : {
              fix: passFile
                ? 'sudo vht-kit-hotspot apply && nmcli connection up vht-kit-hotspot'
                : 'enrol the kit (vht-kit enrol), then sudo vht-kit-hotspot apply',
            }),
      });
    }
  }

  // --- HDMI-CEC ---
  const cecDev = sys.exists(config.cec.device);
  if (config.cec.mode === 'off') checks.push({ name: 'HDMI-CEC', ok: true, detail: 'off (cec.mode: off)' });
  else {
    const tool = sys.run('cec-ctl', ['--version']) !== null;
    const want = config.cec.mode === 'on' || cecDev;
    const ok = !want || (cecDev && tool);
    checks.push({
      name: 'HDMI-CEC',
      ok,
      detail: !want ? `${config.cec.device} absent: off` : `${config.cec.device} ${cecDev ? 'present' : 'absent'}, cec-ctl ${tool ? 'installed' : 'missing'}`,
      ...(ok
        ? {}
        : {
            fix: !tool
              ? 'apt-get install v4l-utils'
              : `no ${config.cec.device}: on a Pi, HDMI-CEC needs the vc4-kms-v3d overlay (default on Bookworm); or set cec.mode: auto`,
          }),
    });
  }

  return checks;
}

/** The board: temperature, throttling, the SD card and the clock. */
function boardChecks(config: Config, sys: HealthSystem, underSystemd: boolean): HealthCheck[] {
  const checks: HealthCheck[] = [];
  // --- temperature ---
  const temps = sys
    .list('/sys/class/thermal')
    .filter((z) => z.startsWith('thermal_zone'))
    .map((z) => Number((sys.readFile(`/sys/class/thermal/${z}/temp`) ?? '').trim()) / 1000)
    .filter((t) => Number.isFinite(t) && t > -50);
  if (temps.length === 0) checks.push({ name: 'temperature', ok: true, detail: 'no thermal sensor' });
  else {
    const max = Math.max(...temps);
    checks.push({
      name: 'temperature',
      ok: max < 80,
      detail: `${max.toFixed(1)} °C`,
      ...(max < 80 ? {} : { fix: 'the Pi throttles from 80 °C (85 °C hard): give the box air, add a heatsink or a fan' }),
    });
  }

  // --- throttling (Raspberry Pi firmware) ---
  const thr = sys.run('vcgencmd', ['get_throttled']);
  const m = thr ? /throttled=(0x[0-9a-fA-F]+)/.exec(thr.stdout) : null;
  if (!thr) checks.push({ name: 'throttling', ok: true, detail: 'no vcgencmd (not a Raspberry Pi)' });
  else if (!m)
    checks.push({
      name: 'throttling',
      ok: false,
      detail: `vcgencmd get_throttled said ${JSON.stringify(thr.stdout.trim().slice(0, 80))}`,
      fix: 'add the kit user to the video group (vcgencmd needs /dev/vcio)',
    });
  else {
    const v = parseInt(m[1]!, 16);
    const flags = decodeThrottled(v);
    // Under-voltage at any time since boot risks SD card corruption; the rest matters only now.
    const bad = (v & 0b1111) !== 0 || (v & (1 << 16)) !== 0;
    checks.push({
      name: 'throttling',
      ok: !bad,
      detail: flags.length ? `${m[1]}: ${flags.join(', ')}` : `${m[1]}: none`,
      ...(bad
        ? {
            fix:
              (v & 0x10001) !== 0
                ? 'under-voltage: use the official power supply (Pi 4: 5.1 V 3 A, Pi 5: 5.1 V 5 A) and a short, thick USB-C cable'
                : 'too hot: see temperature',
          }
        : {}),
    });
  }

  // --- SD card: free space and health hints ---
  const mounts = sys.readFile('/proc/mounts') ?? '';
  const rootMount = mounts
    .split('\n')
    .map((l) => l.split(' '))
    .find((f) => f[1] === '/');
  const readOnly = rootMount ? (rootMount[3] ?? '').split(',').includes('ro') : false;
  const space = sys.space(config.dataDir);
  const freePct = space && space.total > 0 ? (space.free / space.total) * 100 : null;
  const lowSpace = freePct !== null && freePct < 10;
  const hints: string[] = [];
  if (rootMount?.[0]?.startsWith('/dev/mmcblk')) hints.push('SD card');
  if (freePct !== null) hints.push(`${freePct.toFixed(0)}% free (${Math.round(space!.free / 1e9)} GB)`);
  checks.push({
    name: 'SD card',
    ok: !readOnly && !lowSpace,
    detail: `${readOnly ? 'root file system READ-ONLY' : 'root file system writable'}${hints.length ? `, ${hints.join(', ')}` : ''}`,
    ...(readOnly
      ? {
          fix: 'the kernel made the file system read-only after I/O errors: the SD card is failing; have the office upload the clips, then replace the card (an A1/A2 "endurance" card)',
        }
      : lowSpace
        ? { fix: 'less than 10% free: dock the kit at the office so uploaded clips can be removed' }
        : {}),
  });

  // --- clock (no RTC) ---
  const problem = clockProblem(sys.now());
  let ntp = '';
  if (underSystemd) {
    const r = sys.run('timedatectl', ['show', '-p', 'NTPSynchronized', '--value']);
    if (r) ntp = `, NTP synchronised: ${r.stdout.trim() || '?'}`;
  }
  // fake-hwclock restores the last shutdown time at boot: a plausible year, yet days or months
  // behind until NTP has run; the storage then refuses signed uploads (RequestTimeTooSkewed).
  const unsynced = ntp.endsWith('NTP synchronised: no');
  checks.push({
    name: 'clock',
    ok: problem === null && !unsynced,
    detail:
      problem === null
        ? `${new Date(sys.now()).toISOString()}${ntp}${unsynced ? ' (the time may be that of the last shutdown: uploads can be refused as skewed)' : ''}`
        : `${problem}${ntp}`,
    ...(problem === null && !unsynced
      ? {}
      : { fix: 'connect the kit to the internet (NTP), or set the time: sudo date -s "YYYY-MM-DD HH:MM"; uploads are refused until then' }),
  });
  return checks;
}

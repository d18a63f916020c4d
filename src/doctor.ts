import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gstElementExists } from './capture/elements.js';
import { buildPipeline, resolveProfile } from './capture/profiles.js';
import type { Config } from './config/schema.js';
import { ringDirFor, syncConfigOf } from './main.js';
import { createTarget, dockCheckFor } from './sync/index.js';
import { StorageGuard } from './store/storage.js';
import { demoOrgKeyPath } from './store/keys.js';
import { deviceConfigFor } from './device/wiring.js';
import { applianceChecks, realSystem, type HealthSystem } from './appliance/health.js';
import { certificateInfo, kitNames, tlsFiles } from './web/tls.js';
import { describeError } from './core/errors.js';
import { timeCheck } from './doctor-time.js';

/** The web app's certificate: present, names the kit, not near its end (phones refuse an expired one). */
async function tlsCheck(config: Config, profile: string): Promise<Check> {
  // On the sim profile (development, tests) plain HTTP is fine; a real kit needs HTTPS.
  const dev = profile === 'sim';
  if (config.http.tls === 'off') {
    return {
      name: 'https',
      ok: dev,
      detail: 'http.tls is off: the web app is plain HTTP',
      ...(dev ? {} : { fix: 'set http.tls: auto or on (off is for development only)' }),
    };
  }
  const files = tlsFiles(config.dataDir, config.http);
  if (!existsSync(files.cert) || !existsSync(files.key)) {
    return {
      name: 'https',
      ok: config.http.tls === 'auto' && dev,
      detail: `no certificate at ${files.cert}: the web app ${config.http.tls === 'on' ? 'will not start' : 'runs on plain HTTP'}`,
      fix: "run `vht-kit enrol` (makes the kit's certificate), or give the organisation CA's with --tls-cert/--tls-key",
    };
  }
  try {
    const info = await certificateInfo(files.cert);
    const days = Math.floor((info.notAfter.getTime() - Date.now()) / 86_400_000);
    const want = kitNames(config.kitId);
    const missing = [...want.dns.map((d) => `DNS:${d}`), ...want.ip.map((i) => `IP:${i}`)].filter((n) => !info.sans.includes(n));
    const ok = days > 30 && !missing.some((n) => n === `DNS:${config.kitId}.local`);
    return {
      name: 'https',
      ok,
      detail: `${files.cert}: ${info.selfSigned ? "the kit's own certificate" : "issued by the organisation's CA"}, valid ${days} more days, for ${info.sans.join(' ')}${missing.length ? `; not for ${missing.join(' ')}` : ''}`,
      ...(ok ? {} : { fix: 're-enrol the kit (`vht-kit enrol … --current-pin`) to renew the certificate, or give a new one with --tls-cert/--tls-key' }),
    };
  } catch (err) {
    return { name: 'https', ok: false, detail: `cannot read ${files.cert}: ${describeError(err)}`, fix: 're-enrol the kit to make a new certificate' };
  }
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

function readLastSync(dataDir: string): { at: number; state: string; lastError: string | null } | null {
  try {
    return JSON.parse(readFileSync(path.join(dataDir, 'sync-status.json'), 'utf8')) as { at: number; state: string; lastError: string | null };
  } catch {
    return null;
  }
}

/** Whether GPIO is usable here (onoff's Gpio.accessible); null when onoff cannot load at all. */
async function gpioAccessible(): Promise<boolean | null> {
  try {
    const onoff = (await import('onoff')) as unknown as { Gpio: { accessible: boolean } };
    return onoff.Gpio.accessible;
  } catch {
    return null;
  }
}

/** Checks what the kit needs on this machine and says how to fix what is missing. */
export async function runDoctor(config: Config, opts: { system?: HealthSystem } = {}): Promise<Check[]> {
  const checks: Check[] = [];
  const profile = resolveProfile(config.capture.profile, config.capture.device);
  checks.push({ name: 'profile', ok: true, detail: `${profile}${config.capture.profile === 'auto' ? ' (detected)' : ''}` });

  const spec = buildPipeline(profile, config.capture, '/tmp/x%08d.ts');
  const missing = spec.elements.filter((el) => !gstElementExists(el));
  const inspect = spawnSync('gst-inspect-1.0', ['--version']);
  if (inspect.error) {
    checks.push({
      name: 'gstreamer',
      ok: false,
      detail: 'gst-inspect-1.0 not found',
      fix: 'apt-get install gstreamer1.0-tools gstreamer1.0-plugins-{base,good,bad,ugly} gstreamer1.0-libav',
    });
  } else {
    checks.push({
      name: 'gstreamer elements',
      ok: missing.length === 0,
      detail: missing.length === 0 ? `all ${spec.elements.length} elements of the ${profile} profile present` : `missing: ${missing.join(', ')}`,
      ...(missing.length
        ? {
            fix: 'apt-get install gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-x',
          }
        : {}),
    });
  }

  if (profile !== 'sim') {
    const present = existsSync(config.capture.device);
    checks.push({
      name: 'camera',
      ok: present,
      detail: present ? `${config.capture.device} present` : `${config.capture.device} not found`,
      ...(present ? {} : { fix: 'plug in the USB camera, or set capture.device (VHT_KIT_CAMERA); `v4l2-ctl --list-devices` lists cameras' }),
    });
  } else {
    checks.push({ name: 'camera', ok: true, detail: 'sim profile: test pattern with a running clock' });
  }

  try {
    // The data dir may not exist yet: measure the file system it will be made on.
    let dir = config.dataDir;
    while (!existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
    const guard = new StorageGuard(dir, config.storage.reserveMB * 1024 * 1024);
    const info = guard.info(((config.capture.bitrateKbps + 96) * 1000) / 8);
    checks.push({
      name: 'storage',
      ok: info.usableBytes > 0,
      detail: `${Math.round(info.freeBytes / 1e6)} MB free, reserve ${config.storage.reserveMB} MB, about ${info.minutesLeft} minutes of footage`,
      ...(info.usableBytes > 0 ? {} : { fix: 'free space on the data dir, or lower storage.reserveMB' }),
    });
  } catch (err) {
    checks.push({
      name: 'storage',
      ok: false,
      detail: `cannot read free space of ${config.dataDir}: ${(err as Error).message}`,
      fix: 'check dataDir (VHT_KIT_DATA_DIR)',
    });
  }

  const devices = deviceConfigFor(config, profile);
  const gpioUsers = [
    devices.button.backend === 'gpio' ? `button (BCM ${devices.button.pin})` : null,
    devices.leds.backend === 'gpio' ? `LED (BCM ${devices.leds.pin})` : null,
  ].filter((x): x is string => x !== null);
  if (gpioUsers.length) {
    const accessible = await gpioAccessible();
    checks.push({
      name: 'GPIO',
      ok: accessible === true,
      detail: accessible ? `accessible for ${gpioUsers.join(', ')}` : `GPIO not accessible on this machine (needed for ${gpioUsers.join(', ')})`,
      ...(accessible ? {} : { fix: 'on a Raspberry Pi: add the kit user to the gpio group; elsewhere set button.backend and leds.backend to sim or none' }),
    });
  } else {
    checks.push({ name: 'GPIO', ok: true, detail: `not used (button: ${devices.button.backend}, LEDs: ${devices.leds.backend})` });
  }
  if (devices.kitController.backend === 'serial') {
    const present = existsSync(devices.kitController.port);
    checks.push({
      name: 'kit controller',
      ok: present,
      detail: present ? `${devices.kitController.port} present` : `${devices.kitController.port} not found`,
      ...(present ? {} : { fix: 'plug in the kit controller (USB), or fix kitController.port (VHT_KIT_SERIAL_PORT); ls /dev/serial/by-id/' }),
    });
  }

  if (config.sync.target === 'off') {
    checks.push({ name: 'sync', ok: true, detail: 'off (clips stay on the kit until sync.target is set)' });
  } else {
    try {
      const sc = syncConfigOf(config);
      const target = createTarget(sc);
      const dock = target ? await dockCheckFor(sc, target)() : { docked: false, reason: 'no target' };
      target?.close();
      const last = readLastSync(config.dataDir);
      if (last?.state === 'error' && last.lastError) {
        checks.push({
          name: 'last upload',
          ok: false,
          detail: `${new Date(last.at).toISOString()}: ${last.lastError}`,
          fix: 'see the message: credentials (sync.s3.accessKeyId/secretAccessKey), bucket (sync.s3.bucket) or the kit clock; then POST /api/sync/run',
        });
      }
      checks.push({
        name: 'sync',
        ok: true,
        detail: `${config.sync.target}${config.sync.dock.allowInsecure ? ' (INSECURE: plain http allowed)' : ''}: ${dock.docked ? `docked now (${dock.via ?? 'ok'})` : `not docked now: ${dock.reason ?? 'unknown'}`}`,
      });
    } catch (err) {
      checks.push({ name: 'sync', ok: false, detail: (err as Error).message, fix: 'check the sync section of the config (see config/example.yaml)' });
    }
  }

  const ring = ringDirFor(config);
  checks.push({ name: 'RAM ring', ok: true, detail: `${ring} (plaintext segments live only here)` });

  if (config.keys.orgRecipient) {
    checks.push({ name: 'organisation key', ok: true, detail: `recipient ${config.keys.orgRecipient.slice(0, 12)}…` });
  } else if (profile === 'sim') {
    checks.push({ name: 'organisation key', ok: true, detail: `none enrolled; sim profile uses a demo identity at ${demoOrgKeyPath(config.dataDir)}` });
  } else {
    checks.push({
      name: 'organisation key',
      ok: false,
      detail: 'no organisation recipient',
      fix: 'set keys.orgRecipient (VHT_KIT_ORG_RECIPIENT) to the age1… recipient from `vht-kit keygen`',
    });
  }
  const sealed = existsSync(path.join(config.dataDir, 'keys', 'playback.sealed.json'));
  checks.push({
    name: 'playback key',
    ok: sealed || config.auth.pin !== null,
    detail: sealed ? 'sealed by the trainer PIN' : config.auth.pin ? 'made at the next start' : 'none, and no PIN to seal one with',
    ...(sealed || config.auth.pin ? {} : { fix: 'set auth.pin (VHT_KIT_PIN)' }),
  });
  checks.push({
    name: 'trainer PIN',
    ok: config.auth.pin !== null,
    detail: config.auth.pin ? 'configured' : 'not configured: nobody can log in',
    ...(config.auth.pin ? {} : { fix: 'set auth.pin (VHT_KIT_PIN)' }),
  });
  checks.push(await tlsCheck(config, profile));
  checks.push(await timeCheck(config));
  // The appliance: services, watchdog, hotspot, HDMI-CEC, temperature, throttling, SD card, clock.
  checks.push(...applianceChecks(config, opts.system ?? realSystem()));
  return checks;
}

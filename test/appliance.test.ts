import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { CecMonitorParser, CecService, keyToControl, parseCecInfo, parseCecMonitor, type CecProcess, type CecRunner } from '../src/appliance/cec.js';
import { BUILD_YEAR, clockProblem } from '../src/core/clock-sanity.js';
import { applianceChecks, decodeThrottled, realSystem } from '../src/appliance/health.js';
import { ensureHotspotSecret, hotspotFile, hotspotInfo, hotspotTerminalQr, makePassphrase, readHotspotSecret, wifiQrText } from '../src/appliance/hotspot.js';
import { encodeQr, qrToSvg, qrToTerminal } from '../src/appliance/qr.js';
import { parseConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { EventBus, type TvControl } from '../src/core/events.js';
import { createLogger } from '../src/core/logger.js';
import { SyncError } from '../src/sync/errors.js';
import { S3Target } from '../src/sync/targets.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const logger = createLogger({ level: 'silent' });
const tmpDirs: string[] = [];
function tmp(prefix = 'vht-appliance-'): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

/** Exists, without following a symlink (enablement links point into the real /etc). */
function present(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function sh(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input ?? '', env: opts.env ?? process.env, cwd: opts.cwd ?? ROOT, timeout: 60_000 });
  return { code: r.status, out: (r.stdout ?? '') + (r.stderr ?? ''), stdout: r.stdout ?? '' };
}

/** A unit file as sections of key → values. */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let sec = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^\[(.+)\]$/.exec(line);
    if (m) {
      sec = m[1]!;
      out[sec] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    (out[sec]![line.slice(0, eq)] ??= []).push(line.slice(eq + 1));
  }
  return out;
}

// ------------------------------------------------------------------------------------------ units

describe('systemd units', () => {
  /** A root with Debian's own units (for After=/Wants= targets) and stub binaries for ExecStart. */
  function verifyRoot(): string {
    const r = tmp('vht-units-');
    mkdirSync(path.join(r, 'usr/lib/systemd'), { recursive: true });
    cpSync('/usr/lib/systemd/system', path.join(r, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    for (const bin of ['usr/bin/node', 'usr/bin/cage', 'usr/bin/chromium']) {
      mkdirSync(path.dirname(path.join(r, bin)), { recursive: true });
      writeFileSync(path.join(r, bin), '#!/bin/sh\n');
      chmodSync(path.join(r, bin), 0o755);
    }
    mkdirSync(path.join(r, 'etc/systemd/system'), { recursive: true });
    return r;
  }
  const verify = (r: string, units: string[]) => sh('systemd-analyze', ['verify', `--root=${r}`, ...units.map((u) => path.join(r, 'etc/systemd/system', u))]);

  it('systemd-analyze verify passes every unit without a warning', () => {
    const r = verifyRoot();
    const units = readdirSync(path.join(ROOT, 'systemd')).filter((f) => f.endsWith('.service'));
    expect(units.sort()).toEqual(['vht-kit-tv.service', 'vht-kit.service']);
    for (const u of units) copyFileSync(path.join(ROOT, 'systemd', u), path.join(r, 'etc/systemd/system', u));
    const res = verify(r, units);
    expect(res.out).toBe('');
    expect(res.code).toBe(0);
  });

  it('the same check catches a misspelt key and a bad value (it is not a no-op)', () => {
    const r = verifyRoot();
    const text = readFileSync(path.join(ROOT, 'systemd/vht-kit.service'), 'utf8')
      .replace('WatchdogSec=20s', 'WatchdogSex=20s')
      .replace('DeviceAllow=char-cec rw', 'DeviceAllow=char-cec rwz');
    writeFileSync(path.join(r, 'etc/systemd/system/broken.service'), text);
    const res = verify(r, ['broken.service']);
    expect(res.out).toMatch(/Unknown key 'WatchdogSex'/);
    expect(res.out).toMatch(/Invalid device rights 'rwz'/);
  });

  it('vht-kit.service: notify + watchdog, restart, hardened, no MemoryDenyWriteExecute', () => {
    const u = parseUnit(readFileSync(path.join(ROOT, 'systemd/vht-kit.service'), 'utf8'));
    const s = u.Service!;
    expect(s.Type).toEqual(['notify']);
    expect(s.NotifyAccess).toEqual(['all']); // systemd-notify is a child of the main process
    expect(s.WatchdogSec).toEqual(['20s']);
    expect(s.Restart).toEqual(['on-failure']);
    // The CLI forces an exit after 15 s; systemd must not SIGKILL a clean stop before that.
    expect(parseInt(s.TimeoutStopSec![0]!, 10)).toBeGreaterThan(15);
    expect(s.User).toEqual(['vht-kit']);
    expect(s.SupplementaryGroups![0]!.split(' ').sort()).toEqual(['audio', 'dialout', 'gpio', 'video']);
    expect(s.ProtectSystem).toEqual(['strict']);
    expect(s.ReadWritePaths).toEqual(['/var/lib/vht-kit']);
    expect(s.RuntimeDirectory).toEqual(['vht-kit']);
    expect(s.StateDirectory).toEqual(['vht-kit']);
    expect(s.NoNewPrivileges).toEqual(['yes']);
    expect(s.PrivateTmp).toEqual(['yes']);
    expect(s.RestrictAddressFamilies).toEqual(['AF_UNIX AF_INET AF_INET6 AF_NETLINK']);
    expect(s.SystemCallFilter).toEqual(['@system-service']);
    expect(s.AmbientCapabilities).toEqual(['CAP_NET_BIND_SERVICE']);
    expect(s.MemoryDenyWriteExecute).toBeUndefined();
    expect(s.DeviceAllow).toEqual(expect.arrayContaining(['char-video4linux rw', 'char-alsa rw', 'char-gpiochip rw', 'char-ttyACM rw', 'char-cec rw']));
    // The RAM ring the installed config names lives in the RuntimeDirectory.
    const installed = readFileSync(path.join(ROOT, 'scripts/install-pi'), 'utf8');
    expect(installed).toContain('ringDir: /run/vht-kit/ring');
  });

  it('vht-kit-tv.service: cage + Chromium kiosk on the loopback port, its own user, restarts always', () => {
    const u = parseUnit(readFileSync(path.join(ROOT, 'systemd/vht-kit-tv.service'), 'utf8'));
    expect(u.Unit!.After![0]).toContain('vht-kit.service');
    expect(u.Service!.User).toEqual(['vht-kit-tv']);
    expect(u.Service!.Restart).toEqual(['always']);
    expect(u.Service!.TTYPath).toEqual(['/dev/tty1']);
    const exec = u.Service!.ExecStart![0]!;
    expect(exec).toMatch(/^\/usr\/bin\/cage .*-- \/usr\/bin\/chromium --kiosk /);
    expect(exec).toMatch(/ http:\/\/127\.0\.0\.1:8081\/tv$/);
  });

  it('tmpfiles.d makes the config and data dirs for the kit user only (systemd-tmpfiles --root)', () => {
    const r = tmp('vht-tmpfiles-');
    mkdirSync(path.join(r, 'etc'), { recursive: true });
    writeFileSync(path.join(r, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\nvht-kit:x:4242:4242::/var/lib/vht-kit:/usr/sbin/nologin\n');
    writeFileSync(path.join(r, 'etc/group'), 'root:x:0:\nvht-kit:x:4242:\n');
    mkdirSync(path.join(r, 'usr/lib/tmpfiles.d'), { recursive: true });
    copyFileSync(path.join(ROOT, 'systemd/vht-kit.tmpfiles'), path.join(r, 'usr/lib/tmpfiles.d/vht-kit.conf'));
    const res = sh('systemd-tmpfiles', [`--root=${r}`, '--create', path.join(r, 'usr/lib/tmpfiles.d/vht-kit.conf')]);
    expect(res.out).toBe('');
    for (const d of ['etc/vht-kit', 'var/lib/vht-kit', 'run/vht-kit']) {
      const st = statSync(path.join(r, d));
      expect(st.mode & 0o777).toBe(0o700);
      if (process.getuid?.() === 0) expect(st.uid).toBe(4242);
    }
  });
});

// ------------------------------------------------------------------------------ install / uninstall

describe('scripts/install-pi --root (dry run) and scripts/uninstall-pi', () => {
  const root = tmp('vht-install-');
  const run = (script: string, args: string[], input = '') => sh(path.join(ROOT, 'scripts', script), args, { input });
  const EXPECTED = [
    'etc/systemd/system/vht-kit.service',
    'etc/systemd/system/vht-kit-tv.service',
    'etc/systemd/system/multi-user.target.wants/vht-kit.service',
    'etc/systemd/system/multi-user.target.wants/vht-kit-tv.service',
    'usr/lib/tmpfiles.d/vht-kit.conf',
    'etc/udev/rules.d/99-vht-kit.rules',
    'etc/NetworkManager/dispatcher.d/90-vht-kit',
    'usr/local/sbin/vht-kit-hotspot',
    'usr/local/bin/vht-kit',
    'etc/vht-kit/config.yaml',
    'opt/vht-kit/bin/vht-kit',
    'opt/vht-kit/dist/cli.js',
    'opt/vht-kit/package-lock.json',
    'opt/vht-kit/systemd/network/vht-kit-hotspot.nmconnection',
    'boot/firmware/config.txt',
  ];

  it('--help says what it does', () => {
    const r = run('install-pi', ['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/--root DIR/);
    expect(run('uninstall-pi', ['--help']).out).toMatch(/--purge-data/);
  });

  it('installs the expected files, with installed-kit config values', () => {
    mkdirSync(path.join(root, 'boot/firmware'), { recursive: true });
    writeFileSync(path.join(root, 'boot/firmware/config.txt'), '[all]\ndtoverlay=vc4-kms-v3d\n');
    mkdirSync(path.join(root, 'proc/device-tree'), { recursive: true });
    writeFileSync(path.join(root, 'proc/device-tree/model'), 'Raspberry Pi 4 Model B Rev 1.5\0');
    const r = run('install-pi', ['--root', root]);
    expect(r.code, r.out).toBe(0);
    for (const f of EXPECTED) expect(present(path.join(root, f)), f).toBe(true);
    expect(lstatSync(path.join(root, 'etc/systemd/system/multi-user.target.wants/vht-kit.service')).isSymbolicLink()).toBe(true);
    expect(statSync(path.join(root, 'etc/NetworkManager/dispatcher.d/90-vht-kit')).mode & 0o777).toBe(0o755);
    expect(statSync(path.join(root, 'etc/vht-kit/config.yaml')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(root, 'var/lib/vht-kit')).mode & 0o777).toBe(0o700);
    // The installed config is valid and has the installed-kit values.
    const config = parseConfig(YAML.parse(readFileSync(path.join(root, 'etc/vht-kit/config.yaml'), 'utf8')));
    expect(config.dataDir).toBe('/var/lib/vht-kit');
    expect(config.http.port).toBe(443);
    expect(config.http.tls).toBe('on');
    expect(config.http.redirectPort).toBe(80);
    expect(config.http.loopbackPort).toBe(8081);
    expect(config.capture.ringDir).toBe('/run/vht-kit/ring');
    expect(config.hotspot.enabled).toBe(true);
    expect(config.capture.profile).toBe('pi4');
    expect(config.capture.device).toBe('/dev/vht-camera');
    // The record button's pull-up, from button.pin.
    const boot = readFileSync(path.join(root, 'boot/firmware/config.txt'), 'utf8');
    expect(boot).toContain('dtoverlay=vc4-kms-v3d');
    expect(boot.match(/^gpio=17=ip,pu$/gm)).toHaveLength(1);
  });

  it('a second run changes nothing and keeps an enrolled config', () => {
    const cfg = path.join(root, 'etc/vht-kit/config.yaml');
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('kitId: kit-dev', 'kitId: kit-07'));
    const before = readFileSync(cfg, 'utf8');
    const r = run('install-pi', ['--root', root]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/kept/);
    expect(r.out).not.toMatch(/^ {4}\/etc\/systemd/m); // no unit file was copied again
    expect(readFileSync(cfg, 'utf8')).toBe(before);
    expect(readFileSync(path.join(root, 'boot/firmware/config.txt'), 'utf8').match(/^gpio=/gm)).toHaveLength(1);
  });

  it('points the TV kiosk at the configured loopback port', () => {
    const cfg = path.join(root, 'etc/vht-kit/config.yaml');
    const original = readFileSync(cfg, 'utf8');
    const unit = path.join(root, 'etc/systemd/system/vht-kit-tv.service');
    try {
      writeFileSync(cfg, original.replace('  loopbackPort: 8081', '  loopbackPort: 18081'));
      expect(run('install-pi', ['--root', root]).code).toBe(0);
      expect(readFileSync(unit, 'utf8')).toMatch(/ http:\/\/127\.0\.0\.1:18081\/tv$/m);
    } finally {
      writeFileSync(cfg, original);
      expect(run('install-pi', ['--root', root]).code).toBe(0);
    }
    expect(readFileSync(unit, 'utf8')).toMatch(/ http:\/\/127\.0\.0\.1:8081\/tv$/m);
  });

  it('writes the hotspot profile from the enrolment passphrase (WPA2 and WPA3)', () => {
    const cfg = parseConfig({ kitId: 'kit-07', hotspot: { enabled: true } });
    const dataDir = path.join(root, 'var/lib/vht-kit');
    const secret = ensureHotspotSecret(cfg, dataDir);
    const hook = path.join(ROOT, 'systemd/network/vht-kit-hotspot');
    const tpl = ['--template', path.join(ROOT, 'systemd/network/vht-kit-hotspot.nmconnection')];
    let r = sh(hook, ['apply', '--root', root, ...tpl]);
    expect(r.code, r.out).toBe(0);
    const file = path.join(root, 'etc/NetworkManager/system-connections/vht-kit-hotspot.nmconnection');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    let text = readFileSync(file, 'utf8');
    expect(text).not.toMatch(/@[A-Z]+@/);
    expect(text).toContain('ssid=VHT-kit-07\n');
    expect(text).toContain(`psk=${secret.passphrase}\n`);
    expect(text).toContain('key-mgmt=wpa-psk\n');
    expect(text).toContain('mode=ap\n');
    expect(text).toContain('method=shared\n');
    expect(text).toContain('address1=10.42.0.1/24\n');
    expect(text).toContain('autoconnect=true\n');
    const uuid = /^uuid=(.+)$/m.exec(text)![1];
    ensureHotspotSecret(parseConfig({ kitId: 'kit-07', hotspot: { enabled: true, security: 'wpa3' } }), dataDir);
    r = sh(hook, ['apply', '--root', root, ...tpl]);
    expect(r.code, r.out).toBe(0);
    text = readFileSync(file, 'utf8');
    expect(text).toContain('key-mgmt=sae\n');
    expect(text).toContain('pmf=3\n');
    expect(/^uuid=(.+)$/m.exec(text)![1]).toBe(uuid); // the same profile, updated
    // A tampered passphrase file is refused, not written into the profile.
    writeFileSync(hotspotFile(dataDir), 'SSID=VHT-kit-07\nPSK=a|b\n');
    r = sh(hook, ['apply', '--root', root, ...tpl]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/passphrase/);
    writeFileSync(hotspotFile(dataDir), 'keep me');
  });

  it('uninstall-pi removes what install-pi made and keeps the data', () => {
    writeFileSync(path.join(root, 'var/lib/vht-kit/catalogue.db'), 'footage index');
    const r = run('uninstall-pi', ['--root', root]);
    expect(r.code, r.out).toBe(0);
    for (const f of EXPECTED.filter((f) => !f.startsWith('etc/vht-kit') && !f.startsWith('boot/'))) expect(present(path.join(root, f)), f).toBe(false);
    expect(existsSync(path.join(root, 'etc/NetworkManager/system-connections/vht-kit-hotspot.nmconnection'))).toBe(false);
    expect(readFileSync(path.join(root, 'boot/firmware/config.txt'), 'utf8')).toBe('[all]\ndtoverlay=vc4-kms-v3d\n');
    expect(readFileSync(path.join(root, 'var/lib/vht-kit/catalogue.db'), 'utf8')).toBe('footage index');
    expect(existsSync(path.join(root, 'etc/vht-kit/config.yaml'))).toBe(true);
  });

  it('--purge-data deletes the data only after the typed confirmation', () => {
    let r = run('uninstall-pi', ['--root', root, '--purge-data'], 'yes\n');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/not confirmed; nothing was removed/);
    expect(existsSync(path.join(root, 'var/lib/vht-kit/catalogue.db'))).toBe(true);
    r = run('uninstall-pi', ['--root', root, '--purge-data'], 'DELETE FOOTAGE\n');
    expect(r.code, r.out).toBe(0);
    expect(existsSync(path.join(root, 'var/lib/vht-kit'))).toBe(false);
    expect(existsSync(path.join(root, 'etc/vht-kit'))).toBe(false);
  });
});

// ------------------------------------------------------------------------------------- shellcheck

describe('shellcheck', () => {
  const mine = ['scripts/install-pi', 'scripts/uninstall-pi', 'systemd/network/90-vht-kit', 'systemd/network/vht-kit-hotspot', 'systemd/vht-kit-cli'];

  it('passes on the appliance scripts and the dispatcher hook', () => {
    const r = sh('shellcheck', ['--shell=bash', ...mine]);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  });

  it('passes on every other shell script in scripts/', () => {
    const others = readdirSync(path.join(ROOT, 'scripts'))
      .map((f) => `scripts/${f}`)
      .filter((f) => !mine.includes(f) && statSync(path.join(ROOT, f)).isFile())
      .filter((f) => /^#!.*\b(ba)?sh\b/.test(readFileSync(path.join(ROOT, f), 'utf8').split('\n')[0]!) || f.endsWith('.sh'));
    expect(others).toEqual(expect.arrayContaining(['scripts/test', 'scripts/dev', 'scripts/setup.sh']));
    const r = sh('shellcheck', ['--format=gcc', ...others]);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(0);
  });

  it('the dispatcher hook calls `vht-kit network up|down`, never for the hotspot itself', () => {
    const dir = tmp('vht-hook-');
    const log = path.join(dir, 'calls');
    const fake = path.join(dir, 'vht-kit');
    writeFileSync(fake, `#!/bin/sh\necho "$@" >> ${log}\n`);
    chmodSync(fake, 0o755);
    const hook = path.join(ROOT, 'systemd/network/90-vht-kit');
    const call = (iface: string, action: string, extra: Record<string, string> = {}) =>
      sh(hook, [iface, action], { env: { PATH: process.env.PATH!, VHT_KIT_BIN: fake, ...extra } });
    expect(call('eth0', 'up', { CONNECTION_ID: 'Wired connection 1' }).code).toBe(0);
    expect(call('wlan0', 'up', { CONNECTION_ID: 'vht-kit-hotspot' }).code).toBe(0);
    expect(call('wlan0', 'up', { CONNECTION_ID: 'Kantoor' }).code).toBe(0);
    expect(call('eth0', 'down', { CONNECTION_ID: 'Wired connection 1' }).code).toBe(0);
    expect(call('eth0', 'pre-up', { CONNECTION_ID: 'Wired connection 1' }).code).toBe(0);
    expect(call('lo', 'up', { CONNECTION_ID: 'lo' }).code).toBe(0);
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual(['network up', 'network up', 'network down']);
  });
});

// ------------------------------------------------------------------------------------------ CEC

const fixture = (name: string) => readFileSync(path.join(ROOT, 'test/fixtures/cec', name), 'utf8');

/** Plays recorded cec-ctl output: the registration answer, then the monitor's lines. */
class FakeCecRunner implements CecRunner {
  calls: string[][] = [];
  monitors: { lines: ((l: string) => void)[]; exits: ((c: number | null) => void)[]; killed: boolean }[] = [];
  constructor(
    private readonly registration: string,
    private readonly registerCode = 0,
  ) {}
  async run(args: string[]) {
    this.calls.push(args);
    if (args.includes('--playback'))
      return {
        code: this.registerCode,
        stdout: this.registration,
        stderr: this.registerCode ? 'CEC_ADAP_S_LOG_ADDRS returned 16 (Device or resource busy)' : '',
      };
    return { code: 0, stdout: '', stderr: '' };
  }
  stream(args: string[]): CecProcess {
    this.calls.push(args);
    const m = { lines: [] as ((l: string) => void)[], exits: [] as ((c: number | null) => void)[], killed: false };
    this.monitors.push(m);
    return { onLine: (fn) => m.lines.push(fn), onExit: (fn) => m.exits.push(fn), kill: () => (m.killed = true) };
  }
  play(text: string, monitor = this.monitors.length - 1): void {
    for (const line of text.split('\n')) for (const fn of this.monitors[monitor]!.lines) fn(line);
  }
}

const cecConfig = (mode: 'auto' | 'on' | 'off' = 'auto'): Config['cec'] => ({ mode, device: '/dev/cec0', osdName: 'VHT Kit' });

describe('HDMI-CEC', () => {
  it('parses recorded cec-ctl monitor output (v4l-utils 1.22 format)', () => {
    const msgs = parseCecMonitor(fixture('monitor-remote-keys.txt'));
    const pressed = msgs.filter((m) => m.opcode === 'USER_CONTROL_PRESSED').map((m) => m.params['ui-cmd']);
    expect(pressed).toEqual(['select', 'right', 'left', 'down', 'up', 'pause', 'play', 'number-entry-mode-or-number-0', 'back']);
    const osd = msgs.find((m) => m.opcode === 'SET_OSD_NAME')!;
    expect(osd).toMatchObject({ direction: 'tx', from: 4, to: 0, code: 0x47, params: { name: 'VHT Kit' } });
    const report = msgs.find((m) => m.opcode === 'REPORT_PHYSICAL_ADDR')!;
    expect(report).toMatchObject({ direction: 'rx', from: 0, to: 15, toName: 'all', params: { 'phys-addr': '0.0.0.0', 'prim-devtype': 'tv' } });
    const abort = msgs.find((m) => m.opcode === 'FEATURE_ABORT')!;
    expect(abort.params.reason).toBe('unrecognized-op');
    expect(msgs.filter((m) => m.opcode === 'STANDBY')).toHaveLength(2);
    expect(msgs.filter((m) => m.opcode === 'USER_CONTROL_RELEASED')).toHaveLength(9);
  });

  it('a key press is reported as soon as its key arrives, before the release', () => {
    const seen: string[] = [];
    const p = new CecMonitorParser((m) => seen.push(`${m.opcode}:${m.params['ui-cmd'] ?? ''}`));
    p.push('Received from TV to Playback Device 1 (0 to 4): USER_CONTROL_PRESSED (0x44):');
    expect(seen).toEqual([]);
    p.push('\tui-cmd: right (0x04)');
    expect(seen).toEqual(['USER_CONTROL_PRESSED:right']);
  });

  it('reads the physical and logical address of the registration', () => {
    expect(parseCecInfo(fixture('register-playback.txt'))).toEqual({ physAddr: '2.0.0.0', logAddr: 4 });
  });

  it('maps the remote keys to player commands', () => {
    expect(keyToControl('left')).toEqual({ action: 'step', direction: -1 });
    expect(keyToControl('right')).toEqual({ action: 'step', direction: 1 });
    expect(keyToControl('up')).toEqual({ action: 'marker', direction: -1 });
    expect(keyToControl('down')).toEqual({ action: 'marker', direction: 1 });
    expect(keyToControl('select')).toEqual({ action: 'toggle' });
    expect(keyToControl('play')).toEqual({ action: 'play' });
    expect(keyToControl('pause')).toEqual({ action: 'pause' });
    expect(keyToControl('back')).toEqual({ action: 'back' });
    expect(keyToControl('exit')).toEqual({ action: 'back' });
    expect(keyToControl('volume-up')).toBeNull();
  });

  it('registers as playback device, wakes the TV on present, turns remote keys into tv.control', async () => {
    const bus = new EventBus();
    const runner = new FakeCecRunner(fixture('register-playback.txt'));
    const cec = new CecService(cecConfig('auto'), bus, logger, runner, (p) => p === '/dev/cec0');
    const controls: TvControl[] = [];
    bus.on('tv.control', (c) => controls.push(c));
    await cec.start();
    expect(cec.state).toBe('on');
    expect(runner.calls[0]).toEqual(['-d', '/dev/cec0', '--playback', '--osd-name', 'VHT Kit']);
    expect(runner.calls[1]).toEqual(['-d', '/dev/cec0', '-m']);

    runner.play(fixture('monitor-remote-keys.txt'));
    expect(controls.map((c) => [c.action, c.direction ?? null])).toEqual([
      ['toggle', null],
      ['step', 1],
      ['step', -1],
      ['marker', 1],
      ['marker', -1],
      ['pause', null],
      ['play', null],
      ['back', null],
    ]);
    expect(controls.every((c) => c.source === 'cec')).toBe(true);
    expect(new Set(controls.map((c) => c.id)).size).toBe(controls.length);

    // A presented clip: TV on, then the kit's input (its physical address from the registration).
    bus.emit('present', { clipId: null });
    bus.emit('present', { clipId: 'abc123def456' });
    await cec.wakeTv().then(() => undefined); // wait for the queue (a third pair)
    const sent = runner.calls.slice(2);
    expect(sent[0]).toEqual(['-d', '/dev/cec0', '--to', '0', '--image-view-on']);
    expect(sent[1]).toEqual(['-d', '/dev/cec0', '--to', '0', '--active-source', 'phys-addr=2.0.0.0']);
    expect(sent).toHaveLength(4); // `present` with null sent nothing
    await cec.stop();
    expect(runner.monitors[0]!.killed).toBe(true);
    bus.emit('present', { clipId: 'abc123def456' });
    expect(runner.calls).toHaveLength(6);
  });

  it('in monitor-all output only keys sent to the kit count; a held key repeats; the monitor restarts', async () => {
    const bus = new EventBus();
    const runner = new FakeCecRunner(fixture('register-playback.txt'));
    const cec = new CecService(cecConfig('on'), bus, logger, runner, () => true);
    const controls: TvControl[] = [];
    bus.on('tv.control', (c) => controls.push(c));
    await cec.start();
    runner.play(fixture('monitor-all-held-key-and-replug.txt'));
    expect(controls.map((c) => `${c.action}${c.direction ?? ''}`)).toEqual(['step1', 'step1', 'step1', 'back']);
    // cec-ctl dies (HDMI unplugged): it is started again.
    runner.monitors[0]!.exits.forEach((fn) => fn(1));
    await new Promise((r) => setTimeout(r, 1200));
    expect(runner.monitors).toHaveLength(2);
    await cec.stop();
  });

  it('auto without /dev/cec0 is off and runs nothing; a failed registration is an error state', async () => {
    const bus = new EventBus();
    const runner = new FakeCecRunner('');
    const absent = new CecService(cecConfig('auto'), bus, logger, runner, () => false);
    await absent.start();
    expect(absent.state).toBe('absent');
    const off = new CecService(cecConfig('off'), bus, logger, runner, () => true);
    await off.start();
    expect(off.state).toBe('off');
    expect(runner.calls).toEqual([]);
    const busy = new CecService(cecConfig('on'), bus, logger, new FakeCecRunner('', 1), () => true);
    await busy.start();
    expect(busy.state).toBe('error');
    expect(busy.lastError).toMatch(/Device or resource busy/);
  });
});

// ------------------------------------------------------------------------------------------- QR

describe('QR codes (qrcode-generator)', () => {
  /** Byte-mode capacities of versions 1–6 (ISO/IEC 18004 table 7). */
  const CAPACITY = { L: [17, 32, 53, 78, 106, 134], M: [14, 26, 42, 62, 84, 106] } as const;

  /** A PGM image of a module grid (dark = true), `scale` pixels a module, with a 4-module quiet zone. */
  function pgm(dark: (x: number, y: number) => boolean, size: number, scale = 4): Buffer {
    const q = 4;
    const w = (size + 2 * q) * scale;
    const px = Buffer.alloc(w * w, 255);
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        if (!dark(x, y)) continue;
        for (let dy = 0; dy < scale; dy++) px.fill(0, ((y + q) * scale + dy) * w + (x + q) * scale, ((y + q) * scale + dy) * w + (x + q + 1) * scale);
      }
    return Buffer.concat([Buffer.from(`P5\n${w} ${w}\n255\n`), px]);
  }

  /** The modules an SVG of the library draws: one unit square per dark module ("Mx,y l1,0 …z"). */
  function svgModules(svg: string, size: number): boolean[][] {
    const grid = Array.from({ length: size }, () => Array<boolean>(size).fill(false));
    for (const m of svg.matchAll(/M([0-9]+),([0-9]+)l1,0 0,1 -1,0 0,-1z/g)) grid[Number(m[2]) - 4]![Number(m[1]) - 4] = true;
    return grid;
  }

  /** The modules a terminal rendering shows: two rows a line; a blank half is a dark module. */
  function terminalModules(text: string, size: number): boolean[][] {
    const lines = text
      .replace(/\n$/, '')
      .split('\n')
      .map((l) => [...l]);
    const light = (x: number, y: number) => {
      const ch = lines[y >> 1]![x]!;
      return y % 2 === 0 ? ch === '█' || ch === '▀' : ch === '█' || ch === '▄';
    };
    return Array.from({ length: size }, (_, y) => Array.from({ length: size }, (_, x) => !light(x + 4, y + 4)));
  }

  const decode = (file: string, image: Buffer) => {
    writeFileSync(file, image);
    return spawnSync('zbarimg', ['-q', '--raw', file], { encoding: 'utf8' }).stdout.trim();
  };

  it('draws the fixed patterns where the spec puts them, in the smallest version that holds the text', () => {
    const qr = encodeQr('WIFI:T:WPA;S:VHT-kit-07;P:k7mx-2pqr-w9ze-h4tc;;', 'M');
    expect(qr.version).toBe(4);
    expect(qr.size).toBe(33);
    const row = (y: number, x0: number, n: number) =>
      qr.modules[y]!.slice(x0, x0 + n)
        .map((d) => (d ? 1 : 0))
        .join('');
    expect(row(0, 0, 8)).toBe('11111110'); // finder + separator
    expect(row(2, 0, 7)).toBe('1011101');
    expect(row(6, 8, 17)).toBe('10101010101010101'); // timing
    expect(qr.modules[qr.size - 8]![8]).toBe(true); // the dark module
    expect(row(24, 24, 5)).toBe('11111'); // alignment pattern centred at (26, 26)
    expect(row(26, 24, 5)).toBe('10101');
    for (const ecc of ['L', 'M'] as const) {
      CAPACITY[ecc].forEach((cap, i) => {
        expect(encodeQr('x'.repeat(cap), ecc).version, `${ecc} ${cap} bytes`).toBe(i + 1);
        expect(encodeQr('x'.repeat(cap + 1), ecc).version, `${ecc} ${cap + 1} bytes`).toBe(i + 2);
      });
    }
  });

  const zbar = spawnSync('zbarimg', ['--version']).status === 0;
  it.skipIf(!zbar)('zbarimg (a real decoder) reads the modules, the SVG and the terminal rendering: versions 1–6, L and M, UTF-8', () => {
    const dir = tmp('vht-qr-');
    const texts = ['WIFI:T:WPA;S:K;P:12345678;;', 'WIFI:T:WPA;S:VHT-kit-07;P:k7mx-2pqr;;', 'WIFI:T:WPA;S:VHT-kit-07;P:k7mx-2pqr-w9ze-h4tc;;'];
    let n = 0;
    for (const ecc of ['L', 'M'] as const) {
      for (let v = 1; v <= 6; v++) {
        // Exactly the version's capacity: the smallest version that holds it is v.
        const text = texts[v % texts.length]!.repeat(4).slice(0, CAPACITY[ecc][v - 1]);
        const qr = encodeQr(text, ecc);
        expect(qr.version).toBe(v);
        const base = path.join(dir, `qr-${ecc}${v}`);
        expect(
          decode(
            `${base}-modules.pgm`,
            pgm((x, y) => qr.modules[y]![x]!, qr.size),
          ),
          `${ecc} v${v} modules`,
        ).toBe(text);
        const svg = svgModules(qrToSvg(qr), qr.size);
        expect(
          decode(
            `${base}-svg.pgm`,
            pgm((x, y) => svg[y]![x]!, qr.size),
          ),
          `${ecc} v${v} SVG`,
        ).toBe(text);
        const term = terminalModules(qrToTerminal(qr), qr.size);
        expect(
          decode(
            `${base}-term.pgm`,
            pgm((x, y) => term[y]![x]!, qr.size),
          ),
          `${ecc} v${v} terminal`,
        ).toBe(text);
        n++;
      }
    }
    expect(n).toBe(12);
    // A non-ASCII SSID goes in as its UTF-8 bytes (zbar's own charset guess is not UTF-8: read the raw bytes).
    const utf8 = 'WIFI:T:WPA;S:Gezin-kamer-é;P:k7mx-2pqr;;';
    const qr = encodeQr(utf8, 'M');
    const file = path.join(dir, 'qr-utf8.pgm');
    writeFileSync(
      file,
      pgm((x, y) => qr.modules[y]![x]!, qr.size),
    );
    const raw = spawnSync('zbarimg', ['-q', '--raw', '-Sbinary', file]).stdout;
    expect(Buffer.from(raw).toString('utf8').replace(/\n$/, '')).toBe(utf8);
  });

  it('renders for the terminal (two rows a line, quiet zone) and as a scalable SVG', () => {
    const qr = encodeQr('WIFI:T:WPA;S:x;P:12345678;;', 'M');
    const lines = qrToTerminal(qr).trimEnd().split('\n');
    expect(lines).toHaveLength(Math.ceil((qr.size + 8) / 2));
    expect(lines.every((l) => [...l].length === qr.size + 8)).toBe(true);
    const svg = qrToSvg(qr);
    expect(svg).toMatch(new RegExp(`^<svg [^>]*viewBox="0 0 ${qr.size + 8} ${qr.size + 8}"`));
    expect(svg).not.toMatch(/width="[0-9]+px"/);
    const dark = qr.modules.flat().filter(Boolean).length;
    expect(svg.match(/l1,0 0,1 -1,0 0,-1z/g)).toHaveLength(dark);
  });
});

// ------------------------------------------------------------------------------------- hotspot

describe('hotspot passphrase and join code', () => {
  it('makes a per-kit passphrase once (0600), kept on re-enrolment', () => {
    const dataDir = tmp('vht-hotspot-');
    const cfg = parseConfig({ kitId: 'kit-07', dataDir, hotspot: { enabled: true } });
    expect(hotspotInfo(cfg)).toBeNull(); // not enrolled yet
    const a = ensureHotspotSecret(cfg, dataDir);
    expect(a.passphrase).toMatch(/^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$/);
    expect(statSync(hotspotFile(dataDir)).mode & 0o777).toBe(0o600);
    expect(ensureHotspotSecret(cfg, dataDir).passphrase).toBe(a.passphrase);
    expect(ensureHotspotSecret(cfg, dataDir, { fresh: true }).passphrase).not.toBe(a.passphrase);
    expect(new Set(Array.from({ length: 50 }, makePassphrase)).size).toBe(50);
    const secret = readHotspotSecret(dataDir)!;
    expect(secret).toMatchObject({ ssid: 'VHT-kit-07', security: 'wpa2', interface: 'wlan0', enabled: true });

    const info = hotspotInfo(cfg)!;
    expect(info.ssid).toBe('VHT-kit-07');
    expect(info.qrSvg).toMatch(/^<svg /);
    expect(hotspotInfo({ ...cfg, hotspot: { ...cfg.hotspot, enabled: false } })).toBeNull();
    const term = hotspotTerminalQr(cfg);
    expect(term).toContain(`wachtwoord / passphrase: ${secret.passphrase}`);
    expect(term).toContain('█');
  });

  it('builds the WIFI: join text with escaping, and refuses an SSID a profile cannot carry', () => {
    expect(wifiQrText('VHT-kit-07', 'abcd-efgh')).toBe('WIFI:T:WPA;S:VHT-kit-07;P:abcd-efgh;;');
    expect(wifiQrText('a;b', 'p:q\\', 'wpa3')).toBe('WIFI:T:SAE;S:a\\;b;P:p\\:q\\\\;;');
    const dataDir = tmp('vht-hotspot-');
    expect(() => ensureHotspotSecret(parseConfig({ hotspot: { ssid: 'bad;ssid' } }), dataDir)).toThrow(/hotspot.ssid "bad;ssid"/);
  });
});

// ------------------------------------------------------------------------------- doctor, clock

describe('doctor: appliance checks on a fake /sys, /proc and fake commands', () => {
  /** A root with /proc/1/comm, thermal zones and mounts, and a PATH dir of fake commands. */
  function fakeMachine(opts: {
    pid1: string;
    tempMilli?: number;
    throttled?: string;
    rootOpts?: string;
    cec?: boolean;
    hotspotUp?: boolean;
    kitActive?: string;
    ntp?: 'yes' | 'no';
  }) {
    const root = tmp('vht-doctor-');
    const bin = path.join(root, 'fakebin');
    mkdirSync(path.join(root, 'proc/1'), { recursive: true });
    mkdirSync(bin, { recursive: true });
    writeFileSync(path.join(root, 'proc/1/comm'), `${opts.pid1}\n`);
    writeFileSync(path.join(root, 'proc/mounts'), `/dev/mmcblk0p2 / ext4 ${opts.rootOpts ?? 'rw,noatime'} 0 0\n/dev/mmcblk0p1 /boot/firmware vfat rw 0 0\n`);
    if (opts.tempMilli !== undefined) {
      mkdirSync(path.join(root, 'sys/class/thermal/thermal_zone0'), { recursive: true });
      writeFileSync(path.join(root, 'sys/class/thermal/thermal_zone0/temp'), `${opts.tempMilli}\n`);
      mkdirSync(path.join(root, 'sys/class/thermal/cooling_device0'), { recursive: true });
    }
    if (opts.cec) {
      mkdirSync(path.join(root, 'dev'), { recursive: true });
      writeFileSync(path.join(root, 'dev/cec0'), '');
    }
    const script = (name: string, body: string) => {
      writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`);
      chmodSync(path.join(bin, name), 0o755);
    };
    script(
      'systemctl',
      `case "$1" in is-active) printf '${opts.kitActive ?? 'active'}\\nactive\\n' ;; show) printf 'Type=notify\\nNotifyAccess=all\\nWatchdogUSec=20s\\n' ;; esac`,
    );
    script('nmcli', opts.hotspotUp ? `echo 'vht-kit-hotspot:wlan0:802-11-wireless'; echo 'lo:lo:loopback'` : `echo 'Wired connection 1:eth0:802-3-ethernet'`);
    script('cec-ctl', 'echo cec-ctl 1.22.1');
    script('timedatectl', `echo ${opts.ntp ?? 'yes'}`);
    if (opts.throttled) script('vcgencmd', `echo throttled=${opts.throttled}`);
    // Only the fake commands and the basics: the machine's own systemctl/nmcli stay out.
    const env = { ...process.env, PATH: `${bin}:/usr/bin:/bin` };
    return { root, env };
  }
  const cfg = (root: string, extra: Record<string, unknown> = {}) => parseConfig({ dataDir: '/var/lib/vht-kit', hotspot: { enabled: true }, ...extra });

  it('a healthy kit under systemd passes every appliance check', () => {
    const { root, env } = fakeMachine({ pid1: 'systemd', tempMilli: 52_300, throttled: '0x0', cec: true, hotspotUp: true });
    const config = cfg(root);
    mkdirSync(path.join(root, 'var/lib/vht-kit'), { recursive: true });
    ensureHotspotSecret(config, path.join(root, 'var/lib/vht-kit'));
    const checks = applianceChecks(config, realSystem({ root, env, now: () => Date.UTC(BUILD_YEAR, 10, 22) }));
    const by = Object.fromEntries(checks.map((c) => [c.name, c]));
    for (const c of checks) expect(c.ok, `${c.name}: ${c.detail}`).toBe(true);
    expect(by.services!.detail).toBe('vht-kit.service active, vht-kit-tv.service active');
    expect(by.watchdog!.detail).toMatch(/WatchdogSec 20s, NotifyAccess=all/);
    expect(by.hotspot!.detail).toMatch(/up on wlan0/);
    expect(by['HDMI-CEC']!.detail).toMatch(/\/dev\/cec0 present, cec-ctl installed/);
    expect(by.temperature!.detail).toBe('52.3 °C');
    expect(by.throttling!.detail).toBe('0x0: none');
    expect(by['SD card']!.detail).toMatch(/writable, SD card, \d+% free/);
    expect(by.clock!.detail).toMatch(/NTP synchronised: yes/);
  });

  it('names what is wrong: failed unit, hotspot down, hot, under-voltage, read-only card, clock in the past', () => {
    const { root, env } = fakeMachine({ pid1: 'systemd', tempMilli: 83_000, throttled: '0x50005', rootOpts: 'ro,noatime', kitActive: 'failed' });
    const checks = applianceChecks(cfg(root), realSystem({ root, env, now: () => Date.UTC(2021, 0, 1) }));
    const by = Object.fromEntries(checks.map((c) => [c.name, c]));
    expect(by.services).toMatchObject({ ok: false, detail: 'vht-kit.service failed, vht-kit-tv.service active' });
    expect(by.hotspot).toMatchObject({ ok: false, detail: 'no passphrase yet' });
    expect(by.temperature).toMatchObject({ ok: false, detail: '83.0 °C' });
    expect(by.throttling!.ok).toBe(false);
    expect(by.throttling!.detail).toBe('0x50005: under-voltage now, throttled now, under-voltage has occurred, throttling has occurred');
    expect(by.throttling!.fix).toMatch(/power supply/);
    expect(by['SD card']).toMatchObject({ ok: false });
    expect(by['SD card']!.detail).toMatch(/READ-ONLY/);
    expect(by.clock!.ok).toBe(false);
    expect(by.clock!.detail).toMatch(/2021-01-01T00:00:00.000Z, before 2026/);
    expect(by['HDMI-CEC']).toMatchObject({ ok: true, detail: '/dev/cec0 absent: off' });
  });

  it('a plausible year that NTP has not confirmed (fake-hwclock after boot) fails the clock check', () => {
    const { root, env } = fakeMachine({ pid1: 'systemd', ntp: 'no' });
    const checks = applianceChecks(cfg(root), realSystem({ root, env, now: () => Date.UTC(BUILD_YEAR, 10, 22) }));
    const clock = checks.find((c) => c.name === 'clock')!;
    expect(clock.ok).toBe(false);
    expect(clock.detail).toMatch(/NTP synchronised: no \(the time may be that of the last shutdown/);
    expect(clock.fix).toMatch(/NTP/);
  });

  it('outside systemd and off a Pi it says so instead of failing', () => {
    const { root, env } = fakeMachine({ pid1: 'process_api' });
    const checks = applianceChecks(
      cfg(root, { hotspot: { enabled: false }, cec: { mode: 'off' } }),
      realSystem({ root, env, now: () => Date.UTC(BUILD_YEAR, 5, 1) }),
    );
    const by = Object.fromEntries(checks.map((c) => [c.name, c]));
    expect(by.services).toMatchObject({ ok: true, detail: 'not under systemd (PID 1 is process_api): nothing to check' });
    expect(by.watchdog).toMatchObject({ ok: true, detail: 'not under systemd' });
    expect(by.throttling).toMatchObject({ ok: true, detail: 'no vcgencmd (not a Raspberry Pi)' });
    expect(by.temperature).toMatchObject({ ok: true, detail: 'no thermal sensor' });
    expect(by['HDMI-CEC']).toMatchObject({ ok: true, detail: 'off (cec.mode: off)' });
    expect(by.hotspot!.ok).toBe(true);
  });

  it('decodes every throttling bit', () => {
    expect(decodeThrottled(0xf000f)).toHaveLength(8);
    expect(decodeThrottled(0x20000)).toEqual(['ARM frequency capping has occurred']);
  });
});

describe('clock sanity (no RTC)', () => {
  it('a clock before the build year is named; a sane one passes', () => {
    expect(clockProblem(Date.UTC(BUILD_YEAR, 0, 1))).toBeNull();
    expect(clockProblem(0)).toMatch(/1970-01-01T00:00:00.000Z, before 2026 .*SigV4/);
    expect(clockProblem(Number.NaN)).toMatch(/NaN/);
  });

  it('an S3 upload is refused with CLOCK_SKEW before anything is signed or sent', async () => {
    const target = new S3Target({
      // Nothing listens here: a request would fail with NETWORK, not CLOCK_SKEW.
      endpoint: 'http://127.0.0.1:9',
      region: 'us-east-1',
      bucket: 'vht-office',
      accessKeyId: 'k',
      secretAccessKey: 's',
      clock: {
        now: () => Date.UTC(2020, 5, 1),
        monotonic: () => performance.now(),
        setTimeout: (fn, ms) => setTimeout(fn, ms),
        clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
      },
    });
    const err = await target.put('kit-07/x/seg-000001.age', new Uint8Array(4), { md5Hex: '00'.repeat(16) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncError);
    expect((err as SyncError).reason).toBe('CLOCK_SKEW');
    expect((err as SyncError).retryable).toBe(false);
    expect((err as SyncError).message).toMatch(/2020-06-01.*has not synchronised its time/);
    target.close();
  });
});

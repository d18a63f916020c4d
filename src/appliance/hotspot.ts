import { randomInt } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { AppError } from '../core/errors.js';
import { writeFileDurableSync } from '../store/durable.js';
import { encodeQr, qrToSvg, qrToTerminal } from './qr.js';

/**
 * The kit's own Wi-Fi (a NetworkManager access point, 10.42.0.1/24): its per-kit passphrase is made
 * at enrolment and kept in <dataDir>/hotspot.env (0600, the kit's user). The root helper
 * `vht-kit-hotspot` (systemd/network/) reads that file and writes the NetworkManager profile;
 * `vht-kit doctor --qr` and the TV page's idle screen show the join code.
 *
 * The file is KEY=VALUE lines, read by bash without evaluating it.
 */
export interface HotspotSecret {
  ssid: string;
  passphrase: string;
  security: 'wpa2' | 'wpa3';
  interface: string;
  enabled: boolean;
}

/** Lower-case letters and digits without look-alikes (0/o, 1/l/i): easy to type from the TV. */
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

/** A passphrase like "k7mx-2pqr-w9ze-h4tc" (16 random characters, about 79 bits). */
export function makePassphrase(): string {
  const groups: string[] = [];
  for (let g = 0; g < 4; g++) {
    let s = '';
    for (let i = 0; i < 4; i++) s += ALPHABET[randomInt(ALPHABET.length)];
    groups.push(s);
  }
  return groups.join('-');
}

export function hotspotFile(dataDir: string): string {
  return path.join(dataDir, 'hotspot.env');
}

/** SSID: hotspot.ssid, or VHT-<kitId>. Only characters that survive a NetworkManager keyfile and a QR code unescaped. */
export function hotspotSsid(config: Pick<Config, 'kitId' | 'hotspot'>): string {
  const ssid = config.hotspot.ssid ?? `VHT-${config.kitId}`;
  if (!/^[A-Za-z0-9 _.-]{1,32}$/.test(ssid)) {
    throw new AppError('VALIDATION', `hotspot.ssid ${JSON.stringify(ssid)}: 1 to 32 letters, digits, spaces, ".", "_" or "-"`, { field: 'hotspot.ssid' });
  }
  return ssid;
}

export function readHotspotSecret(dataDir: string): HotspotSecret | null {
  const file = hotspotFile(dataDir);
  if (!existsSync(file)) return null;
  const vars: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0 && !line.startsWith('#')) vars[line.slice(0, eq)] = line.slice(eq + 1);
  }
  if (!vars.SSID || !vars.PSK) return null;
  return {
    ssid: vars.SSID,
    passphrase: vars.PSK,
    security: vars.SECURITY === 'wpa3' ? 'wpa3' : 'wpa2',
    interface: vars.IFACE ?? 'wlan0',
    enabled: vars.ENABLED === 'yes',
  };
}

/**
 * At enrolment: makes the kit's passphrase once (a re-enrolment keeps it, so phones that joined
 * stay joined; `fresh` makes a new one) and writes SSID and settings from the config beside it.
 */
export function ensureHotspotSecret(config: Pick<Config, 'kitId' | 'hotspot'>, dataDir: string, opts: { fresh?: boolean } = {}): HotspotSecret {
  const old = readHotspotSecret(dataDir);
  const secret: HotspotSecret = {
    ssid: hotspotSsid(config),
    passphrase: old && !opts.fresh ? old.passphrase : makePassphrase(),
    security: config.hotspot.security,
    interface: config.hotspot.interface,
    enabled: config.hotspot.enabled,
  };
  const text = [
    '# VHT Kit hotspot (made by `vht-kit enrol`; read by vht-kit-hotspot). Keep private.',
    `SSID=${secret.ssid}`,
    `PSK=${secret.passphrase}`,
    `SECURITY=${secret.security}`,
    `IFACE=${secret.interface}`,
    `ENABLED=${secret.enabled ? 'yes' : 'no'}`,
    '',
  ].join('\n');
  writeFileDurableSync(hotspotFile(dataDir), text, 0o600);
  return secret;
}

/** Escapes ; , : \ and " for the WIFI: URI (ZXing's MECARD-like format). */
function wifiEscape(s: string): string {
  return s.replace(/([\\;,:"])/g, '\\$1');
}

/** The Wi-Fi join text phones understand: WIFI:T:WPA;S:<ssid>;P:<pass>;; (T:SAE for WPA3-only). */
export function wifiQrText(ssid: string, passphrase: string, security: 'wpa2' | 'wpa3' = 'wpa2'): string {
  return `WIFI:T:${security === 'wpa3' ? 'SAE' : 'WPA'};S:${wifiEscape(ssid)};P:${wifiEscape(passphrase)};;`;
}

/**
 * For the TV page's idle screen: the SSID and the join code as SVG, or null when the hotspot is off
 * or the kit has no passphrase yet (not enrolled).
 */
export function hotspotInfo(config: Pick<Config, 'kitId' | 'hotspot' | 'dataDir'>): { ssid: string; qrSvg: string } | null {
  if (!config.hotspot.enabled) return null;
  const secret = readHotspotSecret(config.dataDir);
  if (!secret) return null;
  return { ssid: secret.ssid, qrSvg: qrToSvg(encodeQr(wifiQrText(secret.ssid, secret.passphrase, secret.security), 'M')) };
}

/** For `vht-kit doctor --qr`: the join code drawn in the terminal, with the SSID and passphrase. */
export function hotspotTerminalQr(config: Pick<Config, 'kitId' | 'hotspot' | 'dataDir'>): string {
  const secret = readHotspotSecret(config.dataDir);
  if (!secret) {
    throw new AppError('NOT_CONFIGURED', `no hotspot passphrase in ${hotspotFile(config.dataDir)}: enrol the kit first (vht-kit enrol)`);
  }
  const qr = encodeQr(wifiQrText(secret.ssid, secret.passphrase, secret.security), 'M');
  return `${qrToTerminal(qr)}Wi-Fi: ${secret.ssid}\nwachtwoord / passphrase: ${secret.passphrase}\n${config.hotspot.enabled ? '' : '(hotspot.enabled is false: the kit does not open this network)\n'}`;
}

import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { AppError } from '../core/errors.js';

const run = promisify(execFile);

/** The address NetworkManager gives the kit on its own hotspot (ipv4.method shared). */
export const HOTSPOT_ADDRESS = '10.42.0.1';
/** About five years: a kit's life between re-enrolments. */
export const CERT_DAYS = 5 * 365 + 1;

export interface TlsFiles {
  cert: string;
  key: string;
}

/** Where the kit's certificate and key live: the config's http.certFile/keyFile, else <dataDir>/tls/kit.{crt,key}. */
export function tlsFiles(dataDir: string, http: { certFile: string | null; keyFile: string | null }): TlsFiles {
  return {
    cert: http.certFile ?? path.join(dataDir, 'tls', 'kit.crt'),
    key: http.keyFile ?? path.join(dataDir, 'tls', 'kit.key'),
  };
}

async function openssl(args: string[], what: string): Promise<string> {
  try {
    const { stdout } = await run('openssl', args, { timeout: 30_000, maxBuffer: 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { code?: string; stderr?: string; message?: string };
    if (e.code === 'ENOENT') throw new AppError('NOT_CONFIGURED', 'the openssl command is missing: install it (apt-get install openssl)');
    throw new AppError('VALIDATION', `${what}: openssl refused it: ${(e.stderr ?? e.message ?? '').trim().split('\n')[0]}`);
  }
}

/** The names a kit's certificate covers: <kitId>.local, the host name (and its .local), the hotspot address, loopback. */
export function kitNames(kitId: string, hostname: string = os.hostname()): { dns: string[]; ip: string[] } {
  const host = hostname.toLowerCase();
  const dns = [...new Set([`${kitId.toLowerCase()}.local`, host, `${host}.local`, 'localhost'])];
  return { dns, ip: [HOTSPOT_ADDRESS, '127.0.0.1'] };
}

/** Moves freshly written files into place: key 0600, certificate 0644, directory 0700. */
function install(tmpDir: string, dest: TlsFiles): void {
  mkdirSync(path.dirname(dest.cert), { recursive: true, mode: 0o700 });
  mkdirSync(path.dirname(dest.key), { recursive: true, mode: 0o700 });
  chmodSync(path.join(tmpDir, 'kit.key'), 0o600);
  chmodSync(path.join(tmpDir, 'kit.crt'), 0o644);
  renameSync(path.join(tmpDir, 'kit.key'), dest.key);
  renameSync(path.join(tmpDir, 'kit.crt'), dest.cert);
}

/**
 * Makes the kit's own certificate with the openssl CLI: EC P-256, self-signed, ~5 years, with
 * subjectAltName = <kitId>.local, the host name, 10.42.0.1 and 127.0.0.1. The key never leaves the
 * kit; a phone trusts the certificate once (or the organisation gives its own, see installCertificate).
 */
export async function makeKitCertificate(dest: TlsFiles, kitId: string, hostname?: string): Promise<TlsFiles> {
  const names = kitNames(kitId, hostname);
  const san = [...names.dns.map((d) => `DNS:${d}`), ...names.ip.map((i) => `IP:${i}`)].join(',');
  mkdirSync(path.dirname(dest.key), { recursive: true, mode: 0o700 });
  // The temporary directory is beside the destination (same file system, so rename is atomic).
  const tmp = mkdtempSync(path.join(path.dirname(dest.key), '.tls-'));
  try {
    await openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        path.join(tmp, 'kit.key'),
        '-out',
        path.join(tmp, 'kit.crt'),
        '-days',
        String(CERT_DAYS),
        '-subj',
        `/O=VHT Kit/CN=${kitId.toLowerCase()}.local`,
        '-addext',
        `subjectAltName=${san}`,
        '-addext',
        'basicConstraints=critical,CA:FALSE',
        '-addext',
        'keyUsage=critical,digitalSignature',
        '-addext',
        'extendedKeyUsage=serverAuth',
      ],
      'making the kit certificate',
    );
    install(tmp, dest);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dest;
}

/** The subjectAltName entries and the end date of a certificate file. */
export async function certificateInfo(certFile: string): Promise<{ sans: string[]; notAfter: Date; selfSigned: boolean }> {
  const text = await openssl(['x509', '-in', certFile, '-noout', '-enddate', '-subject', '-issuer', '-ext', 'subjectAltName'], `--tls-cert ${certFile}`);
  const subject = /^subject=(.*)$/m.exec(text)?.[1]?.trim();
  const issuer = /^issuer=(.*)$/m.exec(text)?.[1]?.trim();
  const end = /notAfter=(.+)/.exec(text)?.[1]?.trim() ?? '';
  const sanLine = text.split('\n').find((l) => /DNS:|IP Address:/.test(l)) ?? '';
  const sans = sanLine
    .split(',')
    .map((s) => s.trim().replace(/^IP Address:/, 'IP:'))
    .filter(Boolean);
  return { sans, notAfter: new Date(end), selfSigned: subject !== undefined && subject === issuer };
}

/**
 * Installs the organisation's certificate and key (signed by its own CA) as the kit's: checks that
 * they belong together and the certificate has not expired, then copies them in (key 0600).
 */
export async function installCertificate(dest: TlsFiles, certSrc: string, keySrc: string): Promise<TlsFiles> {
  await checkCertificatePair(certSrc, keySrc);
  mkdirSync(path.dirname(dest.key), { recursive: true, mode: 0o700 });
  const tmp = mkdtempSync(path.join(path.dirname(dest.key), '.tls-'));
  try {
    copyFileSync(certSrc, path.join(tmp, 'kit.crt'));
    copyFileSync(keySrc, path.join(tmp, 'kit.key'));
    install(tmp, dest);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dest;
}

/** Checks that a certificate and key (the organisation's, for --tls-cert/--tls-key) belong together and are valid today. */
export async function checkCertificatePair(certSrc: string, keySrc: string): Promise<void> {
  for (const [flag, f] of [
    ['--tls-cert', certSrc],
    ['--tls-key', keySrc],
  ] as const) {
    if (!existsSync(f)) throw new AppError('VALIDATION', `${flag}: no file ${f}`, { field: flag });
  }
  const certPub = await openssl(['x509', '-in', certSrc, '-noout', '-pubkey'], `--tls-cert ${certSrc}`);
  const keyPub = await openssl(['pkey', '-in', keySrc, '-pubout'], `--tls-key ${keySrc}`);
  if (certPub.trim() !== keyPub.trim()) {
    throw new AppError('VALIDATION', `--tls-key: ${keySrc} is not the key of the certificate ${certSrc}`, { field: '--tls-key' });
  }
  const info = await certificateInfo(certSrc);
  if (!(info.notAfter.getTime() > Date.now())) {
    throw new AppError('VALIDATION', `--tls-cert: ${certSrc} expired on ${info.notAfter.toISOString()}`, { field: '--tls-cert' });
  }
}

/**
 * At enrolment: the organisation's certificate when given, else the one in place — an
 * organisation's is kept; the kit's own is kept while it still names this kit and has a month left
 * (phones that trust it keep trusting it) — else a new one of the kit's own.
 */
export async function ensureKitCertificate(
  dest: TlsFiles,
  kitId: string,
  given: { cert?: string; key?: string } = {},
  hostname?: string,
): Promise<{ files: TlsFiles; action: 'copied' | 'kept' | 'made' }> {
  if (given.cert !== undefined || given.key !== undefined) {
    if (given.cert === undefined) throw new AppError('VALIDATION', '--tls-cert is needed with --tls-key', { field: '--tls-cert' });
    if (given.key === undefined) throw new AppError('VALIDATION', '--tls-key is needed with --tls-cert', { field: '--tls-key' });
    return { files: await installCertificate(dest, given.cert, given.key), action: 'copied' };
  }
  if (existsSync(dest.cert) && existsSync(dest.key)) {
    const info = await certificateInfo(dest.cert).catch(() => null);
    // The organisation's certificate stays until it gives a new one (--tls-cert/--tls-key).
    if (info !== null && !info.selfSigned) return { files: dest, action: 'kept' };
    const ok = info !== null && info.sans.includes(`DNS:${kitId.toLowerCase()}.local`) && info.notAfter.getTime() > Date.now() + 30 * 86_400_000;
    if (ok) return { files: dest, action: 'kept' };
  }
  return { files: await makeKitCertificate(dest, kitId, hostname), action: 'made' };
}

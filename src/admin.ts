import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { parseConfig } from './config/load.js';
import { AppError } from './core/errors.js';
import { createLogger, type Logger } from './core/logger.js';
import { Catalogue } from './store/catalogue.js';
import { generateIdentity } from './store/crypto.js';
import { writeFileDurableSync } from './store/durable.js';
import { checkNewPin, identityFileText, KeyStore } from './store/keys.js';
import { ensureHotspotSecret } from './appliance/hotspot.js';
import { clearPinLockout } from './web/pin-lockout.js';
import { checkCertificatePair, ensureKitCertificate, tlsFiles } from './web/tls.js';

/** `vht-kit keygen --out FILE`: the organisation's identity, made at the office. Returns the recipient. */
export async function keygen(out: string): Promise<string> {
  if (existsSync(out)) throw new AppError('CONFLICT', `${out} exists already; choose another --out (an identity is never overwritten)`, { field: '--out' });
  const { identity, recipient } = await generateIdentity();
  writeFileDurableSync(path.resolve(out), identityFileText(identity, recipient, 'VHT Kit organisation identity: keep it at the office, never on a kit'), 0o600);
  return recipient;
}

export interface EnrolArgs {
  configFile: string;
  orgRecipient: string;
  kitId: string;
  trainerPin: string;
  currentPin?: string;
  /** Sync settings (the config's `sync` section, merged). */
  sync?: Record<string, unknown>;
  /** The organisation's certificate and key for the kit's HTTPS (else the kit makes its own). */
  tlsCert?: string;
  tlsKey?: string;
}

/**
 * `vht-kit enrol`: writes the kit's config (organisation recipient, kit id) and makes the master
 * key sealed by the trainer PIN. On a kit that has a master already, the current PIN (or the same
 * PIN) must open it; the master is kept, so existing clips stay playable. A wrong PIN changes
 * nothing, the config file included.
 */
export async function enrol(args: EnrolArgs, logger: Logger): Promise<{ dataDir: string; reenrolled: boolean; tls: { cert: string; action: string } }> {
  // A kit enrolled before PINs of 6 digits keeps its PIN until it is changed (re-enrolment with the same PIN).
  for (const [flag, pin] of [
    ['--trainer-pin', args.trainerPin],
    ['--current-pin', args.currentPin],
  ] as const) {
    if (pin !== undefined && !/^[0-9]{4,12}$/.test(pin))
      throw new AppError('VALIDATION', `${flag}: 4 to 12 digits (got ${pin.length} characters)`, { field: flag });
  }
  const doc = existsSync(args.configFile) ? ((YAML.parse(readFileSync(args.configFile, 'utf8')) as Record<string, unknown> | null) ?? {}) : {};
  doc.kitId = args.kitId;
  const keys = (typeof doc.keys === 'object' && doc.keys !== null ? doc.keys : {}) as Record<string, unknown>;
  keys.orgRecipient = args.orgRecipient;
  doc.keys = keys;
  if (args.sync && Object.keys(args.sync).length) {
    const cur = (typeof doc.sync === 'object' && doc.sync !== null ? doc.sync : {}) as Record<string, unknown>;
    for (const [k, v] of Object.entries(args.sync)) {
      cur[k] = typeof v === 'object' && v !== null && typeof cur[k] === 'object' && cur[k] !== null ? { ...cur[k], ...v } : v;
    }
    doc.sync = cur;
  }
  // The PIN lives only in the sealed master from now on.
  if (typeof doc.auth === 'object' && doc.auth !== null) delete (doc.auth as Record<string, unknown>).pin;
  const config = parseConfig(doc); // names a bad value before anything is written
  const dataDir = process.env.VHT_KIT_DATA_DIR
    ? path.resolve(process.env.VHT_KIT_DATA_DIR)
    : path.resolve(path.dirname(path.resolve(args.configFile)), config.dataDir);
  if (args.tlsCert !== undefined || args.tlsKey !== undefined) {
    if (args.tlsCert === undefined || args.tlsKey === undefined) {
      const missing = args.tlsCert === undefined ? '--tls-cert' : '--tls-key';
      throw new AppError('VALIDATION', `${missing}: give both --tls-cert and --tls-key (the organisation's certificate and its key)`, { field: missing });
    }
    await checkCertificatePair(args.tlsCert, args.tlsKey); // before anything changes
  }
  const existing = new KeyStore({ dataDir, orgRecipient: args.orgRecipient, allowDemoOrg: false, logger });
  // A first enrolment seals the key right after loading the store: the store's "no PIN yet" warning
  // at that load is not for the person enrolling (errors still show).
  const store = existing.hasMaster
    ? existing
    : new KeyStore({ dataDir, orgRecipient: args.orgRecipient, allowDemoOrg: false, logger: createLogger({ level: 'error' }) });
  let reenrolled = false;
  if (store.hasMaster) {
    reenrolled = true;
    const current = args.currentPin ?? args.trainerPin;
    if (!(await store.verifyPin(current))) {
      throw new AppError(
        'UNAUTHORIZED',
        args.currentPin
          ? "the current PIN (--current-pin) does not open this kit's key; nothing was changed"
          : 'this kit has a key already: give its PIN with --current-pin to re-enrol; nothing was changed',
        { field: '--current-pin' },
      );
    }
    if (current !== args.trainerPin) await store.changePin(current, checkNewPin(args.trainerPin, '--trainer-pin'));
    clearPinLockout(dataDir);
  } else {
    checkNewPin(args.trainerPin, '--trainer-pin');
    await store.start(null);
    await store.createMaster(args.trainerPin);
  }
  // The web server's certificate: the organisation's, else the kit's own (kept across re-enrolment).
  const tls = await ensureKitCertificate(tlsFiles(dataDir, config.http), config.kitId, {
    ...(args.tlsCert !== undefined ? { cert: args.tlsCert } : {}),
    ...(args.tlsKey !== undefined ? { key: args.tlsKey } : {}),
  });
  writeFileDurableSync(path.resolve(args.configFile), YAML.stringify(doc));
  // The kit's own Wi-Fi passphrase: made once per kit, kept on re-enrolment (`vht-kit doctor --qr`).
  ensureHotspotSecret(config, dataDir);
  return { dataDir, reenrolled, tls: { cert: tls.files.cert, action: tls.action } };
}

/** `vht-kit pin --current X --new Y`. */
export async function changePin(dataDir: string, current: string, next: string, logger: Logger): Promise<void> {
  const store = new KeyStore({ dataDir, orgRecipient: null, allowDemoOrg: false, logger });
  if (!store.hasMaster) throw new AppError('NOT_CONFIGURED', `no kit key in ${dataDir}: enrol the kit first (vht-kit enrol)`);
  checkNewPin(next, '--new');
  if (!(await store.changePin(current, next))) throw new AppError('UNAUTHORIZED', 'the current PIN is wrong; nothing was changed', { field: '--current' });
  clearPinLockout(dataDir);
}

/** `vht-kit audit verify`. */
export function verifyAudit(dataDir: string): ReturnType<Catalogue['verifyAudit']> {
  const file = path.join(dataDir, 'catalogue.db');
  if (!existsSync(file)) throw new AppError('NOT_FOUND', `no catalogue at ${file}`);
  const catalogue = new Catalogue(file);
  try {
    return catalogue.verifyAudit();
  } finally {
    catalogue.close();
  }
}

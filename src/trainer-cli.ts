import path from 'node:path';
import { loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { systemClock } from './core/clock.js';
import type { CliCommand } from './core/command.js';
import { AppError } from './core/errors.js';
import { createLogger, type Logger } from './core/logger.js';
import { Catalogue } from './store/catalogue.js';
import { recipientOf } from './store/crypto.js';
import { DirLock } from './store/dir-lock.js';
import { readCaseTagKey } from './office/tag-key.js';
import { CASE_TAG_SECRET } from './session/case-tags.js';
import { checkNewPin, checkTrainerId, KeyStore } from './store/keys.js';
import { readIdentities } from './sync/export.js';
import { PinLockout, pinLockoutFile } from './web/pin-lockout.js';

/**
 * Who authorises a change of a kit's trainers (issue 20; docs/security.md "Who may add whom"):
 * the organisation's identity file (the office, at the dock; read into RAM, never stored on the
 * kit) whose recipient is the kit's `keys.orgRecipient`, or an existing trainer of the kit with
 * their PIN (counted in the kit's PIN lock-out). A kit with no trainer yet needs neither (as enrol).
 */
export interface TrainerAuth {
  orgIdentityFile?: string;
  authTrainer?: string;
  authPin?: string;
}

export interface TrainerListing {
  trainerId: string;
  holder: boolean;
  pendingRotation: boolean;
  inboxRecipient: string | null;
}

/** The kit's key store and catalogue, with the data dir locked (the service must be stopped). */
async function openKit<T>(config: Config, logger: Logger, fn: (keys: KeyStore, catalogue: Catalogue) => Promise<T>): Promise<T> {
  const lock = DirLock.acquire(path.join(config.dataDir, 'kit.lock'), 'dataDir', config.dataDir, 'the config');
  const catalogue = new Catalogue(path.join(config.dataDir, 'catalogue.db'));
  try {
    const keys = new KeyStore({ dataDir: config.dataDir, orgRecipient: config.keys.orgRecipient, allowDemoOrg: false, logger });
    await keys.start(null);
    return await fn(keys, catalogue);
  } finally {
    catalogue.close();
    lock.release();
  }
}

/** Throws unless `auth` is the office (organisation identity) or an existing trainer with their PIN; returns who authorised. */
async function authorise(config: Config, keys: KeyStore, auth: TrainerAuth, logger: Logger): Promise<string> {
  if (keys.trainerIds().length === 0) return 'first-trainer';
  if (auth.orgIdentityFile !== undefined) {
    const org = config.keys.orgRecipient;
    const given = await Promise.all(readIdentities(auth.orgIdentityFile).map((i) => recipientOf(i)));
    if (org === null || !given.includes(org)) {
      throw new AppError('FORBIDDEN', `--org-identity ${JSON.stringify(auth.orgIdentityFile)} is not the organisation of this kit (keys.orgRecipient)`, {
        field: '--org-identity',
      });
    }
    return 'office';
  }
  if (auth.authTrainer !== undefined && auth.authPin !== undefined) {
    const t = checkTrainerId(auth.authTrainer, '--auth-trainer');
    const lockout = new PinLockout({ clock: systemClock, file: pinLockoutFile(config.dataDir), logger });
    const { ok } = await lockout.attempt(() => keys.verifyPin(auth.authPin!, t), t);
    if (!ok) throw new AppError('UNAUTHORIZED', `--auth-pin: not the PIN of trainer ${t} on this kit; nothing was changed`, { field: '--auth-pin' });
    return t;
  }
  throw new AppError(
    'FORBIDDEN',
    'changing trainers needs the office: --org-identity FILE (the organisation identity), or an existing trainer: --auth-trainer T-… --auth-pin PIN',
    { field: '--org-identity' },
  );
}

/** `vht-kit trainer add T-017 --pin …`: a new trainer with their own wrapping and inbox keys; returns the inbox recipient for the directory. */
export async function addTrainer(
  config: Config,
  trainerId: string,
  pin: string,
  auth: TrainerAuth,
  logger: Logger,
  opts: { caseTagKeyFile?: string } = {},
): Promise<{ inboxRecipient: string; caseTagKey: 'wrapped' | 'at-next-sign-in' | 'none' }> {
  checkTrainerId(trainerId, 'trainer id');
  checkNewPin(pin, '--pin');
  // read (and checked) before anything changes: a bad file leaves the kit as it was
  const caseTagKey = opts.caseTagKeyFile !== undefined ? readCaseTagKey(opts.caseTagKeyFile) : null;
  return openKit(config, logger, async (keys, catalogue) => {
    const by = await authorise(config, keys, auth, logger);
    const holds = keys.hasOrgSecret(CASE_TAG_SECRET);
    // the same key as the kit's, or none yet: checked before the trainer is added
    if (caseTagKey && holds) await keys.storeOrgSecret(CASE_TAG_SECRET, Buffer.from(caseTagKey).toString('hex'));
    await keys.addTrainer(trainerId, pin);
    // the organisation's case-tag key, wrapped to the new trainer too (otherwise at the next sign-in of a trainer who holds it)
    if (caseTagKey) await keys.storeOrgSecret(CASE_TAG_SECRET, Buffer.from(caseTagKey).toString('hex'));
    catalogue.audit('trainer.added', systemClock.now(), null, { trainer: trainerId, by });
    return { inboxRecipient: keys.inboxRecipient(trainerId)!, caseTagKey: caseTagKey ? 'wrapped' : holds ? 'at-next-sign-in' : 'none' };
  });
}

/**
 * `vht-kit trainer remove T-017`: their sealed keys and their wraps go (no PIN of theirs needed),
 * content keys only they held are destroyed, and they leave the kit's cases; what is left on the
 * kit plus their old PIN opens nothing.
 */
export async function removeTrainer(config: Config, trainerId: string, auth: TrainerAuth, logger: Logger): Promise<{ destroyed: number }> {
  checkTrainerId(trainerId, 'trainer id');
  return openKit(config, logger, async (keys, catalogue) => {
    const by = await authorise(config, keys, auth, logger);
    const { destroyed } = await keys.removeTrainer(trainerId);
    const now = systemClock.now();
    for (const code of catalogue.casesOfTrainer(trainerId))
      catalogue.setCaseTrainers(
        code,
        catalogue.caseTrainers(code).filter((t) => t !== trainerId),
        now,
      );
    catalogue.audit('trainer.removed', now, null, { trainer: trainerId, by, contentKeysDestroyed: destroyed.length });
    return { destroyed: destroyed.length };
  });
}

/** `vht-kit trainer list`: the trainer ids on the kit (pseudonymous), who holds it, pending erasures. */
export async function listTrainers(config: Config, logger: Logger): Promise<TrainerListing[]> {
  return openKit(config, logger, async (keys) => {
    const pending = new Set(keys.pendingRotations());
    const holder = keys.holder();
    return keys.trainerIds().map((t) => ({ trainerId: t, holder: t === holder, pendingRotation: pending.has(t), inboxRecipient: keys.inboxRecipient(t) }));
  });
}

/** Runs `vht-kit trainer add|remove|list` with the words after `trainer` and the parsed options. */
export async function trainerCommand(config: Config, args: string[], values: Record<string, string | boolean | undefined>, logger: Logger): Promise<void> {
  const [sub, id] = args;
  const str = (k: string) => (typeof values[k] === 'string' ? values[k] : undefined);
  const auth: TrainerAuth = {};
  if (str('org-identity') !== undefined) auth.orgIdentityFile = str('org-identity')!;
  if (str('auth-trainer') !== undefined) auth.authTrainer = str('auth-trainer')!;
  if (str('auth-pin') !== undefined) auth.authPin = str('auth-pin')!;
  if (sub === 'list') {
    for (const t of await listTrainers(config, logger))
      process.stdout.write(`${t.trainerId}${t.holder ? ' (holder)' : ''}${t.pendingRotation ? ' (erasure pending)' : ''} inbox=${t.inboxRecipient ?? '-'}\n`);
    return;
  }
  if ((sub !== 'add' && sub !== 'remove') || id === undefined) {
    throw new AppError('VALIDATION', `usage: vht-kit trainer add T-017 --pin PIN | remove T-017 | list (got ${JSON.stringify(args.join(' '))})`, {
      field: 'trainer',
    });
  }
  if (sub === 'add') {
    const pin = str('pin');
    if (pin === undefined) throw new AppError('VALIDATION', '--pin: the new trainer PIN (6 to 12 digits) is missing', { field: '--pin' });
    const r = await addTrainer(config, id, pin, auth, logger, str('case-tag-key') !== undefined ? { caseTagKeyFile: str('case-tag-key')! } : {});
    process.stdout.write(`${JSON.stringify({ kitId: config.kitId, trainerId: id, inboxRecipient: r.inboxRecipient, caseTagKey: r.caseTagKey })}\n`);
    if (r.caseTagKey === 'at-next-sign-in')
      process.stderr.write(
        `note: ${id} gets the organisation's case-tag key when a trainer who holds it signs in on this kit; until then ${id}'s new cases wait for their tag. Give it now with --case-tag-key org.key.case-tag.\n`,
      );
    return;
  }
  const r = await removeTrainer(config, id, auth, logger);
  process.stdout.write(`removed ${id}: ${r.destroyed} content keys only they held were destroyed\n`);
}

/** The `vht-kit trainer` entry of the CLI's command table (src/cli.ts). */
export const TRAINER_COMMAND: CliCommand = {
  name: 'trainer',
  usage: 'trainer add T-017 --pin 123456 (--org-identity org.key | --auth-trainer T-001 --auth-pin …) | remove T-017 (same) | list',
  summary: "add or remove a trainer of this kit (their own PIN and keys), or list the kit's trainer ids",
  details: `--org-identity FILE  the organisation identity (the office; read into RAM, never stored on the kit)
--auth-trainer T-… --auth-pin PIN  an existing trainer of the kit instead (counted in the PIN lock-out)
--case-tag-key FILE  add: the organisation's case-tag key (org.key.case-tag), wrapped to the new trainer at once
  (it must be the key the kit holds; without it the trainer gets it at the next sign-in of a trainer who holds it)
A kit with no trainer yet needs neither. Stop the kit first (the data dir is locked). See docs/security.md.`,
  options: {
    pin: { type: 'string' },
    'org-identity': { type: 'string' },
    'auth-trainer': { type: 'string' },
    'auth-pin': { type: 'string' },
    'case-tag-key': { type: 'string' },
  },
  run: ({ positionals, values }) => trainerCommand(loadConfig().config, positionals, values, createLogger({ level: 'warn' })),
};

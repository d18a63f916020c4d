import { parseArgs } from 'node:util';
import { systemClock, type Clock } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import { s3SettingsFromEnv } from '../store/bucket-store.js';
import { recipientOf } from '../store/crypto.js';
import { caseTag, CASE_TAG_PATTERN, ERASURE_SCOPES, type ErasureScope } from '../store/objects.js';
import { readIdentityFile } from '../store/identity-file.js';
import { OfficeAudit } from './audit.js';
import { caseInventory, eraseCase, type CaseInventory } from './cases.js';
import { DEFAULT_THRESHOLDS, fleet, retentionDue, type FleetKit } from './fleet.js';
import { parseTrainerList, putEntryFile, readEntry, setCaseTrainers } from './directory.js';
import { checkInbox } from './inbox.js';
import { locationsFrom, OfficeLayout } from './layout.js';
import { progressBar, NO_PROGRESS, type Progress } from './progress.js';
import { readCaseTagKey } from './tag-key.js';

export const OFFICE_USAGE = `vht-kit office — the organisation's side over its object store

  vht-kit office kits [--stale-days 14] [--waiting-days 7] [--min-free-mb 2048] [--min-version V]
  vht-kit office case CODE | --tag TAG [--every-kit]
  vht-kit office erase CODE | --tag TAG [--scope all|recording|review|supervision|training]
  vht-kit office retention --period-days N [--apply]
  vht-kit office audit verify [--full] | list
  vht-kit office index check | rebuild
  vht-kit office directory show KIT | put KIT --file entry.json | case CODE|--tag TAG --trainers T-017,T-018

Every command: --identity org.key (VHT_OFFICE_IDENTITY), --kits s3://vht-org-kits | 's3://vht-org-kit-*' | DIR
(VHT_OFFICE_KITS), --office s3://vht-org-office | DIR (VHT_OFFICE_BUCKET), --private s3://vht-org-office-private | DIR
(VHT_OFFICE_PRIVATE), --inbox s3://vht-org-office-inbox | DIR (VHT_OFFICE_INBOX: the case inbox; without it
\`case\` lists every kit bucket), --operator ID (VHT_OPERATOR; recorded in the office audit), --json, --concurrency N.
case/erase by CODE: --case-tag-key org.key.case-tag (VHT_OFFICE_CASE_TAG_KEY). S3 credentials: AWS_* variables.
`;

export interface OfficeIo {
  env: NodeJS.ProcessEnv;
  out: { write(s: string): unknown };
  err: { write(s: string): unknown; isTTY?: boolean };
  clock?: Clock;
}

const OPTIONS = {
  identity: { type: 'string' },
  kits: { type: 'string' },
  office: { type: 'string' },
  private: { type: 'string' },
  inbox: { type: 'string' },
  'every-kit': { type: 'boolean' },
  full: { type: 'boolean' },
  operator: { type: 'string' },
  'case-tag-key': { type: 'string' },
  tag: { type: 'string' },
  scope: { type: 'string' },
  json: { type: 'boolean' },
  apply: { type: 'boolean' },
  concurrency: { type: 'string' },
  'stale-days': { type: 'string' },
  'waiting-days': { type: 'string' },
  'min-free-mb': { type: 'string' },
  'min-version': { type: 'string' },
  'period-days': { type: 'string' },
  file: { type: 'string' },
  trainers: { type: 'string' },
} as const;

function num(values: Record<string, unknown>, name: string, fallback: number): number {
  const v = values[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isFinite(n) || n < 0)
    throw new AppError('VALIDATION', `--${name} ${JSON.stringify(v)} must be a number ≥ 0`, { field: `--${name}` });
  return n;
}

function day(ms: number | null | undefined): string {
  return typeof ms === 'number' ? new Date(ms).toISOString().slice(0, 10) : '—';
}

function fleetLine(k: FleetKit): string {
  const s = k.status;
  if (!s) return `${k.kitId}\t${k.error ? 'status unreadable' : 'no status yet'}\t${k.flags.join(',')}`;
  const free = s.storage ? `${(s.storage.usableBytes / 1e9).toFixed(1)} GB free` : 'free ?';
  return [
    k.kitId,
    `seen ${day(s.at)} (${k.daysSinceSeen} d)`,
    `v${s.version}`,
    `waiting ${s.waitingForUpload} + ${s.waitingForCase} without case`,
    free,
    `trainers ${s.trainerIds.join(',') || '—'}`,
    k.flags.length ? `FLAGS ${k.flags.join(',')}` : 'ok',
  ].join('\t');
}

function inventoryText(inv: CaseInventory, code: string | null): string {
  const lines = [
    `case ${code ?? inv.caseTag} (tag ${inv.caseTag}): ${inv.items.length} item(s) on ${inv.kits.length} kit(s), ${inv.visits.length} visit(s), trainers ${inv.trainerIds.join(',') || '—'}` +
      ` (found through ${inv.source === 'inbox' ? 'the case inbox' : 'every kit bucket'}${inv.inboxMissed.length ? `; the inbox missed ${inv.inboxMissed.join(',')}` : ''})`,
    `consent (narrowest): ${
      inv.consent
        ? Object.entries(inv.consent)
            .map(([k, v]) => `${k} ${v ? 'yes' : 'no'}`)
            .join(', ')
        : '—'
    }`,
  ];
  for (const i of inv.items) {
    lines.push(
      `  ${i.kitId}\t${i.kind} ${i.id}\t${day(i.createdAt)}\t${(i.durationMs / 1000).toFixed(0)} s\tvisit ${i.visitUid ?? '—'}\t${i.purposes.join(',')}\t${i.trainerIds.join(',')}`,
    );
  }
  for (const p of inv.problems) lines.push(`  PROBLEM ${p}`);
  return `${lines.join('\n')}\n`;
}

/** `vht-kit office …`: parses its own options (cli.ts dispatches `office` here). */
export async function runOffice(argv: string[], io: OfficeIo): Promise<void> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  const cmd = positionals[0] ?? 'help';
  if (cmd === 'help' || cmd === '--help') {
    io.out.write(OFFICE_USAGE);
    return;
  }
  if (!['kits', 'case', 'erase', 'retention', 'audit', 'index', 'directory'].includes(cmd))
    throw new AppError('VALIDATION', `unknown office command ${JSON.stringify(cmd)} (kits, case, erase, retention, audit, index, directory)`, {
      field: 'command',
    });
  const env = io.env;
  const clock = io.clock ?? systemClock;
  const identityFile = values.identity ?? env.VHT_OFFICE_IDENTITY;
  if (!identityFile)
    throw new AppError(
      'VALIDATION',
      '--identity (or VHT_OFFICE_IDENTITY) is required: the organisation identity decrypts statuses, index entries and the audit',
      { field: '--identity' },
    );
  const identities = readIdentityFile(identityFile);
  const recipient = await recipientOf(identities[0]!);
  const operator = values.operator ?? env.VHT_OPERATOR ?? '';
  if (!operator) throw new AppError('VALIDATION', '--operator (or VHT_OPERATOR) is required: the office audit records who acted', { field: '--operator' });
  const concurrency = Math.max(1, Math.floor(num(values, 'concurrency', 32)));
  const progress = values.json ? NO_PROGRESS : progressBar(io.err as NodeJS.WriteStream);
  const layout = new OfficeLayout(locationsFrom(values, env), s3SettingsFromEnv(env));
  const audit = new OfficeAudit({ store: layout.private, identities, recipient, clock });
  const print = (json: unknown, text: string) => io.out.write(values.json ? `${JSON.stringify(json, null, 1)}\n` : text);
  const tagOf = (at = 1): { tag: string; code: string | null } => {
    if (values.tag) {
      if (!CASE_TAG_PATTERN.test(values.tag))
        throw new AppError('VALIDATION', `--tag ${JSON.stringify(values.tag)} is not 32 hex characters`, { field: '--tag' });
      return { tag: values.tag, code: null };
    }
    const code = positionals[at];
    if (!code) throw new AppError('VALIDATION', `office ${cmd}: name the case code (or --tag TAG)`, { field: 'code' });
    const keyFile = values['case-tag-key'] ?? env.VHT_OFFICE_CASE_TAG_KEY;
    if (!keyFile)
      throw new AppError('VALIDATION', '--case-tag-key (or VHT_OFFICE_CASE_TAG_KEY) is required to find a case by its code', { field: '--case-tag-key' });
    return { tag: caseTag(code, readCaseTagKey(keyFile)), code };
  };
  try {
    switch (cmd) {
      case 'kits': {
        const thresholds = {
          staleDays: num(values, 'stale-days', DEFAULT_THRESHOLDS.staleDays),
          waitingDays: num(values, 'waiting-days', DEFAULT_THRESHOLDS.waitingDays),
          minFreeMb: num(values, 'min-free-mb', DEFAULT_THRESHOLDS.minFreeMb),
          ...(values['min-version'] ? { minVersion: values['min-version'] } : {}),
        };
        const kits = await fleet(layout, identities, clock.now(), thresholds, { concurrency, progress });
        progress.end();
        await audit.append(operator, 'fleet.read', { kits: kits.length, flagged: kits.filter((k) => k.flags.length).length });
        print(kits, `${kits.map(fleetLine).join('\n')}\n${kits.length} kit(s), ${kits.filter((k) => k.flags.length).length} flagged\n`);
        return;
      }
      case 'case': {
        const { tag, code } = tagOf();
        const inv = await caseInventory(layout, identities, tag, {
          ...(code ? { caseCode: code } : {}),
          concurrency,
          progress,
          ...(values['every-kit'] ? { everyKit: true } : {}),
        });
        await audit.append(operator, 'case.read', { caseTag: tag, items: inv.items.length, kits: inv.kits.length, source: inv.source });
        print(inv, inventoryText(inv, code));
        return;
      }
      case 'erase': {
        const { tag, code } = tagOf();
        const scope = (values.scope ?? 'all') as ErasureScope;
        if (!ERASURE_SCOPES.includes(scope))
          throw new AppError('VALIDATION', `--scope ${JSON.stringify(values.scope)} is not one of ${ERASURE_SCOPES.join(', ')}`, { field: '--scope' });
        const r = await eraseCase(layout, { identities, recipient, clock, operator, progress, concurrency }, tag, scope, code ? { caseCode: code } : {});
        await audit.append(operator, 'case.erased', {
          caseTag: tag,
          scope,
          receipt: r.receipt.id,
          objects: r.receipt.objectsDeleted,
          verified: r.receipt.verified,
        });
        print(
          r,
          `erased ${r.receipt.objectsDeleted} object(s) of ${code ?? tag} (scope ${scope}) on ${r.receipt.kits.length} kit(s); ${r.receipt.verified ? 'verified gone' : `NOT VERIFIED: ${r.receipt.remaining.length} left`}\n` +
            `receipt ${r.receiptKey}; notice ${r.receipt.notice}; kits that may hold copies until they dock: ${r.receipt.kitsMayHoldCopies.join(', ') || '—'}\n`,
        );
        if (!r.receipt.verified)
          throw new AppError('CONFLICT', `${r.receipt.remaining.length} object(s) of the case are still in the store: run the erase again`, {
            field: 'caseTag',
          });
        return;
      }
      case 'retention': {
        if (values['period-days'] === undefined && env.VHT_OFFICE_RETENTION_DAYS === undefined)
          throw new AppError('VALIDATION', '--period-days (or VHT_OFFICE_RETENTION_DAYS) is required: the days a case is kept after its trajectory ended', {
            field: '--period-days',
          });
        const period = num({ 'period-days': values['period-days'] ?? env.VHT_OFFICE_RETENTION_DAYS }, 'period-days', 0);
        const { due, waiting } = await retentionDue(layout, identities, clock.now(), period, { concurrency, progress });
        progress.end();
        const erased: { caseTag: string; receipt: string; objects: number }[] = [];
        if (values.apply) {
          for (const d of due) {
            const r = await eraseCase(layout, { identities, recipient, clock, operator, progress, concurrency }, d.caseTag, 'all');
            await audit.append(operator, 'case.erased', {
              caseTag: d.caseTag,
              scope: 'all',
              rule: 'retention',
              periodDays: period,
              receipt: r.receipt.id,
              objects: r.receipt.objectsDeleted,
              verified: r.receipt.verified,
            });
            erased.push({ caseTag: d.caseTag, receipt: r.receipt.id, objects: r.receipt.objectsDeleted });
          }
        }
        await audit.append(operator, values.apply ? 'retention.applied' : 'retention.listed', { periodDays: period, due: due.length, erased: erased.length });
        print(
          { due, waiting, erased },
          `${due.map((d) => `due\t${d.caseTag}\tclosed ${day(d.closedAt)}\tdue ${day(d.dueAt)}\tkits ${d.kits.join(',')}`).join('\n')}${due.length ? '\n' : ''}` +
            `${due.length} case(s) past trajectory end + ${period} d, ${waiting.length} closed case(s) still within it` +
            (values.apply ? `; erased ${erased.length}\n` : '; nothing erased (--apply erases them)\n'),
        );
        return;
      }
      case 'index':
        return await indexCommand(positionals[1] ?? 'check', { layout, audit, operator, concurrency, progress, print });
      case 'audit':
        return await auditCommand(positionals[1] ?? 'verify', { audit, full: values.full === true, print });
      case 'directory':
        return await directoryCommand(positionals, values, { layout, audit, operator, print, tagOf });
    }
  } finally {
    layout.close();
  }
}

interface CommandDeps {
  layout: OfficeLayout;
  audit: OfficeAudit;
  operator: string;
  concurrency: number;
  progress: Progress;
  print: (json: unknown, text: string) => unknown;
}

/** `office index check|rebuild`: the case inbox against the kits' own case index. */
async function indexCommand(sub: string, d: CommandDeps): Promise<void> {
  if (sub !== 'check' && sub !== 'rebuild') throw new AppError('VALIDATION', `office index ${JSON.stringify(sub)}: check or rebuild`, { field: 'command' });
  const r = await checkInbox(d.layout, { repair: sub === 'rebuild', concurrency: d.concurrency, progress: d.progress });
  await d.audit.append(d.operator, sub === 'rebuild' ? 'index.rebuilt' : 'index.checked', { kits: r.kits, missing: r.missing.length, added: r.added });
  d.print(
    r,
    `case inbox: ${r.markers} marker(s) for ${r.held} (case, kit) pair(s) on ${r.kits} kit(s); ${r.missing.length} missing` +
      (sub === 'rebuild' ? `, ${r.added} written` : '') +
      `; ${r.extra.length} without entries (kept)\n${r.missing.map((k) => `  missing ${k}\n`).join('')}`,
  );
  if (sub === 'check' && r.missing.length)
    throw new AppError('CONFLICT', `the case inbox lacks ${r.missing.length} marker(s): run office index rebuild`, { field: 'inbox' });
}

/** `office directory show KIT | put KIT --file F | case CODE --trainers …`: the kits' directory entries (docs/office.md). */
async function directoryCommand(
  positionals: string[],
  values: { file?: string; trainers?: string },
  d: Pick<CommandDeps, 'layout' | 'audit' | 'operator' | 'print'> & { tagOf: (at: number) => { tag: string; code: string | null } },
): Promise<void> {
  const sub = positionals[1] ?? 'show';
  if (sub === 'case') {
    const { tag, code } = d.tagOf(2);
    const trainers = parseTrainerList(values.trainers);
    const r = await setCaseTrainers(d.layout.office, tag, trainers);
    await d.audit.append(d.operator, 'directory.case', { caseTag: tag, trainers, kits: r.changed });
    d.print(
      { caseTag: tag, trainers, ...r },
      `case ${code ?? tag}: trainers ${trainers.join(',') || '—'}; entries changed: ${r.changed.join(', ') || '—'}; kits with one of them: ${r.holding.join(', ') || '—'}\n`,
    );
    return;
  }
  const kitId = positionals[2];
  if (sub !== 'show' && sub !== 'put') throw new AppError('VALIDATION', `office directory ${JSON.stringify(sub)}: show, put or case`, { field: 'command' });
  if (!kitId) throw new AppError('VALIDATION', `office directory ${sub}: name the kit id`, { field: 'kitId' });
  if (sub === 'show') {
    const entry = await readEntry(d.layout.office, kitId);
    if (!entry) throw new AppError('NOT_FOUND', `the directory has no entry for kit ${JSON.stringify(kitId)}`, { field: 'kitId' });
    d.print(entry, `${JSON.stringify(entry, null, 1)}\n`);
    return;
  }
  if (!values.file) throw new AppError('VALIDATION', 'office directory put: --file entry.json is required', { field: '--file' });
  const entry = await putEntryFile(d.layout.office, kitId, values.file);
  await d.audit.append(d.operator, 'directory.put', { kitId, team: entry.team, trainers: Object.keys(entry.trainers) });
  d.print(entry, `directory entry of ${kitId} written: team ${entry.team}, trainers ${Object.keys(entry.trainers).join(',') || '—'}\n`);
}

/** `office audit verify [--full]|list`. */
async function auditCommand(sub: string, d: Pick<CommandDeps, 'audit' | 'print'> & { full: boolean }): Promise<void> {
  if (sub === 'list') {
    const all = await d.audit.entries();
    d.print(
      all,
      all.map((e) => `${e.key}\t${new Date(e.entry.at).toISOString()}\t${e.entry.operator}\t${e.entry.action}\t${JSON.stringify(e.entry.details)}`).join('\n') +
        '\n',
    );
    return;
  }
  if (sub !== 'verify') throw new AppError('VALIDATION', `office audit ${JSON.stringify(sub)}: verify or list`, { field: 'command' });
  const v = await d.audit.verifyFrom({ full: d.full });
  d.print(
    v,
    `${v.ok ? 'office audit whole' : 'office audit BROKEN'}: ${v.entries} entries (${v.read} read ${v.from ? `after the checkpoint ${v.from}` : 'from the first'}), head ${v.head ?? '—'}, ${v.forks.length} fork(s) (${v.forks.filter((f) => f.resolved).length} re-linked)` +
      `${v.checkpoint ? `; checkpoint ${v.checkpoint}` : ''}\n${v.problems.map((p) => `  ${p}\n`).join('')}`,
  );
  if (!v.ok) throw new AppError('CONFLICT', `the office audit has ${v.problems.length} problem(s)`, { field: 'audit' });
}

import { systemClock, type Clock } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import { openBucket, S3Connection, s3SettingsFromEnv } from '../store/bucket-store.js';
import { recipientOf } from '../store/crypto.js';
import { OfficeAudit } from './audit.js';
import { readIdentityFile } from '../store/identity-file.js';

/**
 * `vht-kit export` records who exported what in the office audit (issue 21): the operator from
 * `--operator` or VHT_OPERATOR, the audit in VHT_OFFICE_PRIVATE. Returns the audit entry's key, or
 * null (with the reason) when no office audit location is configured.
 */
export async function recordExport(
  what: { kitId: string; clipId: string; identityFile: string; operator?: string | undefined; kind?: string },
  env: NodeJS.ProcessEnv,
  clock: Clock = systemClock,
): Promise<{ key: string } | { key: null; reason: string }> {
  const where = env.VHT_OFFICE_PRIVATE;
  if (!where) return { key: null, reason: 'VHT_OFFICE_PRIVATE is not set: this export is not in the office audit' };
  const operator = what.operator ?? env.VHT_OPERATOR;
  if (!operator) throw new AppError('VALIDATION', '--operator (or VHT_OPERATOR) is required: the office audit records who exported', { field: '--operator' });
  const identities = readIdentityFile(what.identityFile);
  let conn: S3Connection | null = null;
  const store = openBucket(where, () => (conn ??= new S3Connection(s3SettingsFromEnv(env))));
  try {
    const audit = new OfficeAudit({ store, identities, recipient: await recipientOf(identities[0]!), clock });
    const key = await audit.append(operator, 'clip.exported', { kitId: what.kitId, [what.kind ?? 'clip']: what.clipId });
    return { key };
  } finally {
    (conn as S3Connection | null)?.close();
  }
}

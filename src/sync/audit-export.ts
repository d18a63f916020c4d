import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Catalogue } from '../store/catalogue.js';
import { encryptTo } from '../store/crypto.js';
import { abortedError } from './errors.js';
import { auditKey, type AuditExport } from './manifest.js';
import { md5Hex, sha256Hex } from './targets.js';

export interface AuditExportDeps {
  catalogue: Catalogue;
  kitId: string;
  targetId: string;
  clock: Clock;
  logger: Logger;
  orgRecipient: () => string;
  /** PUTs one object with retries (the run's RetryingPut). */
  put: (key: string, body: Uint8Array, md5: string, sha256: string) => Promise<void>;
}

/**
 * Uploads the audit events the target does not have yet, encrypted to the organisation, as one
 * object; the export's body is kept in the ledger until confirmed, so a retry sends the very same
 * bytes. Exports follow each other without gaps (each names the hash it continues from).
 * Returns the object's key, or null when there was nothing new.
 */
export async function exportAudit(deps: AuditExportDeps, signal: AbortSignal): Promise<string | null> {
  const { catalogue, clock, kitId, targetId } = deps;
  const ledger = catalogue.syncLedger;
  let exp = ledger.pendingAuditExport(targetId);
  if (!exp) {
    const upto = ledger.auditExportedUpto(targetId);
    const events = catalogue.auditEventsAfter(upto.uptoEvent);
    const first = events[0];
    const last = events[events.length - 1];
    if (!first || !last) return null;
    const now = clock.now();
    const payload: AuditExport = {
      format: 'vht-kit.audit-export',
      v: 1,
      kitId,
      exportedAt: now,
      fromId: first.id,
      uptoId: last.id,
      prevHash: upto.uptoHash,
      events,
    };
    const body = Buffer.from(await encryptTo([deps.orgRecipient()], JSON.stringify(payload)));
    exp = ledger.insertAuditExport({
      target: targetId,
      key: auditKey(kitId, now),
      fromEvent: first.id,
      uptoEvent: last.id,
      uptoHash: last.hash,
      body,
      sha256: sha256Hex(body),
      md5: md5Hex(body),
      at: now,
    });
  }
  if (signal.aborted) throw abortedError();
  await deps.put(exp.key, exp.body, exp.md5, exp.sha256);
  ledger.confirmAuditExport(exp.id, clock.now());
  deps.logger.info('audit log exported', { key: exp.key, fromEvent: exp.fromEvent, uptoEvent: exp.uptoEvent });
  return exp.key;
}

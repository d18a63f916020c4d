import { AppError } from '../core/errors.js';
import { caseMarkerKey, parseCaseMarkerKey } from '../store/objects.js';
import type { OfficeLayout } from './layout.js';
import { mapLimit } from '../core/pool.js';
import { NO_PROGRESS, type Progress } from './progress.js';

/** What `office index check` (or `rebuild`) found: the case inbox against the kits' own case index. */
export interface InboxCheck {
  kits: number;
  /** (case, kit) pairs in the kits' case index. */
  held: number;
  markers: number;
  /** Markers the inbox lacks (`cases/<tag>/<kit>`): `office case` would not look in those kits. */
  missing: string[];
  /** Markers with no index entry behind them (a kit between its marker and its first entry, or an erased case): harmless, kept. */
  extra: string[];
  /** Markers written by `rebuild`. */
  added: number;
}

/**
 * Rebuilds the case inbox from the store (or, with `repair` false, only compares): lists
 * `<kit>/cases/` with a delimiter in every kit bucket (one LIST a kit per 1000 cases), lists the
 * inbox, and writes the markers that are missing. Markers without entries are reported, never
 * deleted here: a kit writes its marker before its first entry, and `office erase` removes them.
 */
export async function checkInbox(layout: OfficeLayout, opts: { repair: boolean; concurrency?: number; progress?: Progress }): Promise<InboxCheck> {
  const inbox = layout.inbox;
  if (!inbox) throw new AppError('VALIDATION', '--inbox (or VHT_OFFICE_INBOX) is required: s3://vht-org-office-inbox or a directory', { field: '--inbox' });
  const progress = opts.progress ?? NO_PROGRESS;
  const conc = opts.concurrency ?? 32;
  const kitIds = await layout.kitIds();
  progress.phase('listing the case index of every kit', kitIds.length);
  const perKit = await mapLimit(
    kitIds,
    conc,
    async (kitId) => {
      const base = `${kitId}/cases/`;
      const { prefixes } = await layout.kit(kitId).list(base, { delimiter: '/' });
      return prefixes
        .map((p) => p.slice(base.length).replace(/\/$/, ''))
        .filter((t) => /^[0-9a-f]{32}$/.test(t))
        .map((t) => caseMarkerKey(t, kitId));
    },
    (n) => progress.update(n),
  );
  const expected = new Set(perKit.flat());
  const present = new Set((await inbox.list('cases/')).keys.filter((k) => parseCaseMarkerKey(k) !== null));
  const missing = [...expected].filter((k) => !present.has(k)).sort();
  const extra = [...present].filter((k) => !expected.has(k)).sort();
  let added = 0;
  if (opts.repair && missing.length) {
    progress.phase('writing missing markers', missing.length);
    await mapLimit(
      missing,
      conc,
      (k) => inbox.put(k, new Uint8Array(0)),
      (n) => progress.update(n),
    );
    added = missing.length;
  }
  progress.end();
  return { kits: kitIds.length, held: expected.size, markers: present.size, missing, extra, added };
}

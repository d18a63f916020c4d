import { randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import type { Consent } from '../store/catalogue.js';
import { decryptWith, encryptTo } from '../store/crypto.js';
import { parseCaseIndexEntry, type CaseIndexEntry, type ErasureNotice } from '../store/office-objects.js';
import { casePrefix, erasureNoticeKey, receiptKey, type ErasureScope } from '../store/objects.js';
import type { OfficeLayout } from './layout.js';
import { mapLimit } from './pool.js';
import { NO_PROGRESS, type Progress } from './progress.js';

/** One item of a case held by one kit, from its index entry (and its manifest being there). */
export interface CaseItem extends CaseIndexEntry {
  /** The index entry's own key. */
  indexKey: string;
}

export interface CaseInventory {
  caseTag: string;
  items: CaseItem[];
  kits: string[];
  visits: string[];
  trainerIds: string[];
  /** The narrowest consent over the items (a scope is true only when every item allows it). */
  consent: Consent | null;
  /** Index entries that could not be read (named, with the reason). */
  problems: string[];
}

/**
 * `office case`: what the store holds of one case, through the case index: one LIST of
 * `<kit>/cases/<tag>/` per kit (in parallel), then only the entries found are read and decrypted —
 * never every manifest.
 */
export async function caseInventory(
  layout: OfficeLayout,
  identities: string[],
  tag: string,
  opts: { caseCode?: string; concurrency?: number; progress?: Progress } = {},
): Promise<CaseInventory> {
  const progress = opts.progress ?? NO_PROGRESS;
  const conc = opts.concurrency ?? 32;
  const kitIds = await layout.kitIds();
  progress.phase('listing kits', kitIds.length);
  const listed = await mapLimit(
    kitIds,
    conc,
    async (kitId) => ({ kitId, keys: (await layout.kit(kitId).list(casePrefix(kitId, tag))).keys }),
    (n) => progress.update(n),
  );
  const found = listed.flatMap(({ kitId, keys }) => keys.filter((k) => k.endsWith('.json.age')).map((key) => ({ kitId, key })));
  progress.phase('reading index entries', found.length);
  const problems: string[] = [];
  const read = await mapLimit(
    found,
    conc,
    async ({ kitId, key }): Promise<CaseItem | null> => {
      try {
        const e = parseCaseIndexEntry((await decryptWith(identities, await layout.kit(kitId).get(key), `the index entry ${key}`)).toString('utf8'), key);
        if (e.kitId !== kitId || e.caseTag !== tag)
          throw new AppError('CONFLICT', `${key} names kit ${e.kitId} and tag ${e.caseTag}: it was moved or replaced`);
        if (opts.caseCode !== undefined && e.caseCode !== opts.caseCode)
          throw new AppError('CONFLICT', `${key} is for another case code (a tag collision or a wrong key)`);
        return { ...e, indexKey: key };
      } catch (err) {
        problems.push(`${key}: ${(err as Error).message}`);
        return null;
      }
    },
    (n) => progress.update(n),
  );
  const items = read.filter((x): x is CaseItem => x !== null).sort((a, b) => a.kitId.localeCompare(b.kitId) || a.createdAt - b.createdAt);
  let consent: Consent | null = null;
  for (const it of items) {
    if (!it.consent) continue;
    consent = consent
      ? {
          recording: consent.recording && it.consent.recording,
          review: consent.review && it.consent.review,
          supervision: consent.supervision && it.consent.supervision,
          training: consent.training && it.consent.training,
        }
      : { ...it.consent };
  }
  progress.end();
  return {
    caseTag: tag,
    items,
    kits: [...new Set(items.map((i) => i.kitId))].sort(),
    visits: [...new Set(items.map((i) => i.visitUid).filter((v): v is string => v !== null))].sort(),
    trainerIds: [...new Set(items.flatMap((i) => i.trainerIds))].sort(),
    consent,
    problems,
  };
}

/** Which items of a case an erasure of this scope removes from the store. */
export function itemsInScope(items: CaseItem[], scope: ErasureScope): CaseItem[] {
  switch (scope) {
    case 'all':
    case 'recording':
      return items;
    case 'supervision':
      return items.filter((i) => i.purposes.includes('supervision'));
    case 'review':
      return items.filter((i) => i.kind !== 'clip');
    case 'training':
      return []; // training use is at the organisation only: nothing of the kits' objects goes
  }
}

/** What `office erase` did, kept encrypted in the private bucket. */
export interface ErasureReceipt {
  format: 'vht-kit.erasure-receipt';
  v: 1;
  id: string;
  caseTag: string;
  caseCode: string | null;
  scope: ErasureScope;
  operator: string;
  startedAt: number;
  finishedAt: number;
  notice: string;
  kits: { kitId: string; items: number; objects: number }[];
  objectsDeleted: number;
  /** Every deleted object was checked gone (HEAD 404) and the prefixes listed empty. */
  verified: boolean;
  remaining: string[];
  /** Kits that held the case and may still hold copies until they dock and read the notice. */
  kitsMayHoldCopies: string[];
  trainerIds: string[];
}

/**
 * `office erase`: writes the erasure notice FIRST (so no kit uploads the case again from its next
 * dock on), deletes every object of the items in scope (their folder, their index entry), then
 * verifies: every deleted key answers 404 and the folders list empty (anything a kit added
 * meanwhile is deleted in another round, up to three); then the receipt.
 */
export async function eraseCase(
  layout: OfficeLayout,
  deps: { identities: string[]; recipient: string; clock: Clock; operator: string; progress?: Progress; concurrency?: number },
  tag: string,
  scope: ErasureScope,
  opts: { caseCode?: string } = {},
): Promise<{ receipt: ErasureReceipt; receiptKey: string }> {
  const progress = deps.progress ?? NO_PROGRESS;
  const conc = deps.concurrency ?? 32;
  const startedAt = deps.clock.now();
  const inventory = await caseInventory(layout, deps.identities, tag, {
    ...(opts.caseCode !== undefined ? { caseCode: opts.caseCode } : {}),
    concurrency: conc,
    progress,
  });
  if (inventory.problems.length) {
    throw new AppError(
      'CONFLICT',
      `the case index of ${tag} has entries that cannot be read; nothing was erased: ${inventory.problems.slice(0, 3).join('; ')}`,
      { field: 'caseTag' },
    );
  }
  const id = `${startedAt.toString(36)}${randomBytes(4).toString('hex')}`;
  const notice = erasureNoticeKey(startedAt, tag, scope);
  const body: ErasureNotice = { format: 'vht-kit.erasure-notice', v: 1, caseTag: tag, scope, at: startedAt, receipt: id };
  await layout.office.put(notice, Buffer.from(JSON.stringify(body)));

  const items = itemsInScope(inventory.items, scope);
  const perKit = new Map<string, { items: number; objects: number }>();
  const deleted: { kitId: string; key: string }[] = [];
  const seen = new Set<string>();
  let remaining: string[] = [];
  for (let round = 0; round < 3; round++) {
    const keys = await mapLimit(items, conc, async (it) => {
      const store = layout.kit(it.kitId);
      const under = it.prefix ? (await store.list(it.prefix)).keys : [];
      return [...new Set([...under, it.object, it.indexKey])].map((key) => ({ kitId: it.kitId, key }));
    });
    const todo = keys.flat().filter((k) => !seen.has(`${k.kitId}\0${k.key}`));
    if (round > 0 && todo.length === 0) break;
    progress.phase(round === 0 ? 'deleting' : `deleting (round ${round + 1})`, todo.length);
    await mapLimit(
      todo,
      conc,
      async ({ kitId, key }) => layout.kit(kitId).delete(key),
      (n) => progress.update(n),
    );
    for (const d of todo) {
      deleted.push(d);
      seen.add(`${d.kitId}\0${d.key}`);
      const k = perKit.get(d.kitId) ?? { items: 0, objects: 0 };
      k.objects += 1;
      perKit.set(d.kitId, k);
    }
    progress.phase('verifying', deleted.length);
    const still = await mapLimit(
      deleted,
      conc,
      async ({ kitId, key }) => ((await layout.kit(kitId).exists(key)) ? `${kitId}:${key}` : null),
      (n) => progress.update(n),
    );
    remaining = still.filter((x): x is string => x !== null);
    const relisted = await mapLimit(items, conc, async (it) => (it.prefix ? (await layout.kit(it.kitId).list(it.prefix)).keys.length : 0));
    if (remaining.length === 0 && relisted.every((n) => n === 0)) break;
  }
  for (const it of items) {
    const k = perKit.get(it.kitId) ?? { items: 0, objects: 0 };
    k.items += 1;
    perKit.set(it.kitId, k);
  }
  const receipt: ErasureReceipt = {
    format: 'vht-kit.erasure-receipt',
    v: 1,
    id,
    caseTag: tag,
    caseCode: opts.caseCode ?? null,
    scope,
    operator: deps.operator,
    startedAt,
    finishedAt: deps.clock.now(),
    notice,
    kits: [...perKit.entries()].map(([kitId, v]) => ({ kitId, ...v })).sort((a, b) => a.kitId.localeCompare(b.kitId)),
    objectsDeleted: deleted.length,
    verified: remaining.length === 0,
    remaining,
    kitsMayHoldCopies: inventory.kits,
    trainerIds: inventory.trainerIds,
  };
  const rKey = receiptKey(id);
  await layout.private.put(rKey, await encryptTo([deps.recipient], JSON.stringify(receipt)));
  progress.end();
  return { receipt, receiptKey: rKey };
}

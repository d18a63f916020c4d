import { randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import type { Consent } from '../store/catalogue.js';
import { decryptWith, encryptTo } from '../store/crypto.js';
import { parseCaseIndexEntry, type CaseIndexEntry, type ErasureNotice } from '../store/office-objects.js';
import { caseMarkerKey, caseMarkerPrefix, casePrefix, erasureNoticeKey, parseCaseMarkerKey, receiptKey, type ErasureScope } from '../store/objects.js';
import type { BucketStore } from '../store/bucket-store.js';
import type { OfficeLayout } from './layout.js';
import { mapLimit } from '../core/pool.js';
import { NO_PROGRESS, type Progress } from './progress.js';

/** One item of a case held by one kit, from its index entry (and its manifest being there). */
export interface CaseItem extends CaseIndexEntry {
  /** The index entry's own key. */
  indexKey: string;
}

export interface CaseInventory {
  caseTag: string;
  /** How the kits holding the case were found: the case inbox (one LIST) or every kit bucket. */
  source: 'inbox' | 'every-kit';
  /** Kits the full scan found holding the case that the case inbox did not name (drift; `office index rebuild` repairs it). */
  inboxMissed: string[];
  items: CaseItem[];
  kits: string[];
  visits: string[];
  trainerIds: string[];
  /** The narrowest consent over the items (a scope is true only when every item allows it). */
  consent: Consent | null;
  /** Index entries that could not be read (named, with the reason). */
  problems: string[];
}

/** The kits the case inbox names for a case (one LIST of `cases/<tag>/`), or null without an inbox. */
export async function kitsFromInbox(layout: OfficeLayout, tag: string): Promise<string[] | null> {
  if (!layout.inbox) return null;
  const { keys } = await layout.inbox.list(caseMarkerPrefix(tag));
  return keys
    .map(parseCaseMarkerKey)
    .filter((m): m is { caseTag: string; kitId: string } => m !== null && m.caseTag === tag)
    .map((m) => m.kitId)
    .sort();
}

/**
 * `office case`: what the store holds of one case, through the case index. With a case inbox, one
 * LIST of `cases/<tag>/` there names the kits that hold the case, and only their
 * `<kit>/cases/<tag>/` are listed; without one (or with `everyKit`, as `office erase` does), one
 * LIST per kit bucket, in parallel, and the kits the inbox missed are reported. Then only the
 * entries found are read and decrypted — never every manifest.
 */
export async function caseInventory(
  layout: OfficeLayout,
  identities: string[],
  tag: string,
  opts: { caseCode?: string; concurrency?: number; progress?: Progress; everyKit?: boolean } = {},
): Promise<CaseInventory> {
  const progress = opts.progress ?? NO_PROGRESS;
  const conc = opts.concurrency ?? 32;
  const fromInbox = await kitsFromInbox(layout, tag);
  const source = fromInbox && !opts.everyKit ? 'inbox' : 'every-kit';
  const kitIds = source === 'inbox' ? fromInbox! : await layout.kitIds();
  progress.phase(source === 'inbox' ? 'listing the kits that hold the case' : 'listing kits', kitIds.length);
  const problems: string[] = [];
  const listed = await mapLimit(
    kitIds,
    conc,
    async (kitId) => {
      try {
        return { kitId, keys: (await layout.kit(kitId).list(casePrefix(kitId, tag))).keys };
      } catch (err) {
        // a marker of a kit whose bucket is gone (a kit taken out of service): named, not fatal
        if (source !== 'inbox' || !(err instanceof AppError) || err.code !== 'NOT_FOUND') throw err;
        problems.push(`the case inbox names kit ${kitId}, whose objects are not there: ${err.message}`);
        return { kitId, keys: [] };
      }
    },
    (n) => progress.update(n),
  );
  const found = listed.flatMap(({ kitId, keys }) => keys.filter((k) => k.endsWith('.json.age')).map((key) => ({ kitId, key })));
  progress.phase('reading index entries', found.length);
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
  const holding = [...new Set(items.map((i) => i.kitId))].sort();
  return {
    caseTag: tag,
    source,
    inboxMissed: fromInbox ? holding.filter((k) => !fromInbox.includes(k)) : [],
    items,
    kits: holding,
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
  /** DELETE or DeleteObjects requests it took (batches of up to 1000 keys where the store has DeleteObjects). */
  deleteRequests: number;
  /** Case inbox markers removed (scopes `all` and `recording`). */
  markersDeleted: number;
  /** Kits holding the case that the case inbox did not name (its drift, repaired by `office index rebuild`). */
  inboxMissed: string[];
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
  // every kit bucket, not only those the case inbox names: an erasure must not trust an index
  const inventory = await caseInventory(layout, deps.identities, tag, {
    ...(opts.caseCode !== undefined ? { caseCode: opts.caseCode } : {}),
    concurrency: conc,
    progress,
    everyKit: true,
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
  let deleteRequests = 0;
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
    const requests = await deleteKeys(layout, todo, conc, (n) => progress.update(n));
    deleteRequests += requests;
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
  // the case inbox markers go when every item of the case goes (after `all` or `recording` no kit
  // uploads the case again); a narrower scope leaves them (an extra marker costs one empty LIST)
  let markersDeleted = 0;
  if (layout.inbox && (scope === 'all' || scope === 'recording') && remaining.length === 0) {
    const marked = (await kitsFromInbox(layout, tag)) ?? [];
    const markers = [...new Set([...marked, ...inventory.kits])].map((k) => caseMarkerKey(tag, k));
    if (layout.inbox.deleteMany) await layout.inbox.deleteMany(markers);
    else await mapLimit(markers, conc, (k) => layout.inbox!.delete(k));
    markersDeleted = markers.length;
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
    deleteRequests,
    markersDeleted,
    inboxMissed: inventory.inboxMissed,
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

/**
 * Deletes `keys` of their kits: per kit store in batches of up to 1000 (DeleteObjects) where the
 * store has it, else one DELETE a key; `conc` stores or keys at a time. Returns the requests made.
 */
export async function deleteKeys(layout: OfficeLayout, keys: { kitId: string; key: string }[], conc: number, onDone?: (done: number) => void): Promise<number> {
  const byStore = new Map<BucketStore, string[]>();
  for (const { kitId, key } of keys) {
    const store = layout.kit(kitId);
    const list = byStore.get(store);
    if (list) list.push(key);
    else byStore.set(store, [key]);
  }
  let requests = 0;
  let done = 0;
  await mapLimit([...byStore.entries()], conc, async ([store, ks]) => {
    // (count after the await: `requests += await …` would read the total before it and lose the other kits' requests)
    let made = ks.length;
    if (store.deleteMany) made = (await store.deleteMany(ks)).requests;
    else await mapLimit(ks, conc, (k) => store.delete(k));
    requests += made;
    done += ks.length;
    onDone?.(done);
  });
  return requests;
}

import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import type { BucketStore } from '../store/bucket-store.js';
import { decryptWith, encryptTo } from '../store/crypto.js';
import { compactTimestamp } from '../store/objects.js';

/**
 * The office's own audit, hash-chained, in the private bucket. S3 has no compare-and-swap, so:
 * - one object per entry under a unique key `audit/<ts>-<hash12>.json.age` (never overwritten);
 * - each entry names its predecessor (`prevKey`) and the SHA-256 of the predecessor's plaintext
 *   (`prevHash`); the first names `genesis`;
 * - the writer lists, links to the newest entry, PUTs, then lists again: if another entry also
 *   names the same predecessor (two operators at once), the one with the smaller key keeps its
 *   place and the other writer appends a `relink` entry after the current head that names its
 *   forked entry (`relinks`) and repeats the action: the fork stays visible, and is resolved;
 * - the verifier walks every entry in key order, checks each hash link, and reports every entry
 *   with two children as a fork: resolved when the losing child was relinked, else unresolved.
 * Entries are encrypted to the organisation (they name case tags, operators and receipt ids).
 */
export interface OfficeAuditEntry {
  format: 'vht-kit.office-audit';
  v: 1;
  at: number;
  operator: string;
  action: string;
  details: Record<string, unknown>;
  prevKey: string;
  prevHash: string;
  /** A relink entry: the key of the forked entry it re-states. */
  relinks?: string;
  /** Makes two entries of the same moment and content differ. */
  nonce: string;
}

export const AUDIT_PREFIX = 'audit/';
const GENESIS = 'genesis';

export interface AuditVerification {
  ok: boolean;
  entries: number;
  head: string | null;
  forks: { parent: string; children: string[]; resolved: boolean }[];
  problems: string[];
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export class OfficeAudit {
  constructor(
    private readonly deps: {
      store: BucketStore;
      identities: string[];
      recipient: string;
      clock: Clock;
      /** Test hook: skip the re-list after the PUT (a writer that crashed right after it). */
      noRelink?: boolean;
    },
  ) {}

  private async read(key: string): Promise<{ entry: OfficeAuditEntry; hash: string }> {
    const text = (await decryptWith(this.deps.identities, await this.deps.store.get(key), `the office audit entry ${key}`)).toString('utf8');
    let entry: OfficeAuditEntry;
    try {
      entry = JSON.parse(text) as OfficeAuditEntry;
    } catch (err) {
      throw new AppError('BAD_REQUEST', `the office audit entry ${key} is not JSON`, { field: key, cause: err });
    }
    return { entry, hash: sha256Hex(text) };
  }

  private async keys(): Promise<string[]> {
    return (await this.deps.store.list(AUDIT_PREFIX)).keys.filter((k) => k.endsWith('.json.age')).sort();
  }

  /** The end of the main chain: from the first entry, always the child with the smallest key (a fork's winner). */
  private async head(): Promise<{ key: string; hash: string } | null> {
    const all = await this.entries();
    const children = new Map<string, string[]>();
    for (const e of all) children.set(e.entry.prevKey, [...(children.get(e.entry.prevKey) ?? []), e.key]);
    const byKey = new Map(all.map((e) => [e.key, e]));
    let at = GENESIS;
    for (;;) {
      const kids = (children.get(at) ?? []).sort();
      if (kids.length === 0) break;
      at = kids[0]!;
    }
    return at === GENESIS ? null : { key: at, hash: byKey.get(at)!.hash };
  }

  private async put(entry: OfficeAuditEntry): Promise<string> {
    const text = JSON.stringify(entry);
    const hash = sha256Hex(text);
    // the key sorts by time; same millisecond: after the predecessor, never before it
    let at = entry.at;
    if (entry.prevKey !== GENESIS) {
      const prevTs = /^audit\/(\d{8}T\d{9}Z)-/.exec(entry.prevKey)?.[1];
      if (prevTs && compactTimestamp(at) <= prevTs)
        at = Date.parse(prevTs.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z$/, '$1-$2-$3T$4:$5:$6.$7Z')) + 1;
    }
    const key = `${AUDIT_PREFIX}${compactTimestamp(at)}-${hash.slice(0, 12)}.json.age`;
    await this.deps.store.put(key, await encryptTo([this.deps.recipient], text));
    return key;
  }

  /** Appends an entry (re-linking once more if another operator's entry took the same place). Returns its key. */
  async append(operator: string, action: string, details: Record<string, unknown>): Promise<string> {
    if (!/^[A-Za-z0-9._@-]{1,64}$/.test(operator))
      throw new AppError('VALIDATION', `operator ${JSON.stringify(operator)} must be 1–64 characters of [A-Za-z0-9._@-] (an id, not a name)`, {
        field: '--operator',
      });
    const make = (prev: { key: string; hash: string } | null, extra: Partial<OfficeAuditEntry> = {}): OfficeAuditEntry => ({
      format: 'vht-kit.office-audit',
      v: 1,
      at: this.deps.clock.now(),
      operator,
      action,
      details,
      prevKey: prev?.key ?? GENESIS,
      prevHash: prev?.hash ?? GENESIS,
      nonce: randomBytes(6).toString('hex'),
      ...extra,
    });
    let entry = make(await this.head());
    let key = await this.put(entry);
    for (let round = 0; !this.deps.noRelink && round < 5; round++) {
      const siblings = await this.childrenOf(entry.prevKey);
      if (siblings.length <= 1 || siblings[0] === key) return key;
      // lost the race: re-state the action after the current head, naming the forked entry
      const forked = key;
      entry = make(await this.head(), { relinks: forked });
      key = await this.put(entry);
    }
    return key;
  }

  private async childrenOf(prevKey: string): Promise<string[]> {
    return (await this.entries())
      .filter((e) => e.entry.prevKey === prevKey)
      .map((e) => e.key)
      .sort();
  }

  /** Every entry, in key order, decrypted. */
  async entries(): Promise<{ key: string; entry: OfficeAuditEntry; hash: string }[]> {
    const out = [];
    for (const key of await this.keys()) out.push({ key, ...(await this.read(key)) });
    return out;
  }

  /** Verifies the chain in order: links, hashes, forks (resolved by a relink or not). */
  async verify(): Promise<AuditVerification> {
    const all = await this.entries();
    const byKey = new Map(all.map((e) => [e.key, e]));
    const children = new Map<string, string[]>();
    const problems: string[] = [];
    const relinked = new Set(all.map((e) => e.entry.relinks).filter((k): k is string => typeof k === 'string'));
    for (const e of all) {
      const { prevKey, prevHash } = e.entry;
      children.set(prevKey, [...(children.get(prevKey) ?? []), e.key]);
      if (prevKey === GENESIS) continue;
      const prev = byKey.get(prevKey);
      if (!prev) problems.push(`${e.key} names a predecessor ${prevKey} that is not there (deleted?)`);
      else if (prev.hash !== prevHash) problems.push(`${e.key}: the hash of ${prevKey} does not match (changed after it was written)`);
      else if (prevKey >= e.key) problems.push(`${e.key} sorts before its predecessor ${prevKey}`);
    }
    const forks = [...children.entries()]
      .filter(([, kids]) => kids.length > 1)
      .map(([parent, kids]) => {
        const sorted = [...kids].sort();
        return { parent, children: sorted, resolved: sorted.slice(1).every((k) => relinked.has(k)) };
      });
    const unresolved = forks.filter((f) => !f.resolved);
    for (const f of unresolved) problems.push(`fork after ${f.parent}: ${f.children.join(' and ')} name the same predecessor and were not re-linked`);
    return { ok: problems.length === 0, entries: all.length, head: all.length ? all[all.length - 1]!.key : null, forks, problems };
  }
}

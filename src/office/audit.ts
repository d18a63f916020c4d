import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import type { BucketStore } from '../store/bucket-store.js';
import { decryptWith, encryptTo, hkdfSha256, hmacHex } from '../store/crypto.js';
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
export const CHECKPOINT_PREFIX = 'audit-checkpoints/';
/** An append that reads this many entries after the last checkpoint verifies them and leaves a new one. */
export const CHECKPOINT_EVERY = 200;
const GENESIS = 'genesis';

/**
 * `audit-checkpoints/<ts>-<hash12>.json` (private bucket): the audit as a verification left it, so
 * the next one reads only what came after. It names the head it verified, the count and a SHA-256
 * over the sorted keys up to that head (an entry added or removed before it changes that), the
 * previous checkpoint, and a MAC under a key derived from the organisation identity (HKDF-SHA-256),
 * so only a holder of that identity can make one — not anyone with write access to the bucket.
 */
export interface AuditCheckpoint {
  format: 'vht-kit.office-audit-checkpoint';
  v: 1;
  at: number;
  headKey: string;
  headHash: string;
  entries: number;
  keysSha256: string;
  prev: string | null;
  mac: string;
}

export interface AuditVerification {
  ok: boolean;
  entries: number;
  /** The checkpoint the verification started from (null: from the first entry), and the entries it read. */
  from: string | null;
  read: number;
  /** The SHA-256 of the head entry's plaintext (what its successor names). */
  headHash: string | null;
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

  /**
   * The end of the main chain: from the first entry (or the newest checkpoint's head, reading only
   * what came after it), always the child with the smallest key (a fork's winner).
   */
  private async head(): Promise<{ key: string; hash: string; read: number } | null> {
    const keys = await this.keys();
    const cp = (await this.lastCheckpoint())?.cp;
    const from = cp && keys.includes(cp.headKey) ? cp : null;
    const all: { key: string; entry: OfficeAuditEntry; hash: string }[] = [];
    for (const key of from ? keys.filter((k) => k > from.headKey) : keys) all.push({ key, ...(await this.read(key)) });
    const children = new Map<string, string[]>();
    for (const e of all) children.set(e.entry.prevKey, [...(children.get(e.entry.prevKey) ?? []), e.key]);
    const hashes = new Map(all.map((e) => [e.key, e.hash]));
    if (from) hashes.set(from.headKey, from.headHash);
    let at = from?.headKey ?? GENESIS;
    for (;;) {
      const kids = (children.get(at) ?? []).sort();
      if (kids.length === 0) break;
      at = kids[0]!;
    }
    return at === GENESIS ? null : { key: at, hash: hashes.get(at)!, read: all.length };
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
    let head = await this.head();
    // a long stretch since the last checkpoint: verify it and leave one, so appends stay cheap
    if (head && head.read >= CHECKPOINT_EVERY && (await this.verifyFrom()).ok) head = await this.head();
    let entry = make(head);
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

  /** The entries naming `prevKey` (they sort after it: only those are read). */
  private async childrenOf(prevKey: string): Promise<string[]> {
    const out: string[] = [];
    for (const key of await this.keys()) {
      if (key <= prevKey) continue;
      if ((await this.read(key)).entry.prevKey === prevKey) out.push(key);
    }
    return out.sort();
  }

  /** Every entry, in key order, decrypted. */
  async entries(): Promise<{ key: string; entry: OfficeAuditEntry; hash: string }[]> {
    const out = [];
    for (const key of await this.keys()) out.push({ key, ...(await this.read(key)) });
    return out;
  }

  private checkpointMac(cp: Omit<AuditCheckpoint, 'mac'>): string {
    const key = hkdfSha256(Buffer.from(this.deps.identities[0]!, 'utf8'), Buffer.from('vht-kit office audit'), 'checkpoint v1');
    return hmacHex(key, JSON.stringify({ ...cp, mac: undefined }));
  }

  /** The newest checkpoint whose MAC holds (a bad one is named in `problems` and skipped). */
  async lastCheckpoint(problems: string[] = []): Promise<{ key: string; cp: AuditCheckpoint } | null> {
    const keys = (await this.deps.store.list(CHECKPOINT_PREFIX)).keys.filter((k) => k.endsWith('.json')).sort();
    for (const key of keys.reverse()) {
      let cp: AuditCheckpoint;
      try {
        cp = JSON.parse((await this.deps.store.get(key)).toString('utf8')) as AuditCheckpoint;
      } catch (err) {
        problems.push(`the checkpoint ${key} cannot be read: ${(err as Error).message}`);
        continue;
      }
      const { mac, ...rest } = cp;
      if (cp.format !== 'vht-kit.office-audit-checkpoint' || typeof mac !== 'string' || mac !== this.checkpointMac(rest)) {
        problems.push(`the checkpoint ${key} does not carry the organisation's MAC (forged or changed): ignored`);
        continue;
      }
      return { key, cp };
    }
    return null;
  }

  /** Writes a checkpoint at the head of a verification that found the audit whole. Returns its key. */
  async checkpoint(v: AuditVerification, keys: string[], headHash: string): Promise<string | null> {
    if (!v.ok || !v.head) return null;
    const upTo = keys.filter((k) => k <= v.head!);
    const prev = await this.lastCheckpoint();
    if (prev?.cp.headKey === v.head) return prev.key;
    const body: Omit<AuditCheckpoint, 'mac'> = {
      format: 'vht-kit.office-audit-checkpoint',
      v: 1,
      at: this.deps.clock.now(),
      headKey: v.head,
      headHash,
      entries: upTo.length,
      keysSha256: sha256Hex(upTo.join('\n')),
      prev: prev?.key ?? null,
    };
    const cp: AuditCheckpoint = { ...body, mac: this.checkpointMac(body) };
    const key = `${CHECKPOINT_PREFIX}${compactTimestamp(body.at)}-${body.keysSha256.slice(0, 12)}.json`;
    await this.deps.store.put(key, Buffer.from(JSON.stringify(cp)));
    return key;
  }

  /**
   * Verifies from the newest valid checkpoint (or, with `full` or none, from the first entry): the
   * keys up to the checkpoint's head must be the ones it counted (one LIST), and only the entries
   * after it are read and checked; a whole audit then gets a new checkpoint (`office audit verify`).
   * A changed entry BEFORE the checkpoint is found by `full` (or by S3 Object Lock, which forbids it).
   */
  async verifyFrom(opts: { full?: boolean; writeCheckpoint?: boolean } = {}): Promise<AuditVerification & { checkpoint: string | null }> {
    const problems: string[] = [];
    const start = opts.full ? null : await this.lastCheckpoint(problems);
    const keys = await this.keys();
    let v: AuditVerification;
    if (!start) {
      v = this.check(await this.entries(), null);
    } else {
      const { cp, key: cpKey } = start;
      const before = keys.filter((k) => k <= cp.headKey);
      const after = keys.filter((k) => k > cp.headKey);
      if (before.length !== cp.entries || sha256Hex(before.join('\n')) !== cp.keysSha256)
        problems.push(`entries up to ${cp.headKey} were added or removed after the checkpoint ${cpKey} (${before.length} there, ${cp.entries} counted)`);
      const read: { key: string; entry: OfficeAuditEntry; hash: string }[] = [];
      for (const key of after) read.push({ key, ...(await this.read(key)) });
      // predecessors before the checkpoint that a later entry names (the head; a late fork's parent)
      const known = new Map<string, { key: string; entry: OfficeAuditEntry; hash: string }>();
      known.set(cp.headKey, { key: cp.headKey, entry: { prevKey: GENESIS } as OfficeAuditEntry, hash: cp.headHash });
      for (const e of read) {
        const p = e.entry.prevKey;
        if (p === GENESIS || p > cp.headKey || known.has(p)) continue;
        if (!before.includes(p)) continue;
        known.set(p, { key: p, ...(await this.read(p)) });
      }
      v = this.check([...known.values()].sort((a, b) => a.key.localeCompare(b.key)).concat(read), cpKey, new Set(known.keys()));
      // an entry after the checkpoint that names an entry before its head forks off the verified chain
      const relinked = new Set(read.map((e) => e.entry.relinks).filter((k): k is string => typeof k === 'string'));
      for (const e of read) {
        const p = e.entry.prevKey;
        if (!known.has(p) || p === cp.headKey) continue;
        const resolved = relinked.has(e.key);
        v.forks.push({ parent: p, children: [e.key], resolved });
        if (!resolved) v.problems.push(`fork after ${p}: ${e.key} names an entry before the checkpoint's head ${cp.headKey} and was not re-linked`);
      }
      v.entries = keys.length;
      v.read = read.length + [...known.keys()].filter((k) => k !== cp.headKey).length;
    }
    v.problems.unshift(...problems);
    v.ok = v.problems.length === 0;
    const checkpoint = v.ok && opts.writeCheckpoint !== false && v.headHash ? await this.checkpoint(v, keys, v.headHash) : null;
    return { ...v, checkpoint };
  }

  /** Verifies the chain in order: links, hashes, forks (resolved by a relink or not). Reads every entry. */
  async verify(): Promise<AuditVerification> {
    return this.check(await this.entries(), null);
  }

  /** Checks links, hashes and forks of `all` (key order); `anchors` are entries taken as verified (a checkpoint's). */
  private check(all: { key: string; entry: OfficeAuditEntry; hash: string }[], from: string | null, anchors = new Set<string>()): AuditVerification {
    const byKey = new Map(all.map((e) => [e.key, e]));
    const children = new Map<string, string[]>();
    const problems: string[] = [];
    const relinked = new Set(all.map((e) => e.entry.relinks).filter((k): k is string => typeof k === 'string'));
    for (const e of all) {
      if (anchors.has(e.key)) continue;
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
    // the head: the end of the main chain (always the smallest child) from the start
    let at = anchors.size ? [...anchors].sort().at(-1)! : GENESIS;
    for (let kids = children.get(at); kids?.length; kids = children.get(at)) at = [...kids].sort()[0]!;
    const head = at === GENESIS ? null : at;
    return { ok: problems.length === 0, entries: all.length, from, read: all.length, head, headHash: head ? byKey.get(head)!.hash : null, forks, problems };
  }
}

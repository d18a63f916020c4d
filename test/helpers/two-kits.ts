// Team kits end to end (issue 20): a kit of the team as the office sets it up — enrolled with the
// organisation's recipient, trainers added with the organisation's identity, S3 sync to its own
// bucket on the real Swift, the office bucket for the directory — and the office's side of that
// (container ACLs, the directory entries). Used by test/team-two-kits.e2e.test.ts; its Swift start
// that survives a loaded machine also by test/review-cycle.e2e.test.ts.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { decryptWith, unseal } from '../../src/store/crypto.js';
import { Service, TEST_CAPTURE } from './service.js';
import { freePortBlock, SwiftServer } from './swift.js';

const BIN = path.resolve(import.meta.dirname, '../../bin/vht-kit');

/** `bin/vht-kit …` as a child process (not blocking the event loop, so the servers of the test keep answering). */
export function vhtKit(args: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' }, (err, out, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out, err: stderr }),
    );
  });
}

/** Polls `fn` every 100 ms until it returns something other than undefined/false; else fails naming `what` and the last value. */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(100);
  }
}

/**
 * Swift for one test file. On a loaded machine its start can miss the script's readiness limit: then
 * it is killed and started again on fresh ports, up to three times (the first error is kept).
 */
export async function startSwiftRetrying(base: string): Promise<SwiftServer> {
  let first: unknown;
  for (const attempt of [1, 2, 3]) {
    const s = new SwiftServer(path.join(base, `swift-${attempt}`), await freePortBlock(5));
    try {
      await s.start();
      return s;
    } catch (err) {
      first ??= err;
      console.warn(`swift start ${attempt} failed:`, err instanceof Error ? err.message : err);
      await s.stop({ kill: true }).catch((e: unknown) => console.warn('swift stop:', e));
    }
  }
  throw first;
}

/** Sets a bucket's Swift container ACLs (who may read, who may write) through the Swift API: Swift's S3 API has no bucket policies. */
export async function setContainerAcl(swift: SwiftServer, bucket: string, acl: { read?: string; write?: string }): Promise<void> {
  const auth = await fetch(`${swift.endpoint}/auth/v1.0`, { headers: { 'X-Auth-User': swift.admin.accessKeyId, 'X-Auth-Key': swift.admin.secretAccessKey } });
  const token = auth.headers.get('x-auth-token');
  const url = auth.headers.get('x-storage-url');
  if (!auth.ok || !token || !url) throw new Error(`Swift auth failed: ${auth.status}`);
  const headers: Record<string, string> = { 'X-Auth-Token': token };
  if (acl.read) headers['X-Container-Read'] = acl.read;
  if (acl.write) headers['X-Container-Write'] = acl.write;
  const r = await fetch(`${url}/${bucket}`, { method: 'POST', headers });
  if (r.status !== 204) throw new Error(`setting the container ACL of ${bucket} failed: ${r.status}`);
}

/** The organisation: its identity file (from `vht-kit keygen`) and recipient. */
export interface Org {
  keyFile: string;
  recipient: string;
}

/** What the office gives every kit of the team: the store, its credential, the office bucket. */
export interface TeamStore {
  swift: SwiftServer;
  officeBucket: string;
  org: Org;
}

/** One kit of the team: the real service (bin/vht-kit serve) with its own data dir, config, bucket and trainers. */
export class TeamKit {
  readonly svc = new Service({ pin: null });
  readonly configFile: string;
  readonly env: Record<string, string>;
  /** Each trainer's PIN and their inbox recipient on this kit (for the directory). */
  readonly trainers = new Map<string, { pin: string; inboxRecipient: string }>();

  constructor(
    readonly kitId: string,
    readonly bucket: string,
  ) {
    this.configFile = path.join(this.svc.dir, 'kit.yaml');
    this.env = { VHT_KIT_CONFIG: this.configFile, VHT_KIT_DATA_DIR: this.svc.dataDir };
  }

  /** `vht-kit enrol` with S3 sync to this kit's bucket (the team credential), the office bucket and a first trainer T-001. */
  async enrol(store: TeamStore, firstPin: string): Promise<void> {
    const { swift, officeBucket, org } = store;
    writeFileSync(
      this.configFile,
      `${TEST_CAPTURE}
sync:
  intervalSeconds: 3600
  office:
    bucket: ${officeBucket}
`,
    );
    const r = await vhtKit(
      [
        'enrol',
        ...['--org-recipient', org.recipient, '--kit-id', this.kitId, '--trainer-pin', firstPin],
        ...['--sync-target', 's3', '--s3-endpoint', swift.endpoint, '--s3-bucket', this.bucket, '--s3-region', swift.region],
        ...['--s3-access-key-id', swift.writer.accessKeyId, '--s3-secret-access-key', swift.writer.secretAccessKey, '--dock-allow-insecure'],
        // no --case-tag-key: it is wrapped at enrolment to the trainers on the kit then, and a trainer
        // added later (T-017 here) could not tag their cases, so their takes would wait (issue 21's)
      ],
      this.env,
    );
    if (r.code !== 0) throw new Error(`enrol ${this.kitId} failed (${r.code}): ${r.err}`);
    this.svc.configure({ configFile: this.configFile });
  }

  /** `vht-kit trainer add` with the organisation's identity (the service stopped); keeps the PIN and the printed inbox recipient. */
  async addTrainer(trainerId: string, pin: string, org: Org): Promise<void> {
    const r = await vhtKit(['trainer', 'add', trainerId, '--pin', pin, '--org-identity', org.keyFile], this.env);
    if (r.code !== 0) throw new Error(`trainer add ${trainerId} on ${this.kitId} failed (${r.code}): ${r.err}`);
    this.trainers.set(trainerId, { pin, inboxRecipient: (JSON.parse(r.out) as { inboxRecipient: string }).inboxRecipient });
  }

  /** This kit's entry of the office directory (`directory/kits/<kit>.json`), as the office writes it. */
  directoryEntry(team: string): string {
    return JSON.stringify({
      format: 'vht-kit.directory-kit',
      v: 1,
      kitId: this.kitId,
      team,
      bucket: this.bucket,
      trainers: Object.fromEntries([...this.trainers].map(([t, v]) => [t, { inboxRecipient: v.inboxRecipient }])),
    });
  }

  /** Signs the test's API session in as `trainerId` (which ends another trainer's sessions on the kit). */
  async signIn(trainerId: string): Promise<void> {
    await this.svc.login(this.trainers.get(trainerId)!.pin, trainerId);
  }

  /** `vht-kit dock on`: the kit is on its dock (a sync run starts). */
  async dock(): Promise<void> {
    const r = await vhtKit(['dock', 'on'], this.env);
    if (r.code !== 0) throw new Error(`dock on ${this.kitId} failed (${r.code}): ${r.err}`);
  }

  /** The sync status (with the fetch's progress), as the remote reads it. */
  async sync(): Promise<any> {
    return (await this.svc.request('GET', '/api/sync')).json;
  }

  /**
   * Starts a sync run now and waits until a run that ended after this call satisfies `pred`. A request
   * that arrives while a run is finishing joins that run: it is sent again every 5 s until a run
   * ends after it.
   */
  async syncRun(what: string, pred: (s: any) => boolean, timeoutMs = 90_000): Promise<any> {
    const before = (await this.sync()).lastSuccessAt ?? 0;
    let asked = 0;
    let last: unknown;
    try {
      return await until(
        `${this.kitId}: ${what}`,
        async () => {
          const s = await this.sync();
          last = s;
          if (s.state === 'done' && (s.lastSuccessAt ?? 0) > before) return pred(s) ? s : undefined;
          if (!['checking', 'uploading'].includes(s.state) && Date.now() - asked > 5000) {
            asked = Date.now();
            const r = await this.svc.request('POST', '/api/sync/run', {});
            if (r.status !== 202) throw new Error(`${this.kitId}: POST /api/sync/run answered ${r.status} ${r.text}`);
          }
          return undefined;
        },
        timeoutMs,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; last sync status ${JSON.stringify(last)}\n${this.svc.output.slice(-3000)}`);
    }
  }

  /** The audit entries (type, trainer) about one item, in order, read from the kit's catalogue. */
  auditOf(itemId: string): { type: string; trainer: string | null }[] {
    const db = new Database(path.join(this.svc.dataDir, 'catalogue.db'), { readonly: true });
    try {
      return db
        .prepare("SELECT type, trainer_id AS trainer FROM audit_events WHERE clip_id = ? OR details LIKE '%' || ? || '%' ORDER BY id")
        .all(itemId, itemId) as { type: string; trainer: string | null }[];
    } finally {
      db.close();
    }
  }

  /** The inbox identity of a trainer on this kit, unsealed with their PIN from the file on the card. */
  async inboxIdentity(trainerId: string): Promise<string | null> {
    const file = JSON.parse(readFileSync(path.join(this.svc.dataDir, 'keys', 'inbox', `${trainerId}.json`), 'utf8')) as {
      sealed: Parameters<typeof unseal>[0];
    };
    return unseal(file.sealed, this.trainers.get(trainerId)!.pin);
  }
}

/** Whether `identity` decrypts `data` (an age file); false when no recipient stanza is its own. */
export async function opens(identity: string, data: Uint8Array): Promise<boolean> {
  try {
    await decryptWith(identity, data);
    return true;
  } catch (err) {
    if (/no identity matched|decrypt/i.test(String(err))) return false;
    throw err;
  }
}

// Office sync against a real S3 server: OpenStack Swift with s3api, started once for this file by
// scripts/s3-test-server on free loopback ports. Clips are made by the real store code.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDock } from '../src/sync/dock.js';
import type { SyncErrorReason } from '../src/sync/errors.js';
import { exportClip, listClips } from '../src/sync/export.js';
import type { AuditExport, ClipManifest } from '../src/sync/manifest.js';
import { SyncService, type SyncProgress, type SyncServiceOptions } from '../src/sync/service.js';
import { S3Target, type S3TargetOptions, type UploadTarget } from '../src/sync/targets.js';
import { FaultProxy } from './helpers/fault-proxy.js';
import { ageDecrypt, discover } from './helpers/media.js';
import { RecordingTarget } from './helpers/recording-target.js';
import { SwiftServer, type Creds } from './helpers/swift.js';
import { ALL_CONSENT, makeKit, realSegments, recordClip, syntheticSegments, type TestKit } from './helpers/sync-kit.js';
import { rawSql } from './helpers/raw-sql.js';

// the AWS SDK warns once per process that its 2027 releases need Node 22; not news for these tests
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const KIT = 'kit-07';
const PREFIX = 'vht';

let root: string;
let swift: SwiftServer;

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'vht-sync-'));
  swift = await SwiftServer.create(path.join(root, 'swift'));
}, 600_000);

afterAll(async () => {
  await swift?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
}, 60_000);

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

function s3(kit: TestKit, endpoint: string, bucket: string, creds: Creds, extra: Partial<S3TargetOptions> = {}): S3Target {
  return new S3Target({ endpoint, region: swift.region, bucket, prefix: PREFIX, ...creds, clock: kit.clock, requestTimeoutMs: 10_000, ...extra });
}

function service(kit: TestKit, target: UploadTarget, extra: Partial<SyncServiceOptions> = {}): SyncService {
  return new SyncService({
    catalogue: kit.catalogue,
    clips: kit.clips,
    target,
    kitId: KIT,
    orgRecipient: kit.orgRecipient,
    clock: kit.clock,
    logger: kit.logger,
    retry: { attempts: 4, baseMs: 20, maxMs: 200 },
    ...extra,
  });
}

/** Every object key a clip must have at the organisation, with the MD5 of the local file. */
function expectedObjects(kit: TestKit, clipId: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const s of kit.catalogue.segments(clipId)) {
    m.set(`${PREFIX}/${KIT}/clips/${clipId}/${s.seq}.ts.age`, md5(readFileSync(kit.clips.segmentFile(clipId, s.seq))));
  }
  return m;
}

function decryptObject(kit: TestKit, body: Buffer): Buffer {
  const f = path.join(kit.dir, `obj-${Math.random().toString(36).slice(2)}.age`);
  writeFileSync(f, body);
  try {
    return ageDecrypt(kit.orgKeyFile, f); // Debian's age CLI
  } finally {
    rmSync(f, { force: true });
  }
}

function localSegmentsIntact(kit: TestKit, clipId: string): boolean {
  return kit.catalogue.segments(clipId).every((s) => {
    const f = kit.clips.segmentFile(clipId, s.seq);
    return existsSync(f) && createHash('sha256').update(readFileSync(f)).digest('hex') === s.sha256;
  });
}

describe('sync to S3 (Swift)', () => {
  it('uploads every finished clip with a case through a write-only key; manifest last; unassigned clips wait', async () => {
    const bucket = 'vht-full';
    await swift.createBucket(bucket, { writer: true });
    const kit = await makeKit(path.join(root, 'full'));
    const a = await recordClip(kit, {
      caseCode: 'fam-2041',
      segments: syntheticSegments(4, 50_000, 1),
      markers: [
        { offsetMs: 1500, label: 'initiatief' },
        { offsetMs: 2500, label: null },
      ],
    });
    const b = await recordClip(kit, { caseCode: 'fam-2041', segments: syntheticSegments(3, 40_000, 2), finish: 'recovered' });
    const c = await recordClip(kit, { caseCode: 'fam-3310', segments: syntheticSegments(2, 30_000, 3) });
    const d = await recordClip(kit, { caseCode: null, segments: syntheticSegments(2, 30_000, 4) });
    const e = await recordClip(kit, { caseCode: 'fam-2041', segments: syntheticSegments(1, 30_000, 5), finish: null });

    const proxy = new FaultProxy({ host: '127.0.0.1', port: swift.port });
    await proxy.start();
    const svc = service(kit, s3(kit, proxy.endpoint, bucket, swift.writer));
    const seen: SyncProgress[] = [];
    svc.on('progress', (p) => seen.push(p));
    expect(svc.progress).toMatchObject({ state: 'idle', pending: 4, waitingForCase: 1 });
    const r = await svc.runOnce();
    expect(r.error).toBeUndefined();
    expect(r.uploaded).toEqual([a, b, c]);
    expect(r.waitingForCase).toEqual([d]);
    expect(seen.map((p) => p.state)).toContain('checking');
    expect(seen.map((p) => p.state)).toContain('uploading');
    expect(svc.progress).toMatchObject({ state: 'done', pending: 1, waitingForCase: 1 });
    expect(svc.progress.bytesDone).toBe(svc.progress.bytesTotal);
    expect(svc.progress.bytesTotal).toBeGreaterThan(4 * 50_000 + 3 * 40_000 + 2 * 30_000);

    // what is in the bucket: exactly the segments + manifests of a, b, c and one audit export
    const listed = await swift.list(bucket);
    const expected = new Map<string, string>();
    for (const id of [a, b, c]) for (const [k, v] of expectedObjects(kit, id)) expected.set(k, v);
    for (const [k, v] of expected) expect(listed.find((o) => o.key === k)?.etag, k).toBe(v);
    const manifests = listed
      .filter((o) => o.key.endsWith('/manifest.json.age'))
      .map((o) => o.key)
      .sort();
    expect(manifests).toEqual([a, b, c].map((id) => `${PREFIX}/${KIT}/clips/${id}/manifest.json.age`).sort());
    const audits = listed.filter((o) => o.key.includes('/audit/'));
    expect(audits).toHaveLength(1);
    expect(audits[0]!.key).toMatch(/^vht\/kit-07\/audit\/\d{8}T\d{9}Z\.json\.age$/);
    expect(listed).toHaveLength(expected.size + 3 + 1);
    expect(listed.some((o) => o.key.includes(d) || o.key.includes(e))).toBe(false);
    expect(listed.some((o) => o.key.includes('fam-'))).toBe(false); // opaque ids only

    // the manifest goes last, after every segment of its clip
    const puts = proxy.puts().map((p) => p.path);
    for (const id of [a, b, c]) {
      const idx = puts.map((p, i) => (p.includes(id) ? i : -1)).filter((i) => i >= 0);
      const mIdx = puts.findIndex((p) => p.includes(`${id}/manifest.json.age`));
      expect(mIdx).toBe(Math.max(...idx));
    }

    // the manifest, decrypted with the organisation's key by the age CLI
    const manA = JSON.parse(decryptObject(kit, await swift.get(bucket, `${PREFIX}/${KIT}/clips/${a}/manifest.json.age`)).toString()) as ClipManifest;
    expect(manA).toMatchObject({
      kitId: KIT,
      clipId: a,
      caseCode: 'fam-2041',
      trajectory: 'k-vht',
      consent: ALL_CONSENT,
      recovered: false,
      markers: [
        { offsetMs: 1500, label: 'initiatief' },
        { offsetMs: 2500, label: null },
      ],
    });
    expect(typeof manA.visitId).toBe('number');
    expect(manA.segments.map((s) => [s.seq, s.sha256, s.bytes, s.durationMs, s.discontinuity])).toEqual(
      kit.catalogue.segments(a).map((s) => [s.seq, s.sha256, s.bytes, s.durationMs, false]),
    );
    const manB = JSON.parse(decryptObject(kit, await swift.get(bucket, `${PREFIX}/${KIT}/clips/${b}/manifest.json.age`)).toString()) as ClipManifest;
    expect(manB.recovered).toBe(true);

    // the catalogue: confirmed clips marked and audited; the others not
    for (const id of [a, b, c]) expect(kit.catalogue.getClip(id)!.uploadedAt).not.toBeNull();
    for (const id of [d, e]) expect(kit.catalogue.getClip(id)!.uploadedAt).toBeNull();
    const confirmedEvents = kit.catalogue
      .auditEvents()
      .filter((ev) => ev.type === 'upload.confirmed')
      .map((ev) => ev.clipId);
    expect(confirmedEvents).toEqual([a, b, c]);
    expect(kit.catalogue.verifyAudit().ok).toBe(true);

    // the audit export: every audit row with its hashes, a whole chain
    const exp = JSON.parse(decryptObject(kit, await swift.get(bucket, audits[0]!.key)).toString()) as AuditExport;
    expect(exp.fromId).toBe(1);
    expect(exp.events.map((ev) => ev.id)).toEqual(kit.catalogue.auditEvents().map((ev) => ev.id));
    expect(exp.events[0]!.prevHash).toBe('0'.repeat(64));
    for (let i = 1; i < exp.events.length; i++) expect(exp.events[i]!.prevHash).toBe(exp.events[i - 1]!.hash);

    // a second run sends nothing; the sync deleted nothing
    const before = proxy.puts().length;
    const r2 = await svc.runOnce();
    expect(r2.uploaded).toEqual([]);
    expect(proxy.puts().length).toBe(before);
    for (const id of [a, b, c, d, e]) expect(localSegmentsIntact(kit, id)).toBe(true);

    // once the waiting clip has a case it goes too, and the audit export continues the chain
    kit.clips.assignCase(d, 'fam-3310', ALL_CONSENT, kit.clock.now());
    const r3 = await svc.runOnce();
    expect(r3.uploaded).toEqual([d]);
    expect(svc.progress).toMatchObject({ state: 'done', pending: 0, waitingForCase: 0 });
    const audits2 = (await swift.list(bucket, `${PREFIX}/${KIT}/audit/`)).map((o) => o.key).sort();
    expect(audits2).toHaveLength(2);
    const exp2 = JSON.parse(decryptObject(kit, await swift.get(bucket, audits2[1]!)).toString()) as AuditExport;
    expect(exp2.fromId).toBe(exp.uptoId + 1);
    expect(exp2.prevHash).toBe(exp.events[exp.events.length - 1]!.hash);
    expect(exp2.events[0]!.prevHash).toBe(exp2.prevHash);
    await proxy.stop();
    svc.close();
  });

  it('resumes after the server is killed mid-upload: nothing confirmed is sent again, nothing is lost or doubled', async () => {
    const bucket = 'vht-kill';
    await swift.createBucket(bucket, { writer: true });
    const kit = await makeKit(path.join(root, 'kill'));
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await recordClip(kit, { caseCode: 'fam-4410', segments: syntheticSegments(20, 200_000, 10 + i) }));
    const target = new RecordingTarget(s3(kit, swift.endpoint, bucket, swift.writer, { requestTimeoutMs: 5000 }));
    const svc = service(kit, target, { concurrency: 2, retry: { attempts: 3, baseMs: 50, maxMs: 200 } });
    let kill = null as Promise<void> | null; // set in a callback: no narrowing to null
    target.onConfirmed = (n) => {
      // early enough that the run cannot finish before the kill lands (57 objects left)
      if (!kill && n >= 3) kill = swift.stop({ kill: true });
    };
    const r1 = await svc.runOnce();
    await kill;
    expect(kill).not.toBeNull();
    expect(r1.error?.reason).toMatch(/NETWORK|TIMEOUT/);
    expect(r1.error?.message).toMatch(/gave up after 3 attempts/);
    expect(svc.progress.state).toBe('error');
    expect(svc.progress.lastError?.reason).toMatch(/NETWORK|TIMEOUT/);
    const confirmedRun1 = new Set((rawSql.all(kit.catalogue, 'SELECT key FROM sync_objects') as { key: string }[]).map((x) => x.key));
    expect(confirmedRun1.size).toBeGreaterThan(0);
    expect(confirmedRun1.size).toBeLessThan(3 * 21);
    const run1Puts = target.puts.length;
    const attemptedRun1 = new Set(target.puts.map((p) => p.key));

    await swift.start();
    const r2 = await svc.runOnce();
    expect(r2.error).toBeUndefined();
    expect([...r1.uploaded, ...r2.uploaded].sort()).toEqual([...ids].sort());
    const run2Keys = target.puts.slice(run1Puts).map((p) => p.key);
    // nothing confirmed before the cut was sent again
    expect(run2Keys.filter((k) => confirmedRun1.has(k))).toEqual([]);
    // re-sent: only what was in flight at the cut (≤ the number of parallel uploads)
    const resent = run2Keys.filter((k) => attemptedRun1.has(k));
    expect(resent.length).toBeLessThanOrEqual(2);
    // every object exactly once, byte for byte
    const listed = await swift.list(bucket, `${PREFIX}/${KIT}/clips/`);
    const expected = new Map<string, string>();
    for (const id of ids) for (const [k, v] of expectedObjects(kit, id)) expected.set(k, v);
    for (const [k, v] of expected) expect(listed.find((o) => o.key === k)?.etag, k).toBe(v);
    expect(listed).toHaveLength(expected.size + ids.length);
    for (const id of ids) {
      expect(kit.catalogue.getClip(id)!.uploadedAt).not.toBeNull();
      expect(localSegmentsIntact(kit, id)).toBe(true);
    }
    svc.close();
  });

  it('retries connection resets, 503s and timeouts with jittered exponential backoff on the injected clock', async () => {
    const bucket = 'vht-flaky';
    await swift.createBucket(bucket, { writer: true });
    const kit = await makeKit(path.join(root, 'flaky'));
    const id = await recordClip(kit, { caseCode: 'fam-5120', segments: syntheticSegments(4, 60_000, 20) });
    const proxy = new FaultProxy({ host: '127.0.0.1', port: swift.port });
    await proxy.start();
    proxy.faults = ['reset', '503', 'hang', 'pass', '503', 'reset'];
    const svc = service(kit, s3(kit, proxy.endpoint, bucket, swift.writer, { requestTimeoutMs: 5000 }), {
      // a passing PUT under load stays well inside 5 s
      concurrency: 1,
      retry: { attempts: 5, baseMs: 40, maxMs: 1000 },
    });
    const reasons = new Set<SyncErrorReason>();
    svc.on('progress', (p) => p.lastError && reasons.add(p.lastError.reason));
    const r = await svc.runOnce();
    expect(r.error).toBeUndefined();
    expect(r.uploaded).toEqual([id]);
    expect([...reasons].sort()).toEqual(['NETWORK', 'SERVER', 'TIMEOUT']);
    // backoff: attempt n waits 50–100 % of 40 ms · 2^(n-1)
    const d = kit.clock.delays;
    expect(d).toHaveLength(5);
    const bounds = [40, 80, 160, 40, 80];
    d.forEach((ms, i) => {
      expect(ms).toBeGreaterThanOrEqual(bounds[i]! / 2);
      expect(ms).toBeLessThanOrEqual(bounds[i]!);
    });
    const listed = await swift.list(bucket);
    for (const [k, v] of expectedObjects(kit, id)) expect(listed.find((o) => o.key === k)?.etag).toBe(v);
    await proxy.stop();
    svc.close();
  });

  it('stop() aborts a hanging upload at once; nothing is marked; the next run finishes', async () => {
    const bucket = 'vht-stop';
    await swift.createBucket(bucket, { writer: true });
    const kit = await makeKit(path.join(root, 'stop'));
    const id = await recordClip(kit, { caseCode: 'fam-5230', segments: syntheticSegments(2, 20_000, 25) });
    const proxy = new FaultProxy({ host: '127.0.0.1', port: swift.port });
    await proxy.start();
    proxy.faults = ['hang'];
    const svc = service(kit, s3(kit, proxy.endpoint, bucket, swift.writer, { requestTimeoutMs: 60_000 }), { concurrency: 1 });
    const running = svc.runOnce();
    expect(svc.runOnce()).toBe(running); // one run at a time
    while (proxy.puts().length === 0 || proxy.puts()[0]!.bytes === 0) await new Promise((r) => setTimeout(r, 20));
    const t0 = Date.now();
    await svc.stop();
    expect(Date.now() - t0, 'stop() aborts the hanging PUT, not its 60 s request timeout').toBeLessThan(10_000);
    const r = await running;
    expect(r.error?.reason).toBe('ABORTED');
    expect(svc.progress.state).toBe('idle');
    expect(kit.catalogue.getClip(id)!.uploadedAt).toBeNull();
    expect((await svc.runOnce()).uploaded).toEqual([id]);
    await proxy.stop();
    svc.close();
  });

  it('a body damaged in transit (Content-MD5 mismatch, BadDigest) is sent again; the local segment is kept', async () => {
    const bucket = 'vht-digest';
    await swift.createBucket(bucket, { writer: true });
    const kit = await makeKit(path.join(root, 'digest'));
    const id = await recordClip(kit, { caseCode: 'fam-6230', segments: syntheticSegments(3, 80_000, 30) });
    const proxy = new FaultProxy({ host: '127.0.0.1', port: swift.port });
    await proxy.start();
    proxy.faults = ['corrupt', 'corrupt'];
    const svc = service(kit, s3(kit, proxy.endpoint, bucket, swift.writer), { concurrency: 1 });
    const reasons: SyncErrorReason[] = [];
    svc.on('progress', (p) => p.lastError && reasons.push(p.lastError.reason));
    const r = await svc.runOnce();
    expect(r.error).toBeUndefined();
    const damaged = proxy.puts().filter((p) => p.fault === 'corrupt');
    expect(damaged.map((p) => p.status)).toEqual([400, 400]);
    expect(reasons).toContain('BAD_DIGEST');
    const listed = await swift.list(bucket);
    for (const [k, v] of expectedObjects(kit, id)) expect(listed.find((o) => o.key === k)?.etag).toBe(v);
    expect(localSegmentsIntact(kit, id)).toBe(true);

    // damaged every time: the run ends in error, the clip is not marked, the local files stay
    const id2 = await recordClip(kit, { caseCode: 'fam-6230', segments: syntheticSegments(2, 80_000, 31) });
    proxy.faults = ['corrupt', 'corrupt', 'corrupt', 'corrupt'];
    const r2 = await svc.runOnce();
    expect(r2.error?.reason).toBe('BAD_DIGEST');
    expect(svc.progress.state).toBe('error');
    expect(kit.catalogue.getClip(id2)!.uploadedAt).toBeNull();
    expect(localSegmentsIntact(kit, id2)).toBe(true);
    const r3 = await svc.runOnce();
    expect(r3.uploaded).toEqual([id2]);
    await proxy.stop();
    svc.close();
  });

  it('wrong credentials, a missing bucket or a wrong kit clock stop the run at once with a clear message; nothing is marked', async () => {
    const bucket = 'vht-creds';
    await swift.createBucket(bucket, { writer: true });
    const kit = await makeKit(path.join(root, 'creds'));
    const id = await recordClip(kit, { caseCode: 'fam-7340', segments: syntheticSegments(3, 20_000, 40) });
    const proxy = new FaultProxy({ host: '127.0.0.1', port: swift.port });
    await proxy.start();
    const cases: { creds: Creds; bucket: string; offsetMs?: number; reason: SyncErrorReason; message: RegExp }[] = [
      {
        creds: { accessKeyId: 'test:writer', secretAccessKey: 'not-the-secret' },
        bucket,
        reason: 'ACCESS_DENIED',
        message: /sync\.s3\.accessKeyId "test:writer".*may write to the bucket/,
      },
      { creds: swift.admin, bucket: 'vht-no-such-bucket', reason: 'NO_SUCH_BUCKET', message: /sync\.s3\.bucket "vht-no-such-bucket" does not exist/ },
      { creds: swift.writer, bucket, offsetMs: 3_600_000, reason: 'CLOCK_SKEW', message: /kit's clock .* too far .* set the kit's clock/ },
    ];
    for (const c of cases) {
      kit.clock.offsetMs = c.offsetMs ?? 0;
      const before = proxy.puts().length;
      const svc = service(kit, s3(kit, proxy.endpoint, c.bucket, c.creds));
      const r = await svc.runOnce();
      expect(r.error?.reason, c.reason).toBe(c.reason);
      expect(r.error?.message).toMatch(c.message);
      expect(svc.progress).toMatchObject({ state: 'error', lastError: { reason: c.reason } });
      svc.close();
      // a PUT that the run gave up on may still reach the server: count it with this case, not the next
      await proxy.settled();
      const log = proxy.puts().slice(before);
      const tried = log.map((p) => p.path);
      const seen = log.map((p) => `${p.path} → ${p.status || p.errorCode || 'no answer'}`).join(', ');
      expect(tried.length, `${c.reason}: stops at once, at most one PUT per parallel upload; tried ${seen}`).toBeLessThanOrEqual(2);
      expect(new Set(tried).size, `${c.reason}: no retries; tried ${seen}`).toBe(tried.length);
      expect(kit.catalogue.getClip(id)!.uploadedAt).toBeNull();
      expect(rawSql.get(kit.catalogue, 'SELECT COUNT(*) AS n FROM sync_objects')).toEqual({ n: 0 });
    }
    kit.clock.offsetMs = 0;
    expect(kit.catalogue.auditEvents().filter((e) => e.type === 'upload.confirmed')).toEqual([]);
    expect(localSegmentsIntact(kit, id)).toBe(true);
    await proxy.stop();
  });

  it('over TLS with a pinned self-signed certificate; a wrong pin sends no request at all', async () => {
    const bucket = 'vht-tls';
    await swift.createBucket(bucket, { writer: true });
    const kit = await makeKit(path.join(root, 'tls'));
    const id = await recordClip(kit, { caseCode: 'fam-8450', segments: syntheticSegments(2, 20_000, 50) });
    const certDir = path.join(root, 'tls-cert');
    execFileSync('mkdir', ['-p', certDir]);
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=vht-test-storage',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        path.join(certDir, 'key.pem'),
        '-out',
        path.join(certDir, 'cert.pem'),
      ],
      { stdio: 'pipe' },
    );
    const certPem = readFileSync(path.join(certDir, 'cert.pem'), 'utf8');
    const spki = execFileSync('sh', [
      '-c',
      `openssl x509 -in ${path.join(certDir, 'cert.pem')} -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -hex`,
    ])
      .toString()
      .split('= ')[1]!
      .trim();
    const proxy = new FaultProxy({ host: '127.0.0.1', port: swift.port }, { key: readFileSync(path.join(certDir, 'key.pem'), 'utf8'), cert: certPem });
    await proxy.start();

    const wrong = service(kit, s3(kit, proxy.endpoint, bucket, swift.writer, { tls: { pinSha256: 'ab'.repeat(32) } }));
    const bad = await wrong.runOnce();
    expect(bad.error?.reason).toBe('TLS');
    expect(bad.error?.message).toMatch(/matches no sync\.dock\.pinSha256/);
    expect(proxy.requests).toBe(0);
    wrong.close();
    expect((await checkDock(proxy.endpoint, { pinSha256: 'ab'.repeat(32) })).docked).toBe(false);

    const dock = await checkDock(proxy.endpoint, { pinSha256: spki });
    expect(dock).toMatchObject({ docked: true, via: 'pin', spkiSha256: spki });
    const svc = service(kit, s3(kit, proxy.endpoint, bucket, swift.writer, { tls: { pinSha256: spki } }), {
      dock: () => checkDock(proxy.endpoint, { pinSha256: spki }),
    });
    const r = await svc.runOnce();
    expect(r.error).toBeUndefined();
    expect(r.uploaded).toEqual([id]);
    expect(svc.progress.docked).toBe(true);
    svc.close();

    // not docked: no upload is tried
    const away = service(kit, s3(kit, proxy.endpoint, bucket, swift.writer), { dock: async () => ({ docked: false, reason: 'not at the office' }) });
    const before = proxy.requests;
    const r2 = await away.runOnce();
    expect(r2).toMatchObject({ docked: false, dockReason: 'not at the office', uploaded: [] });
    expect(away.progress).toMatchObject({ state: 'idle', docked: false });
    expect(proxy.requests).toBe(before);
    away.close();
    await proxy.stop();
  });

  it('exports a synced clip at the office: verified, decrypted, joined MP4 with markers as CSV and ELAN .eaf; a tampered segment is refused', async () => {
    const bucket = 'vht-export';
    await swift.createBucket(bucket, { writer: true });
    const kit = await makeKit(path.join(root, 'export'));
    const segs = realSegments(path.join(root, 'export-media'), 5);
    const markers = [
      { offsetMs: 1200, label: 'initiatief kind' },
      { offsetMs: 2600, label: null },
      { offsetMs: 3400, label: 'ontvangst, "ja"' },
    ];
    const id = await recordClip(kit, { caseCode: 'fam-9560', segments: segs, markers });
    const svc = service(kit, s3(kit, swift.endpoint, bucket, swift.writer));
    expect((await svc.runOnce()).uploaded).toEqual([id]);
    svc.close();

    const env = {
      AWS_ACCESS_KEY_ID: swift.admin.accessKeyId,
      AWS_SECRET_ACCESS_KEY: swift.admin.secretAccessKey,
      AWS_REGION: swift.region,
      AWS_ENDPOINT_URL: swift.endpoint,
    };
    const from = `s3://${bucket}/${PREFIX}`;
    const listed = await listClips(from, { env, identityFile: kit.orgKeyFile });
    expect(listed).toEqual([expect.objectContaining({ kitId: KIT, clipId: id, caseCode: 'fam-9560', segments: segs.length, markers: 3 })]);

    const out = path.join(root, 'office', 'clip.mp4');
    const res = await exportClip({ identityFile: kit.orgKeyFile, from, clipId: id, out, env });
    expect(res).toMatchObject({ kitId: KIT, clipId: id, segments: segs.length, hasAudio: true });
    const info = discover(out);
    expect(info.hasVideo).toBe(true);
    expect(info.hasAudio).toBe(true);
    const catalogueS = kit.catalogue.getClip(id)!.durationMs / 1000;
    expect(Math.abs(info.durationS - catalogueS)).toBeLessThanOrEqual(0.1);

    const csv = readFileSync(path.join(root, 'office', 'clip.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(csv).toEqual(['offset_ms,time,label', '1200,00:00:01.200,initiatief kind', '2600,00:00:02.600,', '3400,00:00:03.400,"ontvangst, ""ja"""']);
    const eaf = readFileSync(path.join(root, 'office', 'clip.eaf'), 'utf8');
    expect(eaf).toMatch(/<ANNOTATION_DOCUMENT [^>]*FORMAT="3.0"/);
    expect(eaf).toContain('RELATIVE_MEDIA_URL="./clip.mp4"');
    const slots = new Map([...eaf.matchAll(/TIME_SLOT_ID="(ts\d+)" TIME_VALUE="(\d+)"/g)].map((m) => [m[1]!, Number(m[2])]));
    const anns = [...eaf.matchAll(/TIME_SLOT_REF1="(ts\d+)" TIME_SLOT_REF2="(ts\d+)">\s*<ANNOTATION_VALUE>([^<]*)</g)].map((m) => ({
      start: slots.get(m[1]!),
      end: slots.get(m[2]!),
      value: m[3],
    }));
    expect(anns).toEqual([
      { start: 1200, end: 2200, value: 'initiatief kind' },
      { start: 2600, end: 3600, value: 'marker' },
      { start: 3400, end: 4400, value: 'ontvangst, &quot;ja&quot;' },
    ]);
    execFileSync('python3', ['-c', 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])', path.join(root, 'office', 'clip.eaf')]);

    // someone with write access replaced segment 2: the export names it and writes nothing
    await swift.put(bucket, `${PREFIX}/${KIT}/clips/${id}/2.ts.age`, Buffer.from(segs[2]!.data).fill(7, 0, 100));
    const out2 = path.join(root, 'office2', 'clip.mp4');
    await expect(exportClip({ identityFile: kit.orgKeyFile, from, clipId: id, out: out2, env })).rejects.toThrow(
      new RegExp(`segment 2 of clip ${id} \\(kit-07/clips/${id}/2\\.ts\\.age\\) does not match the manifest`),
    );
    expect(existsSync(out2)).toBe(false);
    expect(existsSync(path.join(root, 'office2', 'clip.csv'))).toBe(false);

    // the kit's write-only key cannot read what it uploaded
    const writerEnv = { ...env, AWS_ACCESS_KEY_ID: swift.writer.accessKeyId, AWS_SECRET_ACCESS_KEY: swift.writer.secretAccessKey };
    await expect(listClips(from, { env: writerEnv })).rejects.toThrow(/listing failed/);
  });
});

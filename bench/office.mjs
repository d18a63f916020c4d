#!/usr/bin/env node
// The organisation's side at scale (issue 21): `office kits` and `office case` over many kits, and
// erase throughput, on a real S3 server (OpenStack Swift + s3api, scripts/s3-test-server).
//
//   npm run build && node bench/office.mjs [--kits 50,100,200,500] [--clips 20] [--segments 1]
//        [--clips-check 200] [--case-clips 60] [--rounds 3] [--concurrency 32] [--put-concurrency 48]
//
// A bucket per kit (`vht-bench-kit-<id>`, the layout of docs/office.md). Each kit holds `clips`
// clips: a manifest, a case index entry `<kit>/cases/<tag>/clip-<id>.json.age` (cases drawn from
// 1000 codes) and `segments` segment objects, plus its status object (encrypted to the organisation
// with the kit's own age code). The bench case GZ-BENCH has `case-clips` clips spread over one kit in
// five, each with 3 segments; its index entries and every status are real age ciphertext of the
// shapes the kit writes; the other objects are random bytes (the office never reads them here).
//
// 1. Write rate: PUTs of 1 KB objects with `put-concurrency` in parallel, objects/s.
// 2. For each kit count (the store grows to it): `office kits` (a GET + decrypt of every status)
//    and `office case GZ-BENCH` through the index (a LIST per kit, then only the entries found are
//    read), `rounds` each, median; ratio to the smallest kit count. Target: case ≤ 5 s at 500 kits.
// 3. Clip count per kit: at the smallest kit count, `clips-check` clips per kit on another set of
//    kits, case inventory time vs `clips` clips (the LIST of a case prefix does not read the rest).
// 4. Erase GZ-BENCH: notice, deletes, HEAD verification, receipt; objects/s.
// Writes bench/results/office.json and prints it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { cpuSeconds, freePortBlock, log, machineInfo, median, numArg, onCleanup, REPO, round, runBench, tempDir } from './lib.mjs';

const run = promisify(execFile);
const SCRIPT = path.join(REPO, 'scripts', 's3-test-server');
const dist = (p) => import(path.join(REPO, 'dist', p));
const strArg = (name, fallback) => {
  const argv = process.argv.slice(2);
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
};

const KIT_COUNTS = strArg('kits', '50,100,200,500')
  .split(',')
  .map(Number)
  .sort((a, b) => a - b);
const CLIPS = numArg('clips', 20);
const SEGMENTS = numArg('segments', 1);
const CLIPS_CHECK = numArg('clips-check', 200);
const CASE_CLIPS = numArg('case-clips', 60);
const ROUNDS = numArg('rounds', 3);
const CONC = numArg('concurrency', 32);
const PUT_CONC = numArg('put-concurrency', 48);
const ORG = 'vht-bench';
const CODE = 'GZ-BENCH';

async function pool(items, n, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

function clipId(kit, i) {
  return `${kit.replace(/[^a-z0-9]/g, '')}c${String(i).padStart(5, '0')}`.padEnd(12, '0');
}

runBench('office', async () => {
  const dir = tempDir('vht-bench-office-');
  const port = await freePortBlock(5);
  const swiftDir = path.join(dir, 'swift');
  log('starting Swift');
  await run(SCRIPT, ['start', '--dir', swiftDir, '--port', String(port)], { timeout: 600_000 });
  onCleanup(() => run(SCRIPT, ['stop', '--dir', swiftDir], { timeout: 60_000 }));
  const endpoint = `http://127.0.0.1:${port}`;
  const runDir = path.join(swiftDir, 'run');
  /** CPU seconds of the Swift processes (proxy, object, container, account, memcached). */
  const swiftCpu = () =>
    readdirSync(runDir)
      .filter((f) => f.endsWith('.pid'))
      .reduce((a, f) => a + (cpuSeconds(Number(readFileSync(path.join(runDir, f), 'utf8'))) ?? 0), 0);
  const ownCpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const { S3Connection } = await dist('store/bucket-store.js');
  const { encryptTo } = await dist('store/crypto.js');
  const { caseTag, caseIndexKey, manifestKey, segmentKey, statusKey } = await dist('store/objects.js');
  const { OfficeLayout } = await dist('office/layout.js');
  const { fleet } = await dist('office/fleet.js');
  const { caseInventory, eraseCase } = await dist('office/cases.js');
  const s3 = { endpoint, region: 'us-east-1', accessKeyId: 'test:tester', secretAccessKey: 'testing', maxSockets: 64 };
  const conn = new S3Connection(s3);
  onCleanup(() => conn.close());

  const orgKey = path.join(dir, 'org.key');
  execFileSync('age-keygen', ['-o', orgKey], { stdio: 'pipe' });
  const identity = readFileSync(orgKey, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('AGE-SECRET-KEY-1'));
  const recipient = /# public key: (age1\S+)/.exec(readFileSync(orgKey, 'utf8'))[1];
  const tagKey = randomBytes(32);
  const benchTag = caseTag(CODE, tagKey);
  const otherTags = Array.from({ length: 1000 }, (_, i) => caseTag(`GZ-${String(i).padStart(4, '0')}`, tagKey));
  const junk = randomBytes(1024);
  const now = Date.now();

  const createBucket = (name) => conn.client.send(new CreateBucketCommand({ Bucket: name }));
  for (const b of [`${ORG}-office`, `${ORG}-office-private`]) await createBucket(b);

  // 1. write rate
  await createBucket(`${ORG}-rate`);
  const rateBucket = conn.bucket(`${ORG}-rate`);
  const rateN = 2000;
  let t0 = performance.now();
  await pool(
    Array.from({ length: rateN }, (_, i) => i),
    PUT_CONC,
    (i) => rateBucket.put(`r/${i}`, junk),
  );
  const putRate = rateN / ((performance.now() - t0) / 1000);
  log(`write rate: ${round(putRate, 0)} PUT/s (1 KB, ${PUT_CONC} in parallel)`);

  /** Writes one kit: bucket, clips (manifest, index entry, segments), status. */
  let written = 0;
  let caseLeft = CASE_CLIPS;
  async function writeKit(bucketPrefix, kitId, clips, holdsBenchCase) {
    const bucket = `${bucketPrefix}${kitId}`;
    await createBucket(bucket);
    const store = conn.bucket(bucket);
    const jobs = [];
    const benchClips = holdsBenchCase ? Math.min(caseLeft, Math.max(1, Math.round(CASE_CLIPS / (KIT_COUNTS[0] / 5)))) : 0;
    caseLeft -= benchClips;
    for (let i = 0; i < clips + benchClips; i++) {
      const id = clipId(kitId, i);
      const bench = i >= clips;
      const tag = bench ? benchTag : otherTags[(i * 7919 + kitId.length) % otherTags.length];
      jobs.push({ key: manifestKey(kitId, id), body: junk });
      for (let s = 0; s < (bench ? 3 : SEGMENTS); s++) jobs.push({ key: segmentKey(kitId, id, s), body: junk });
      if (bench) {
        const entry = {
          format: 'vht-kit.case-index',
          v: 1,
          kitId,
          caseTag: tag,
          caseCode: CODE,
          kind: 'clip',
          id,
          object: manifestKey(kitId, id),
          prefix: `${kitId}/clips/${id}/`,
          visitUid: randomBytes(8).toString('hex'),
          trajectory: 'k-vht',
          consent: { recording: true, review: true, supervision: false, training: false },
          purposes: ['recording'],
          trainerIds: ['T-001'],
          createdAt: now - i * 60_000,
          durationMs: 600_000,
          segments: 3,
          stills: 0,
          bytes: 3072,
          writtenAt: now,
        };
        jobs.push({ key: caseIndexKey(kitId, tag, 'clip', id), body: await encryptTo([recipient], JSON.stringify(entry)) });
      } else jobs.push({ key: caseIndexKey(kitId, tag, 'clip', id), body: junk });
    }
    const status = {
      format: 'vht-kit.kit-status',
      v: 1,
      kitId,
      version: kitId.endsWith('7') ? '0.1.0' : '0.2.0',
      at: now - (kitId.endsWith('3') ? 20 : 1) * 86_400_000,
      lastSuccessAt: now - 86_400_000,
      waitingForCase: 0,
      waitingForUpload: 0,
      oldestWaitingAt: null,
      storage: { freeBytes: 20e9, usableBytes: 19e9 },
      warnings: [],
      trainerIds: ['T-001'],
      pendingRotations: [],
      closedCases: [],
      casesWithoutTag: 0,
      erasureCursor: null,
    };
    jobs.push({ key: statusKey(kitId), body: await encryptTo([recipient], JSON.stringify(status)) });
    await pool(jobs, PUT_CONC, (j) => store.put(j.key, j.body));
    written += jobs.length;
  }

  const timeIt = async (fn) => {
    const t = performance.now();
    const r = await fn();
    return { ms: performance.now() - t, r };
  };
  const layoutFor = (prefix) => new OfficeLayout({ kits: `s3://${prefix}*`, office: `s3://${ORG}-office`, private: `s3://${ORG}-office-private` }, s3);

  // 2. growing kit counts
  const steps = [];
  let have = 0;
  const writeStart = performance.now();
  for (const k of KIT_COUNTS) {
    log(`writing kits ${have + 1}…${k} (${CLIPS} clips each, ${SEGMENTS} segment(s) a clip)`);
    const t = performance.now();
    const ids = Array.from({ length: k - have }, (_, i) => `k${String(have + i).padStart(4, '0')}`);
    await pool(ids, 4, (id, i) => writeKit(`${ORG}-kit-`, id, CLIPS, (have + i) % 5 === 0));
    have = k;
    log(`  ${written} objects so far; this step ${round((performance.now() - t) / 1000, 1)} s`);
    const layout = layoutFor(`${ORG}-kit-`);
    const kits = [];
    const cases = [];
    const cpu = { swift: [], bench: [] };
    let items = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const f = await timeIt(() => fleet(layout, [identity], Date.now(), undefined, { concurrency: CONC }));
      kits.push(f.ms);
      const s0 = swiftCpu();
      const b0 = ownCpu();
      const c = await timeIt(() => caseInventory(layout, [identity], benchTag, { caseCode: CODE, concurrency: CONC }));
      cpu.swift.push(swiftCpu() - s0);
      cpu.bench.push(ownCpu() - b0);
      cases.push(c.ms);
      items = c.r.items.length;
      if (f.r.length !== k) throw new Error(`office kits saw ${f.r.length} kits, not ${k}`);
    }
    layout.close();
    steps.push({
      kits: k,
      objects: written,
      kitsMs: round(median(kits), 0),
      caseMs: round(median(cases), 0),
      caseItems: items,
      caseCpuSwiftS: round(median(cpu.swift), 2),
      caseCpuOfficeS: round(median(cpu.bench), 2),
      loadavg1: round(os.loadavg()[0], 1),
    });
    log(`  ${k} kits: office kits ${round(median(kits), 0)} ms, office case ${round(median(cases), 0)} ms (${items} items)`);
  }
  const writeSeconds = (performance.now() - writeStart) / 1000;

  // 3. clips per kit: the smallest kit count again with clips-check clips each
  const k0 = KIT_COUNTS[0];
  log(`writing ${k0} kits with ${CLIPS_CHECK} clips each (clip count check)`);
  caseLeft = CASE_CLIPS;
  await pool(
    Array.from({ length: k0 }, (_, i) => `m${String(i).padStart(4, '0')}`),
    4,
    (id, i) => writeKit(`${ORG}-big-`, id, CLIPS_CHECK, i % 5 === 0),
  );
  const big = layoutFor(`${ORG}-big-`);
  const bigCases = [];
  for (let r = 0; r < ROUNDS; r++) bigCases.push((await timeIt(() => caseInventory(big, [identity], benchTag, { caseCode: CODE, concurrency: CONC }))).ms);
  big.close();
  const clipCheck = { kits: k0, clipsPerKit: CLIPS_CHECK, caseMs: round(median(bigCases), 0), vsClipsPerKit: CLIPS, vsCaseMs: steps[0].caseMs };
  log(`  ${k0} kits × ${CLIPS_CHECK} clips: office case ${clipCheck.caseMs} ms (vs ${steps[0].caseMs} ms with ${CLIPS})`);

  // 4. erase throughput (the bench case on the largest store)
  const layout = layoutFor(`${ORG}-kit-`);
  const clock = { now: () => Date.now(), monotonic: () => performance.now(), setTimeout, clearTimeout };
  const e = await timeIt(() =>
    eraseCase(layout, { identities: [identity], recipient, clock, operator: 'bench', concurrency: CONC }, benchTag, 'all', { caseCode: CODE }),
  );
  layout.close();
  const erase = {
    objects: e.r.receipt.objectsDeleted,
    seconds: round(e.ms / 1000, 2),
    objectsPerSecond: round(e.r.receipt.objectsDeleted / (e.ms / 1000), 0),
    verified: e.r.receipt.verified,
    kits: e.r.receipt.kits.length,
  };
  log(`erase: ${erase.objects} objects in ${erase.seconds} s (${erase.objectsPerSecond}/s), verified ${erase.verified}`);

  const first = steps[0];
  const last = steps[steps.length - 1];
  const result = {
    machine: machineInfo(),
    loadavg: os.loadavg().map((x) => round(x, 2)),
    settings: {
      kitCounts: KIT_COUNTS,
      clipsPerKit: CLIPS,
      segmentsPerClip: SEGMENTS,
      caseClips: CASE_CLIPS,
      rounds: ROUNDS,
      concurrency: CONC,
      putConcurrency: PUT_CONC,
    },
    putRatePerSecond: round(putRate, 0),
    objectsWritten: written,
    writeSeconds: round(writeSeconds, 0),
    steps,
    ratios: {
      kits: round(last.kitsMs / first.kitsMs, 2),
      case: round(last.caseMs / first.caseMs, 2),
      kitCount: round(last.kits / first.kits, 2),
    },
    clipCheck,
    extrapolated500x200: {
      objects: 500 * 200 * (2 + 3),
      writeHoursAtMeasuredRate: round((500 * 200 * 5) / putRate / 3600, 1),
      note: 'office case/kits cost one LIST/GET per kit; clipCheck shows the clips per kit hardly count',
    },
    erase,
    target: { caseMsAt500: 5000 },
    pass: last.kits >= 500 ? last.caseMs <= 5000 : undefined,
  };
  mkdirSync(path.join(REPO, 'bench', 'results'), { recursive: true });
  writeFileSync(path.join(REPO, 'bench', 'results', 'office.json'), JSON.stringify(result, null, 2) + '\n');
  return result;
});

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
// Each kit also marks its cases in the case inbox (`vht-bench-office-inbox`, `cases/<tag>/<kit>`),
// as a kit with `sync.office.inbox` does before its first index entry of a case.
//
// 1. Write rate: PUTs of 1 KB objects with `put-concurrency` in parallel, objects/s.
// 2. For each kit count (the store grows to it): `office kits` (a GET + decrypt of every status),
//    `office case GZ-BENCH` through the case inbox (one LIST there, then a LIST in each kit that holds
//    the case, then only the entries found are read) and the same over every kit bucket (a LIST per
//    kit: what `office erase` does, and `office case` without an inbox), `rounds` each, median;
//    ratios to the smallest kit count. Target: case ≤ 5 s at 500 kits.
// 3. Clip count per kit: at the smallest kit count, `clips-check` clips per kit on another set of
//    kits, case inventory time vs `clips` clips (the LIST of a case prefix does not read the rest).
// 4. Erase GZ-BENCH (batched: DeleteObjects, up to 1000 keys a request) and GZ-BENCH2 of the same
//    shape with single DELETEs: notice, inventory over every kit, deletes, HEAD verification,
//    receipt; objects/s overall and of the delete phase.
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
const CODE2 = 'GZ-BENCH2';
const INBOX = `${ORG}-office-inbox`;

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
  const { caseTag, caseIndexKey, caseMarkerKey, manifestKey, segmentKey, statusKey } = await dist('store/objects.js');
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
  const benchTag2 = caseTag(CODE2, tagKey);
  const otherTags = Array.from({ length: 1000 }, (_, i) => caseTag(`GZ-${String(i).padStart(4, '0')}`, tagKey));
  const junk = randomBytes(1024);
  const now = Date.now();

  const createBucket = (name) => conn.client.send(new CreateBucketCommand({ Bucket: name }));
  for (const b of [`${ORG}-office`, `${ORG}-office-private`, INBOX]) await createBucket(b);
  const inbox = conn.bucket(INBOX);

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
    const marked = new Set();
    // the bench clips: half of them GZ-BENCH, half GZ-BENCH2 (erased with single deletes)
    for (let i = 0; i < clips + 2 * benchClips; i++) {
      const id = clipId(kitId, i);
      const bench = i >= clips;
      const code = i >= clips + benchClips ? CODE2 : CODE;
      const tag = bench ? (code === CODE ? benchTag : benchTag2) : otherTags[(i * 7919 + kitId.length) % otherTags.length];
      if (!marked.has(tag)) {
        marked.add(tag);
        jobs.push({ store: inbox, key: caseMarkerKey(tag, kitId), body: new Uint8Array(0) });
      }
      jobs.push({ key: manifestKey(kitId, id), body: junk });
      for (let s = 0; s < (bench ? 3 : SEGMENTS); s++) jobs.push({ key: segmentKey(kitId, id, s), body: junk });
      if (bench) {
        const entry = {
          format: 'vht-kit.case-index',
          v: 1,
          kitId,
          caseTag: tag,
          caseCode: code,
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
    await pool(jobs, PUT_CONC, (j) => (j.store ?? store).put(j.key, j.body));
    written += jobs.length;
  }

  const timeIt = async (fn) => {
    const t = performance.now();
    const r = await fn();
    return { ms: performance.now() - t, r };
  };
  const layoutFor = (prefix) =>
    new OfficeLayout({ kits: `s3://${prefix}*`, office: `s3://${ORG}-office`, private: `s3://${ORG}-office-private`, inbox: `s3://${INBOX}` }, s3);

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
    // Swift updates its account listing (ListBuckets) asynchronously: wait until it shows every kit
    for (let t = performance.now(); (await layout.kitIds()).length < k;) {
      if (performance.now() - t > 120_000) throw new Error(`ListBuckets still shows fewer than ${k} kits after 120 s`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const kits = [];
    const cases = [];
    const casesEvery = [];
    const cpu = { swift: [], bench: [] };
    let items = 0;
    let kitsListed = 0;
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
      kitsListed = c.r.kits.length;
      if (c.r.source !== 'inbox') throw new Error(`office case went through ${c.r.source}, not the inbox`);
      const e = await timeIt(() => caseInventory(layout, [identity], benchTag, { caseCode: CODE, concurrency: CONC, everyKit: true }));
      casesEvery.push(e.ms);
      if (e.r.items.length !== items || e.r.inboxMissed.length) throw new Error(`every-kit scan: ${e.r.items.length} items, inbox missed ${e.r.inboxMissed}`);
      if (f.r.length !== k) throw new Error(`office kits saw ${f.r.length} kits, not ${k}`);
    }
    layout.close();
    steps.push({
      kits: k,
      objects: written,
      kitsMs: round(median(kits), 0),
      caseMs: round(median(cases), 0),
      caseEveryKitMs: round(median(casesEvery), 0),
      caseItems: items,
      caseKits: kitsListed,
      caseCpuSwiftS: round(median(cpu.swift), 2),
      caseCpuOfficeS: round(median(cpu.bench), 2),
      loadavg1: round(os.loadavg()[0], 1),
    });
    log(
      `  ${k} kits: office kits ${round(median(kits), 0)} ms, office case ${round(median(cases), 0)} ms through the inbox (${items} items on ${kitsListed} kits), ${round(median(casesEvery), 0)} ms over every kit`,
    );
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
  // over every kit bucket (a LIST of the case prefix in each): what the clips per kit could cost
  for (let r = 0; r < ROUNDS; r++)
    bigCases.push((await timeIt(() => caseInventory(big, [identity], benchTag, { caseCode: CODE, concurrency: CONC, everyKit: true }))).ms);
  big.close();
  const clipCheck = {
    kits: k0,
    clipsPerKit: CLIPS_CHECK,
    caseEveryKitMs: round(median(bigCases), 0),
    vsClipsPerKit: CLIPS,
    vsCaseEveryKitMs: steps[0].caseEveryKitMs,
  };
  log(`  ${k0} kits × ${CLIPS_CHECK} clips: office case over every kit ${clipCheck.caseEveryKitMs} ms (vs ${steps[0].caseEveryKitMs} ms with ${CLIPS})`);

  // 4. erase throughput (the bench cases on the largest store): batched, then single deletes
  const clock = { now: () => Date.now(), monotonic: () => performance.now(), setTimeout, clearTimeout };
  /** A progress sink that times each phase of the erase. */
  const phases = () => {
    const t = { list: [], at: performance.now(), label: 'start' };
    return {
      t,
      phase(label) {
        const now = performance.now();
        t.list.push({ label: t.label, ms: now - t.at });
        t.at = now;
        t.label = label;
      },
      update() {},
      end() {
        this.phase('end');
      },
    };
  };
  const eraseOne = async (tag, code, batched) => {
    const layout = layoutFor(`${ORG}-kit-`);
    if (!batched) layout.connection().batchDeletes = false; // as after a store answered NotImplemented
    const p = phases();
    const e = await timeIt(() =>
      eraseCase(layout, { identities: [identity], recipient, clock, operator: 'bench', concurrency: CONC, progress: p }, tag, 'all', { caseCode: code }),
    );
    layout.close();
    const ms = (label) => p.t.list.filter((x) => x.label.startsWith(label)).reduce((a, x) => a + x.ms, 0);
    const r = {
      batched,
      objects: e.r.receipt.objectsDeleted,
      deleteRequests: e.r.receipt.deleteRequests,
      seconds: round(e.ms / 1000, 2),
      objectsPerSecond: round(e.r.receipt.objectsDeleted / (e.ms / 1000), 0),
      deleteSeconds: round(ms('deleting') / 1000, 2),
      deleteObjectsPerSecond: round(e.r.receipt.objectsDeleted / (ms('deleting') / 1000), 0),
      verifySeconds: round(ms('verifying') / 1000, 2),
      inventorySeconds: round((ms('listing') + ms('reading')) / 1000, 2),
      verified: e.r.receipt.verified,
      kits: e.r.receipt.kits.length,
    };
    log(
      `erase ${code} (${batched ? 'DeleteObjects' : 'single DELETEs'}): ${r.objects} objects in ${r.seconds} s (${r.objectsPerSecond}/s); ` +
        `deleting ${r.deleteSeconds} s in ${r.deleteRequests} requests, verifying ${r.verifySeconds} s, inventory ${r.inventorySeconds} s; verified ${r.verified}`,
    );
    return r;
  };
  const erase = await eraseOne(benchTag, CODE, true);
  const eraseSingle = await eraseOne(benchTag2, CODE2, false);

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
      caseEveryKit: round(last.caseEveryKitMs / first.caseEveryKitMs, 2),
      kitCount: round(last.kits / first.kits, 2),
    },
    clipCheck,
    extrapolated500x200: {
      objects: 500 * 200 * (2 + 3),
      writeHoursAtMeasuredRate: round((500 * 200 * 5) / putRate / 3600, 1),
      note: 'office kits costs one GET per kit, office case through the inbox one LIST plus one per kit holding the case; clipCheck shows the clips per kit hardly count',
    },
    erase,
    eraseSingle,
    deletePhaseSpeedup: round(erase.deleteObjectsPerSecond / eraseSingle.deleteObjectsPerSecond, 2),
    target: { caseMsAt500: 5000 },
    pass: last.kits >= 500 ? last.caseMs <= 5000 : undefined,
  };
  mkdirSync(path.join(REPO, 'bench', 'results'), { recursive: true });
  writeFileSync(path.join(REPO, 'bench', 'results', 'office.json'), JSON.stringify(result, null, 2) + '\n');
  return result;
});

#!/usr/bin/env node
// Office upload: throughput, bytes re-sent after a cut, CPU.
//
//   npm run build && node bench/upload.mjs [--gb 1] [--segment-kb 1024] [--clips 10] [--concurrency 2]
//        [--rclone-transfers 4] [--rounds 2] [--cut-segments 200] [--no-rclone] [--keep]
//
// A real S3 server (OpenStack Swift + s3api from Debian, scripts/s3-test-server) on free loopback
// ports, data in a temp dir on the same disk. A kit (the real KeyStore/Catalogue/ClipStore from
// dist/) records `clips` clips of random ~segment-kb segments, about `gb` GB of .ts.age in all.
//
// 1. Throughput, per round, one after the other on fresh prefixes:
//    - ours: SyncService.runOnce() with the S3 target (write-only key, Content-MD5 + ETag check,
//      `concurrency` objects in parallel); wall time from start to the last confirmation, CPU
//      seconds of this Node process (process.cpuUsage) and of the Swift processes.
//    - rclone copy of the same .ts.age files (--transfers N, admin key: rclone lists/HEADs); wall
//      time and CPU seconds (bash `times`).
//    The order alternates per round. ratio = median over rounds of (ours MB/s ÷ rclone MB/s of the
//    same round); target ≥ 0.9. The machine's load average is reported: other load skews both.
// 2. Cut: `cut-segments` segments through a byte-counting TCP relay. A clean upload gives the bytes
//    one upload puts on the wire; then the same upload on a new prefix with Swift SIGKILLed at 40 %
//    and restarted after the run gave up, and a second run. re-sent = bytes forwarded to Swift in
//    the cut upload − in the clean one (requests refused while Swift was down forward nothing).
//    Target ≤ one segment object. Measured with concurrency 1 and with `concurrency`.
import Database from 'better-sqlite3';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { cpuSeconds, flagArg, freePortBlock, log, machineInfo, median, numArg, onCleanup, REPO, round, runBench, tempDir } from './lib.mjs';

const run = promisify(execFile);
const GB = numArg('gb', 1);
const SEG_KB = numArg('segment-kb', 1024);
const CLIPS = numArg('clips', 10);
const CONCURRENCY = numArg('concurrency', 2);
const TRANSFERS = numArg('rclone-transfers', 4);
const ROUNDS = numArg('rounds', 2);
const CUT_SEGMENTS = numArg('cut-segments', 200);
const NO_RCLONE = flagArg('no-rclone');
const SCRIPT = path.join(REPO, 'scripts', 's3-test-server');
const BUCKET = 'vht-bench';
const KIT = 'kit-bench';

const dist = (p) => import(path.join(REPO, 'dist', p));

class Swift {
  constructor(dir, port) {
    this.dir = dir;
    this.port = port;
  }
  get endpoint() {
    return `http://127.0.0.1:${this.port}`;
  }
  async start() {
    await run(SCRIPT, ['start', '--dir', this.dir, '--port', String(this.port)], { timeout: 600_000 });
  }
  async stop(kill = false) {
    await run(SCRIPT, ['stop', '--dir', this.dir, ...(kill ? ['--kill'] : [])], { timeout: 60_000 });
  }
  pids() {
    const runDir = path.join(this.dir, 'run');
    return readdirSync(runDir)
      .filter((f) => f.endsWith('.pid'))
      .map((f) => Number(readFileSync(path.join(runDir, f), 'utf8')));
  }
  cpu() {
    return this.pids().reduce((a, p) => a + (cpuSeconds(p) ?? 0), 0);
  }
}

/** A TCP relay that counts the bytes it forwarded from clients to the server. */
class Relay {
  constructor(port) {
    this.upstreamPort = port;
    this.forwarded = 0;
    this.sockets = new Set();
  }
  async start() {
    this.server = net.createServer((client) => {
      this.sockets.add(client);
      const up = net.connect({ host: '127.0.0.1', port: this.upstreamPort });
      this.sockets.add(up);
      let connected = false;
      const pending = [];
      up.on('connect', () => {
        connected = true;
        for (const d of pending) {
          this.forwarded += d.length;
          up.write(d);
        }
        pending.length = 0;
      });
      client.on('data', (d) => {
        if (connected) {
          this.forwarded += d.length;
          up.write(d);
        } else pending.push(d);
      });
      up.on('data', (d) => client.write(d));
      const end = () => {
        client.destroy();
        up.destroy();
        this.sockets.delete(client);
        this.sockets.delete(up);
      };
      client.on('error', end);
      up.on('error', end);
      client.on('close', end);
      up.on('close', end);
    });
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = this.server.address().port;
  }
  async stop() {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function makeKit(dir, clips, segmentsPerClip, segBytes) {
  const { KeyStore } = await dist('store/keys.js');
  const { Catalogue } = await dist('store/catalogue.js');
  const { ClipStore } = await dist('store/clips.js');
  const { generateIdentity } = await dist('store/crypto.js');
  const { createLogger } = await dist('core/logger.js');
  const logger = createLogger({ level: 'silent' });
  const org = await generateIdentity();
  const dataDir = path.join(dir, 'data');
  const keys = new KeyStore({ dataDir, orgRecipient: org.recipient, allowDemoOrg: false, logger });
  await keys.start('4821');
  const catalogue = new Catalogue(path.join(dataDir, 'catalogue.db'));
  const store = new ClipStore(dataDir, catalogue, keys, logger);
  const consent = { recording: true, review: true, supervision: false, training: false };
  catalogue.insertCase('fam-0001', 'k-vht', consent, Date.now());
  let bytes = 0;
  let objects = 0;
  for (let c = 0; c < clips; c++) {
    const now = Date.now() + c;
    const id = store.createClip({ caseCode: 'fam-0001', now, requestedAt: now, preRollMs: 0, originMs: now, consent });
    await store.prepareKey(id);
    for (let s = 0; s < segmentsPerClip; s++) {
      const row = await store.persistSegment(id, s, randomBytes(segBytes), { startMs: now + s * 1000, durationMs: 1000, discontinuity: false });
      bytes += row.bytes;
      objects += 1;
    }
    store.finishClip(id, 'complete', now + segmentsPerClip * 1000, 'stopped');
    await new Promise((r) => setTimeout(r, 2));
  }
  return { dataDir, catalogue, store, org, logger, bytes, objects };
}

async function ours(kit, { endpoint, prefix, concurrency, retry, onProgress }) {
  const { SyncService } = await dist('sync/service.js');
  const { S3Target } = await dist('sync/targets.js');
  const { systemClock } = await dist('core/clock.js');
  const target = new S3Target({
    endpoint,
    region: 'us-east-1',
    bucket: BUCKET,
    prefix,
    accessKeyId: 'test:writer',
    secretAccessKey: 'writing',
    maxSockets: Math.max(2, concurrency),
    clock: systemClock,
  });
  const svc = new SyncService({
    catalogue: kit.catalogue,
    clips: kit.store,
    target,
    kitId: KIT,
    orgRecipient: kit.org.recipient,
    clock: systemClock,
    logger: kit.logger,
    concurrency,
    exportAudit: false,
    retry: retry ?? { attempts: 6, baseMs: 500, maxMs: 5000 },
  });
  if (onProgress) svc.on('progress', onProgress);
  return svc;
}

function resetUploaded(kit) {
  const db = new Database(kit.catalogue.file);
  db.prepare('UPDATE clips SET uploaded_at = NULL').run();
  db.close();
}

async function measureOurs(kit, swift, prefix) {
  resetUploaded(kit);
  const svc = await ours(kit, { endpoint: swift.endpoint, prefix, concurrency: CONCURRENCY });
  const cpu0 = process.cpuUsage();
  const swift0 = swift.cpu();
  const t0 = performance.now();
  const r = await svc.runOnce();
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const swiftCpu = swift.cpu() - swift0;
  svc.close();
  if (r.error) throw new Error(`our upload failed: ${r.error.message}`);
  return {
    wallS: round(wall, 2),
    mbPerS: round(kit.bytes / 1e6 / wall, 1),
    cpuS: round((cpu.user + cpu.system) / 1e6, 2),
    swiftCpuS: round(swiftCpu, 2),
    bytesSent: r.bytesSent,
  };
}

async function measureRclone(kit, swift, prefix) {
  const env = {
    ...process.env,
    RCLONE_CONFIG_BENCH_TYPE: 's3',
    RCLONE_CONFIG_BENCH_PROVIDER: 'Other',
    RCLONE_CONFIG_BENCH_ENDPOINT: swift.endpoint,
    RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: 'test:tester',
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: 'testing',
    RCLONE_CONFIG_BENCH_REGION: 'us-east-1',
    RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: 'true',
  };
  delete env.AWS_CA_BUNDLE; // rclone cannot apply a CA bundle to its transport (and the endpoint is http)
  const src = path.join(kit.dataDir, 'clips');
  const cmd = `rclone copy ${JSON.stringify(src)} bench:${BUCKET}/${prefix} --include '*.ts.age' --transfers ${TRANSFERS} --s3-no-check-bucket --stats 0 && times`;
  const swift0 = swift.cpu();
  const t0 = performance.now();
  const out = await new Promise((resolve, reject) => {
    const p = spawn('bash', ['-c', cmd], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`rclone exited ${code}: ${stderr.slice(-500)}`))));
  });
  const wall = (performance.now() - t0) / 1000;
  const swiftCpu = swift.cpu() - swift0;
  // `times`: shell user/sys, then children's user/sys, e.g. "0m1.234s 0m0.567s"
  const lines = out.trim().split('\n');
  const child = lines[lines.length - 1].match(/(\d+)m([\d.]+)s/g).map((t) => {
    const m = /(\d+)m([\d.]+)s/.exec(t);
    return Number(m[1]) * 60 + Number(m[2]);
  });
  return { wallS: round(wall, 2), mbPerS: round(kit.bytes / 1e6 / wall, 1), cpuS: round(child[0] + child[1], 2), swiftCpuS: round(swiftCpu, 2) };
}

async function cutRun(kit, swift, relay, prefix, concurrency, cut) {
  resetUploaded(kit);
  relay.forwarded = 0;
  let kill = null;
  const svc = await ours(kit, {
    endpoint: `http://127.0.0.1:${relay.port}`,
    prefix,
    concurrency,
    retry: { attempts: 3, baseMs: 200, maxMs: 1000 },
    onProgress: cut
      ? (p) => {
          if (!kill && p.bytesTotal > 0 && p.bytesDone >= p.bytesTotal * 0.4) kill = swift.stop(true);
        }
      : undefined,
  });
  const r1 = await svc.runOnce();
  let r2 = null;
  if (cut) {
    await kill;
    if (!r1.error) throw new Error('the cut run did not fail: Swift was not killed in time');
    await swift.start();
    r2 = await svc.runOnce();
    if (r2.error) throw new Error(`the run after the cut failed: ${r2.error.message}`);
  } else if (r1.error) throw new Error(`the clean run failed: ${r1.error.message}`);
  svc.close();
  return { forwarded: relay.forwarded, bytesSent: r1.bytesSent + (r2?.bytesSent ?? 0), firstRunError: r1.error?.reason ?? null };
}

runBench('upload', async () => {
  const machine = machineInfo();
  if (!existsSync(path.join(REPO, 'dist', 'sync', 'queue.js'))) throw new Error('dist/ is missing: run npm run build first');
  const dir = tempDir('vht-bench-upload-');
  const swift = new Swift(path.join(dir, 'swift'), await freePortBlock(5));
  log(`starting Swift on ${swift.endpoint}`);
  await swift.start();
  onCleanup(() => swift.stop());
  // bucket + write-only ACL for the kit's key
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const admin = new S3Client({
    endpoint: swift.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test:tester', secretAccessKey: 'testing' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  await admin.send(new CreateBucketCommand({ Bucket: BUCKET }));
  admin.destroy();
  const auth = await fetch(`${swift.endpoint}/auth/v1.0`, { headers: { 'X-Auth-User': 'test:tester', 'X-Auth-Key': 'testing' } });
  await fetch(`${auth.headers.get('x-storage-url')}/${BUCKET}`, {
    method: 'POST',
    headers: { 'X-Auth-Token': auth.headers.get('x-auth-token'), 'X-Container-Write': 'test:writer' },
  });

  const segBytes = SEG_KB * 1024;
  const perClip = Math.max(1, Math.round((GB * 1e9) / segBytes / CLIPS));
  log(`recording ${CLIPS} clips × ${perClip} segments of ${SEG_KB} KiB (age-encrypted by the real ClipStore)`);
  const kit = await makeKit(path.join(dir, 'kit'), CLIPS, perClip, segBytes);
  log(`${kit.objects} segments, ${(kit.bytes / 1e6).toFixed(0)} MB`);

  const oursRuns = [];
  const rcloneRuns = [];
  const roundRatios = [];
  for (let r = 1; r <= ROUNDS; r++) {
    // alternate the order, so a drift of the machine's load or of Swift's speed does not favour one
    const steps = [
      async () => {
        log(`round ${r}: ours (concurrency ${CONCURRENCY})`);
        oursRuns.push(await measureOurs(kit, swift, `ours-${r}`));
        log(`  ${JSON.stringify(oursRuns[oursRuns.length - 1])}`);
      },
      async () => {
        if (NO_RCLONE) return;
        log(`round ${r}: rclone copy (--transfers ${TRANSFERS})`);
        rcloneRuns.push(await measureRclone(kit, swift, `rclone-${r}`));
        log(`  ${JSON.stringify(rcloneRuns[rcloneRuns.length - 1])}`);
      },
    ];
    if (r % 2 === 0) steps.reverse();
    for (const step of steps) await step();
    if (!NO_RCLONE) roundRatios.push(round(oursRuns[oursRuns.length - 1].mbPerS / rcloneRuns[rcloneRuns.length - 1].mbPerS, 3));
  }

  log(`cut: ${CUT_SEGMENTS} segments through a counting relay`);
  const cutKit = await makeKit(path.join(dir, 'cutkit'), 2, Math.ceil(CUT_SEGMENTS / 2), segBytes);
  const relay = new Relay(swift.port);
  await relay.start();
  onCleanup(() => relay.stop());
  const cuts = {};
  for (const c of [...new Set([1, CONCURRENCY])]) {
    const clean = await cutRun(cutKit, swift, relay, `cut-clean-${c}`, c, false);
    const cut = await cutRun(cutKit, swift, relay, `cut-${c}`, c, true);
    const resent = cut.forwarded - clean.forwarded;
    cuts[`concurrency${c}`] = {
      cleanBytesOnWire: clean.forwarded,
      cutBytesOnWire: cut.forwarded,
      resentBytes: resent,
      resentSegments: round(resent / (cutKit.bytes / cutKit.objects), 2),
      attemptedBodyBytesOver: cut.bytesSent - clean.bytesSent,
      firstRunError: cut.firstRunError,
    };
    log(`  concurrency ${c}: ${JSON.stringify(cuts[`concurrency${c}`])}`);
  }

  const oursMb = median(oursRuns.map((x) => x.mbPerS));
  const rcloneMb = NO_RCLONE ? null : median(rcloneRuns.map((x) => x.mbPerS));
  // per round, ours and rclone ran back to back: the median of those ratios is the figure
  const ratio = rcloneMb ? round(median(roundRatios), 3) : null;
  const resentDefault = cuts[`concurrency${CONCURRENCY}`].resentSegments;
  return {
    machine,
    params: {
      gb: GB,
      segmentKiB: SEG_KB,
      clips: CLIPS,
      segments: kit.objects,
      bytes: kit.bytes,
      concurrency: CONCURRENCY,
      rcloneTransfers: TRANSFERS,
      rounds: ROUNDS,
      cutSegments: cutKit.objects,
    },
    ours: { runs: oursRuns, medianMBps: oursMb, cpuSecondsPerGB: round(median(oursRuns.map((x) => x.cpuS)) / (kit.bytes / 1e9), 2) },
    rclone: NO_RCLONE ? null : { runs: rcloneRuns, medianMBps: rcloneMb, cpuSecondsPerGB: round(median(rcloneRuns.map((x) => x.cpuS)) / (kit.bytes / 1e9), 2) },
    throughputRatio: ratio,
    roundRatios,
    ratioOfMedians: rcloneMb ? round(oursMb / rcloneMb, 3) : null,
    loadavgAtEnd: (await import('node:os')).default.loadavg().map((x) => round(x, 2)),
    cut: cuts,
    targets: { throughputRatio: '>= 0.9', resentSegments: '<= 1' },
    passThroughput: ratio === null || ratio >= 0.9,
    passResent: resentDefault <= 1,
    pass: (ratio === null || ratio >= 0.9) && resentDefault <= 1,
  };
});

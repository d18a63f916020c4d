#!/usr/bin/env node
// Team kits (issue 20): fetch throughput of a trainer's clips from S3 vs `rclone copy` of the same objects.
//
//   npm run build && node bench/fetch.mjs [--mb 200] [--segment-kb 1024] [--clips 4] [--concurrency 4]
//        [--rclone-transfers 4] [--rounds 3] [--profile]
//
// A real S3 server (OpenStack Swift + s3api, scripts/s3-test-server) on free loopback ports. Kit A
// (the real KeyStore/Catalogue/ClipStore/SyncService from dist/) records `clips` clips of random
// segments, about `mb` MB of .ts.age, and uploads them with their keys sealed to T-017's inbox on
// kit B. Per round, one after the other (the order alternates):
//   - ours: TrainerFetch.run() on a fresh kit B data dir (T-017 signed in): lists the outbox, opens
//     the keys, reads and decrypts the manifests ahead, GETs the segments with `concurrency` workers
//     across clip boundaries (signed requests, streamed to their files while hashed), flushes and
//     registers each clip behind the downloads; wall time. Run with UV_THREADPOOL_SIZE=8, as the
//     service (systemd/vht-kit.service).
//   - rclone copy of the same clip objects (segments + manifests) to a fresh local dir, --transfers N.
// ratio = median over rounds of (ours MB/s ÷ rclone MB/s of the same round); target ≥ 0.9.
// Each round also records the CPU seconds of ours (this process) and of rclone (its /proc stat at exit),
// so that a slow round says whether it waited or computed. --profile: a V8 CPU profile of ours in
// round 0 (not counted in the ratio: the profiler slows it); the functions with the most self time
// go to the JSON (`profileTop`).
// rclone (1.60, Debian) is installed with apt-get when missing (we run as root here).
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { Session } from 'node:inspector/promises';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { cpuSeconds, flagArg, freePortBlock, log, machineInfo, median, numArg, onCleanup, REPO, round, runBench, tempDir } from './lib.mjs';

// ours runs as the service does: systemd/vht-kit.service sets UV_THREADPOOL_SIZE=8 (libuv's pool does
// the segment writes and the flushes); set before the process starts, so the bench starts itself again
if (process.env.UV_THREADPOOL_SIZE === undefined) {
  const again = spawnSync(process.execPath, process.argv.slice(1), { stdio: 'inherit', env: { ...process.env, UV_THREADPOOL_SIZE: '8' } });
  process.exit(again.status ?? 1);
}
const run = promisify(execFile);
const MB = numArg('mb', 200);
const SEG_KB = numArg('segment-kb', 1024);
const CLIPS = numArg('clips', 4);
const CONCURRENCY = numArg('concurrency', 4);
const TRANSFERS = numArg('rclone-transfers', 4);
const ROUNDS = numArg('rounds', 3);
const PROFILE = flagArg('profile');
const SCRIPT = path.join(REPO, 'scripts', 's3-test-server');
const BUCKET = 'vht-org-kit-a';
const dist = (p) => import(path.join(REPO, 'dist', p));

function ensureRclone() {
  try {
    return execFileSync('rclone', ['version'], { encoding: 'utf8' }).split('\n')[0];
  } catch {
    log('rclone missing: apt-get install -y rclone');
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'rclone'], { stdio: 'ignore' });
    return execFileSync('rclone', ['version'], { encoding: 'utf8' }).split('\n')[0];
  }
}

async function makeKit(root, kitId, trainers, orgRecipient, directoryTexts) {
  const [{ KeyStore }, { Catalogue }, { ClipStore }, { DirectoryCache }, { createLogger }] = await Promise.all([
    dist('store/keys.js'),
    dist('store/catalogue.js'),
    dist('store/clips.js'),
    dist('sync/fetch-directory.js'),
    dist('core/logger.js'),
  ]);
  const dataDir = path.join(root, kitId);
  mkdirSync(dataDir, { recursive: true });
  const logger = createLogger({ level: 'silent' });
  const directory = new DirectoryCache(dataDir, kitId);
  if (directoryTexts) directory.save(directoryTexts);
  const keys = new KeyStore({ dataDir, orgRecipient, allowDemoOrg: false, logger, outboxRecipients: (t) => directory.otherKitsOf(t) });
  await keys.start(null);
  for (const [t, pin] of trainers) await keys.addTrainer(t, pin);
  const catalogue = new Catalogue(path.join(dataDir, 'catalogue.db'));
  return { kitId, dataDir, keys, catalogue, clips: new ClipStore(dataDir, catalogue, keys, logger), directory, logger };
}

const entry = (k, bucket, trainers) =>
  JSON.stringify({
    format: 'vht-kit.directory-kit',
    v: 1,
    kitId: k.kitId,
    team: 'team-1',
    bucket,
    trainers: Object.fromEntries(trainers.map((t) => [t, { inboxRecipient: k.keys.inboxRecipient(t) }])),
  });

async function rcloneCopy(swift, dest) {
  const env = {
    ...process.env,
    RCLONE_CONFIG_BENCH_TYPE: 's3',
    RCLONE_CONFIG_BENCH_PROVIDER: 'Other',
    RCLONE_CONFIG_BENCH_ENDPOINT: swift,
    RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: 'test:tester',
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: 'testing',
    RCLONE_CONFIG_BENCH_REGION: 'us-east-1',
    RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: 'true',
  };
  delete env.AWS_CA_BUNDLE; // rclone cannot apply a CA bundle to its transport (and the endpoint is http)
  const t0 = performance.now();
  let cpu = 0;
  await new Promise((resolve, reject) => {
    const p = spawn('rclone', ['copy', `bench:${BUCKET}/kit-a/clips`, dest, '--transfers', String(TRANSFERS), '--stats', '0'], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    // its CPU time: the last /proc reading before it exits (sampled every 50 ms; the last 50 ms are not counted)
    const timer = setInterval(() => (cpu = cpuSeconds(p.pid) ?? cpu), 50);
    p.on('exit', (code) => {
      clearInterval(timer);
      if (code === 0) resolve();
      else reject(new Error(`rclone exited ${code}: ${err.slice(-400)}`));
    });
  });
  execFileSync('sync');
  return { wall: (performance.now() - t0) / 1000, cpu };
}

/** Runs `fn` under the V8 CPU profiler; returns its result and the `n` functions with the most self time (ms). */
async function profiled(fn, n = 15) {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  await session.post('Profiler.start');
  const out = await fn();
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  const self = new Map();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  profile.samples.forEach((id, i) => {
    const f = byId.get(id).callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*node_modules\//, '').replace(REPO + '/', '')}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  const top = [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([fn, ms]) => ({ fn, ms: round(ms, 1) }));
  return { out, top };
}

await runBench('fetch', async () => {
  const rclone = ensureRclone();
  const root = tempDir('vht-bench-fetch-');
  const port = await freePortBlock(5);
  const swiftDir = path.join(root, 'swift');
  await run(SCRIPT, ['start', '--dir', swiftDir, '--port', String(port)], { timeout: 600_000 });
  onCleanup(() => run(SCRIPT, ['stop', '--dir', swiftDir], { timeout: 60_000 }));
  const endpoint = `http://127.0.0.1:${port}`;
  const [{ S3Target }, { SyncService }, { uploadOutbox }, { S3FetchSource, TrainerFetch }, { systemClock }] = await Promise.all([
    dist('sync/targets.js'),
    dist('sync/service.js'),
    dist('sync/fetch-directory.js'),
    dist('sync/fetch.js'),
    dist('core/clock.js'),
  ]);
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const admin = { accessKeyId: 'test:tester', secretAccessKey: 'testing' };
  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: admin });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  s3.destroy();
  const orgKey = path.join(root, 'org.key');
  execFileSync('age-keygen', ['-o', orgKey], { stdio: 'pipe' });
  const orgRecipient = /# public key: (age1\S+)/.exec(readFileSync(orgKey, 'utf8'))[1];

  // kit B's keys first (its inbox recipient goes in the directory), then kit A records and uploads
  const b0 = await makeKit(root, 'kit-b', [['T-017', '171717']], orgRecipient);
  const a = await makeKit(root, 'kit-a', [['T-017', '170017']], orgRecipient);
  const texts = [entry(a, BUCKET, ['T-017']), entry(b0, 'vht-org-kit-b', ['T-017'])];
  a.directory.save(texts);
  b0.catalogue.close();
  await a.keys.unlock('170017', 'T-017');
  const now = Date.now();
  const consent = { recording: true, review: true, supervision: false, training: false };
  a.catalogue.insertCase('GZ-2001', 'k-vht', consent, now);
  const segs = Math.max(1, Math.round((MB * 1024) / SEG_KB / CLIPS));
  let bytes = 0;
  for (let c = 0; c < CLIPS; c++) {
    const id = a.clips.createClip({ caseCode: 'GZ-2001', now, requestedAt: now, preRollMs: 0, originMs: now, consent });
    await a.clips.prepareKey(id);
    for (let s = 0; s < segs; s++)
      bytes += (await a.clips.persistSegment(id, s, randomBytes(SEG_KB * 1024), { startMs: now + s * 1000, durationMs: 1000, discontinuity: false })).bytes;
    a.clips.finishClip(id, 'complete', now + segs * 1000, 'stopped');
    await new Promise((r) => setTimeout(r, 3));
  }
  a.keys.lock();
  const target = new S3Target({ endpoint, region: 'us-east-1', bucket: BUCKET, prefix: '', ...admin, clock: systemClock, requestTimeoutMs: 60_000 });
  const sync = new SyncService({
    catalogue: a.catalogue,
    clips: a.clips,
    target,
    kitId: 'kit-a',
    orgRecipient,
    clock: systemClock,
    logger: a.logger,
    concurrency: 4,
    manifestAlso: (id) => a.keys.recipientsFor(id).slice(1),
  });
  const up = await sync.runOnce();
  if (up.uploaded.length !== CLIPS) throw new Error(`uploaded ${up.uploaded.length} of ${CLIPS} clips`);
  await uploadOutbox(a.dataDir, 'kit-a', target, (f) => rmSync(f));
  target.close();
  log(`kit A uploaded ${CLIPS} clips, ${round(bytes / 1e6, 1)} MB of segments`);

  // the same kit B keys in each round: a fresh copy of its data dir
  const bSeed = path.join(root, 'kit-b');
  const rounds = [];
  let profileTop;
  for (let r = 0; r < ROUNDS; r++) {
    let oursCpu = 0;
    let oursSys = 0;
    let rcloneCpu = 0;
    const oursFirst = r % 2 === 0;
    const measure = {
      ours: async () => {
        const dir = path.join(root, `b-${r}`);
        execFileSync('cp', ['-a', bSeed, dir]);
        const b = await makeKitAt(dir);
        await b.keys.unlock('171717', 'T-017');
        const source = new S3FetchSource({ endpoint, region: 'us-east-1', ...admin });
        const f = new TrainerFetch({
          source,
          kitId: 'kit-b',
          dataDir: dir,
          keys: b.keys,
          catalogue: b.catalogue,
          clock: systemClock,
          logger: b.logger,
          budgetBytes: 1e12,
          hasRoom: () => true,
          retentionMs: 1e12,
          concurrency: CONCURRENCY,
        });
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        globalThis.__T = [['t0', performance.now()]];
        const go = () => f.run(texts.map((t) => JSON.parse(t)));
        let res;
        if (PROFILE && r === 0) ({ out: res, top: profileTop } = await profiled(go));
        else res = await go();
        const wall = (performance.now() - t0) / 1000;
        if (process.env.TRACE) log(globalThis.__T.map(([k, t]) => `${k}:${Math.round(t - globalThis.__T[0][1])}`).join(' '));
        const c = process.cpuUsage(c0);
        oursCpu = (c.user + c.system) / 1e6;
        oursSys = c.system / 1e6;
        source.close();
        b.catalogue.close();
        if (res.fetched.length !== CLIPS) throw new Error(`fetched ${res.fetched.length} of ${CLIPS}: ${JSON.stringify(res.failed)}`);
        rmSync(dir, { recursive: true, force: true });
        return wall;
      },
      rclone: async () => {
        const dest = path.join(root, `rclone-${r}`);
        const { wall, cpu } = await rcloneCopy(endpoint, dest);
        rcloneCpu = cpu;
        rmSync(dest, { recursive: true, force: true });
        return wall;
      },
    };
    const order = oursFirst ? ['ours', 'rclone'] : ['rclone', 'ours'];
    const walls = {};
    for (const k of order) walls[k] = await measure[k]();
    const mbps = (w) => round(bytes / 1e6 / w, 1);
    rounds.push({
      oursS: round(walls.ours, 2),
      rcloneS: round(walls.rclone, 2),
      oursMBps: mbps(walls.ours),
      rcloneMBps: mbps(walls.rclone),
      ratio: round(walls.rclone / walls.ours, 3),
      oursCpuS: round(oursCpu, 2),
      oursSysS: round(oursSys, 2),
      rcloneCpuS: round(rcloneCpu, 2),
      ...(PROFILE && r === 0 ? { profiled: true } : {}),
    });
    log(`round ${r}: ${JSON.stringify(rounds[rounds.length - 1])}`);
  }
  const ratio = median(rounds.filter((x) => !x.profiled).map((x) => x.ratio));
  const result = {
    machine: machineInfo(),
    rclone,
    params: {
      mb: MB,
      segmentKb: SEG_KB,
      clips: CLIPS,
      concurrency: CONCURRENCY,
      rcloneTransfers: TRANSFERS,
      rounds: ROUNDS,
      profile: PROFILE,
      uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE),
    },
    bytes,
    rounds,
    ...(profileTop ? { profileTop } : {}),
    ratio,
    target: 0.9,
    pass: ratio >= 0.9,
  };
  writeFileSync(path.join(REPO, 'bench', 'results', 'fetch.json'), JSON.stringify(result, null, 2) + '\n');
  return result;

  async function makeKitAt(dir) {
    const [{ KeyStore }, { Catalogue }, { createLogger }] = await Promise.all([dist('store/keys.js'), dist('store/catalogue.js'), dist('core/logger.js')]);
    const logger = createLogger({ level: 'silent' });
    const keys = new KeyStore({ dataDir: dir, orgRecipient, allowDemoOrg: false, logger });
    await keys.start(null);
    return { keys, catalogue: new Catalogue(path.join(dir, 'catalogue.db')), logger };
  }
});

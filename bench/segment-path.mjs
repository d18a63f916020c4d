#!/usr/bin/env node
// The store's per-segment work in one process, by part: what a take minute (60 one-second
// segments) costs the main process in reading the ring file, age encryption, SHA-256, the journal
// line, the durable segment file, the catalogue row and garbage collection; and the whole
// `ClipStore.persistSegment` of a build, with the data dir on the real disk and on tmpfs (where an
// fsync costs nothing: the difference is the fsyncs' own CPU).
//
//   node bench/segment-path.mjs [--rounds 5] [--segments 60] [--segment-kb 312] [--dist dist] [--before <commit>]
//
// `--before` also builds that commit (bench/before-build.mjs) and measures its persistSegment in the
// same rounds, alternating. Segments: random bytes of `segment-kb` KB (2.5 Mbit/s video + 96 kbit/s
// audio ≈ 325 KB per second, ≈ 312 KiB) in a /dev/shm ring, one file per segment as the worker
// writes them. CPU = process.cpuUsage (all threads: the libuv pool's fs work counts) around each
// part; GC = the main thread's pause time from a PerformanceObserver (its concurrent helpers are in
// the CPU figures of the part that made the garbage).
import { randomBytes, createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { beforeBuild } from './before-build.mjs';
import { REPO, log, machineInfo, median, numArg, ramDir, round, runBench, tempDir } from './lib.mjs';

const ROUNDS = numArg('rounds', 5);
const SEGMENTS = numArg('segments', 60);
const SEGMENT = numArg('segment-kb', 312) * 1024;
const distArg = process.argv.indexOf('--dist');
const DIST = path.resolve(distArg > 0 ? process.argv[distArg + 1] : path.join(REPO, 'dist'));
const WITH_BEFORE = process.argv.some((a) => a === '--before' || a.startsWith('--before='));

const silent = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silent;
  },
};

async function load(dist) {
  const m = async (p) => import(pathToFileURL(path.join(dist, p)).href);
  return {
    crypto: await m('store/crypto.js'),
    durable: await m('store/durable.js'),
    catalogue: await m('store/catalogue.js'),
    clips: await m('store/clips.js'),
  };
}

let gcMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
}).observe({ entryTypes: ['gc'] });

/** CPU-s (all threads) and main-thread GC ms of `fn`. */
async function measure(fn) {
  const g0 = gcMs;
  const c0 = process.cpuUsage();
  await fn();
  const c = process.cpuUsage(c0);
  // let the observer see the last collections
  await new Promise((r) => setImmediate(r));
  return { cpuS: (c.user + c.system) / 1e6, gcMs: gcMs - g0 };
}

/** A kit's store in `base`: catalogue, clip store, two recipients (organisation + clip key), one clip. */
function store(mod, base, recipients) {
  const dataDir = path.join(base, `data-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(dataDir, { recursive: true });
  const catalogue = new mod.catalogue.Catalogue(path.join(dataDir, 'catalogue.db'));
  const keys = { recipientsFor: () => recipients, createClipKey: async () => null, destroyClipKey: async () => 'complete' };
  const clips = new mod.clips.ClipStore(dataDir, catalogue, keys, silent);
  const clipId = clips.createClip({ caseCode: null, now: Date.now(), requestedAt: Date.now(), preRollMs: 0, originMs: null });
  return { dataDir, catalogue, clips, clipId };
}

runBench('segment-path', async () => {
  const machine = machineInfo();
  const after = await load(DIST);
  const variants = { after };
  if (WITH_BEFORE) {
    const b = beforeBuild();
    machine.before = b.commit;
    variants.before = await load(path.dirname(b.cli));
  }
  const ids = [await after.crypto.generateIdentity(), await after.crypto.generateIdentity()];
  const recipients = ids.map((i) => i.recipient);
  const ring = ramDir('vht-bench-segring-');
  const files = [];
  for (let i = 0; i < SEGMENTS; i++) {
    const f = path.join(ring, `seg-${i}.ts`);
    writeFileSync(f, randomBytes(SEGMENT));
    files.push(f);
  }
  const disk = tempDir('vht-bench-segpath-');
  const shm = ramDir('vht-bench-segpath-');
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const res = { round: r + 1 };
    // the parts, with the current build's functions
    const { crypto, durable } = after;
    const s = store(after, disk, recipients);
    const plain = [];
    res.readRing = await measure(async () => {
      for (const f of files) plain.push(await readFile(f));
    });
    const cts = [];
    res.encrypt = await measure(async () => {
      for (const p of plain) cts.push(await crypto.encryptTo(recipients, p));
    });
    const shas = [];
    res.sha256 = await measure(async () => {
      for (const c of cts) shas.push(createHash('sha256').update(c).digest('hex'));
    });
    const journal = path.join(s.clips.clipDir(s.clipId), 'journal.jsonl');
    res.journalLine = await measure(async () => {
      for (const [i, sha] of shas.entries()) {
        durable.appendLineDurable(
          journal,
          JSON.stringify({ t: 'seg', seq: i, startMs: i * 1000, durationMs: 1000, bytes: cts[i].length, sha256: sha, discontinuity: false }),
        );
      }
    });
    res.segmentFile = await measure(async () => {
      for (const [i, c] of cts.entries()) await durable.writeFileDurable(s.clips.segmentFile(s.clipId, i), c);
    });
    res.catalogueRow = await measure(async () => {
      for (const [i, sha] of shas.entries()) {
        s.catalogue.insertSegment({ clipId: s.clipId, seq: i, startMs: i * 1000, durationMs: 1000, bytes: cts[i].length, sha256: sha, discontinuity: false });
      }
    });
    s.catalogue.close?.();
    // the whole per-segment step of each build, on the disk and on tmpfs, alternating
    const order = r % 2 === 0 ? Object.keys(variants) : Object.keys(variants).reverse();
    for (const v of order) {
      for (const [where, base] of [
        ['disk', disk],
        ['tmpfs', shm],
      ]) {
        const mod = variants[v];
        const st = store(mod, base, recipients);
        res[`${v}.persist.${where}`] = await measure(async () => {
          for (const [i, f] of files.entries()) {
            await st.clips.persistSegment(st.clipId, i, await readFile(f), { startMs: i * 1000, durationMs: 1000, discontinuity: false });
          }
        });
        st.catalogue.close?.();
      }
    }
    for (const [k, v] of Object.entries(res)) if (k !== 'round') res[k] = { cpuS: round(v.cpuS, 4), gcMs: round(v.gcMs, 1) };
    log(
      `round ${r + 1}: ${Object.entries(res)
        .filter(([k]) => k !== 'round')
        .map(([k, v]) => `${k} ${v.cpuS}`)
        .join(', ')}`,
    );
    rounds.push(res);
  }
  const keys = Object.keys(rounds[0]).filter((k) => k !== 'round');
  const summary = Object.fromEntries(
    keys.map((k) => [k, { cpuS: round(median(rounds.map((x) => x[k].cpuS)), 4), gcMs: round(median(rounds.map((x) => x[k].gcMs)), 1) }]),
  );
  log(`medians per ${SEGMENTS} segments: ${JSON.stringify(summary)}`);
  return {
    machine,
    params: { rounds: ROUNDS, segments: SEGMENTS, segmentBytes: SEGMENT, recipients: 2, dist: path.relative(REPO, DIST), tmp: os.tmpdir() },
    summary,
    rounds,
    loadavgAtEnd: os.loadavg().map((x) => round(x, 2)),
  };
});

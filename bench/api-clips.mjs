#!/usr/bin/env node
// GET /api/clips latency with a full catalogue (issue 5: p95 ≤ 20 ms with 10,000 clips).
//
//   node bench/api-clips.mjs [--clips 10000] [--min-seconds 120] [--max-seconds 900] [--requests 500] [--warmup 50] [--port 18250]
//
// Fills a real catalogue (SQLite, the kit's own Catalogue class from dist/, so its migrations and
// indexes) with --clips clips of 2–15 min (one segment row per second, as the recorder writes them),
// markers and a few stills, spread over 40 cases and a year, some unassigned or recovered (none
// uploaded: retention would delete those at start). Then starts `vht-kit serve` on that data dir (sim profile, camera not armed, plain HTTP
// on 127.0.0.1), logs in and measures over a real HTTP connection (keep-alive, one request at a
// time, the whole body read):
//   - GET /api/clips          the library's default page (newest 200)
//   - GET /api/clips/:id      one clip with its segments, markers and stills (random clips)
//   - GET /api/clips?offset=… a deep page (for the record; no target)
// after --warmup requests of each. The clip rows have no segment files on disk: these routes read
// only the catalogue. Also times the default page's query alone, in-process, as the catalogue runs
// it (clip totals kept by triggers, migration 5) and as it ran before (summing every clip's segments),
// for the ratio. Prints JSON on stdout and writes bench/results/api-clips.json.
// Exit code 0 = p95 of the default page ≤ 20 ms, 1 = missed, 2 = the bench failed.
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO, log, machineInfo, numArg, round, runBench, startService, tempDir } from './lib.mjs';

const CLIPS = numArg('clips', 10_000);
const MIN_S = numArg('min-seconds', 120);
const MAX_S = numArg('max-seconds', 900);
const REQUESTS = numArg('requests', 500);
const WARMUP = numArg('warmup', 50);
const PORT = numArg('port', 18250);
const TARGET_P95_MS = 20;
const CASES = 40;
const LABELS = ['initiatief kind', 'ontvangen', 'beurt', 'benoemen', 'instemmen', null];

/** Deterministic pseudo-random numbers (the same catalogue every run). */
function rng(seed) {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function stats(ms, bytes) {
  const s = [...ms].sort((a, b) => a - b);
  return {
    n: s.length,
    p50Ms: round(percentile(s, 50), 2),
    p95Ms: round(percentile(s, 95), 2),
    p99Ms: round(percentile(s, 99), 2),
    maxMs: round(s[s.length - 1], 2),
    meanMs: round(s.reduce((a, b) => a + b, 0) / s.length, 2),
    bodyBytes: bytes,
  };
}

async function fill(dataDir) {
  const { Catalogue } = await import(pathToFileURL(path.join(REPO, 'dist', 'store', 'catalogue.js')).href);
  const { TRAJECTORIES } = await import(pathToFileURL(path.join(REPO, 'dist', 'store', 'migrations.js')).href);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const cat = new Catalogue(path.join(dataDir, 'catalogue.db'));
  const rand = rng(42);
  const t0 = performance.now();
  const yearAgo = Date.UTC(2025, 10, 22);
  const codes = [];
  let segmentRows = 0;
  let markerRows = 0;
  let stillRows = 0;
  // the recorder's own statements for segments and stills (the catalogue prepares each once)
  const seg = (clipId, seq, startMs, durationMs, bytes, sha256) => cat.insertSegment({ clipId, seq, startMs, durationMs, bytes, sha256, discontinuity: false });
  const still = (clipId, id, timeMs, bytes, sha256, createdAt) => cat.insertStill({ clipId, id, timeMs, bytes, sha256, createdAt });
  cat.transaction(() => {
    for (let i = 0; i < CASES; i++) {
      const code = `fam-${String(1000 + i)}`;
      codes.push(code);
      cat.insertCase(code, TRAJECTORIES[i % TRAJECTORIES.length], { recording: true, review: i % 3 !== 0, supervision: i % 4 === 0, training: false }, yearAgo);
    }
  });
  const batch = 250;
  for (let start = 0; start < CLIPS; start += batch) {
    cat.transaction(() => {
      for (let i = start; i < Math.min(CLIPS, start + batch); i++) {
        const createdAt = yearAgo + Math.floor((i / CLIPS) * 365 * 86_400_000) + Math.floor(rand() * 3_600_000);
        const id = createdAt.toString(36).padStart(9, '0') + i.toString(16).padStart(8, '0');
        const caseCode = rand() < 0.08 ? null : codes[Math.floor(rand() * CASES)];
        cat.insertClip({ id, caseCode, createdAt, requestedAt: createdAt, originMs: createdAt - 10_000, preRollMs: 10_000 });
        const seconds = MIN_S + Math.floor(rand() * (MAX_S - MIN_S + 1));
        for (let s = 0; s < seconds; s++) {
          seg(id, s, createdAt - 10_000 + s * 1000, 1000, 100_000 + Math.floor(rand() * 40_000), 'ab'.repeat(32));
        }
        segmentRows += seconds;
        const markers = Math.floor(rand() * 12);
        for (let m = 0; m < markers; m++) cat.insertMarker(id, Math.floor(rand() * seconds * 1000), LABELS[m % LABELS.length], createdAt + m);
        markerRows += markers;
        if (rand() < 0.3) {
          const n = 1 + Math.floor(rand() * 3);
          for (let k = 1; k <= n; k++) still(id, k, Math.floor(rand() * seconds * 1000), 60_000, 'cd'.repeat(32), createdAt + k);
          stillRows += n;
        }
        cat.finishClip(id, rand() < 0.03 ? 'recovered' : 'complete', createdAt + seconds * 1000, 'stopped');
        if (caseCode) cat.setClipConsent(id, { recording: true, review: true, supervision: false, training: false });
        if (rand() < 0.5) cat.setPurposes(id, ['review']);
        // (none uploaded: the kit's retention would delete uploaded clips at start, and the catalogue
        // would not hold --clips clips any more)
      }
    });
    if ((start / batch) % 8 === 0) log(`filled ${Math.min(CLIPS, start + batch)} / ${CLIPS} clips`);
  }
  // a second connection of the bench's own for the checkpoint and the old query (the catalogue's is its own)
  const raw = new Database(path.join(dataDir, 'catalogue.db'));
  raw.pragma('wal_checkpoint(TRUNCATE)');
  const schemaVersion = cat.schemaVersion;
  const query = queryOnly(cat, raw);
  raw.close();
  cat.close();
  const dbBytes = statSync(path.join(dataDir, 'catalogue.db')).size;
  return {
    clips: CLIPS,
    cases: CASES,
    segmentRows,
    markerRows,
    stillRows,
    schemaVersion,
    dbBytes,
    fillSeconds: round((performance.now() - t0) / 1000, 1),
    query,
  };
}

/**
 * The default page's query alone, in this process, on the same catalogue: as the catalogue runs it
 * (the clip totals kept by triggers since migration 5) and as it ran before (summing each clip's
 * segments in three subqueries), for the ratio.
 */
function queryOnly(cat, raw) {
  const runs = 30;
  const time = (fn) => {
    fn();
    const ms = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      fn();
      ms.push(performance.now() - t);
    }
    return round(ms.sort((a, b) => a - b)[Math.floor(runs / 2)], 2);
  };
  const summing = raw.prepare(`SELECT c.id,
      COALESCE((SELECT SUM(duration_ms) FROM segments s WHERE s.clip_id = c.id), 0) AS durationMs,
      (SELECT COUNT(*) FROM segments s WHERE s.clip_id = c.id) AS segmentCount,
      COALESCE((SELECT SUM(bytes) FROM segments s WHERE s.clip_id = c.id), 0) AS bytes
    FROM clips c ORDER BY c.created_at DESC LIMIT 200`);
  const listClipsP50Ms = time(() => cat.listClips(200, 0));
  const summingSegmentsP50Ms = time(() => summing.all());
  return { page: 200, runs, listClipsP50Ms, summingSegmentsP50Ms, ratio: round(summingSegmentsP50Ms / listClipsP50Ms, 1) };
}

/** One request at a time; the time from sending to the last byte of the body. */
async function measure(base, cookie, urls, label) {
  const ms = [];
  let bytes = 0;
  for (const url of urls) {
    const t = performance.now();
    const res = await fetch(base + url, { headers: { cookie } });
    const body = await res.arrayBuffer();
    ms.push(performance.now() - t);
    if (res.status !== 200) throw new Error(`${label}: GET ${url} answered ${res.status}: ${Buffer.from(body).toString().slice(0, 300)}`);
    bytes = body.byteLength;
  }
  return { ms, bytes };
}

runBench('api-clips', async () => {
  if (!existsSync(path.join(REPO, 'dist', 'cli.js'))) throw new Error('dist/ is missing: build first (npx tsc -p tsconfig.build.json)');
  const machine = machineInfo();
  const dir = tempDir('vht-bench-apiclips-');
  const dataDir = path.join(dir, 'data');
  log(`filling a catalogue with ${CLIPS} clips of ${MIN_S}–${MAX_S} s`);
  const catalogue = await fill(dataDir);
  log(`filled: ${JSON.stringify(catalogue)}`);
  const svc = await startService({ port: PORT, name: 'apiclips', dataDir, capture: { armAtStart: false }, waitArmed: false });
  const { base, pid } = svc;
  const cookie = svc.api.cookie;
  const first = await fetch(`${base}/api/clips`, { headers: { cookie } }).then((r) => r.json());
  const pageIds = first.clips.map((c) => c.id);
  if (pageIds.length === 0) throw new Error('GET /api/clips listed no clips');
  // every clip id, to pick clips for GET /api/clips/:id from the whole catalogue
  const all = [];
  for (let offset = 0; offset < CLIPS; offset += 1000) {
    const r = await fetch(`${base}/api/clips?limit=1000&offset=${offset}`, { headers: { cookie } }).then((x) => x.json());
    all.push(...r.clips.map((c) => c.id));
  }
  if (all.length !== CLIPS) throw new Error(`the API listed ${all.length} clips, the catalogue has ${CLIPS}`);
  const rand = rng(7);
  const pick = (n) => Array.from({ length: n }, () => `/api/clips/${all[Math.floor(rand() * all.length)]}`);

  log(`warm-up: ${WARMUP} requests of each kind`);
  await measure(base, cookie, Array(WARMUP).fill('/api/clips'), 'warm-up');
  await measure(base, cookie, pick(WARMUP), 'warm-up');
  log(`measuring ${REQUESTS} × GET /api/clips`);
  const list = await measure(base, cookie, Array(REQUESTS).fill('/api/clips'), 'list');
  log(`measuring ${REQUESTS} × GET /api/clips/:id`);
  const one = await measure(base, cookie, pick(REQUESTS), 'clip');
  const deepN = Math.min(REQUESTS, 200);
  log(`measuring ${deepN} × GET /api/clips?offset=${Math.max(0, CLIPS - 200)}`);
  const deep = await measure(base, cookie, Array(deepN).fill(`/api/clips?offset=${Math.max(0, CLIPS - 200)}`), 'deep page');

  const listStats = stats(list.ms, list.bytes);
  const result = {
    params: {
      clips: CLIPS,
      minSeconds: MIN_S,
      maxSeconds: MAX_S,
      requests: REQUESTS,
      warmup: WARMUP,
      pageSize: pageIds.length,
      via: 'HTTP keep-alive on 127.0.0.1, one request at a time',
    },
    machine,
    servicePid: pid,
    catalogue,
    list: listStats,
    clip: stats(one.ms, one.bytes),
    deepPage: stats(deep.ms, deep.bytes),
    target: { listP95Ms: TARGET_P95_MS },
    pass: listStats.p95Ms <= TARGET_P95_MS,
  };
  mkdirSync(path.join(REPO, 'bench', 'results'), { recursive: true });
  writeFileSync(
    path.join(REPO, 'bench', 'results', 'api-clips.json'),
    JSON.stringify({ bench: 'api-clips', at: new Date().toISOString(), ...result }, null, 2) + '\n',
  );
  return result;
});

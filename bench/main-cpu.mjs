#!/usr/bin/env node
// The main process's CPU per take minute, before (an earlier commit, built by bench/before-build.mjs;
// default: the commit issue 16's second round started from) and after (this dist/) in the same run,
// and the playback decrypt path over HTTP for both.
//
//   node bench/main-cpu.mjs [--rounds 3] [--seconds 60] [--warmup 12] [--passes 2] [--port 18240] [--before <commit>]
//
// Per round, one service at a time, the order alternating (before, after; then after, before): a
// service (sim profile, defaults) armed for `warmup` seconds (at least a full pre-roll; the default
// 12 s is the pre-roll + 2 s as in the first round; a longer one leaves out the start-up's own
// after-effects: V8's memory-reducing collections of the start-up heap ≈ 40–60 s after start, and
// the JIT's work); CPU (utime+stime) of the main
// process and of the worker from just before POST /api/recording/start until the answer of the
// stop sent `seconds` later. The take stores the 10 s pre-roll too, so a 60 s take records ≈ 70 s:
// "per recorded minute" = main CPU-s ÷ the clip's duration (the figure issue 16 is judged by,
// target ≤ 0.35), "per take minute" = ÷ take wall minutes (stricter by the pre-roll; `pass` is
// judged on it). Then playback: every segment of that clip fetched
// `passes` times, one request at a time (GET /api/clips/:id/segments/N.ts, decrypted by the main
// process): MB/s of plaintext and main CPU-s per MB. The "before" build is dist/ with the old
// crypto functions only (bench/before-build.mjs).
import { beforeBuild } from './before-build.mjs';
import { cpuSeconds, log, machineInfo, median, numArg, round, runBench, sleep, startService } from './lib.mjs';

const ROUNDS = numArg('rounds', 3);
const SECONDS = numArg('seconds', 60);
const PASSES = numArg('passes', 2);
const WARMUP = numArg('warmup', 12);
const PORT = numArg('port', 18240);
const TARGET = 0.35; // main-process CPU-s per minute of take

function cpu(pid) {
  const c = cpuSeconds(pid);
  if (c === null) throw new Error(`process ${pid} is gone during the measurement`);
  return c;
}

async function fetchBytes(svc, url) {
  const res = await fetch(svc.base + url, { headers: { cookie: svc.api.cookie } });
  const body = Buffer.from(await res.arrayBuffer());
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status} ${body.toString('utf8', 0, 200)}`);
  return body;
}

async function measure(variant, entry, port) {
  const svc = await startService({ port, name: `maincpu-${variant}`, entry });
  const needMs = Math.max(WARMUP * 1000, svc.status.preRollMs + 2000);
  log(`${variant}: armed ${needMs} ms before the take`);
  await sleep(needMs);
  const m0 = cpu(svc.pid);
  const w0 = cpu(svc.workerPid);
  const t0 = performance.now();
  const started = Date.now();
  const { clipId } = await svc.api.post('/api/recording/start');
  await sleep(started + SECONDS * 1000 - Date.now());
  const stop = await svc.api.post('/api/recording/stop');
  const wallS = (performance.now() - t0) / 1000;
  const mainS = cpu(svc.pid) - m0;
  const workerS = cpu(svc.workerPid) - w0;
  const clip = await svc.api.get(`/api/clips/${clipId}`);
  const recordedMin = clip.durationMs / 60_000;
  const take = {
    wallS: round(wallS, 3),
    mainCpuS: round(mainS, 3),
    workerCpuS: round(workerS, 3),
    segments: clip.segments.length,
    recordedS: round(clip.durationMs / 1000, 2),
    stopDurationMs: stop.durationMs,
    mainCpuSPerTakeMin: round(mainS / (wallS / 60), 3),
    mainCpuSPerRecordedMin: round(mainS / recordedMin, 3),
  };
  log(
    `${variant}: take main ${take.mainCpuS} CPU-s in ${take.wallS} s (${take.mainCpuSPerTakeMin} per take minute, ${take.mainCpuSPerRecordedMin} per recorded minute), worker ${take.workerCpuS}`,
  );

  const p0 = cpu(svc.pid);
  const tp = performance.now();
  let bytes = 0;
  let requests = 0;
  for (let pass = 0; pass < PASSES; pass++) {
    for (const seg of clip.segments) {
      bytes += (await fetchBytes(svc, `/api/clips/${clipId}/segments/${seg.seq}.ts`)).length;
      requests++;
    }
  }
  const playWallS = (performance.now() - tp) / 1000;
  const playCpuS = cpu(svc.pid) - p0;
  const playback = {
    requests,
    plaintextMB: round(bytes / 1e6, 2),
    wallS: round(playWallS, 3),
    mbPerS: round(bytes / 1e6 / playWallS, 1),
    mainCpuS: round(playCpuS, 3),
    mainCpuSPerMB: round(playCpuS / (bytes / 1e6), 4),
    msPerSegment: round((playWallS * 1000) / requests, 2),
  };
  log(
    `${variant}: playback ${playback.requests} segments, ${playback.plaintextMB} MB in ${playback.wallS} s (${playback.mbPerS} MB/s, ${playback.mainCpuSPerMB} main CPU-s per MB)`,
  );
  const exit = await svc.stop();
  return { take, playback, exit };
}

runBench('main-cpu', async () => {
  const machine = machineInfo();
  const before = beforeBuild();
  machine.before = before.commit;
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? ['before', 'after'] : ['after', 'before'];
    log(`round ${r + 1}/${ROUNDS}: ${order.join(', ')}`);
    const res = { round: r + 1, order };
    for (const [i, v] of order.entries()) res[v] = await measure(v, v === 'before' ? before.cli : undefined, PORT + 2 * r + i);
    res.mainRatio = round(res.after.take.mainCpuS / res.before.take.mainCpuS, 3);
    res.playbackCpuRatio = round(res.after.playback.mainCpuSPerMB / res.before.playback.mainCpuSPerMB, 3);
    log(`round ${r + 1}: main CPU after ÷ before ${res.mainRatio}; playback CPU per MB after ÷ before ${res.playbackCpuRatio}`);
    rounds.push(res);
  }
  const med = (f) => round(median(rounds.map(f)), 3);
  const summary = {
    beforePerTakeMin: med((r) => r.before.take.mainCpuSPerTakeMin),
    afterPerTakeMin: med((r) => r.after.take.mainCpuSPerTakeMin),
    beforePerRecordedMin: med((r) => r.before.take.mainCpuSPerRecordedMin),
    afterPerRecordedMin: med((r) => r.after.take.mainCpuSPerRecordedMin),
    afterPerTakeMinRange: [Math.min(...rounds.map((r) => r.after.take.mainCpuSPerTakeMin)), Math.max(...rounds.map((r) => r.after.take.mainCpuSPerTakeMin))],
    mainRatioMedian: med((r) => r.mainRatio),
    playbackBeforeMBperS: med((r) => r.before.playback.mbPerS),
    playbackAfterMBperS: med((r) => r.after.playback.mbPerS),
    playbackBeforeCpuSPerMB: med((r) => r.before.playback.mainCpuSPerMB),
    playbackAfterCpuSPerMB: med((r) => r.after.playback.mainCpuSPerMB),
  };
  log(
    `median main CPU per recorded minute: before ${summary.beforePerRecordedMin}, after ${summary.afterPerRecordedMin}; per take minute: before ${summary.beforePerTakeMin}, after ${summary.afterPerTakeMin} (target ≤ ${TARGET})`,
  );
  return {
    machine,
    params: {
      rounds: ROUNDS,
      seconds: SECONDS,
      warmupS: WARMUP,
      passes: PASSES,
      before: before.commit,
      config: 'defaults (sim, 1280x720@25, 2500 kbps, 1 s segments, pre-roll 10 s)',
    },
    target: { mainCpuSPerTakeMin: TARGET },
    summary,
    rounds,
    loadavgAtEnd: (await import('node:os')).default.loadavg().map((x) => round(x, 2)),
    pass: summary.afterPerTakeMin <= TARGET,
  };
});

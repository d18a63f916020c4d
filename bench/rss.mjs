#!/usr/bin/env node
// Memory drift of the service (main process and capture worker) over one long take.
//
//   node bench/rss.mjs [--seconds 1200] [--interval 5] [--warmup 300] [--port 18230]
//
// Samples RssAnon and VmRSS (/proc/PID/status) and PSS (/proc/PID/smaps_rollup) of main and worker
// every `interval` s from the start of the take. drift = mean of the last minute − mean of the
// first minute after the warm-up (samples with warmup ≤ t < warmup + 60), for main, worker and
// their sum. The target (≤ 2 MB, 10^6 bytes, each and the sum) is judged on RssAnon: anonymous
// memory (heap, buffers), without the file-backed pages of node's own code, which V8 pages in once
// when it first optimizes a function (a ≈ 4 MB step seen ~8.5 min into a take, counted twice in a
// sum of RSS because both processes map the same node binary). VmRSS and PSS are reported beside
// it. The warm-up (5 min) and the take (20 min) are long enough to show the plateau; the
// least-squares slope after the warm-up (MB per 10 min) is the trend check.
import { childPids, log, machineInfo, mean, numArg, procPss, procStatus, round, runBench, sleep, startService, waitForPreRoll } from './lib.mjs';

const SECONDS = numArg('seconds', 1200);
const INTERVAL = numArg('interval', 5);
const WARMUP = numArg('warmup', 300);
const PORT = numArg('port', 18230);
const TARGET_MB = 2;
const MB = 1e6;

function slopePer10Min(points) {
  if (points.length < 2) return NaN;
  const mx = mean(points.map((p) => p[0]));
  const my = mean(points.map((p) => p[1]));
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return (num / den) * 600;
}

runBench('rss', async () => {
  const machine = machineInfo();
  if (SECONDS < WARMUP + 120) log(`warning: --seconds ${SECONDS} < warm-up + 120: the first and last minute overlap`);
  const svc = await startService({ port: PORT, name: 'rss' });
  await waitForPreRoll(svc.status.preRollMs);
  const { pid, workerPid } = svc;
  const samples = [];
  const sample = (t) => {
    const m = procStatus(pid);
    const w = procStatus(workerPid);
    const mp = procPss(pid);
    const wp = procPss(workerPid);
    if (!m || !w || !mp || !wp) throw new Error(`a process is gone at t=${t}s`);
    samples.push({
      t,
      mainMB: round(m.rss / MB, 2),
      workerMB: round(w.rss / MB, 2),
      sumMB: round((m.rss + w.rss) / MB, 2),
      mainAnonMB: round(m.rssAnon / MB, 2),
      workerAnonMB: round(w.rssAnon / MB, 2),
      mainThreads: m.threads,
      workerThreads: w.threads,
      mainPssMB: round(mp.pss / MB, 2),
      workerPssMB: round(wp.pss / MB, 2),
      mainPssAnonMB: round(mp.pssAnon / MB, 2),
      workerPssAnonMB: round(wp.pssAnon / MB, 2),
    });
  };
  const t0 = Date.now();
  const { clipId } = await svc.api.post('/api/recording/start');
  log(`take ${clipId} started; sampling RSS of main ${pid} and worker ${workerPid} every ${INTERVAL} s for ${SECONDS} s`);
  for (let i = 0; i * INTERVAL <= SECONDS; i++) {
    await sleep(t0 + i * INTERVAL * 1000 - Date.now());
    sample(i * INTERVAL);
    if (i % Math.round(60 / INTERVAL) === 0) {
      const s = samples[samples.length - 1];
      log(
        `t=${s.t}s main ${s.mainMB} MB (anon ${s.mainAnonMB}, ${s.mainThreads} threads), worker ${s.workerMB} MB (anon ${s.workerAnonMB}, ${s.workerThreads} threads)`,
      );
    }
  }
  const stop = await svc.api.post('/api/recording/stop');
  const kids = childPids(pid);
  if (kids.length !== 1 || kids[0] !== workerPid) throw new Error(`the capture worker changed during the take (${kids})`);
  const status = await svc.api.get('/api/status');
  const exit = await svc.stop();

  const first = samples.filter((s) => s.t >= WARMUP && s.t < WARMUP + 60);
  const last = samples.filter((s) => s.t > SECONDS - 60);
  const after = samples.filter((s) => s.t >= WARMUP);
  const first5 = samples.filter((s) => s.t >= WARMUP && s.t < WARMUP + 300);
  const last5 = samples.filter((s) => s.t > SECONDS - 300);
  const drift = {};
  for (const s of samples) {
    s.sumAnonMB = round(s.mainAnonMB + s.workerAnonMB, 2);
    s.sumPssMB = round(s.mainPssMB + s.workerPssMB, 2);
  }
  const keys = [
    'mainMB',
    'workerMB',
    'sumMB',
    'mainAnonMB',
    'workerAnonMB',
    'sumAnonMB',
    'mainPssMB',
    'workerPssMB',
    'sumPssMB',
    'mainPssAnonMB',
    'workerPssAnonMB',
  ];
  for (const k of keys) {
    const name = k.replace('MB', '');
    drift[name] = {
      firstMinuteMeanMB: round(mean(first.map((s) => s[k])), 2),
      lastMinuteMeanMB: round(mean(last.map((s) => s[k])), 2),
      driftMB: round(mean(last.map((s) => s[k])) - mean(first.map((s) => s[k])), 2),
      slopeMBper10min: round(slopePer10Min(after.map((s) => [s.t, s[k]])), 2),
      // V8's heap saws by several MB between collections, so minute means are noisy; the floor
      // (the lowest sample, just after a collection) of the first and last 5 min after the
      // warm-up shows retained memory, and the 5 min means smooth the saw.
      floorDriftMB: round(Math.min(...last5.map((s) => s[k])) - Math.min(...first5.map((s) => s[k])), 2),
      mean5DriftMB: round(mean(last5.map((s) => s[k])) - mean(first5.map((s) => s[k])), 2),
      minMB: Math.min(...after.map((s) => s[k])),
      maxMB: Math.max(...after.map((s) => s[k])),
    };
  }
  log(
    `RssAnon drift main ${drift.mainAnon.driftMB} MB, worker ${drift.workerAnon.driftMB} MB, sum ${drift.sumAnon.driftMB} MB (VmRSS sum ${drift.sum.driftMB}, PSS sum ${drift.sumPss.driftMB})`,
  );
  return {
    machine,
    params: {
      seconds: SECONDS,
      intervalS: INTERVAL,
      warmupS: WARMUP,
      firstWindow: [WARMUP, WARMUP + 60],
      lastWindow: [SECONDS - 60, SECONDS],
      first5Window: [WARMUP, WARMUP + 300],
      last5Window: [SECONDS - 300, SECONDS],
      mb: '10^6 bytes',
    },
    target: { driftMB: TARGET_MB, on: 'RssAnon of main, worker and their sum' },
    clip: { id: clipId, durationMs: stop.durationMs },
    statusAfter: status.state,
    drift,
    samples,
    serviceExit: exit,
    // The target is on RssAnon (heap and buffers; no file-backed pages such as the node binary's
    // code, paged in once by V8); VmRSS and PSS are there for comparison with earlier runs.
    pass: ['mainAnon', 'workerAnon', 'sumAnon'].every((k) => drift[k].driftMB <= TARGET_MB),
  };
});

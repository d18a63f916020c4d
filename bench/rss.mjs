#!/usr/bin/env node
// RSS drift of the service (main process and capture worker) over one long take.
//
//   node bench/rss.mjs [--seconds 600] [--interval 5] [--warmup 30] [--port 18230]
//
// Samples VmRSS of main and worker every `interval` s from the start of the take. drift = mean RSS
// of the last minute − mean RSS of the first minute after the warm-up (samples with
// warmup ≤ t < warmup + 60), for main, worker and their sum. Target: each ≤ 5 MB (10^6 bytes).
// Also reports the least-squares slope after the warm-up (MB per 10 min) as a trend check, and the
// same numbers for RssAnon (anonymous memory only: without file-backed pages such as node's code).
import { childPids, log, machineInfo, mean, numArg, procStatus, round, runBench, sleep, startService, waitForPreRoll } from './lib.mjs';

const SECONDS = numArg('seconds', 600);
const INTERVAL = numArg('interval', 5);
const WARMUP = numArg('warmup', 30);
const PORT = numArg('port', 18230);
const TARGET_MB = 5;
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
    if (!m || !w) throw new Error(`a process is gone at t=${t}s`);
    samples.push({
      t, mainMB: round(m.rss / MB, 2), workerMB: round(w.rss / MB, 2), sumMB: round((m.rss + w.rss) / MB, 2),
      mainAnonMB: round(m.rssAnon / MB, 2), workerAnonMB: round(w.rssAnon / MB, 2), mainThreads: m.threads, workerThreads: w.threads,
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
      log(`t=${s.t}s main ${s.mainMB} MB (anon ${s.mainAnonMB}, ${s.mainThreads} threads), worker ${s.workerMB} MB (anon ${s.workerAnonMB}, ${s.workerThreads} threads)`);
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
  const drift = {};
  for (const s of samples) s.sumAnonMB = round(s.mainAnonMB + s.workerAnonMB, 2);
  for (const k of ['mainMB', 'workerMB', 'sumMB', 'mainAnonMB', 'workerAnonMB', 'sumAnonMB']) {
    const name = k.replace('MB', '');
    drift[name] = {
      firstMinuteMeanMB: round(mean(first.map((s) => s[k])), 2),
      lastMinuteMeanMB: round(mean(last.map((s) => s[k])), 2),
      driftMB: round(mean(last.map((s) => s[k])) - mean(first.map((s) => s[k])), 2),
      slopeMBper10min: round(slopePer10Min(after.map((s) => [s.t, s[k]])), 2),
      minMB: Math.min(...after.map((s) => s[k])),
      maxMB: Math.max(...after.map((s) => s[k])),
    };
  }
  log(`drift main ${drift.main.driftMB} MB, worker ${drift.worker.driftMB} MB, sum ${drift.sum.driftMB} MB`);
  return {
    machine,
    params: { seconds: SECONDS, intervalS: INTERVAL, warmupS: WARMUP, firstWindow: [WARMUP, WARMUP + 60], lastWindow: [SECONDS - 60, SECONDS], mb: '10^6 bytes' },
    target: { driftMB: TARGET_MB },
    clip: { id: clipId, durationMs: stop.durationMs },
    statusAfter: status.state,
    drift,
    samples,
    serviceExit: exit,
    // The target is on RSS (main, worker, sum); the *Anon rows (RssAnon: heap, no file-backed
    // pages such as the node binary's code) are there to tell a leak from code paged in.
    pass: ['main', 'worker', 'sum'].every((k) => drift[k].driftMB <= TARGET_MB),
  };
});

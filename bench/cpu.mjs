#!/usr/bin/env node
// CPU of the whole service (main process + capture worker) during a take, against a bare
// gst-launch-1.0 running the same pipeline for the same time.
//
//   node bench/cpu.mjs [--seconds 60] [--rounds 5] [--warmup 5] [--no-armed] [--no-gop1] [--port 18220]
//
// Per round, one after the other (never concurrently), the order alternating between rounds
// (odd rounds: baseline first; even rounds: the service first), so a drift in the machine's other
// load does not favour one side:
//   1. baseline: gst-launch-1.0 -e <the service's own launch string> (dist/capture/profiles.js with the
//      default config); CPU = utime+stime of gst-launch over `seconds` after `warmup` s.
//   2. baseline-gop1 (unless --no-gop1): the same with key-int-max=25 and a new 1 s file — a keyframe
//      every second as the service's cuts make, so the encoder does the same work.
//   3. service: `vht-kit serve` (sim profile, defaults), armed with a full pre-roll ring; then
//      a. armed (unless --no-armed): CPU of main + worker over `seconds` without a take;
//      b. take: CPU of main + worker from just before POST /api/recording/start until the answer of
//         POST /api/recording/stop sent `seconds` later (the clip is complete then; the take also
//         encrypts and stores the 10 s pre-roll).
// ratio = (service take CPU-s per wall-s) / (baseline CPU-s per wall-s); target: median ≤ 1.03 over
// ≥ 5 rounds (single rounds vary by ±15 % on a shared VM, so the spread is reported with it).
// "otherCpuS" is the rest of the machine's busy CPU in the same window (/proc/stat): other load.
import {
  cpuSeconds,
  childPids,
  log,
  machineBusySeconds,
  machineInfo,
  median,
  numArg,
  flagArg,
  round,
  runBench,
  sleep,
  startService,
  waitForPreRoll,
  cleanupAll,
} from './lib.mjs';
import { baselineDir, serviceLaunch, startGst } from './gst.mjs';

const SECONDS = numArg('seconds', 60);
const ROUNDS = numArg('rounds', 5);
const WARMUP = numArg('warmup', 5);
const PORT = numArg('port', 18220);
const ARMED = !flagArg('no-armed');
const GOP1 = !flagArg('no-gop1');
const TARGET = 1.03;

/** CPU seconds of a set of pids, all of which must stay alive across the window. */
function cpuOf(pids) {
  let total = 0;
  const per = {};
  for (const p of pids) {
    const c = cpuSeconds(p);
    if (c === null) throw new Error(`process ${p} is gone during the measurement`);
    per[p] = c;
    total += c;
  }
  return { total, per };
}

async function window(pids, seconds, during) {
  const m0 = machineBusySeconds();
  const c0 = cpuOf(pids);
  const t0 = performance.now();
  if (during) await during();
  else await sleep(seconds * 1000);
  const c1 = cpuOf(pids);
  const wall = (performance.now() - t0) / 1000;
  const m1 = machineBusySeconds();
  const cpu = c1.total - c0.total;
  const perPid = Object.fromEntries(pids.map((p) => [p, round(c1.per[p] - c0.per[p], 2)]));
  return { wallS: round(wall, 3), cpuS: round(cpu, 2), cpuPerWallS: round(cpu / wall, 4), perPid, otherCpuS: round(m1 - m0 - cpu, 2) };
}

async function baseline(label, mutate) {
  const dir = baselineDir(label);
  const launch = mutate(await serviceLaunch(dir));
  const gst = await startGst(launch, { name: label });
  await sleep(WARMUP * 1000);
  log(`${label}: measuring gst-launch (pid ${gst.pid}) for ${SECONDS} s`);
  const w = await window([gst.pid], SECONDS);
  const exit = await gst.stop();
  log(`${label}: ${w.cpuS} CPU-s in ${w.wallS} s (${w.cpuPerWallS} cores); other load ${w.otherCpuS} CPU-s`);
  return { ...w, exit, launch };
}

async function service(round) {
  const svc = await startService({ port: PORT + round, name: `cpu${round}` });
  await waitForPreRoll(svc.status.preRollMs);
  const pids = [svc.pid, svc.workerPid];
  let armed = null;
  if (ARMED) {
    log(`service armed (main ${svc.pid}, worker ${svc.workerPid}): measuring ${SECONDS} s without a take`);
    armed = await window(pids, SECONDS);
    log(`service armed: ${armed.cpuS} CPU-s in ${armed.wallS} s (${armed.cpuPerWallS} cores); other load ${armed.otherCpuS}`);
    await waitForPreRoll(svc.status.preRollMs); // not needed (no take took the ring), keeps rounds alike
  }
  let clip = null;
  log(`service: measuring a ${SECONDS} s take`);
  const take = await window(pids, SECONDS, async () => {
    const t0 = Date.now();
    await svc.api.post('/api/recording/start');
    await sleep(t0 + SECONDS * 1000 - Date.now());
    clip = await svc.api.post('/api/recording/stop');
  });
  const kids = childPids(svc.pid);
  if (kids.length !== 1 || kids[0] !== svc.workerPid) throw new Error(`the worker changed during the take: ${kids}`);
  take.main = take.perPid[svc.pid];
  take.worker = take.perPid[svc.workerPid];
  log(
    `service take: ${take.cpuS} CPU-s in ${take.wallS} s (${take.cpuPerWallS} cores: main ${take.main}, worker ${take.worker}); other load ${take.otherCpuS}`,
  );
  const info = await svc.api.get(`/api/clips/${clip.clipId}`);
  const exit = await svc.stop();
  return { armed, take, clip: { id: clip.clipId, durationMs: clip.durationMs, segments: info.segments.length, bytes: info.bytes }, exit };
}

runBench('cpu', async () => {
  const machine = machineInfo();
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const serviceFirst = r % 2 === 1;
    log(`round ${r + 1}/${ROUNDS}${serviceFirst ? ' (service first)' : ''}`);
    const svcFirst = serviceFirst ? await service(r) : null;
    const base = await baseline('baseline', (l) => l);
    const gop1 = GOP1
      ? await baseline('baseline-gop1', (l) =>
          l
            .replace(/key-int-max=\d+/, 'key-int-max=25')
            .replace('next-file=key-unit-event', 'next-file=max-duration max-file-duration=1000000000 max-files=10'),
        )
      : null;
    const svc = svcFirst ?? (await service(r));
    const ratio = svc.take.cpuPerWallS / base.cpuPerWallS;
    const res = {
      round: r + 1,
      order: serviceFirst ? 'service, baseline' : 'baseline, service',
      baselineCpuS: base.cpuS,
      baselineWallS: base.wallS,
      baselineOtherCpuS: base.otherCpuS,
      baselineGop1CpuS: gop1?.cpuS ?? null,
      baselineGop1WallS: gop1?.wallS ?? null,
      baselineGop1OtherCpuS: gop1?.otherCpuS ?? null,
      serviceArmedCpuS: svc.armed?.cpuS ?? null,
      serviceArmedWallS: svc.armed?.wallS ?? null,
      serviceArmedOtherCpuS: svc.armed?.otherCpuS ?? null,
      serviceTakeCpuS: svc.take.cpuS,
      serviceTakeMainCpuS: svc.take.main,
      serviceTakeWorkerCpuS: svc.take.worker,
      serviceTakeWallS: svc.take.wallS,
      serviceTakeOtherCpuS: svc.take.otherCpuS,
      ratio: round(ratio, 3),
      ratioRaw: round(svc.take.cpuS / base.cpuS, 3),
      ratioVsGop1: gop1 ? round(svc.take.cpuPerWallS / gop1.cpuPerWallS, 3) : null,
      ratioArmed: svc.armed ? round(svc.armed.cpuPerWallS / base.cpuPerWallS, 3) : null,
      clip: svc.clip,
      serviceExit: svc.exit,
      baselineExit: base.exit,
    };
    log(`round ${r + 1}: ratio ${res.ratio} (raw ${res.ratioRaw}; vs gop1 ${res.ratioVsGop1}; armed ${res.ratioArmed})`);
    rounds.push(res);
    await cleanupAll(); // temp dirs of this round
  }
  const launch = await serviceLaunch('/dev/shm/RING');
  const ratios = rounds.map((r) => r.ratio);
  return {
    machine,
    params: { seconds: SECONDS, rounds: ROUNDS, warmupS: WARMUP, config: 'defaults (sim, 1280x720@25, 2500 kbps, 1 s segments, pre-roll 10 s)' },
    launch,
    target: { ratio: TARGET },
    ratioMedian: round(median(ratios), 3),
    ratioMin: Math.min(...ratios),
    ratioMax: Math.max(...ratios),
    ratioMean: round(ratios.reduce((x, y) => x + y, 0) / ratios.length, 3),
    ratioSd: round(Math.sqrt(ratios.reduce((x, y) => x + (y - ratios.reduce((p, q) => p + q, 0) / ratios.length) ** 2, 0) / Math.max(1, ratios.length - 1)), 3),
    mainCpuSMedian: round(median(rounds.map((r) => r.serviceTakeMainCpuS)), 3),
    loadavgAtEnd: (await import('node:os')).default.loadavg().map((x) => round(x, 2)),
    rounds,
    pass: median(ratios) <= TARGET,
  };
});

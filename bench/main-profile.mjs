#!/usr/bin/env node
// Where the main process's time goes: one service under `node --cpu-prof`, an armed window without
// a take, then a take of the same length; the V8 profile's samples are split by window and summed
// by function (self time) and by kind (GC, idle, program, JavaScript). Beside it the process's real
// CPU (utime+stime from /proc) in each window, because the profiler samples wall time: a blocking
// fsync shows as busy in the profile while it costs almost no CPU.
//
//   node bench/main-profile.mjs [--seconds 30] [--warmup 12] [--no-prof] [--top 25] [--entry path/to/cli.js] [--port 18290]
//
// Writes the JSON summary on stdout (the profile file itself is left in the temp dir with --keep).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cpuSeconds, log, machineInfo, numArg, round, runBench, sleep, startService, tempDir, REPO } from './lib.mjs';

const SECONDS = numArg('seconds', 30);
const TOP = numArg('top', 25);
const PORT = numArg('port', 18290);
const WARMUP = numArg('warmup', 12);
const entryArg = process.argv.indexOf('--entry');
const ENTRY = entryArg > 0 ? path.resolve(process.argv[entryArg + 1]) : undefined;
const PROFILE = !process.argv.includes('--no-prof');

/** CPU seconds per thread name (main thread = the process's own name; libuv pool, V8 workers…). */
function threadCpu(pid) {
  const out = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended
    }
    const name = tid === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out[name] = (out[name] ?? 0) + (Number(f[11]) + Number(f[12])) / 100;
  }
  return out;
}

function threadDelta(a, b) {
  const d = {};
  for (const [k, v] of Object.entries(b)) d[k] = round(v - (a[k] ?? 0), 2);
  return Object.fromEntries(
    Object.entries(d)
      .filter(([, v]) => v !== 0)
      .sort((x, y) => y[1] - x[1]),
  );
}

/** Monotonic µs, the clock V8's profile timestamps use on Linux. */
const nowUs = () => Number(process.hrtime.bigint() / 1000n);

/** Self time per function and per kind of the samples whose timestamp lies in [fromUs, toUs). */
export function summarise(profile, fromUs, toUs, top) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const kinds = { idle: 0, gc: 0, program: 0, js: 0 };
  let t = profile.startTime;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    const dt = profile.timeDeltas[i + 1] ?? 0;
    if (t < fromUs || t >= toUs) continue;
    const node = byId.get(profile.samples[i]);
    const f = node.callFrame;
    const name = f.functionName || '(anonymous)';
    const kind = name === '(idle)' ? 'idle' : name === '(garbage collector)' ? 'gc' : name === '(program)' ? 'program' : 'js';
    kinds[kind] += dt;
    total += dt;
    if (kind === 'idle') continue;
    const key = `${name} ${f.url ? `${path.relative(REPO, f.url.replace('file://', ''))}:${f.lineNumber + 1}` : ''}`.trim();
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const ms = (us) => round(us / 1000, 1);
  return {
    sampledMs: ms(total),
    busyMs: ms(total - kinds.idle),
    kindsMs: Object.fromEntries(Object.entries(kinds).map(([k, v]) => [k, ms(v)])),
    topSelfMs: [...self.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => [k, ms(v)]),
  };
}

runBench('main-profile', async () => {
  const machine = machineInfo();
  const profDir = tempDir('.bench-prof-');
  const nodeArgs = PROFILE ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [];
  const svc = await startService({ port: PORT, name: 'profile', nodeArgs, ...(ENTRY ? { entry: ENTRY } : {}) });
  await sleep(Math.max(WARMUP * 1000, svc.status.preRollMs + 2000));
  const windows = {};
  const c0 = cpuSeconds(svc.pid);
  const th0 = threadCpu(svc.pid);
  const a0 = nowUs();
  await sleep(SECONDS * 1000);
  const a1 = nowUs();
  const c1 = cpuSeconds(svc.pid);
  const th1 = threadCpu(svc.pid);
  const { clipId } = await svc.api.post('/api/recording/start');
  await sleep(SECONDS * 1000);
  await svc.api.post('/api/recording/stop');
  const t1 = nowUs();
  const c2 = cpuSeconds(svc.pid);
  const th2 = threadCpu(svc.pid);
  const clip = await svc.api.get(`/api/clips/${clipId}`);
  await svc.stop();
  let profile = null;
  if (PROFILE) {
    const file = readdirSync(profDir).find((n) => n.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no .cpuprofile in ${profDir}`);
    profile = JSON.parse(readFileSync(path.join(profDir, file), 'utf8'));
  }
  const prof = (from, to) => (profile ? summarise(profile, from, to, TOP) : {});
  windows.armed = { wallS: round((a1 - a0) / 1e6, 2), cpuS: round(c1 - c0, 3), threadsCpuS: threadDelta(th0, th1), ...prof(a0, a1) };
  windows.take = {
    wallS: round((t1 - a1) / 1e6, 2),
    cpuS: round(c2 - c1, 3),
    segments: clip.segments.length,
    threadsCpuS: threadDelta(th1, th2),
    ...prof(a1, t1),
  };
  for (const [k, w] of Object.entries(windows)) {
    log(
      `${k}: ${w.cpuS} CPU-s in ${w.wallS} s (${round(w.cpuS / (w.wallS / 60), 3)} per minute${PROFILE ? ', profiler on' : ''}); threads ${JSON.stringify(w.threadsCpuS)}`,
    );
    if (profile) log(`   sampled busy ${w.busyMs} ms, GC ${w.kindsMs.gc} ms`);
    for (const [name, v] of (w.topSelfMs ?? []).slice(0, 15)) log(`   ${String(v).padStart(8)} ms  ${name}`);
  }
  return { machine, params: { seconds: SECONDS, warmupS: WARMUP, profile: PROFILE, entry: ENTRY ?? 'bin/vht-kit' }, windows };
});

#!/usr/bin/env node
// Reliability run (not a speed bench): 50 random power cuts across start, take, stop and recovery
// on the real kit, with the same loop as the suite's 10 (test/helpers/power-cuts.ts, run through
// vitest so that there is one implementation). Writes bench/results/power-cuts.json; the figures
// go to docs/reliability.md.
//
//   node bench/power-cuts.mjs [--cuts 50] [--seed N]
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO, codeInfo, log, machineInfo, median, numArg, round, runBench } from './lib.mjs';

const CUTS = numArg('cuts', 50);
const SEED = numArg('seed', Date.now() % 2 ** 31);

runBench('power-cuts', async () => {
  const out = path.join(REPO, 'bench', 'results', 'power-cuts.json');
  mkdirSync(path.dirname(out), { recursive: true });
  log(`${CUTS} power cuts, seed ${SEED}`);
  const t0 = Date.now();
  const r = spawnSync('npx', ['vitest', 'run', 'test/power-cuts.e2e.test.ts'], {
    cwd: REPO,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, VHT_POWER_CUTS: String(CUTS), VHT_POWER_CUTS_SEED: String(SEED), VHT_POWER_CUTS_OUT: out },
  });
  const run = JSON.parse(readFileSync(out, 'utf8'));
  const lost = run.results.filter((x) => x.lostMs !== null).map((x) => x.lostMs);
  const byPhase = {};
  for (const x of run.results) {
    byPhase[x.phase] ??= {};
    byPhase[x.phase][x.clip] = (byPhase[x.phase][x.clip] ?? 0) + 1;
  }
  return {
    pass: r.status === 0,
    cuts: run.cuts,
    seed: run.seed,
    minutes: round((Date.now() - t0) / 60_000, 1),
    outcomes: byPhase,
    lostMs: { n: lost.length, median: lost.length ? median(lost) : null, max: lost.length ? Math.max(...lost) : null },
    notPlayable: run.results.filter((x) => (x.clip === 'complete' || x.clip === 'recovered') && x.hasVideo !== true).length,
    tempFiles: run.results.reduce((a, x) => a + x.tempFiles, 0),
    unfinished: run.results.reduce((a, x) => a + x.unfinished, 0),
    emptyClips: run.results.reduce((a, x) => a + x.empty, 0),
    auditRecovered: run.recovered,
    auditDropped: run.dropped,
    machine: machineInfo(),
    code: codeInfo(),
  };
});

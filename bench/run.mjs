#!/usr/bin/env node
// Runs the recording benches one after the other (never in parallel: they measure CPU and time),
// writing each JSON summary to bench/results/NAME-<timestamp>.json and its log beside it.
//
//   node bench/run.mjs            full runs: ~8 + ~15 + ~11 minutes
//   node bench/run.mjs --quick    short versions (~4 minutes) to check that everything works
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const plan = quick
  ? [
      ['completeness', ['--takes', '2', '--take-seconds', '5', '--long-seconds', '30']],
      ['cpu', ['--seconds', '20', '--rounds', '1']],
      ['rss', ['--seconds', '60', '--warmup', '10']],
    ]
  : [
      ['completeness', []],
      ['cpu', ['--rounds', '3']],
      ['rss', []],
    ];

const outDir = path.join(here, 'results');
mkdirSync(outDir, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
const summary = [];
for (const [name, args] of plan) {
  const base = path.join(outDir, `${name}-${stamp}`);
  process.stderr.write(`== ${name} ${args.join(' ')} → ${base}.json\n`);
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(here, `${name}.mjs`), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(createWriteStream(`${base}.json`));
    const logFile = createWriteStream(`${base}.log`);
    child.stderr.on('data', (c) => {
      logFile.write(c);
      process.stderr.write(c);
    });
    child.on('exit', (c) => resolve(c));
  });
  let pass = null;
  try {
    pass = JSON.parse(readFileSync(`${base}.json`, 'utf8')).pass ?? null;
  } catch {
    pass = null;
  }
  summary.push({ bench: name, exitCode: code, pass, result: `${base}.json` });
}
process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
process.exit(summary.every((s) => s.exitCode === 0) ? 0 : 1);

// Key rotation cost (issue 13): the kit's own KeyStore from dist/ on a temp data dir on the same
// disk as the tests. In one run:
//   baseline  making N content keys (generate + wrap + durable write each)
//   rotation  deleting one key, which rotates the signed-in trainer's wrapping key over the N others
//   wait      a take's key asked for 30 ms into that rotation: how long the take's first segments
//             wait for it in RAM (a power cut then loses them). With the take key queued behind the
//             rotation this was the whole rotation; it now commits against the rotation state.
// Prints JSON on stdout; writes bench/results/key-rotation.json. Usage: node bench/key-rotation.mjs [--keys 300] [--rounds 2]
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { log, machineInfo, median, numArg, REPO, round, runBench, sleep, tempDir } from './lib.mjs';

const N = numArg('keys', 300);
const ROUNDS = numArg('rounds', 2);

await runBench('key-rotation', async () => {
  if (!existsSync(path.join(REPO, 'dist', 'store', 'keys.js'))) throw new Error('dist/ is missing: build first (npx tsc -p tsconfig.build.json)');
  const { KeyStore } = await import(path.join(REPO, 'dist', 'store', 'keys.js'));
  const { generateIdentity } = await import(path.join(REPO, 'dist', 'store', 'crypto.js'));
  const { createLogger } = await import(path.join(REPO, 'dist', 'core', 'logger.js'));
  const logger = createLogger({ level: 'silent' });
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const dataDir = path.join(tempDir('vht-bench-keys-'), 'data');
    const keys = new KeyStore({ dataDir, orgRecipient: (await generateIdentity()).recipient, allowDemoOrg: false, logger });
    await keys.start('48210000');
    const id = (i) => `bench${String(i).padStart(8, '0')}`;
    let t = performance.now();
    for (let i = 0; i <= N; i++) await keys.createClipKey(id(i));
    const makeMs = performance.now() - t;
    if (!(await keys.unlock('48210000'))) throw new Error('unlock failed');
    t = performance.now();
    const rotation = keys.destroyClipKey(id(N));
    await sleep(30);
    const asked = performance.now();
    const take = keys.createClipKey('benchtake00001');
    const takeAt = await take.then(() => performance.now());
    await rotation;
    const rotateMs = performance.now() - t;
    const waitMs = takeAt - asked;
    rounds.push({ makeMsPerKey: makeMs / (N + 1), rotateMsPerKey: rotateMs / N, rotateMs, takeKeyWaitMs: waitMs });
    log(
      `round ${r + 1}: make ${round(makeMs / (N + 1), 2)} ms/key, rotate ${round(rotateMs)} ms (${round(rotateMs / N, 2)} ms/key), take key waited ${round(waitMs)} ms`,
    );
  }
  const ratio = median(rounds.map((x) => x.rotateMsPerKey / x.makeMsPerKey));
  const result = {
    keys: N,
    rounds: rounds.map((x) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, round(v, 2)]))),
    rotatePerKeyOverMakePerKey: round(ratio, 2),
    takeKeyWaitMsMedian: round(median(rounds.map((x) => x.takeKeyWaitMs)), 1),
    machine: machineInfo(),
  };
  mkdirSync(path.join(REPO, 'bench', 'results'), { recursive: true });
  writeFileSync(path.join(REPO, 'bench', 'results', 'key-rotation.json'), JSON.stringify(result, null, 2));
  return result;
});

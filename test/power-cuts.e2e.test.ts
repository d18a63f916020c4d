// Random power cuts across start, take, stop and recovery on the real kit (bin/vht-kit serve, sim
// profile): after each, every clip is complete or recovered and plays, or was dropped as empty;
// at most 2 s lost; no temp file left. 10 cuts here; 50 in bench/power-cuts.mjs. VHT_POWER_CUTS
// and VHT_POWER_CUTS_SEED change the count and the seed; VHT_POWER_CUTS_OUT writes the results as JSON.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditCount, runPowerCuts, type CutResult } from './helpers/power-cuts.js';
import { Service, TEST_CAPTURE } from './helpers/service.js';

const CUTS = Number(process.env.VHT_POWER_CUTS ?? 10);
const SEED = Number(process.env.VHT_POWER_CUTS_SEED ?? Date.now() % 2 ** 31);

describe(`${CUTS} random power cuts across start, take, stop and recovery (seed ${SEED})`, () => {
  let svc: Service;
  let scratch: string;
  beforeAll(async () => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'vht-cuts-'));
    svc = new Service({ config: `${TEST_CAPTURE}\nkitId: kit-cuts\n` });
    await svc.start();
    await svc.waitArmed();
  });
  afterAll(async () => {
    await svc.stop();
    svc.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  it(
    'every clip complete or recovered and playable, or dropped as empty; ≤ 2 s lost; no temp file',
    async () => {
      const results: CutResult[] = await runPowerCuts(svc, CUTS, SEED, scratch);
      expect(await svc.stop()).toBe(0);
      const dropped = auditCount(svc.dataDir, 'clip.dropped');
      const recovered = auditCount(svc.dataDir, 'clip.recovered');
      if (process.env.VHT_POWER_CUTS_OUT) {
        writeFileSync(process.env.VHT_POWER_CUTS_OUT, JSON.stringify({ seed: SEED, cuts: CUTS, dropped, recovered, results }, null, 1));
      }
      const summary = results
        .map(
          (r) =>
            `${r.n} ${r.phase}@${r.atMs}ms → ${r.clip}${r.lostMs !== null ? ` lost ${r.lostMs} ms` : ''}${r.playsS !== null ? ` plays ${r.playsS.toFixed(2)} s` : ''}${r.why ? ` (${r.why})` : ''}${r.tempFilePaths ? ` temp files left: ${r.tempFilePaths.join(', ')}` : ''}`,
        )
        .join('\n');
      expect(results, summary).toHaveLength(CUTS);
      for (const r of results) {
        expect({ n: r.n, tempFiles: r.tempFiles, unfinished: r.unfinished, empty: r.empty }, summary).toEqual({
          n: r.n,
          tempFiles: 0,
          unfinished: 0,
          empty: 0,
        });
        if (r.clip === 'complete' || r.clip === 'recovered') expect(r.hasVideo, summary).toBe(true);
        if (r.lostMs !== null) expect(r.lostMs, summary).toBeLessThanOrEqual(2000);
      }
      // every phase was cut at least once
      expect(new Set(results.map((r) => r.phase)).size).toBe(Math.min(4, CUTS));
    },
    60_000 + CUTS * 30_000,
  );
});

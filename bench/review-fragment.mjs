// Issue 19: saving a fragment and what it keeps, with the kit's own store from dist/ on a temp data
// dir. A 60 s clip of 1 s segments at the default bitrate (2.5 Mbit/s ≈ 312 KB a segment, random
// bytes: size is what counts) is recorded through ClipStore; then, per round:
//   baseline  reading and decrypting the 11 raw segments that a 10 s range overlaps (playing the range from the raw clip)
//   save      FragmentStore.copySegments of that range (decrypt with K_clip, re-encrypt to [org, K_frag], durable writes, new key)
//   playable  save + decrypting the fragment's first segment with its new key (what the player needs to start)
// and the bytes kept on the kit (fragment vs raw clip) and uploaded for it (metadata object vs footage).
// Prints JSON; writes bench/results/review-fragment.json. Usage: node bench/review-fragment.mjs [--rounds 5]
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { log, machineInfo, median, numArg, REPO, round, runBench, tempDir } from './lib.mjs';

const ROUNDS = numArg('rounds', 5);
const SEG_BYTES = Math.round((2_500_000 / 8) * 1);
const dist = (p) => path.join(REPO, 'dist', p);

await runBench('review-fragment', async () => {
  if (!existsSync(dist('store/fragments.js'))) throw new Error('dist/ is missing: build first (npx tsc -p tsconfig.build.json)');
  const { KeyStore } = await import(dist('store/keys.js'));
  const { Catalogue } = await import(dist('store/catalogue.js'));
  const { ClipStore } = await import(dist('store/clips.js'));
  const { FragmentStore, segmentsForRange } = await import(dist('store/fragments.js'));
  const { generateIdentity, decryptWith, encryptTo } = await import(dist('store/crypto.js'));
  const { createLogger } = await import(dist('core/logger.js'));
  const logger = createLogger({ level: 'silent' });
  const dataDir = path.join(tempDir('vht-bench-fragment-'), 'data');
  const org = await generateIdentity();
  const keys = new KeyStore({ dataDir, orgRecipient: org.recipient, allowDemoOrg: false, logger });
  await keys.start('48210000');
  if (!(await keys.unlock('48210000'))) throw new Error('unlock failed');
  const catalogue = new Catalogue(path.join(dataDir, 'catalogue.db'));
  const clips = new ClipStore(dataDir, catalogue, keys, logger);
  const now = Date.now();
  catalogue.insertCase('GZ-0042', 'k-vht', { recording: true, review: true, supervision: false, training: false }, now);
  const clipId = clips.createClip({
    caseCode: 'GZ-0042',
    now,
    requestedAt: now,
    preRollMs: 0,
    originMs: now,
    consent: { recording: true, review: true, supervision: false, training: false },
  });
  await clips.prepareKey(clipId);
  for (let seq = 0; seq < 60; seq++)
    await clips.persistSegment(clipId, seq, randomBytes(SEG_BYTES), { startMs: now + seq * 1000, durationMs: 1000, discontinuity: false });
  clips.finishClip(clipId, 'complete', now + 60_000, 'stopped');
  const store = new FragmentStore(dataDir, catalogue, keys, logger);
  const seqs = segmentsForRange(catalogue.segments(clipId), 20_500, 30_500);
  const clipBytes = catalogue.getClip(clipId).bytes;
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    let t = performance.now();
    const clipIdentity = await keys.contentIdentity({ kind: 'clip', id: clipId });
    for (const seq of seqs) await decryptWith(clipIdentity, readFileSync(clips.segmentFile(clipId, seq)));
    const baselineMs = performance.now() - t;
    t = performance.now();
    const frag = await store.copySegments({ clipId, seqs, now: Date.now() + r });
    const saveMs = performance.now() - t;
    const identity = await keys.contentIdentity({ kind: 'fragment', id: frag.id });
    await decryptWith(identity, await store.readFragmentSegment(frag.id, frag.segments[0].seq));
    const playableMs = performance.now() - t;
    const fragBytes = frag.segments.reduce((n, s) => n + s.bytes, 0);
    // What the upload sends for it: the metadata object (names the clip's segments), never the footage.
    const meta = JSON.stringify({
      format: 'vht-kit.fragment',
      v: 1,
      id: frag.id,
      sourceClipId: clipId,
      inMs: 20_500,
      outMs: 30_500,
      segments: frag.segments,
      label: 'naming',
      noteAge: null,
    });
    const metaBytes = (await encryptTo([org.recipient, keys.recipientsOf({ kind: 'fragment', id: frag.id })[1]], meta)).byteLength;
    rounds.push({ baselineMs, saveMs, playableMs, fragBytes, metaBytes });
    log(
      `round ${r + 1}: raw range ${round(baselineMs)} ms, save ${round(saveMs)} ms, playable ${round(playableMs)} ms; kept ${fragBytes} B, metadata ${metaBytes} B`,
    );
    await store.deleteFragment(frag.id);
  }
  const result = {
    fragmentSeconds: 10,
    segments: seqs.length,
    segmentBytes: SEG_BYTES,
    saveToPlayableMsMedian: round(median(rounds.map((x) => x.playableMs)), 1),
    playableOverRawRange: round(median(rounds.map((x) => x.playableMs / x.baselineMs)), 2),
    keptOverRawClip: round(rounds[0].fragBytes / clipBytes, 3),
    uploadedBytesPerFragment: rounds[0].metaBytes,
    uploadedOverFootage: round(rounds[0].metaBytes / rounds[0].fragBytes, 5),
    rounds: rounds.map((x) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, round(v, 1)]))),
    machine: machineInfo(),
  };
  mkdirSync(path.join(REPO, 'bench', 'results'), { recursive: true });
  writeFileSync(path.join(REPO, 'bench', 'results', 'review-fragment.json'), JSON.stringify(result, null, 2));
  return result;
});

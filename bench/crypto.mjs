#!/usr/bin/env node
// age encryption and decryption in one process: the kit's node:crypto implementation
// (dist/store/crypto.js) against age-encryption 0.3.1 (the implementation before issue 16), the
// same inputs, alternating in each round. Decryption is what playback does per segment.
//
//   node bench/crypto.mjs [--rounds 5] [--files 70] [--segment-kb 340] [--big-mb 3]
//
// Per round and implementation: encrypt `files` segments of `segment-kb` KB to two recipients (a
// take-minute's worth at the defaults), decrypt them with one identity, and encrypt + decrypt one
// `big-mb` MB file. CPU = process.cpuUsage (user + system) around each loop. Reports CPU-s per
// take minute (the 70 segments), decrypt MB/s of plaintext per CPU-second and per wall-second.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as age from 'age-encryption';
import { REPO, log, machineInfo, median, numArg, round, runBench } from './lib.mjs';

const ROUNDS = numArg('rounds', 5);
const FILES = numArg('files', 70);
const SEGMENT = numArg('segment-kb', 340) * 1000;
const BIG = numArg('big-mb', 3) * 1e6;

const js = {
  encrypt: async (recipients, data) => {
    const e = new age.Encrypter();
    for (const r of recipients) e.addRecipient(r);
    return e.encrypt(data);
  },
  decrypt: async (identity, data) => {
    const d = new age.Decrypter();
    d.addIdentity(identity);
    return d.decrypt(data);
  },
};

async function timed(fn) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = await fn();
  const c = process.cpuUsage(c0);
  return { cpuS: (c.user + c.system) / 1e6, wallS: (performance.now() - t0) / 1000, out };
}

runBench('crypto', async () => {
  const machine = machineInfo();
  const kit = await import(pathToFileURL(path.join(REPO, 'dist', 'store', 'crypto.js')).href);
  const native = { encrypt: kit.encryptTo, decrypt: kit.decryptWith };
  const a = await kit.generateIdentity();
  const b = await kit.generateIdentity();
  const segments = Array.from({ length: FILES }, (_, i) => Buffer.alloc(SEGMENT, i));
  const big = Buffer.alloc(BIG, 7);
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const row = { round: r + 1 };
    for (const name of r % 2 ? ['native', 'js'] : ['js', 'native']) {
      const impl = name === 'native' ? native : js;
      const enc = await timed(async () => {
        const out = [];
        for (const s of segments) out.push(await impl.encrypt([a.recipient, b.recipient], s));
        return out;
      });
      const dec = await timed(async () => {
        let n = 0;
        for (const c of enc.out) n += (await impl.decrypt(b.identity, c)).length;
        return n;
      });
      if (dec.out !== FILES * SEGMENT) throw new Error(`${name}: decrypted ${dec.out} bytes, expected ${FILES * SEGMENT}`);
      const bigEnc = await timed(() => impl.encrypt([a.recipient, b.recipient], big));
      const bigDec = await timed(() => impl.decrypt(a.identity, bigEnc.out));
      if (bigDec.out.length !== BIG) throw new Error(`${name}: the big file came back with ${bigDec.out.length} bytes`);
      row[name] = {
        encryptSegmentsCpuS: round(enc.cpuS, 3),
        decryptSegmentsCpuS: round(dec.cpuS, 3),
        decryptSegmentsMBperCpuS: round(dec.out / 1e6 / dec.cpuS, 1),
        decryptSegmentsMBperWallS: round(dec.out / 1e6 / dec.wallS, 1),
        decryptMsPerSegment: round((dec.wallS * 1000) / FILES, 2),
        bigEncryptMBperCpuS: round(BIG / 1e6 / bigEnc.cpuS, 1),
        bigDecryptMBperCpuS: round(BIG / 1e6 / bigDec.cpuS, 1),
        bigDecryptMBperWallS: round(BIG / 1e6 / bigDec.wallS, 1),
      };
      log(
        `round ${r + 1} ${name}: encrypt ${FILES} × ${SEGMENT / 1000} KB ${row[name].encryptSegmentsCpuS} CPU-s; decrypt ${row[name].decryptSegmentsMBperCpuS} MB per CPU-s (${row[name].decryptMsPerSegment} ms a segment)`,
      );
    }
    row.encryptRatio = round(row.native.encryptSegmentsCpuS / row.js.encryptSegmentsCpuS, 3);
    row.decryptSpeedup = round(row.native.decryptSegmentsMBperCpuS / row.js.decryptSegmentsMBperCpuS, 2);
    rounds.push(row);
  }
  const med = (f) => round(median(rounds.map(f)), 3);
  return {
    machine,
    params: { rounds: ROUNDS, files: FILES, segmentBytes: SEGMENT, bigBytes: BIG, recipients: 2 },
    summary: {
      encryptTakeMinuteCpuS: { native: med((r) => r.native.encryptSegmentsCpuS), js: med((r) => r.js.encryptSegmentsCpuS), ratio: med((r) => r.encryptRatio) },
      decryptSegmentsMBperCpuS: {
        native: med((r) => r.native.decryptSegmentsMBperCpuS),
        js: med((r) => r.js.decryptSegmentsMBperCpuS),
        speedup: med((r) => r.decryptSpeedup),
      },
      decryptSegmentsMBperWallS: { native: med((r) => r.native.decryptSegmentsMBperWallS), js: med((r) => r.js.decryptSegmentsMBperWallS) },
      decryptMsPerSegment: { native: med((r) => r.native.decryptMsPerSegment), js: med((r) => r.js.decryptMsPerSegment) },
      bigDecryptMBperCpuS: { native: med((r) => r.native.bigDecryptMBperCpuS), js: med((r) => r.js.bigDecryptMBperCpuS) },
    },
    rounds,
  };
});

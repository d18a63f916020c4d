import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** Decrypts an age file with Debian's `age` CLI and an identity file. */
export function ageDecrypt(identityFile: string, file: string): Buffer {
  return execFileSync('age', ['-d', '-i', identityFile, file], { maxBuffer: 256 * 1024 * 1024 });
}

export interface Discovered {
  durationS: number;
  hasVideo: boolean;
  hasAudio: boolean;
  text: string;
}

/** gst-discoverer-1.0 on a file: duration and streams. */
export function discover(file: string): Discovered {
  const text = execFileSync('gst-discoverer-1.0', [file], { encoding: 'utf8', timeout: 60_000 });
  const m = /Duration: (\d+):(\d+):(\d+\.\d+)/.exec(text);
  const durationS = m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) : NaN;
  return { durationS, hasVideo: /video #\d+: H\.264/.test(text), hasAudio: /audio #\d+: MPEG-4 AAC/.test(text), text };
}

/**
 * Counts plaintext media signs in a buffer: runs of ≥ 5 MPEG-TS packets (0x47 every 188 bytes)
 * and H.264 SPS/IDR start codes (00 00 00 01 67 / 65).
 */
export function plaintextMediaSigns(buf: Buffer): number {
  let signs = 0;
  for (let i = 0; i + 188 * 5 <= buf.length; i++) {
    if (buf[i] === 0x47 && buf[i + 188] === 0x47 && buf[i + 376] === 0x47 && buf[i + 564] === 0x47 && buf[i + 752] === 0x47) {
      signs += 1;
      i += 188 * 5;
    }
  }
  for (let i = 0; i + 5 <= buf.length; i++) {
    if (buf[i] === 0 && buf[i + 1] === 0 && buf[i + 2] === 0 && buf[i + 3] === 1 && (buf[i + 4] === 0x67 || buf[i + 4] === 0x65)) signs += 1;
  }
  return signs;
}

export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    const st = statSync(full);
    if (st.isDirectory()) out.push(...filesUnder(full));
    else if (st.isFile()) out.push(full); // not the control socket
  }
  return out;
}

/** Every file under dir with its count of plaintext media signs (only files that have any). */
export function scanForPlaintext(dir: string): { file: string; signs: number }[] {
  return filesUnder(dir)
    .map((file) => ({ file, signs: plaintextMediaSigns(readFileSync(file)) }))
    .filter((r) => r.signs > 0);
}

import { AppError } from '../core/errors.js';

/**
 * A compact QR code encoder (ISO/IEC 18004): byte mode, versions 1–6, error correction L or M —
 * enough for a Wi-Fi join code (WIFI:T:WPA;S:…;P:…;;) of up to 106 bytes. Versions 1–6 need no
 * version information block; each has at most one alignment pattern.
 */
export type EccLevel = 'L' | 'M';

export interface QrCode {
  version: number;
  ecc: EccLevel;
  mask: number;
  size: number;
  /** modules[y][x]: true = dark. */
  modules: boolean[][];
}

/** Per version 1–6: [blocks, data codewords per block, EC codewords per block]. */
const BLOCKS: Record<EccLevel, [number, number, number][]> = {
  L: [[1, 19, 7], [1, 34, 10], [1, 55, 15], [1, 80, 20], [1, 108, 26], [2, 68, 18]],
  M: [[1, 16, 10], [1, 28, 16], [1, 44, 26], [2, 32, 18], [2, 43, 24], [4, 27, 16]],
};
const FORMAT_ECC_BITS: Record<EccLevel, number> = { L: 1, M: 0 };

/** Largest byte-mode payload for a version and level (4 mode bits + 8 count bits). */
export function byteCapacity(version: number, ecc: EccLevel): number {
  const [blocks, data] = BLOCKS[ecc][version - 1]!;
  return Math.floor((blocks * data * 8 - 12) / 8);
}

// --- Reed–Solomon over GF(256), polynomial 0x11d ---
const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255]!;
}
function gfMul(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : EXP[LOG[a]! + LOG[b]!]!;
}

/** The generator polynomial of degree n (coefficients after the leading 1, highest first). */
function generator(n: number): number[] {
  let g = [1];
  for (let i = 0; i < n; i++) {
    const next = new Array<number>(g.length + 1).fill(0);
    for (let j = 0; j < g.length; j++) {
      next[j] = next[j]! ^ g[j]!;
      next[j + 1] = next[j + 1]! ^ gfMul(g[j]!, EXP[i]!);
    }
    g = next;
  }
  return g.slice(1);
}

/** The n error correction codewords of `data` (exported for the known-answer test). */
export function reedSolomon(data: number[], n: number): number[] {
  const gen = generator(n);
  const rem = new Array<number>(n).fill(0);
  for (const b of data) {
    const factor = b ^ rem.shift()!;
    rem.push(0);
    for (let i = 0; i < n; i++) rem[i] = rem[i]! ^ gfMul(gen[i]!, factor);
  }
  return rem;
}

/** The 15 format bits (EC level and mask, BCH-coded, XOR-masked), bit 14 first. */
export function formatBits(ecc: EccLevel, mask: number): number {
  const data = (FORMAT_ECC_BITS[ecc] << 3) | mask;
  let rem = data;
  for (let i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
  return ((data << 10) | rem) ^ 0x5412;
}

const MASKS: ((x: number, y: number) => boolean)[] = [
  (x, y) => (x + y) % 2 === 0,
  (_x, y) => y % 2 === 0,
  (x) => x % 3 === 0,
  (x, y) => (x + y) % 3 === 0,
  (x, y) => (Math.floor(x / 3) + Math.floor(y / 2)) % 2 === 0,
  (x, y) => ((x * y) % 2) + ((x * y) % 3) === 0,
  (x, y) => (((x * y) % 2) + ((x * y) % 3)) % 2 === 0,
  (x, y) => (((x + y) % 2) + ((x * y) % 3)) % 2 === 0,
];

/** Data and EC codewords, interleaved by block, for `bytes` at this version and level. */
export function codewords(bytes: Uint8Array, version: number, ecc: EccLevel): number[] {
  const [blocks, dataPerBlock, ecPerBlock] = BLOCKS[ecc][version - 1]!;
  const capacityBits = blocks * dataPerBlock * 8;
  const bits: number[] = [];
  const put = (value: number, len: number) => {
    for (let i = len - 1; i >= 0; i--) bits.push((value >>> i) & 1);
  };
  put(0b0100, 4); // byte mode
  put(bytes.length, 8); // versions 1–9: 8-bit count
  for (const b of bytes) put(b, 8);
  put(0, Math.min(4, capacityBits - bits.length)); // terminator
  while (bits.length % 8) bits.push(0);
  const data: number[] = [];
  for (let i = 0; i < bits.length; i += 8) data.push(bits.slice(i, i + 8).reduce((a, b) => (a << 1) | b, 0));
  for (let pad = 0; data.length < blocks * dataPerBlock; pad ^= 1) data.push(pad ? 0x11 : 0xec);
  const dataBlocks: number[][] = [];
  const ecBlocks: number[][] = [];
  for (let b = 0; b < blocks; b++) {
    const block = data.slice(b * dataPerBlock, (b + 1) * dataPerBlock);
    dataBlocks.push(block);
    ecBlocks.push(reedSolomon(block, ecPerBlock));
  }
  const out: number[] = [];
  for (let i = 0; i < dataPerBlock; i++) for (const blk of dataBlocks) out.push(blk[i]!);
  for (let i = 0; i < ecPerBlock; i++) for (const blk of ecBlocks) out.push(blk[i]!);
  return out;
}

class Matrix {
  readonly dark: boolean[][];
  readonly fixed: boolean[][];
  constructor(readonly size: number) {
    this.dark = Array.from({ length: size }, () => new Array<boolean>(size).fill(false));
    this.fixed = Array.from({ length: size }, () => new Array<boolean>(size).fill(false));
  }
  set(x: number, y: number, dark: boolean): void {
    this.dark[y]![x] = dark;
    this.fixed[y]![x] = true;
  }
}

function drawFunctionPatterns(m: Matrix, version: number): void {
  const n = m.size;
  for (let i = 0; i < n; i++) {
    m.set(6, i, i % 2 === 0);
    m.set(i, 6, i % 2 === 0);
  }
  for (const [cx, cy] of [[3, 3], [n - 4, 3], [3, n - 4]] as const) {
    for (let dy = -4; dy <= 4; dy++) {
      for (let dx = -4; dx <= 4; dx++) {
        const x = cx + dx;
        const y = cy + dy;
        if (x < 0 || y < 0 || x >= n || y >= n) continue;
        const d = Math.max(Math.abs(dx), Math.abs(dy));
        m.set(x, y, d !== 2 && d !== 4);
      }
    }
  }
  if (version >= 2) {
    const c = 4 * version + 10;
    for (let dy = -2; dy <= 2; dy++) {
      for (let dx = -2; dx <= 2; dx++) m.set(c + dx, c + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1);
    }
  }
  drawFormat(m, 'L', 0); // reserve the format areas (the real bits come after masking)
}

function drawFormat(m: Matrix, ecc: EccLevel, mask: number): void {
  const bits = formatBits(ecc, mask);
  const bit = (i: number) => ((bits >>> i) & 1) === 1;
  const n = m.size;
  for (let i = 0; i <= 5; i++) m.set(8, i, bit(i));
  m.set(8, 7, bit(6));
  m.set(8, 8, bit(7));
  m.set(7, 8, bit(8));
  for (let i = 9; i < 15; i++) m.set(14 - i, 8, bit(i));
  for (let i = 0; i < 8; i++) m.set(n - 1 - i, 8, bit(i));
  for (let i = 8; i < 15; i++) m.set(8, n - 15 + i, bit(i));
  m.set(8, n - 8, true); // the dark module
}

function drawCodewords(m: Matrix, cw: number[]): void {
  const n = m.size;
  let i = 0;
  for (let right = n - 1; right >= 1; right -= 2) {
    if (right === 6) right = 5;
    for (let vert = 0; vert < n; vert++) {
      for (let j = 0; j < 2; j++) {
        const x = right - j;
        const upward = ((right + 1) & 2) === 0;
        const y = upward ? n - 1 - vert : vert;
        if (m.fixed[y]![x]) continue;
        if (i < cw.length * 8) m.dark[y]![x] = ((cw[i >>> 3]! >>> (7 - (i & 7))) & 1) === 1;
        i++;
      }
    }
  }
}

function applyMask(m: Matrix, mask: number): void {
  const f = MASKS[mask]!;
  for (let y = 0; y < m.size; y++) {
    for (let x = 0; x < m.size; x++) if (!m.fixed[y]![x] && f(x, y)) m.dark[y]![x] = !m.dark[y]![x];
  }
}

/** The spec's penalty score (N1 runs, N2 blocks, N3 finder-like patterns, N4 balance). */
export function penalty(dark: boolean[][]): number {
  const n = dark.length;
  let score = 0;
  const line = (get: (i: number) => boolean) => {
    let s = 0;
    let run = 1;
    for (let i = 1; i <= n; i++) {
      if (i < n && get(i) === get(i - 1)) run++;
      else {
        if (run >= 5) s += 3 + (run - 5);
        run = 1;
      }
    }
    for (let i = 0; i + 11 <= n; i++) {
      const p = [1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0].every((b, k) => get(i + k) === (b === 1));
      const q = [0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1].every((b, k) => get(i + k) === (b === 1));
      if (p) s += 40;
      if (q) s += 40;
    }
    return s;
  };
  for (let y = 0; y < n; y++) score += line((x) => dark[y]![x]!);
  for (let x = 0; x < n; x++) score += line((y) => dark[y]![x]!);
  let count = 0;
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      if (dark[y]![x]) count++;
      if (x + 1 < n && y + 1 < n) {
        const c = dark[y]![x];
        if (dark[y]![x + 1] === c && dark[y + 1]![x] === c && dark[y + 1]![x + 1] === c) score += 3;
      }
    }
  }
  const k = Math.ceil(Math.abs(count * 20 - n * n * 10) / (n * n)) - 1;
  return score + Math.max(0, k) * 10;
}

/**
 * Encodes `text` (UTF-8) in the smallest version 1–6 that holds it at level `ecc`; the mask is the
 * one with the lowest penalty, unless `mask` forces one (tests compare with published symbols).
 */
export function encodeQr(text: string, ecc: EccLevel = 'M', opts: { mask?: number; minVersion?: number } = {}): QrCode {
  const bytes = new TextEncoder().encode(text);
  let version = 0;
  for (let v = Math.max(1, opts.minVersion ?? 1); v <= 6; v++) {
    if (bytes.length <= byteCapacity(v, ecc)) {
      version = v;
      break;
    }
  }
  if (!version) {
    throw new AppError('VALIDATION', `QR text: ${bytes.length} bytes do not fit a version 1–6 code at level ${ecc} (at most ${byteCapacity(6, ecc)})`, { field: 'text' });
  }
  const cw = codewords(bytes, version, ecc);
  const size = 17 + 4 * version;
  const build = (mask: number) => {
    const m = new Matrix(size);
    drawFunctionPatterns(m, version);
    drawCodewords(m, cw);
    applyMask(m, mask);
    drawFormat(m, ecc, mask);
    return m;
  };
  let best = opts.mask ?? -1;
  if (best < 0) {
    let bestScore = Infinity;
    for (let mask = 0; mask < 8; mask++) {
      const s = penalty(build(mask).dark);
      if (s < bestScore) {
        bestScore = s;
        best = mask;
      }
    }
  }
  return { version, ecc, mask: best, size, modules: build(best).dark };
}

/** The code for a terminal: two modules a character (▀ ▄ █), with a 4-module quiet zone. */
export function qrToTerminal(qr: QrCode, quiet = 4): string {
  const n = qr.size + 2 * quiet;
  const at = (x: number, y: number) => {
    const qx = x - quiet;
    const qy = y - quiet;
    return qx >= 0 && qy >= 0 && qx < qr.size && qy < qr.size && qr.modules[qy]![qx]!;
  };
  // Dark modules are drawn as blank on a light block, so the code reads on dark and light
  // terminal themes alike (light = full block).
  const lines: string[] = [];
  for (let y = 0; y < n; y += 2) {
    let s = '';
    for (let x = 0; x < n; x++) {
      const top = !at(x, y);
      const bottom = y + 1 < n ? !at(x, y + 1) : false;
      s += top && bottom ? '█' : top ? '▀' : bottom ? '▄' : ' ';
    }
    lines.push(s);
  }
  return lines.join('\n') + '\n';
}

/** The code as a standalone SVG (one path; crisp at any size). */
export function qrToSvg(qr: QrCode, quiet = 4): string {
  const n = qr.size + 2 * quiet;
  let d = '';
  for (let y = 0; y < qr.size; y++) {
    for (let x = 0; x < qr.size; x++) if (qr.modules[y]![x]) d += `M${x + quiet} ${y + quiet}h1v1h-1z`;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${n} ${n}" shape-rendering="crispEdges"><rect width="${n}" height="${n}" fill="#fff"/><path d="${d}" fill="#000"/></svg>`;
}

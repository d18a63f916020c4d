/**
 * A small MPEG-TS reader for the capture test: which video frames a segment holds (PTS, keyframe or
 * not) and how much audio (ADTS AAC). A pure function of the bytes that never throws: a damaged or
 * truncated file gives what could be read, and `problems` says what could not.
 */

export interface ProbedFrame {
  /** Presentation time in ms (90 kHz PTS / 90). */
  ptsMs: number;
  /** Holds an IDR picture (H.264 NAL type 5): a segment may start here. */
  key: boolean;
}

export interface ProbedAudio {
  ptsMs: number;
  /** AAC frames × 1024 samples at the ADTS sample rate. */
  durationMs: number;
}

export interface TsProbe {
  video: ProbedFrame[];
  audio: ProbedAudio[];
  problems: string[];
  /** The stream PIDs found (or given): the next segment of the same stream may carry no tables. */
  pids: TsPids;
}

export interface TsPids {
  video: number | null;
  audio: number | null;
}

const PACKET = 188;
const STREAM_H264 = 0x1b;
const STREAM_AAC_ADTS = 0x0f;
const ADTS_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

interface Pes {
  pts: number | null;
  chunks: Buffer[];
}

/**
 * Reads the H.264 video frames and AAC audio of one MPEG-TS file's bytes; `known` are the PIDs of
 * an earlier segment of the same stream, for a segment that starts without PAT/PMT.
 */
export function probeTs(buf: Buffer, known: TsPids = { video: null, audio: null }): TsProbe {
  const out: TsProbe = { video: [], audio: [], problems: [], pids: known };
  let pmtPid: number | null = null;
  let videoPid: number | null = known.video;
  let audioPid: number | null = known.audio;
  const open = new Map<number, Pes>();
  const flush = (pid: number) => {
    const pes = open.get(pid);
    open.delete(pid);
    if (!pes) return;
    if (pes.pts === null) {
      out.problems.push(`a PES of PID ${pid} without a PTS`);
      return;
    }
    const data = Buffer.concat(pes.chunks);
    if (pid === videoPid) out.video.push({ ptsMs: pes.pts / 90, key: hasIdr(data) });
    else out.audio.push({ ptsMs: pes.pts / 90, durationMs: adtsDurationMs(data) });
  };
  if (buf.length % PACKET !== 0) out.problems.push(`${buf.length % PACKET} trailing bytes after the last whole packet`);
  for (let off = 0; off + PACKET <= buf.length; off += PACKET) {
    if (buf[off] !== 0x47) {
      out.problems.push(`no sync byte at offset ${off}`);
      break;
    }
    const pusi = (buf[off + 1]! & 0x40) !== 0;
    const pid = ((buf[off + 1]! & 0x1f) << 8) | buf[off + 2]!;
    const afc = (buf[off + 3]! >> 4) & 3;
    let p = off + 4;
    if (afc === 2 || afc === 3) p += 1 + buf[off + 4]!;
    if (afc === 0 || afc === 2 || p >= off + PACKET) continue;
    const payload = buf.subarray(p, off + PACKET);
    if (pid === 0 && pusi) {
      pmtPid = readPat(payload) ?? pmtPid;
    } else if (pid === pmtPid && pusi) {
      const streams = readPmt(payload);
      for (const s of streams) {
        if (s.type === STREAM_H264) videoPid = s.pid;
        if (s.type === STREAM_AAC_ADTS) audioPid = s.pid;
      }
    } else if (pid === videoPid || pid === audioPid) {
      if (pusi) {
        flush(pid);
        const header = readPesHeader(payload);
        if (!header) {
          out.problems.push(`PES without a start code in PID ${pid} at offset ${off}`);
          continue;
        }
        open.set(pid, { pts: header.pts, chunks: [payload.subarray(header.dataOffset)] });
      } else {
        open.get(pid)?.chunks.push(payload);
      }
    }
  }
  for (const pid of [...open.keys()]) flush(pid);
  out.pids = { video: videoPid, audio: audioPid };
  if (videoPid === null && audioPid === null) out.problems.push('no H.264 or AAC stream in the program map');
  return out;
}

function readPat(p: Buffer): number | null {
  const t = 1 + p[0]!;
  if (t + 12 > p.length || p[t] !== 0x00) return null;
  const sectionLength = ((p[t + 1]! & 0x0f) << 8) | p[t + 2]!;
  const end = Math.min(p.length, t + 3 + sectionLength - 4);
  for (let i = t + 8; i + 4 <= end; i += 4) {
    const program = (p[i]! << 8) | p[i + 1]!;
    if (program !== 0) return ((p[i + 2]! & 0x1f) << 8) | p[i + 3]!;
  }
  return null;
}

function readPmt(p: Buffer): { type: number; pid: number }[] {
  const t = 1 + p[0]!;
  if (t + 12 > p.length || p[t] !== 0x02) return [];
  const sectionLength = ((p[t + 1]! & 0x0f) << 8) | p[t + 2]!;
  const end = Math.min(p.length, t + 3 + sectionLength - 4);
  const infoLength = ((p[t + 10]! & 0x0f) << 8) | p[t + 11]!;
  const streams: { type: number; pid: number }[] = [];
  for (let i = t + 12 + infoLength; i + 5 <= end;) {
    const esInfo = ((p[i + 3]! & 0x0f) << 8) | p[i + 4]!;
    streams.push({ type: p[i]!, pid: ((p[i + 1]! & 0x1f) << 8) | p[i + 2]! });
    i += 5 + esInfo;
  }
  return streams;
}

function readPesHeader(p: Buffer): { pts: number | null; dataOffset: number } | null {
  if (p.length < 9 || p[0] !== 0 || p[1] !== 0 || p[2] !== 1) return null;
  const flags = p[7]! >> 6;
  const dataOffset = 9 + p[8]!;
  let pts: number | null = null;
  if (flags & 2 && p.length >= 14) {
    // 33 bits: above 2^31, so arithmetic, not bit operators, for the top bits
    pts = ((p[9]! >> 1) & 7) * 2 ** 30 + p[10]! * 2 ** 22 + (p[11]! >> 1) * 2 ** 15 + p[12]! * 2 ** 7 + (p[13]! >> 1);
  }
  return { pts, dataOffset: Math.min(dataOffset, p.length) };
}

/** Whether an Annex B access unit holds an IDR slice (NAL type 5). */
function hasIdr(data: Buffer): boolean {
  for (let i = 0; i + 3 < data.length; i++) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1 && (data[i + 3]! & 0x1f) === 5) return true;
  }
  return false;
}

/** Duration of the ADTS AAC frames in a PES payload (1024 samples each). */
function adtsDurationMs(data: Buffer): number {
  let ms = 0;
  for (let i = 0; i + 7 <= data.length;) {
    if (data[i] !== 0xff || (data[i + 1]! & 0xf0) !== 0xf0) break;
    const rate = ADTS_RATES[(data[i + 2]! >> 2) & 0x0f];
    const length = ((data[i + 3]! & 3) << 11) | (data[i + 4]! << 3) | (data[i + 5]! >> 5);
    if (!rate || length < 7) break;
    ms += (1024 * 1000) / rate;
    i += length;
  }
  return ms;
}

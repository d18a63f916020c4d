// The tracks of an MP4 file as its boxes state them (ISO/IEC 14496-12): each track's kind and the
// length of its media (mdhd), and where the track starts in the movie (an edit list's empty edit).
// gst-discoverer gives only the movie's length, which is the longest track's end: with the audio
// of MPEG-TS segments running a little past the video cut, that is not the footage's length.
import { readFileSync } from 'node:fs';

export interface Mp4Track {
  /** The handler: 'vide', 'soun', … */
  handler: string;
  /** Seconds of media in the track (mdhd duration / timescale). */
  durationS: number;
  /** Seconds the track starts after the movie's start (an empty edit in elst), else 0. */
  startS: number;
}

interface Box {
  type: string;
  start: number;
  end: number;
  /** Where the box's content begins (after size and type). */
  body: number;
}

function boxes(buf: Buffer, from: number, to: number): Box[] {
  const out: Box[] = [];
  let at = from;
  while (at + 8 <= to) {
    let size = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    let body = at + 8;
    if (size === 1) {
      size = Number(buf.readBigUInt64BE(at + 8));
      body = at + 16;
    } else if (size === 0) {
      size = to - at;
    }
    if (size < 8 || at + size > to) throw new Error(`MP4 box ${JSON.stringify(type)} at ${at} has a bad size ${size}`);
    out.push({ type, start: at, end: at + size, body });
    at += size;
  }
  return out;
}

function child(buf: Buffer, box: Box, type: string): Box | undefined {
  return boxes(buf, box.body, box.end).find((b) => b.type === type);
}

/** The tracks of the MP4 file `file` (throws naming the box when the file is not a whole MP4). */
export function mp4Tracks(file: string): Mp4Track[] {
  const buf = readFileSync(file);
  const moov = boxes(buf, 0, buf.length).find((b) => b.type === 'moov');
  if (!moov) throw new Error(`${file}: no moov box (not a finished MP4)`);
  const mvhd = child(buf, moov, 'mvhd');
  if (!mvhd) throw new Error(`${file}: no mvhd box`);
  const movieScale = buf.readUInt32BE(mvhd.body + (buf[mvhd.body] === 1 ? 20 : 12));
  const tracks: Mp4Track[] = [];
  for (const trak of boxes(buf, moov.body, moov.end).filter((b) => b.type === 'trak')) {
    const mdia = child(buf, trak, 'mdia');
    const mdhd = mdia && child(buf, mdia, 'mdhd');
    const hdlr = mdia && child(buf, mdia, 'hdlr');
    if (!mdhd || !hdlr) throw new Error(`${file}: a track without mdhd or hdlr`);
    const v1 = buf[mdhd.body] === 1;
    const timescale = buf.readUInt32BE(mdhd.body + (v1 ? 20 : 12));
    const duration = v1 ? Number(buf.readBigUInt64BE(mdhd.body + 24)) : buf.readUInt32BE(mdhd.body + 16);
    let startS = 0;
    const edts = child(buf, trak, 'edts');
    const elst = edts && child(buf, edts, 'elst');
    if (elst) {
      const ev1 = buf[elst.body] === 1;
      const first = elst.body + 8;
      const segmentDuration = ev1 ? Number(buf.readBigUInt64BE(first)) : buf.readUInt32BE(first);
      const mediaTime = ev1 ? Number(buf.readBigInt64BE(first + 8)) : buf.readInt32BE(first + 4);
      if (mediaTime === -1) startS = segmentDuration / movieScale;
    }
    tracks.push({ handler: buf.toString('latin1', hdlr.body + 8, hdlr.body + 12), durationS: duration / timescale, startS });
  }
  return tracks;
}

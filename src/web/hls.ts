import type { ClipState, SegmentRow } from '../store/catalogue.js';

/** An HLS playlist of a clip's segments: EVENT while recording, VOD with ENDLIST once finished. */
export function clipPlaylist(state: ClipState, segments: SegmentRow[]): string {
  const target = Math.max(1, ...segments.map((s) => Math.ceil(s.durationMs / 1000)));
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:3',
    `#EXT-X-TARGETDURATION:${target}`,
    '#EXT-X-MEDIA-SEQUENCE:0',
    `#EXT-X-PLAYLIST-TYPE:${state === 'recording' ? 'EVENT' : 'VOD'}`,
    '#EXT-X-INDEPENDENT-SEGMENTS',
  ];
  for (const s of segments) {
    if (s.discontinuity) lines.push('#EXT-X-DISCONTINUITY');
    lines.push(`#EXTINF:${(s.durationMs / 1000).toFixed(3)},`, `segments/${s.seq}.ts`);
  }
  if (state !== 'recording') lines.push('#EXT-X-ENDLIST');
  return lines.join('\n') + '\n';
}

/**
 * The live tail of the RAM ring as a sliding-window HLS playlist (no ENDLIST): the remote's
 * camera preview. Segment names are the ring's (`1234.ts`); the media sequence is the first one's number.
 */
export function livePlaylist(segments: { name: string; durationMs: number }[]): string {
  const target = Math.max(1, ...segments.map((s) => Math.ceil(s.durationMs / 1000)));
  const first = segments[0] ? Number.parseInt(segments[0].name, 10) : 0;
  const lines = ['#EXTM3U', '#EXT-X-VERSION:3', `#EXT-X-TARGETDURATION:${target}`, `#EXT-X-MEDIA-SEQUENCE:${Number.isFinite(first) ? first : 0}`];
  for (const s of segments) lines.push(`#EXTINF:${(s.durationMs / 1000).toFixed(3)},`, `live/${s.name}`);
  return lines.join('\n') + '\n';
}

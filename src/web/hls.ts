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

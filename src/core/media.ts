/** The kit's media facts, one place each: clip ids, the still size limit, the JPEG check. */

/** A clip id: 10–32 lower-case letters and digits (a time prefix and a random tail). */
export const CLIP_ID_PATTERN = /^[a-z0-9]{10,32}$/;

/** A still is a JPEG: at most this big (one frame of the kit's video is far smaller). */
export const STILL_MAX_BYTES = 2 * 1024 * 1024;

/** True when the bytes start like a JPEG (SOI marker FF D8 followed by a marker FF). */
export function isJpeg(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/** The first bytes of a supposed JPEG as hex, for an error message. */
export function jpegHead(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 3), (b) => b.toString(16).padStart(2, '0')).join('') || '(empty)';
}

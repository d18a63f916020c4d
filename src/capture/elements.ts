import { spawnSync } from 'node:child_process';

/** Answers whether a GStreamer element factory exists here (the doctor and the pi4 profile ask it). */
export type ElementCheck = (factory: string) => boolean;

/** The real check: `gst-inspect-1.0 --exists`; false when the element or the tool is missing. */
export const gstElementExists: ElementCheck = (factory) => spawnSync('gst-inspect-1.0', ['--exists', factory]).status === 0;

/**
 * The MJPEG decoder for a board: the hardware V4L2 decoder (`v4l2jpegdec`, the Pi 4's
 * bcm2835-codec) where GStreamer has one, else the software `jpegdec`.
 */
export function mjpegDecoder(has: ElementCheck): 'v4l2jpegdec' | 'jpegdec' {
  return has('v4l2jpegdec') ? 'v4l2jpegdec' : 'jpegdec';
}

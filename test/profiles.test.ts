// The pi4 profile's MJPEG decoder: the Pi 4's hardware decoder (v4l2jpegdec) when GStreamer has it,
// else jpegdec, chosen by the doctor's own element check. This machine has no V4L2 M2M decoder, so
// the hardware case uses a stand-in check (same interface); the fallback runs in real GStreamer.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { gstElementExists, mjpegDecoder } from '../src/capture/elements.js';
import { buildPipeline } from '../src/capture/profiles.js';
import { parseConfig } from '../src/config/load.js';

const capture = parseConfig({ capture: { profile: 'pi4' } }).capture;

describe('pi4 MJPEG decoder', () => {
  it('uses v4l2jpegdec where the element exists and jpegdec where it does not; the doctor checks the one chosen', () => {
    const asked: string[] = [];
    const hw = buildPipeline('pi4', capture, '/tmp/x%08d.ts', {}, (f) => (asked.push(f), f === 'v4l2jpegdec'));
    expect(asked).toEqual(['v4l2jpegdec']);
    expect(hw.launch).toMatch(/image\/jpeg,[^!]+! v4l2jpegdec ! videoconvert ! video\/x-raw,format=I420 ! v4l2h264enc /);
    expect(hw.elements).toContain('v4l2jpegdec');
    expect(hw.elements).not.toContain('jpegdec');
    const sw = buildPipeline('pi4', capture, '/tmp/x%08d.ts', {}, () => false);
    expect(sw.launch).toMatch(/image\/jpeg,[^!]+! jpegdec ! videoconvert ! video\/x-raw,format=I420 ! v4l2h264enc /);
    expect(sw.elements).toContain('jpegdec');
    expect(sw.elements).not.toContain('v4l2jpegdec');
  });

  it('other profiles do not ask (pi5 has no hardware JPEG decoder; sim and uvc-h264 decode no MJPEG)', () => {
    const asked: string[] = [];
    for (const p of ['sim', 'pi5', 'uvc-h264'] as const) buildPipeline(p, capture, '/tmp/x%08d.ts', {}, (f) => (asked.push(f), true));
    expect(asked).toEqual([]);
    expect(buildPipeline('pi5', capture, '/tmp/x%08d.ts', {}, () => true).launch).toContain('! jpegdec !');
  });

  it('with the real check on this machine, the chosen decoder stage of the pi4 launch string decodes MJPEG in GStreamer', () => {
    const real = mjpegDecoder(gstElementExists);
    expect(real).toBe(gstElementExists('v4l2jpegdec') ? 'v4l2jpegdec' : 'jpegdec');
    expect(gstElementExists('no-such-element-vht')).toBe(false);
    const { launch } = buildPipeline('pi4', capture, '/tmp/x%08d.ts');
    const stage = /image\/jpeg,[^!]+! (.+? ! videoconvert ! video\/x-raw,format=I420) ! v4l2h264enc/.exec(launch)?.[1];
    expect(stage).toBe(`${real} ! videoconvert ! video/x-raw,format=I420`);
    // the camera's MJPEG, made here by jpegenc, through that stage: 10 frames must arrive
    const r = spawnSync(
      'sh',
      ['-c', `gst-launch-1.0 -q videotestsrc num-buffers=10 ! video/x-raw,width=320,height=240 ! jpegenc ! image/jpeg ! ${stage} ! fakesink sync=false`],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

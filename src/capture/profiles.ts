import { existsSync, readFileSync } from 'node:fs';
import type { Config, Profile, ProfileSetting } from '../config/schema.js';
import { gstElementExists, mjpegDecoder, type ElementCheck } from './elements.js';

export interface PipelineSpec {
  profile: Profile;
  /** gst-launch syntax; the multifilesink is named "sink", its location pattern ends in %08d.ts */
  launch: string;
  /** GStreamer element factories that must exist for this profile (doctor checks them). */
  elements: string[];
}

type CaptureConfig = Config['capture'];

/** Replaces parts of a profile's pipeline behind the same launch interface (capture-test stand-ins, tests). */
export interface PipelineOverrides {
  /**
   * The camera: a launch fragment ending in what the profile's camera gives, raw video for `sim`
   * and `pi5` (before the encoder), H.264 for `uvc-h264` (before h264parse).
   */
  videoSource?: string;
  /** The microphone: a launch fragment giving raw audio, in place of `alsasrc`. */
  audioSource?: string;
}

/** Picks the profile: the configured one, or for `auto` the board and camera that are present. */
export function resolveProfile(setting: ProfileSetting, device: string, fsRoot = '/'): Profile {
  if (setting !== 'auto') return setting;
  if (!existsSync(device)) return 'sim';
  let model = '';
  try {
    model = readFileSync(`${fsRoot}proc/device-tree/model`, 'utf8');
  } catch {
    model = '';
  }
  if (model.includes('Raspberry Pi 5')) return 'pi5';
  if (model.includes('Raspberry Pi 4')) return 'pi4';
  return 'pi5'; // a camera on another board: software encoding like the Pi 5
}

/** Quotes a value for a gst-launch string. */
function q(value: string): string {
  return `"${value.replace(/(["\\])/g, '\\$1')}"`;
}

/**
 * Builds the capture pipeline: camera (or test source) → H.264 (keyframe every segment) → MPEG-TS →
 * multifilesink that starts a new file on every force-key-unit event, so that the worker decides
 * where a segment ends (every segmentMs, and at once when a take stops). `has` is asked (pi4 only)
 * whether the board's hardware MJPEG decoder exists, by the same check as the doctor's.
 */
export function buildPipeline(
  profile: Profile,
  cfg: CaptureConfig,
  location: string,
  over: PipelineOverrides = {},
  has: ElementCheck = gstElementExists,
): PipelineSpec {
  const { width, height, fps, bitrateKbps } = cfg;
  const gop = Math.max(1, Math.round((fps * cfg.segmentMs) / 1000)) * 2; // backstop; cuts force keyframes
  const x264 = `x264enc tune=zerolatency speed-preset=superfast bitrate=${bitrateKbps} key-int-max=${gop} ! video/x-h264,profile=main`;
  let video: string;
  const elements = ['mpegtsmux', 'multifilesink', 'h264parse', 'queue'];
  switch (profile) {
    case 'sim':
      video =
        `${over.videoSource ?? `videotestsrc is-live=true pattern=smpte ! video/x-raw,width=${width},height=${height},framerate=${fps}/1`} ` +
        `! clockoverlay time-format="%H:%M:%S" halignment=left valignment=top font-desc="Sans 28" ` +
        `! timeoverlay halignment=right valignment=bottom font-desc="Sans 28" ` +
        `! videoconvert ! video/x-raw,format=I420 ! ${x264}`;
      elements.push('videotestsrc', 'clockoverlay', 'timeoverlay', 'videoconvert', 'x264enc');
      break;
    case 'pi4': {
      const decoder = mjpegDecoder(has);
      video =
        `v4l2src device=${q(cfg.device)} ! image/jpeg,width=${width},height=${height},framerate=${fps}/1 ` +
        `! ${decoder} ! videoconvert ! video/x-raw,format=I420 ` +
        `! v4l2h264enc extra-controls="controls,video_bitrate=${bitrateKbps * 1000},h264_i_frame_period=${gop}" ` +
        `! video/x-h264,level=(string)4,profile=main`;
      elements.push('v4l2src', decoder, 'videoconvert', 'v4l2h264enc');
      break;
    }
    case 'pi5':
      video =
        `${over.videoSource ?? `v4l2src device=${q(cfg.device)} ! image/jpeg,width=${width},height=${height},framerate=${fps}/1 ! jpegdec`} ` +
        `! videoconvert ! video/x-raw,format=I420 ! ${x264}`;
      elements.push('v4l2src', 'jpegdec', 'videoconvert', 'x264enc');
      break;
    case 'uvc-h264':
      // The camera's own H.264: its GOP cannot be forced (force-key-unit does not reach the camera's encoder).
      // h264parse keeps a cut request pending and ends the segment at the camera's next keyframe,
      // so segments span whole GOPs and their times are the keyframes' (docs/appliance.md).
      video = over.videoSource ?? `v4l2src device=${q(cfg.device)} ! video/x-h264,width=${width},height=${height},framerate=${fps}/1`;
      elements.push('v4l2src');
      break;
  }
  let audio = '';
  if (cfg.audio) {
    const src = over.audioSource ?? (profile === 'sim' ? 'audiotestsrc is-live=true wave=sine freq=440 volume=0.2' : `alsasrc device=${q(cfg.audioDevice)}`);
    audio =
      ` ${src} ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=1 ` +
      `! ${cfg.aacEncoder} bitrate=96000 ! aacparse ! queue max-size-time=3000000000 ! mux.`;
    elements.push(profile === 'sim' ? 'audiotestsrc' : 'alsasrc', 'audioconvert', 'audioresample', cfg.aacEncoder, 'aacparse');
  }
  const launch =
    `${video} ! h264parse config-interval=-1 ! queue max-size-time=3000000000 ! mux.` +
    audio +
    ` mpegtsmux name=mux ! multifilesink name=sink next-file=key-unit-event post-messages=true async=false location=${q(location)}`;
  return { profile, launch, elements };
}

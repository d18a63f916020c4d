import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';

/**
 * A stand-in for a UVC camera that sends its own H.264 (the `uvc-h264` profile): a separate
 * gst-launch-1.0 process encodes a live test pattern with a fixed GOP and hands the stream over
 * shared memory. As with a real camera, the kit's pipeline cannot force a keyframe in it: the
 * force-key-unit request of a cut stops at `shmsrc`, as it stops at the camera's source element.
 */
export class H264Camera {
  private proc: ChildProcess | null = null;
  private readonly dir = mkdtempSync('/dev/shm/vht-h264-camera-');
  readonly socket = path.join(this.dir, 'camera.sock');
  private stderr = '';

  constructor(readonly opts: { width: number; height: number; fps: number; gopSeconds: number; bitrateKbps?: number }) {}

  /** Starts the camera process; resolves once its socket accepts readers. */
  async start(timeoutMs = 15_000): Promise<void> {
    const { width, height, fps, gopSeconds, bitrateKbps = 400 } = this.opts;
    const launch =
      `videotestsrc is-live=true pattern=ball ! video/x-raw,width=${width},height=${height},framerate=${fps}/1 ` +
      `! videoconvert ! video/x-raw,format=I420 ` +
      `! x264enc tune=zerolatency speed-preset=superfast bitrate=${bitrateKbps} key-int-max=${Math.round(fps * gopSeconds)} ` +
      `! video/x-h264,stream-format=byte-stream,alignment=au,profile=main ` +
      `! shmsink socket-path=${this.socket} wait-for-connection=false sync=true shm-size=8000000`;
    const proc = spawn('gst-launch-1.0', ['-q', ...splitLaunch(launch)], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (c: string) => (this.stderr = (this.stderr + c).slice(-2000)));
    const until = Date.now() + timeoutMs;
    while (!existsSync(this.socket)) {
      if (proc.exitCode !== null) throw new Error(`the H.264 camera stand-in exited (${proc.exitCode}): ${this.stderr}`);
      if (Date.now() > until) throw new Error(`the H.264 camera stand-in made no socket within ${timeoutMs} ms: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The launch fragment a profile uses in place of `v4l2src … ! video/x-h264`. */
  source(): string {
    const { width, height, fps } = this.opts;
    return (
      `shmsrc socket-path=${this.socket} is-live=true do-timestamp=true ` +
      `! video/x-h264,stream-format=byte-stream,alignment=au,width=${width},height=${height},framerate=${fps}/1`
    );
  }

  /** Ends the camera process and removes its socket. */
  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (proc && proc.exitCode === null) {
      const gone = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGKILL');
      await gone;
    }
    // shmsink's shared memory area (shmpipe.<pid>.<n>) outlives a killed process
    if (proc?.pid !== undefined) {
      for (const name of readdirSync('/dev/shm')) if (name.startsWith(`shmpipe.${proc.pid}.`)) rmSync(`/dev/shm/${name}`, { force: true });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** gst-launch-1.0 takes the description as separate words. */
function splitLaunch(launch: string): string[] {
  return launch.split(/\s+/).filter(Boolean);
}

/**
 * The capture worker: a child process that owns one GStreamer pipeline (gstreamer-superficial) for
 * its whole life. It writes MPEG-TS segments into the RAM ring directory, ends a segment every
 * segmentMs (and at once on a `cut`), and reports each closed segment to the main process.
 * Any GStreamer error ends the process; the supervisor in the main process restarts it.
 */
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { monotonicMs } from '../core/clock.js';
import type { FromWorker, ToWorker } from './protocol.js';

interface GstPipeline {
  play(): void;
  stop(): void;
  sendEOS(): void;
  forceKeyUnit(name: string, count: number): boolean;
  pollBus(cb: (msg: Record<string, unknown>) => void): void;
}

const require = createRequire(import.meta.url);

function send(msg: FromWorker): void {
  if (process.send) process.send(msg);
}

let failing = false;

/**
 * Reports the error and ends this process non-zero so the supervisor restarts it. The pipeline is
 * set to NULL first: the binding's bus poll blocks a libuv thread until the next bus message,
 * which would otherwise keep the process from exiting.
 */
function fail(message: string, source?: string): void {
  if (failing) return;
  failing = true;
  send({ type: 'error', message, ...(source ? { source } : {}) });
  try {
    pipeline?.stop();
  } catch {
    // the pipeline is gone already; exiting is all that is left
  }
  setTimeout(() => process.exit(2), 50);
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), 1000).unref();
}

let pipeline: GstPipeline | null = null;
let monoAtPlaying = 0;
let playing = false;
let lastEndNs = 0n;
let cutCount = 0;
let cutTimer: NodeJS.Timeout | null = null;
let segmentMs = 1000;
let stopping = false;

function scheduleCut(): void {
  if (cutTimer) clearTimeout(cutTimer);
  cutTimer = setTimeout(() => cut(), segmentMs);
}

function cut(): void {
  if (!pipeline || !playing || stopping) return;
  cutCount += 1;
  pipeline.forceKeyUnit('sink', cutCount);
  scheduleCut();
}

function onBus(msg: Record<string, unknown>): void {
  const type = msg.type;
  if (type === 'state-changed' && /^pipeline\d+$/.test(String(msg._src_element_name)) && msg['new-state'] === 'GST_STATE_PLAYING') {
    if (!playing) {
      playing = true;
      monoAtPlaying = monotonicMs();
      send({ type: 'playing', mono: monoAtPlaying });
      scheduleCut();
    }
  } else if (type === 'element' && msg.name === 'GstMultiFileSink') {
    const file = String(msg.filename);
    const endNs = BigInt(String(msg['running-time']));
    const startMono = monoAtPlaying + Number(lastEndNs) / 1e6;
    const endMono = monoAtPlaying + Number(endNs) / 1e6;
    lastEndNs = endNs;
    let bytes = 0;
    try {
      bytes = statSync(file).size;
    } catch {
      bytes = 0;
    }
    send({ type: 'segment', path: file, startMono, endMono, bytes });
  } else if (type === 'error') {
    fail(busText(msg.message, 'GStreamer error'), busText(msg.name ?? msg._src_element_name, ''));
  } else if (type === 'eos') {
    send({ type: 'eos' });
    pipeline?.stop();
    setTimeout(() => process.exit(0), 20);
  }
}

function arm(msg: Extract<ToWorker, { type: 'arm' }>): void {
  if (pipeline) return;
  segmentMs = msg.segmentMs;
  const gst = require('gstreamer-superficial') as { Pipeline: new (launch: string) => GstPipeline };
  try {
    pipeline = new gst.Pipeline(msg.launch);
  } catch (err) {
    fail(`pipeline cannot be built: ${(err as Error).message}`);
    return;
  }
  const p = pipeline;
  p.pollBus(onBus);
  p.play();
  setTimeout(() => {
    if (!playing) fail(`pipeline did not reach PLAYING within ${msg.playingTimeoutMs} ms (camera busy or missing?)`);
  }, msg.playingTimeoutMs).unref();
}

function disarm(): void {
  if (!pipeline || stopping) {
    process.exit(0);
  }
  stopping = true;
  if (cutTimer) clearTimeout(cutTimer);
  pipeline.sendEOS();
  // A live pipeline that cannot drain still ends.
  setTimeout(() => {
    pipeline?.stop();
    process.exit(0);
  }, 3000).unref();
}

process.on('message', (raw: ToWorker) => {
  switch (raw.type) {
    case 'arm':
      arm(raw);
      break;
    case 'cut':
      cut();
      break;
    case 'disarm':
      disarm();
      break;
  }
});

// The main process is gone: stop the camera with it.
process.on('disconnect', () => {
  pipeline?.stop();
  process.exit(0);
});

process.on('uncaughtException', (err) => fail(`capture worker: ${err.message}`));

/** A bus message field as text: strings as they are, anything else as JSON, absent as the fallback. */
function busText(value: unknown, fallback: string): string {
  if (value === undefined || value === null) return fallback;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

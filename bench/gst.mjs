// The bare GStreamer baseline: the exact launch string the service builds for the sim profile
// (from dist/capture/profiles.js and the config defaults), run by gst-launch-1.0.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO, log, onCleanup, ramDir, sleep } from './lib.mjs';

/** The service's own launch string for `capture` (merged over the defaults), writing into `dir`. */
export async function serviceLaunch(dir, capture = {}) {
  const { buildPipeline } = await import(pathToFileURL(path.join(REPO, 'dist', 'capture', 'profiles.js')).href);
  const { parseConfig } = await import(pathToFileURL(path.join(REPO, 'dist', 'config', 'load.js')).href);
  const cfg = parseConfig({ capture: { profile: 'sim', ...capture } });
  return buildPipeline('sim', cfg.capture, path.join(dir, 'seg%08d.ts')).launch;
}

/** Splits a gst-launch string as a shell would: whitespace separates, "…" groups (\" and \\ escape). */
export function shellSplit(text) {
  const out = [];
  let cur = '';
  let inArg = false;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) cur += text[++i];
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') {
      quoted = true;
      inArg = true;
    } else if (/\s/.test(ch)) {
      if (inArg) out.push(cur);
      cur = '';
      inArg = false;
    } else {
      cur += ch;
      inArg = true;
    }
  }
  if (quoted) throw new Error('unbalanced quote in launch string');
  if (inArg) out.push(cur);
  return out;
}

/**
 * Starts `gst-launch-1.0 -e LAUNCH` and resolves once the pipeline is PLAYING. stop() sends SIGINT
 * (with -e that is an EOS, as the service's disarm does) and waits for the exit.
 */
export async function startGst(launch, { name = 'gst' } = {}) {
  const child = spawn('gst-launch-1.0', ['-e', ...shellSplit(launch)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let exited = null;
  const exitP = new Promise((resolve) => child.on('exit', (code, signal) => resolve((exited = { code, signal }))));
  child.stdout.on('data', (c) => (out = (out + c).slice(-4000)));
  child.stderr.on('data', (c) => (out = (out + c).slice(-4000)));
  const stop = async () => {
    if (exited) return exited;
    child.kill('SIGINT');
    const r = await Promise.race([exitP, sleep(10_000).then(() => null)]);
    if (!r) {
      log(`${name}: no exit 10 s after SIGINT: SIGKILL`);
      child.kill('SIGKILL');
      await exitP;
    }
    return exited;
  };
  onCleanup(stop);
  const by = Date.now() + 15_000;
  while (!/Setting pipeline to PLAYING|New clock/.test(out)) {
    if (exited) throw new Error(`gst-launch exited early (${JSON.stringify(exited)}):\n${out}`);
    if (Date.now() > by) throw new Error(`gst-launch not PLAYING within 15 s:\n${out}`);
    await sleep(50);
  }
  return {
    pid: child.pid,
    stop,
    output: () => out,
    get exited() {
      return exited;
    },
  };
}

/** A RAM dir for the baseline's segment files; removed at exit. */
export function baselineDir(name) {
  const dir = ramDir(`vht-bench-${name}-`);
  if (!existsSync(dir)) throw new Error(`no dir ${dir}`);
  return dir;
}

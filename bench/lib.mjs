// Shared helpers of the benches: start/stop a service on its own port and temp dirs, talk to its
// HTTP API, read CPU time and RSS from /proc. Plain Node ESM, no dependencies beyond Node itself.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync, createWriteStream, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

/** A block of `n` free loopback ports from 30000–34999 (a Swift test server's ports). */
export async function freePortBlock(n) {
  const free = (p) =>
    new Promise((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
  for (let i = 0; i < 50; i++) {
    const base = 30000 + Math.floor(Math.random() * 5000);
    let ok = true;
    for (let p = base; p < base + n && ok; p++) ok = await free(p);
    if (ok) return base;
  }
  throw new Error('no free port block');
}

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CLK_TCK = 100; // Linux USER_HZ; checked at run time in machineInfo()
const PAGE = 4096;

export const PIN = '1234';

/** Writes a message to stderr (stdout is kept for the final JSON summary). */
export function log(...parts) {
  const t = new Date().toISOString().slice(11, 23);
  process.stderr.write(`[${t}] ${parts.join(' ')}\n`);
}

/** Number options: --name value or --name=value. */
export function numArg(name, fallback) {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === `--${name}` && i + 1 < argv.length) return Number(argv[i + 1]);
    if (a.startsWith(`--${name}=`)) return Number(a.slice(name.length + 3));
  }
  return fallback;
}

export function flagArg(name) {
  return process.argv.slice(2).includes(`--${name}`);
}

// ---------------------------------------------------------------------------------------------
// /proc readers

/** utime + stime of one process (all its threads), in seconds; null when it is gone. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14, stime 15
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** Memory and thread details from /proc/PID/status (bytes; null when the process is gone). */
export function procStatus(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const kb = (name) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : null;
  };
  const threads = /^Threads:\s+(\d+)/m.exec(text);
  return { rss: kb('VmRSS'), rssAnon: kb('RssAnon'), rssFile: kb('RssFile'), threads: threads ? Number(threads[1]) : null };
}

/** Proportional set size from /proc/PID/smaps_rollup (bytes: pss, pssAnon, pssFile); null when gone. */
export function procPss(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch {
    return null;
  }
  const kb = (name) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : null;
  };
  return { pss: kb('Pss'), pssAnon: kb('Pss_Anon'), pssFile: kb('Pss_File') };
}

/** Direct children of a process (all its threads' children). */
export function childPids(pid) {
  const out = new Set();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      for (const c of text.split(/\s+/)) if (c) out.add(Number(c));
    }
  } catch {
    /* gone */
  }
  return [...out];
}

/** The machine's busy CPU seconds (all cores) from /proc/stat: for spotting other load. */
export function machineBusySeconds() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice
  const busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  return busy / CLK_TCK;
}

export function machineInfo() {
  let debian = '';
  try {
    debian = readFileSync('/etc/debian_version', 'utf8').trim();
  } catch {
    debian = '';
  }
  let gst = '';
  try {
    gst = execFileSync('gst-launch-1.0', ['--version'], { encoding: 'utf8' }).split('\n')[1] ?? '';
  } catch {
    gst = '';
  }
  let clk = '';
  try {
    clk = execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim();
  } catch {
    clk = '';
  }
  if (clk && Number(clk) !== CLK_TCK) throw new Error(`CLK_TCK is ${clk}, the benches assume ${CLK_TCK}`);
  return {
    date: new Date().toISOString(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? '',
    memGB: Math.round(os.totalmem() / 1e9),
    kernel: os.release(),
    debian,
    node: process.version,
    gstreamer: gst.trim(),
    loadavgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    code: codeInfo(),
  };
}

/** Which code ran: the commit, whether src/ differs from it, and when dist/ was built. */
export function codeInfo() {
  const git = (...args) => {
    try {
      return execFileSync('git', ['-C', REPO, ...args], { encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  };
  let distBuiltAt = null;
  try {
    distBuiltAt = statSync(path.join(REPO, 'dist', 'cli.js')).mtime.toISOString();
  } catch {
    distBuiltAt = null;
  }
  return { commit: git('rev-parse', '--short', 'HEAD'), srcChanged: git('status', '--porcelain', '--', 'src') !== '', distBuiltAt };
}

export function round(x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function mean(xs) {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

export function median(xs) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// ---------------------------------------------------------------------------------------------
// Cleanup registry: every temp dir and process a bench makes is undone on exit, error or Ctrl-C.

const cleanups = [];
let cleaning = null;

export function onCleanup(fn) {
  cleanups.push(fn);
}

export async function cleanupAll() {
  if (cleaning) return cleaning;
  cleaning = (async () => {
    while (cleanups.length) {
      const fn = cleanups.pop();
      try {
        await fn();
      } catch (err) {
        log('cleanup step failed:', err?.message ?? String(err));
      }
    }
  })();
  await cleaning;
  cleaning = null;
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    log(`${sig}: cleaning up`);
    cleanupAll().finally(() => process.exit(130));
  });
}

/** Runs a bench's main function: prints its JSON summary on stdout, cleans up, sets the exit code. */
export async function runBench(name, main) {
  let code = 0;
  try {
    const result = await main();
    await cleanupAll();
    process.stdout.write(JSON.stringify({ bench: name, ...result }, null, 2) + '\n');
    if (result && result.pass === false) code = 1;
  } catch (err) {
    log(`${name} failed:`, err?.stack ?? String(err));
    await cleanupAll();
    process.stdout.write(JSON.stringify({ bench: name, error: String(err?.message ?? err) }, null, 2) + '\n');
    code = 2;
  }
  process.exit(code);
}

/** --keep leaves the temp dirs (service log, data) in place for a look afterwards. */
export const KEEP = flagArg('keep');

export function tempDir(prefix, base = os.tmpdir()) {
  const dir = mkdtempSync(path.join(base, prefix));
  if (KEEP) log(`--keep: leaving ${dir} in place`);
  else onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A RAM directory (as the kit's ring is on a real kit): /dev/shm when there is one. */
export function ramDir(prefix) {
  return tempDir(prefix, existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir());
}

// ---------------------------------------------------------------------------------------------
// The service

/**
 * Starts `bin/vht-kit serve` (sim profile) with its own data dir, RAM ring dir and port; logs in;
 * waits until the camera is armed. `capture` is merged into the capture section of a config file
 * (JSON is YAML). `dataDir`: an existing data dir (e.g. a filled catalogue) instead of an empty one;
 * `waitArmed: false` for a kit that is not to arm; `entry`: another build's cli.js to run instead
 * of bin/vht-kit (the CPU benches run a "before" build beside the current one); `nodeArgs`: flags
 * for the main process's node (e.g. --cpu-prof).
 */
export async function startService({
  port,
  capture = {},
  name = 'svc',
  readyTimeoutMs = 30_000,
  dataDir = null,
  waitArmed = true,
  entry = path.join(REPO, 'bin', 'vht-kit'),
  nodeArgs = [],
}) {
  if (!existsSync(path.join(REPO, 'dist', 'cli.js'))) {
    throw new Error('dist/ is missing: build first (npx tsc -p tsconfig.build.json)');
  }
  const dir = tempDir(`vht-bench-${name}-`);
  const ring = ramDir(`vht-bench-ring-${name}-`);
  const configFile = path.join(dir, 'config.yaml');
  writeFileSync(configFile, JSON.stringify({ logLevel: 'info', capture: { profile: 'sim', ...capture } }, null, 1));
  const logFile = path.join(dir, 'service.log');
  const logStream = createWriteStream(logFile);
  const env = {
    ...process.env,
    VHT_KIT_CONFIG: configFile,
    VHT_KIT_DATA_DIR: dataDir ?? path.join(dir, 'data'),
    VHT_KIT_RING_DIR: ring,
    VHT_KIT_PORT: String(port),
    VHT_KIT_PIN: PIN,
    VHT_KIT_HOST: '127.0.0.1',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const child = spawn(process.execPath, [...nodeArgs, entry, 'serve'], {
    cwd: REPO,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });
  let tail = '';
  const keepTail = (chunk) => {
    tail = (tail + chunk.toString()).slice(-4000);
  };
  child.stderr.on('data', (c) => {
    keepTail(c);
    logStream.write(c);
  });
  let stdout = '';
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`service did not start within ${readyTimeoutMs} ms:\n${tail}`)), readyTimeoutMs);
    child.stdout.on('data', (c) => {
      stdout += c.toString();
      logStream.write(c);
      if (stdout.includes('VHT Kit runs on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    exitPromise.then((e) => {
      clearTimeout(timer);
      reject(new Error(`service exited (${JSON.stringify(e)}) before it was ready:\n${tail}`));
    });
  });

  const stop = async () => {
    if (exited) return exited;
    const workers = childPids(child.pid);
    child.kill('SIGTERM');
    const res = await Promise.race([exitPromise, sleep(20_000).then(() => null)]);
    if (!res) {
      log('service did not exit 20 s after SIGTERM: SIGKILL');
      child.kill('SIGKILL');
      await exitPromise;
    }
    // The worker exits with its parent (IPC disconnect); make sure of it.
    for (const w of workers) {
      for (let i = 0; i < 50 && existsSync(`/proc/${w}`); i++) await sleep(100);
      if (existsSync(`/proc/${w}`)) {
        log(`worker ${w} still there after the service exited: SIGKILL`);
        try {
          process.kill(w, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    logStream.end();
    return exited;
  };
  onCleanup(stop);

  await ready;
  const base = `http://127.0.0.1:${port}`;
  const api = new Api(base);
  await api.login();
  const armedBy = Date.now() + readyTimeoutMs;
  let status = await api.get('/api/status');
  while (waitArmed && status.state !== 'armed') {
    if (Date.now() > armedBy) throw new Error(`camera not armed within ${readyTimeoutMs} ms: ${JSON.stringify(status)}\n${tail}`);
    await sleep(100);
    status = await api.get('/api/status');
  }
  const workerPid = waitArmed ? await waitForWorker(child.pid) : null;
  return {
    pid: child.pid,
    workerPid,
    api,
    base,
    dir,
    ring,
    logFile,
    status,
    stop,
    get exited() {
      return exited;
    },
    logTail: () => tail,
  };
}

async function waitForWorker(pid) {
  for (let i = 0; i < 100; i++) {
    const kids = childPids(pid);
    if (kids.length) return kids[0];
    await sleep(50);
  }
  throw new Error(`no capture worker under service pid ${pid}`);
}

export class Api {
  constructor(base) {
    this.base = base;
    this.cookie = '';
    this.csrf = '';
  }

  async login() {
    const res = await fetch(this.base + '/api/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ pin: PIN }),
    });
    if (res.status !== 204) throw new Error(`login: HTTP ${res.status} ${await res.text()}`);
    const set = res.headers.getSetCookie().join('; ');
    const m = /vht_session=([^;]+)/.exec(set);
    const c = /vht_csrf=([^;]+)/.exec(set);
    if (!m || !c) throw new Error(`login: no session or CSRF cookie in ${JSON.stringify(set)}`);
    this.cookie = `vht_session=${m[1]}`;
    // every state-changing request carries the session's CSRF token
    this.csrf = decodeURIComponent(c[1]);
  }

  async request(method, url, body) {
    const headers = { cookie: this.cookie };
    if (method !== 'GET' && method !== 'HEAD' && this.csrf) headers['x-csrf-token'] = this.csrf;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(this.base + url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${url}: HTTP ${res.status} ${text}`);
    const type = res.headers.get('content-type') ?? '';
    return type.includes('json') ? JSON.parse(text) : text;
  }

  get(url) {
    return this.request('GET', url);
  }

  post(url, body = {}) {
    return this.request('POST', url, body);
  }
}

/** Waits until the RAM ring holds at least `ms` of segments (so a take gets its full pre-roll). */
export async function waitForPreRoll(preRollMs, segmentMs = 1000) {
  const need = preRollMs + 2 * segmentMs;
  const since = Date.now();
  log(`letting the ring fill ${need} ms for the pre-roll`);
  await sleep(need);
  return Date.now() - since;
}

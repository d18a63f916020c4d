// Web app latency, in Debian's Chromium (playwright-core) against a real kit (sim profile):
//  (a) stop → first frame of the new clip shown in the player: from the phone page's POST
//      /api/recording/stop to the player's first requestVideoFrameCallback for that clip (the
//      page opens the clip as soon as the stop answers, as the remote's "Laatste opname
//      terugkijken" does, without a human's reaction time);
//  (b) phone command → TV reaction: a trainer page presents a clip to a paired TV page and clicks
//      the player's controls; for every command, the time from the phone's POST
//      /api/present/control to the TV page applying it (both pages' high-resolution epoch clocks,
//      one machine), and the round trip until the phone sees the TV's tv.ack on its event stream.
// Build first: npx tsc -p tsconfig.build.json && npx vite build --config src/web/ui/vite.config.ts
// Usage: node bench/ui-latency.mjs [--takes 5] [--commands 60] [--out bench/results/ui-latency.json]
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { REPO, PIN, log, machineInfo, median, numArg, onCleanup, round, runBench, sleep, startService } from './lib.mjs';

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

function stats(xs) {
  return { n: xs.length, p50: round(median(xs), 1), p95: round(pct(xs, 95), 1), max: round(Math.max(...xs), 1), min: round(Math.min(...xs), 1) };
}

function outArg() {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--out');
  return i >= 0 && argv[i + 1] ? argv[i + 1] : path.join('bench', 'results', 'ui-latency.json');
}

/** A JSON request from inside a page, with the page's session and CSRF token. */
async function pageApi(page, method, url, body) {
  return page.evaluate(
    async ([method, url, body]) => {
      const csrf =
        document.cookie
          .split(';')
          .map((c) => c.trim().split('='))
          .find(([k]) => k === 'vht_csrf')?.[1] ?? '';
      const headers = { 'x-csrf-token': decodeURIComponent(csrf) };
      if (body !== undefined) headers['content-type'] = 'application/json';
      const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await r.text();
      if (!r.ok) throw new Error(`${method} ${url}: ${r.status} ${text}`);
      return text ? JSON.parse(text) : null;
    },
    [method, url, body],
  );
}

await runBench('ui-latency', async () => {
  const takes = numArg('takes', 5);
  const commands = numArg('commands', 60);
  if (!existsSync(path.join(REPO, 'dist', 'ui', 'index.html'))) throw new Error('dist/ui is missing: build the UI first');
  const capture = { width: 640, height: 480, fps: 25, bitrateKbps: 1000, preRollSeconds: 3 };
  const svc = await startService({ port: 18600 + Math.floor(Math.random() * 200), name: 'ui-latency', capture });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ARGS });
  onCleanup(() => browser.close());

  const phoneCtx = await browser.newContext({ baseURL: svc.base, viewport: { width: 390, height: 844 } });
  const phone = await phoneCtx.newPage();
  await phone.goto('/');
  await phone.fill('#pin', PIN);
  await phone.click('form.login button[type=submit]');
  await phone.waitForSelector('[data-testid=start]', { timeout: 15_000 });
  await pageApi(phone, 'POST', '/api/cases', {
    code: 'BM-0001',
    trajectory: (await pageApi(phone, 'GET', '/api/config/ui')).trajectories[0],
    consent: { recording: true, review: true, supervision: false, training: false },
  });

  // (a) stop → first frame in the player
  const stopToFrame = [];
  const stopApi = [];
  let lastClip = '';
  for (let i = 0; i < takes; i++) {
    await phone.evaluate(() => (location.hash = '#/'));
    await phone.waitForSelector('[data-testid=start]', { timeout: 15_000 });
    await pageApi(phone, 'POST', '/api/recording/start', { caseCode: 'BM-0001' });
    await sleep(3000);
    const r = await phone.evaluate(async () => {
      const csrf = decodeURIComponent(
        document.cookie
          .split(';')
          .map((c) => c.trim().split('='))
          .find(([k]) => k === 'vht_csrf')?.[1] ?? '',
      );
      const old = document.querySelector('[data-testid="player-video"]');
      const t0 = performance.now();
      const res = await fetch('/api/recording/stop', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: '{}' });
      const { clipId } = await res.json();
      const tStop = performance.now();
      location.hash = `#/clip/${clipId}`;
      const v = await new Promise((resolve, reject) => {
        const deadline = performance.now() + 10_000;
        const look = () => {
          const el = document.querySelector('[data-testid="player-video"]');
          if (el && el !== old) return resolve(el);
          if (performance.now() > deadline) return reject(new Error('no player'));
          requestAnimationFrame(look);
        };
        look();
      });
      const how = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no frame within 10 s (readyState ${v.readyState})`)), 10_000);
        v.requestVideoFrameCallback(() => {
          clearTimeout(timer);
          resolve('requestVideoFrameCallback');
        });
      });
      return { clipId, ms: performance.now() - t0, stopMs: tStop - t0, how };
    });
    lastClip = r.clipId;
    stopToFrame.push(r.ms);
    stopApi.push(r.stopMs);
    log(`take ${i + 1}: stop → first frame ${round(r.ms, 1)} ms (stop answered after ${round(r.stopMs, 1)} ms)`);
  }

  // (b) phone command → TV reaction
  const tvCtx = await browser.newContext({ baseURL: svc.base, viewport: { width: 1920, height: 1080 }, deviceScaleFactor: 0.5 });
  const tv = await tvCtx.newPage();
  await tv.goto('/tv');
  const { code } = await pageApi(phone, 'POST', '/api/tv/pairing', {});
  await tv.fill('#tv-code', code);
  await tv.press('#tv-code', 'Enter');
  await tv.waitForSelector('[data-testid=tv-idle]', { timeout: 10_000 });
  await phone.evaluate((id) => (location.hash = `#/clip/${id}`), lastClip);
  await phone.waitForFunction(() => (document.querySelector('[data-testid="player-video"]')?.readyState ?? 0) >= 2, undefined, { timeout: 15_000 });
  await phone.click('[data-testid=present]');
  await tv.waitForFunction(() => (document.querySelector('[data-testid="tv-video"]')?.readyState ?? 0) >= 2, undefined, { timeout: 15_000 });
  await sleep(500);
  const steps = ['rate-0.5', 'frame-forward', 'rate-1', 'frame-forward', 'frame-back', 'rate-0.25', 'play', 'play', 'rate-0.5', 'frame-back'];
  const count = () => phone.evaluate(() => (window.__vhtTvLatencies ?? []).length);
  let sentCommands = 0;
  for (let i = 0; sentCommands < commands; i++) {
    const id = steps[i % steps.length];
    const before = await count();
    await phone.click(`[data-testid="${id}"]`);
    const deadline = Date.now() + 3000;
    let after = before;
    while (Date.now() < deadline) {
      await sleep(20);
      after = await count();
      // a pause sends two commands (pause, then the exact time); let both arrive
      if (
        after > before &&
        !(id === 'play' && after - before < 2 && (await phone.evaluate(() => document.querySelector('[data-testid="player-video"]').paused)))
      )
        break;
    }
    sentCommands += Math.max(1, after - before);
    await sleep(80);
  }
  await sleep(500);
  const m = await phone.evaluate(() => ({ acks: window.__vhtTvLatencies ?? [], sent: window.__vhtTvSent ?? {} }));
  const applied = await tv.evaluate(() => window.__vhtTvApplied ?? {});
  const oneWay = Object.entries(m.sent)
    .filter(([id]) => applied[id] !== undefined)
    .map(([id, at]) => applied[id] - at);
  const lost = Object.keys(m.sent).filter((id) => applied[id] === undefined).length;
  await browser.close();
  await svc.stop();

  const a = stats(stopToFrame);
  const oneWayStats = stats(oneWay);
  const ackStats = stats(m.acks);
  const result = {
    machine: machineInfo(),
    capture,
    stopToFirstFrameMs: { ...a, stopRequestMs: stats(stopApi), target: '≤ 1500 ms', pass: a.max <= 1500 },
    phoneToTvMs: {
      ...oneWayStats,
      lostCommands: lost,
      ackRoundTripMs: ackStats,
      target: 'p95 ≤ 150 ms (phone POST /api/present/control → TV page applied it)',
      pass: oneWayStats.n >= Math.min(50, commands) && oneWayStats.p95 <= 150 && lost === 0,
    },
  };
  result.pass = result.stopToFirstFrameMs.pass && result.phoneToTvMs.pass;
  const out = path.resolve(REPO, outArg());
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ bench: 'ui-latency', ...result }, null, 2) + '\n');
  return result;
});

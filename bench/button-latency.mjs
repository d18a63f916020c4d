// Button press → take started (recording state confirmed), through the simulated button backend:
// `vht-kit press` (control socket) → SimButton (with contact bounce) → press detector (debounce) →
// recorder. The service measures from the moment the press is decided (the release of a short
// press) to the outcome of the start; the bench also reports the round trip of the whole command.
// Usage: node bench/button-latency.mjs [--presses 100]
import net from 'node:net';
import path from 'node:path';
import { log, median, numArg, round, runBench, startService } from './lib.mjs';

function control(socket, req) {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(socket);
    let buf = '';
    s.on('connect', () => s.write(JSON.stringify(req) + '\n'));
    s.on('data', (c) => (buf += c));
    s.on('error', reject);
    s.on('end', () => {
      const out = JSON.parse(buf);
      out.ok ? resolve(out.result) : reject(new Error(out.error));
    });
  });
}

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

await runBench('button-latency', async () => {
  const presses = numArg('presses', 100);
  const svc = await startService({ port: 18400 + Math.floor(Math.random() * 100), name: 'button' });
  const socket = path.join(svc.dir, 'data', 'control.sock');
  const latencies = [];
  const roundTrips = [];
  for (let i = 0; i < presses; i++) {
    const t0 = performance.now();
    const r = await control(socket, { cmd: 'press', long: false });
    roundTrips.push(performance.now() - t0);
    if (r.action !== 'start' || r.after !== 'recording' || !r.ok) throw new Error(`press ${i}: ${JSON.stringify(r)}`);
    latencies.push(r.latencyMs);
    await svc.api.post('/api/recording/stop');
    if (i % 20 === 19) log(`${i + 1} presses, p50 ${round(median(latencies), 1)} ms`);
  }
  await svc.stop();
  const p95 = pct(latencies, 95);
  return {
    presses,
    latencyMs: { p50: round(median(latencies), 1), p95: round(p95, 1), max: round(Math.max(...latencies), 1) },
    commandRoundTripMs: {
      p50: round(median(roundTrips), 1),
      p95: round(pct(roundTrips, 95), 1),
      note: 'includes the simulated 150 ms hold, bounce and the 30 ms debounce',
    },
    target: 'p95 ≤ 50 ms',
    pass: p95 <= 50,
  };
});

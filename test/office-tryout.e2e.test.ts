// The README's "Trying the office side on one machine", line by line on a fresh directory: the S3
// test server makes the bucket and the kit's write-only grant, keygen, enrol (no hand-made config,
// no manual grant), the kit runs, a trainer records a take of a case over the HTTP API (as the
// phone does), and the first dock uploads it; the office lists it with the organisation's key.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { rawRequest, sessionCookies } from './helpers/service.js';
import { freePortBlock } from './helpers/swift.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** The ```sh blocks of the README's try-out section, in order. */
function tryoutBlocks(): string[] {
  const start = README.indexOf('### Trying the office side on one machine');
  expect(start).toBeGreaterThan(0);
  const section = README.slice(start, README.indexOf('\n## ', start));
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'vht-tryout-'));
let kitPort = 0;

/** Runs README lines with bash in the try-out directory; the environment of earlier steps is kept in .env.sh. */
function bash(lines: string, timeoutMs = 300_000): { code: number; out: string; err: string } {
  const script = `set -euo pipefail\n[ -f .env.sh ] && . ./.env.sh\n${lines}\ndeclare -p | grep -E '^declare -[-a-zA-Z]+ (S3_|VHT_KIT_|KIT=)' > .env.sh || true\n`;
  const r = spawnSync('bash', ['-c', script], {
    cwd: dir,
    env: { ...process.env, KIT: ROOT, VHT_KIT_CONFIG: '', VHT_KIT_DATA_DIR: '' },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

async function api(method: string, url: string, body?: unknown, session?: { header: string; csrf: string }) {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const r = await rawRequest({
    port: kitPort,
    method,
    path: url,
    ...(payload !== undefined ? { body: payload } : {}),
    headers: {
      ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}),
      ...(session ? { cookie: session.header, ...(method !== 'GET' ? { 'x-csrf-token': session.csrf } : {}) } : {}),
    },
    timeoutMs: 60_000,
  });
  return r;
}

afterAll(() => {
  // the README's last step, whatever happened before
  spawnSync('bash', ['-c', `[ -f kit.pid ] && kill "$(cat kit.pid)"; "${ROOT}/scripts/s3-test-server" stop --dir s3`], { cwd: dir, timeout: 60_000 });
  rmSync(dir, { recursive: true, force: true });
}, 90_000);

describe("the README's office try-out, literally", () => {
  it('keygen, enrol, the kit, a take of a case, the first dock uploads it, the office lists it', async () => {
    const [setup, dock] = tryoutBlocks();
    expect(setup).toBeDefined();
    expect(dock).toBeDefined();
    const s3Port = await freePortBlock(5);
    kitPort = await freePortBlock(1);
    const lines = setup!.replaceAll('--port 9000', `--port ${s3Port}`).replaceAll('8080', String(kitPort));

    // enrol refuses a plain http:// endpoint without --dock-allow-insecure, naming the option
    const enrolLine = /\$KIT\/bin\/vht-kit enrol [\s\S]*?--dock-allow-insecure/.exec(lines)![0];
    const pre = lines.slice(0, lines.indexOf(enrolLine));
    const r0 = bash(pre);
    expect(r0.code, r0.err).toBe(0);
    const refused = bash(enrolLine.replace(/\\\n\s*--dock-allow-insecure/, ''));
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/--s3-endpoint http:\/\/127\.0\.0\.1:\d+: plain http:\/\/ only with --dock-allow-insecure/);

    const r1 = bash(lines.slice(lines.indexOf(enrolLine)), 120_000);
    expect(r1.code, `${r1.out}\n${r1.err}\n${readFileSync(path.join(dir, 'kit.log'), 'utf8')}`).toBe(0);
    // a successful enrol says what it did and warns about nothing
    expect(r1.out).toMatch(/^enrolled: config /m);
    expect(r1.err).toBe('');

    // The trainer's part (the README says: in the browser): log in, a case with consent, a take.
    const login = await api('POST', '/api/login', { pin: '246810', clientTime: Date.now() });
    expect(login.status).toBe(204);
    const session = sessionCookies(([] as string[]).concat(login.headers['set-cookie'] ?? []));
    const consent = { recording: true, review: false, supervision: false, training: false };
    expect((await api('POST', '/api/cases', { code: 'GZ-0042', trajectory: 'k-vht', consent }, session)).status).toBe(200);
    for (;;) {
      const st = (await api('GET', '/api/status', undefined, session)).json as { state: string; camera: { ok: boolean } };
      if (st.state === 'armed' && st.camera.ok) break;
      await sleep(200);
    }
    const start = await api('POST', '/api/recording/start', { caseCode: 'GZ-0042' }, session);
    expect(start.status).toBe(200);
    const clipId = (start.json as { clipId: string }).clipId;
    // two seconds of segments after the press
    for (;;) {
      const st = (await api('GET', '/api/status', undefined, session)).json as { elapsedMs?: number };
      if ((st.elapsedMs ?? 0) >= 2000) break;
      await sleep(200);
    }
    expect((await api('POST', '/api/recording/stop', {}, session)).status).toBe(200);

    // 4: the first dock uploads (no 403: the grant is the script's)
    const steps = dock!.replaceAll('8080', String(kitPort));
    const dockLine = steps.split('\n').find((l) => l.includes('vht-kit dock on'))!;
    const exportLines = steps.slice(steps.indexOf('# 5.'), steps.indexOf('# 6.'));
    const d = bash(dockLine);
    expect(d.code, d.err).toBe(0);
    expect(d.out).toBe('docked: yes\n');
    let sync: { state: string; pending?: number; lastError?: string; docked?: boolean } = { state: '' };
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      sync = (await api('GET', '/api/sync', undefined, session)).json as typeof sync;
      const clip = (await api('GET', `/api/clips/${clipId}`, undefined, session)).json as { uploaded: boolean };
      if (clip.uploaded) break;
      expect(sync.lastError ?? '').toBe('');
      await sleep(500);
    }
    expect(((await api('GET', `/api/clips/${clipId}`, undefined, session)).json as { uploaded: boolean }).uploaded).toBe(true);
    // /api/sync and /api/status agree on the dock
    expect(sync.docked).toBe(true);
    expect(((await api('GET', '/api/status', undefined, session)).json as { docked: boolean }).docked).toBe(true);

    // 5: the office lists the clip with the organisation's key
    const x = bash(exportLines);
    expect(x.code, x.err).toBe(0);
    expect(x.out).toMatch(new RegExp(`^kit-07\\t${clipId}\\t[0-9.]+ s\\tGZ-0042\\t0 markers$`, 'm'));
    writeFileSync(path.join(dir, 'done'), '');
  }, 600_000);
});

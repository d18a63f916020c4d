// The power-cut windows that a random cut (test/power-cuts.e2e.test.ts) hits only now and then,
// made deterministic: the data dir is left as a cut in that window leaves it, then the real kit
// starts on it. The suite's loop once left a temp file under load (seed 1320602429; the same seed
// passes on a quiet machine): recovery looked for temp files only in clip directories, so a cut
// during a take's start, between the temp file of the clip's key (keys/clips/.tmp-<id>.json-<pid>)
// and its rename, left it for good, as did a cut in any other durable write outside them.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { removeTempFiles } from '../src/store/durable.js';
import { powerCut, tempFilesUnder } from './helpers/faults.js';
import { auditCount, leftTempFiles } from './helpers/power-cuts.js';
import { Service, TEST_CAPTURE } from './helpers/service.js';

/** A pid no process has (above the kernel's pid_max): the kit that wrote the temp file is gone. */
const DEAD_PID = 4_194_305;

describe('removeTempFiles: what a cut leaves beside any durable file', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'vht-temps-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('removes every .tmp- file at any depth, and nothing else; does not follow links', () => {
    const data = path.join(root, 'data');
    const outside = path.join(root, 'outside');
    for (const d of ['keys/clips', 'keys/trainers', 'clips/0abc12345def67890', 'empty']) mkdirSync(path.join(data, d), { recursive: true });
    mkdirSync(outside);
    const temps = [
      `keys/clips/.tmp-0abc12345def67890.json-${DEAD_PID}`,
      `keys/trainers/.tmp-T-001.json-${DEAD_PID}`,
      `.tmp-pin-lockout.json-${DEAD_PID}`,
      `clips/0abc12345def67890/.tmp-3.ts.age-${DEAD_PID}-1765090000000`,
    ];
    const kept = ['keys/clips/0abc12345def67890.json', 'keys/trainers/T-001.json', 'pin-lockout.json', 'notes.tmp-1', 'clips/0abc12345def67890/3.ts.age'];
    for (const f of [...temps, ...kept]) writeFileSync(path.join(data, f), 'x');
    writeFileSync(path.join(outside, '.tmp-not-ours-1'), 'x');
    symlinkSync(outside, path.join(data, 'link'));

    const removed = removeTempFiles(data).map((f) => path.relative(data, f));
    expect(removed.sort()).toEqual([...temps].sort());
    for (const f of temps) expect(existsSync(path.join(data, f)), f).toBe(false);
    for (const f of kept) expect(existsSync(path.join(data, f)), f).toBe(true);
    expect(existsSync(path.join(outside, '.tmp-not-ours-1'))).toBe(true);
    expect(removeTempFiles(data)).toEqual([]);
    expect(removeTempFiles(path.join(root, 'missing'))).toEqual([]);
  });
});

describe('a cut while a take starts, before its key file is renamed into place (the real kit)', () => {
  const svc = new Service({ config: `${TEST_CAPTURE}\nkitId: kit-window\n` });
  afterAll(async () => {
    await svc.stop();
    svc.cleanup();
  });

  it('the next start removes the temp files of the key, a trainer key and the PIN count, and drops the empty take', async () => {
    await svc.start();
    await svc.waitArmed();
    const clipId: string = (await svc.request('POST', '/api/recording/start', {})).json.clipId;
    const keys = path.join(svc.dataDir, 'keys');
    const keyFile = path.join(keys, 'clips', `${clipId}.json`);
    for (let i = 0; i < 300 && !existsSync(keyFile); i++) await sleep(20);
    expect(existsSync(keyFile), 'the take made its key').toBe(true);
    await powerCut(svc);

    // As the cut in the window leaves it: the take's directory without a segment, its key only in
    // the temp file; and two more writes cut half-way (a rotation's trainer key, the PIN count).
    const clipDir = path.join(svc.dataDir, 'clips', clipId);
    for (const f of readdirSync(clipDir)) if (f !== 'clip.json') rmSync(path.join(clipDir, f), { force: true });
    expect(JSON.parse(readFileSync(path.join(clipDir, 'clip.json'), 'utf8')).state).toBe('recording');
    renameSync(keyFile, path.join(keys, 'clips', `.tmp-${clipId}.json-${DEAD_PID}`));
    writeFileSync(path.join(keys, 'trainers', `.tmp-T-001.json-${DEAD_PID}`), '{"v":2,"trainerId":"T-0');
    writeFileSync(path.join(svc.dataDir, `.tmp-pin-lockout.json-${DEAD_PID}`), '');
    const left = tempFilesUnder(svc.dataDir).map((f) => path.relative(svc.dataDir, f));
    expect(left).toEqual(
      expect.arrayContaining([`keys/clips/.tmp-${clipId}.json-${DEAD_PID}`, `keys/trainers/.tmp-T-001.json-${DEAD_PID}`, `.tmp-pin-lockout.json-${DEAD_PID}`]),
    );

    await svc.start();
    await svc.waitArmed();
    expect(leftTempFiles(svc)).toEqual([]);
    expect(svc.output).toMatch(new RegExp(`"msg":"removed temp files a crash left"[^\\n]*"files":${left.length}[,}]`));
    // the take had no segment: dropped, and no key of it is left
    expect((await svc.request('GET', `/api/clips/${clipId}`)).status).toBe(404);
    expect(existsSync(clipDir)).toBe(false);
    expect(existsSync(keyFile)).toBe(false);
    // the kit works on: a take, stopped, is complete
    const next: string = (await svc.request('POST', '/api/recording/start', {})).json.clipId;
    await svc.waitFor((s) => s.state === 'recording' && s.clipId === next, 10_000, 'recording');
    await sleep(1200);
    expect((await svc.request('POST', '/api/recording/stop', {})).status).toBe(200);
    expect((await svc.request('GET', `/api/clips/${next}`)).json.state).toBe('complete');
    expect(await svc.stop()).toBe(0);
    expect(auditCount(svc.dataDir, 'clip.dropped')).toBe(1);
  }, 90_000);
});

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discover, filesUnder } from './helpers/media.js';
import { mp4Tracks } from './helpers/mp4.js';
import { Service, TEST_CAPTURE } from './helpers/service.js';

const BIN = path.resolve(import.meta.dirname, '../bin/vht-kit');

describe('docking the kit: upload to the office share, confirm, retention, export', () => {
  const svc = new Service({ config: '' });
  const share = path.join(svc.dir, 'share');
  let clipId = '';
  let markerOffset = 0;
  let durationMs = 0;
  let segmentCount = 0;

  beforeAll(async () => {
    mkdirSync(share);
    svc.configure({
      config: `${TEST_CAPTURE}\nsync:\n  target: dir\n  dir:\n    path: ${share}\n    requireMountPoint: false\n  intervalSeconds: 3600\nprivacy:\n  deleteAfterUploadHours: 0\n`,
    });
    await svc.start();
    await svc.waitArmed();
  });
  afterAll(async () => {
    await svc.stop();
    svc.cleanup();
  });

  it('waits for a case before uploading an unassigned clip', async () => {
    const start = await svc.request('POST', '/api/recording/start', {});
    clipId = start.json.clipId;
    await sleep(1500);
    markerOffset = (await svc.request('POST', '/api/markers', { label: 'beurt' })).json.offsetMs;
    await sleep(1500);
    durationMs = (await svc.request('POST', '/api/recording/stop', {})).json.durationMs;
    segmentCount = (await svc.request('GET', `/api/clips/${clipId}`)).json.segmentCount;
    expect(segmentCount).toBeGreaterThanOrEqual(3);
    // the status counts the new take at once, before any run
    const before = (await svc.request('GET', '/api/sync')).json;
    expect([before.pending, before.waitingForCase]).toEqual([1, 1]);
    // the NetworkManager hook's trigger: only starts a check
    const net = execFileSync(process.execPath, [BIN, 'network', 'up'], { env: { ...process.env, VHT_KIT_DATA_DIR: svc.dataDir }, encoding: 'utf8' });
    expect(net).toContain('network up');
    expect((await svc.request('POST', '/api/sync/run', {})).status).toBe(202);
    const s = await waitSync(svc, (x) => x.state === 'done' || x.state === 'error');
    expect(s.waitingForCase).toBe(1);
    expect(existsSync(path.join(svc.dataDir, 'clips', clipId))).toBe(true);
  });

  it('on `vht-kit dock on` uploads, confirms, and only then deletes the local copy', async () => {
    expect((await svc.request('PATCH', `/api/clips/${clipId}`, { caseCode: 'GZ-0077' })).status).toBe(200);
    // the sync status counts the clip as pending once the assignment (and its key grant) is through
    const assigned = await waitSync(svc, (x) => x.pending === 1 && x.waitingForCase === 0);
    expect([assigned.pending, assigned.waitingForCase]).toEqual([1, 0]);
    execFileSync(process.execPath, [BIN, 'dock', 'on'], { env: { ...process.env, VHT_KIT_DATA_DIR: svc.dataDir } });
    const s = await waitSync(svc, (x) => x.state === 'done' && x.pending === 0);
    expect(s.bytesDone).toBeGreaterThan(0);
    const uploaded = filesUnder(share).map((f) => path.relative(share, f));
    expect(uploaded.some((f) => f.endsWith(`${clipId}/manifest.json.age`))).toBe(true);
    // every segment of the clip, as it was on the kit
    expect(uploaded.filter((f) => f.includes(clipId) && f.endsWith('.ts.age')).length).toBe(segmentCount);
    // retention (deleteAfterUploadHours 0) removes the confirmed clip from the kit
    for (let i = 0; i < 50 && existsSync(path.join(svc.dataDir, 'clips', clipId)); i++) await sleep(100);
    expect(existsSync(path.join(svc.dataDir, 'clips', clipId))).toBe(false);
    expect((await svc.request('GET', `/api/clips/${clipId}`)).status).toBe(404);
  });

  it('the office exports the clip to an MP4 of the right length, with its markers', () => {
    const out = path.join(svc.dir, 'office', 'clip.mp4');
    mkdirSync(path.dirname(out), { recursive: true });
    const r = execFileSync(process.execPath, [BIN, 'export', '--identity', svc.orgKeyFile, '--from', share, '--clip', clipId, '--out', out], {
      encoding: 'utf8',
    });
    expect(r).toContain('segments verified');
    const d = discover(out);
    expect(d.hasVideo && d.hasAudio).toBe(true);
    // The footage's length is the video track's: the kit's duration to a frame or two. The movie's
    // length (gst-discoverer) is its longest track's end, and the audio of MPEG-TS segments cut at
    // a video keyframe runs a little past the cut, more when the muxer ran late (a loaded machine).
    const tracks = mp4Tracks(out);
    const why = JSON.stringify({ durationMs, movieS: d.durationS, tracks });
    const video = tracks.find((t) => t.handler === 'vide');
    const audio = tracks.find((t) => t.handler === 'soun');
    expect(video && audio, why).toBeTruthy();
    const videoEndMs = (video!.startS + video!.durationS) * 1000;
    expect(Math.abs(videoEndMs - durationMs), why).toBeLessThanOrEqual(100);
    // the sound covers the footage, give or take what the muxer put on the other side of a cut
    expect(Math.abs((audio!.startS + audio!.durationS) * 1000 - videoEndMs), why).toBeLessThanOrEqual(250);
    const csv = readFileSync(out.replace(/\.mp4$/, '.csv'), 'utf8');
    expect(csv).toContain('beurt');
    expect(csv).toContain(String(markerOffset));
    const list = execFileSync(process.execPath, [BIN, 'export', '--list', '--identity', svc.orgKeyFile, '--from', share], { encoding: 'utf8' });
    expect(list).toContain(clipId);
  });
});

async function waitSync(svc: Service, pred: (s: any) => boolean, timeoutMs = 20_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    last = (await svc.request('GET', '/api/sync')).json;
    if (pred(last)) return last;
    await sleep(100);
  }
  throw new Error(`sync did not get there: ${JSON.stringify(last)}\n${svc.output.slice(-2000)}`);
}

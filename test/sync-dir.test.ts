// Sync to a mounted share (the `dir` target): real files, real tmpfs mounts for a full and a
// read-only share (the tests run as root, where chmod does not stop writes), and the office export
// from the share.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkShareDock } from '../src/sync/dock.js';
import { exportClip, listClips } from '../src/sync/export.js';
import { SyncService } from '../src/sync/service.js';
import { DirTarget } from '../src/sync/targets.js';
import { discover, filesUnder } from './helpers/media.js';
import { RecordingTarget } from './helpers/recording-target.js';
import { makeKit, realSegments, recordClip, syntheticSegments, type TestKit } from './helpers/sync-kit.js';

// the AWS SDK warns once per process that its 2027 releases need Node 22; not news for these tests
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const KIT = 'kit-12';
let root: string;
const mounts: string[] = [];

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'vht-sync-dir-'));
});

afterEach(() => {
  while (mounts.length) spawnSync('umount', [mounts.pop()!]);
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** A tmpfs mounted at dir (root only); null with the reason when that is not possible here. */
function mountTmpfs(dir: string, options: string): string | null {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return `mount -t tmpfs -o ${options} failed: ${(r.stderr || r.error?.message || '').trim()}`;
  mounts.push(dir);
  return null;
}

function service(kit: TestKit, target: DirTarget | RecordingTarget): SyncService {
  return new SyncService({
    catalogue: kit.catalogue,
    clips: kit.clips,
    target,
    kitId: KIT,
    orgRecipient: kit.orgRecipient,
    clock: kit.clock,
    logger: kit.logger,
    retry: { attempts: 3, baseMs: 10, maxMs: 50 },
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('sync to a directory (a mounted share)', () => {
  it('copies every object byte for byte, manifest last; an identical file already there counts as done; a second run writes nothing', async () => {
    const kit = await makeKit(path.join(root, 'plain'));
    const share = path.join(root, 'plain-share');
    mkdirSync(share);
    const a = await recordClip(kit, { caseCode: 'fam-1201', segments: syntheticSegments(3, 30_000, 1), markers: [{ offsetMs: 800, label: 'initiatief' }] });
    const b = await recordClip(kit, { caseCode: 'fam-1202', segments: syntheticSegments(2, 30_000, 2) });
    const waiting = await recordClip(kit, { caseCode: null, segments: syntheticSegments(1, 30_000, 3) });
    // segment 0 of a is already on the share (an earlier upload whose confirmation was lost)
    mkdirSync(path.join(share, KIT, 'clips', a), { recursive: true });
    writeFileSync(path.join(share, KIT, 'clips', a, '0.ts.age'), readFileSync(kit.clips.segmentFile(a, 0)));
    // segment 1 of a is there but truncated (a copy by hand that broke off): it is replaced
    writeFileSync(path.join(share, KIT, 'clips', a, '1.ts.age'), readFileSync(kit.clips.segmentFile(a, 1)).subarray(0, 1000));

    const target = new RecordingTarget(new DirTarget({ path: share }));
    const svc = service(kit, target);
    const r = await svc.runOnce();
    expect(r.error).toBeUndefined();
    expect(r.uploaded).toEqual([a, b]);
    expect(r.waitingForCase).toEqual([waiting]);
    expect(target.puts.find((p) => p.key.endsWith(`${a}/0.ts.age`))?.alreadyPresent).toBe(true);
    expect(target.puts.find((p) => p.key.endsWith(`${a}/1.ts.age`))?.alreadyPresent).toBe(false);
    for (const id of [a, b]) {
      for (const s of kit.catalogue.segments(id)) {
        expect(sha(readFileSync(path.join(share, KIT, 'clips', id, `${s.seq}.ts.age`)))).toBe(s.sha256);
      }
      expect(existsSync(path.join(share, KIT, 'clips', id, 'manifest.json.age'))).toBe(true);
      const keys = target.puts.filter((p) => p.key.includes(id)).map((p) => p.key);
      expect(keys[keys.length - 1]).toBe(`${KIT}/clips/${id}/manifest.json.age`);
      expect(kit.catalogue.getClip(id)!.uploadedAt).not.toBeNull();
    }
    expect(readdirSync(path.join(share, KIT, 'audit'))).toHaveLength(1);
    expect(existsSync(path.join(share, KIT, 'clips', waiting))).toBe(false);
    expect(filesUnder(share).filter((f) => path.basename(f).startsWith('.tmp-'))).toEqual([]);
    const mtimes = filesUnder(share).map((f) => statSync(f).mtimeMs);
    const n = target.puts.length;
    expect((await svc.runOnce()).uploaded).toEqual([]);
    expect(target.puts.length).toBe(n);
    expect(filesUnder(share).map((f) => statSync(f).mtimeMs)).toEqual(mtimes);
    expect(await checkShareDock(new DirTarget({ path: share }))).toEqual({ docked: true, via: 'share' });

    // the office lists what is complete on the share
    const listed = await listClips(share, { identityFile: kit.orgKeyFile });
    expect(listed.map((c) => [c.clipId, c.caseCode])).toEqual([
      [a, 'fam-1201'],
      [b, 'fam-1202'],
    ]);
  });

  it('exports a clip from the share to MP4 + CSV + EAF', async () => {
    const kit = await makeKit(path.join(root, 'export'));
    const share = path.join(root, 'export-share');
    mkdirSync(share);
    const segs = realSegments(path.join(root, 'export-media'), 4);
    const id = await recordClip(kit, { caseCode: 'fam-1301', segments: segs, markers: [{ offsetMs: 2000, label: 'ontvangst' }] });
    const svc = service(kit, new DirTarget({ path: share }));
    expect((await svc.runOnce()).uploaded).toEqual([id]);
    const out = path.join(root, 'export out "1"', 'visit.mp4'); // a space and quotes in the path
    const res = await exportClip({ identityFile: kit.orgKeyFile, from: share, clipId: id, out });
    expect(res.csv).toBe(path.join(root, 'export out "1"', 'visit.csv'));
    const info = discover(out);
    expect(info.hasVideo && info.hasAudio).toBe(true);
    expect(Math.abs(info.durationS - kit.catalogue.getClip(id)!.durationMs / 1000)).toBeLessThanOrEqual(0.1);
    expect(readFileSync(res.csv, 'utf8')).toBe('offset_ms,time,label\n2000,00:00:02.000,ontvangst\n');
    expect(readFileSync(res.eaf, 'utf8')).toMatch(/TIME_VALUE="2000"[\s\S]*<ANNOTATION_VALUE>ontvangst<\/ANNOTATION_VALUE>/);
  });

  it('a full share stops the run with a clear error; nothing is marked uploaded and no temp file is left', async (ctx) => {
    const kit = await makeKit(path.join(root, 'full'));
    const share = path.join(root, 'full-share');
    const why = mountTmpfs(share, 'size=256k,mode=0700');
    if (why) ctx.skip(why);
    const id = await recordClip(kit, { caseCode: 'fam-1401', segments: syntheticSegments(5, 100_000, 5) });
    const svc = service(kit, new DirTarget({ path: share, requireMountPoint: true }));
    const r = await svc.runOnce();
    expect(r.error?.reason).toBe('STORAGE_FULL');
    expect(r.error?.message).toMatch(new RegExp(`the share sync\\.dir\\.path "${share}" is full \\(ENOSPC\\)`));
    expect(svc.progress).toMatchObject({ state: 'error', lastError: { reason: 'STORAGE_FULL' } });
    expect(kit.catalogue.getClip(id)!.uploadedAt).toBeNull();
    expect(filesUnder(share).filter((f) => path.basename(f).startsWith('.tmp-'))).toEqual([]);
    expect(existsSync(path.join(share, KIT, 'clips', id, 'manifest.json.age'))).toBe(false);
    for (const s of kit.catalogue.segments(id)) expect(existsSync(kit.clips.segmentFile(id, s.seq))).toBe(true);
  });

  it('a read-only share stops the run with a clear error and is not docked', async (ctx) => {
    const kit = await makeKit(path.join(root, 'ro'));
    const share = path.join(root, 'ro-share');
    const why = mountTmpfs(share, 'ro,size=1m');
    if (why) ctx.skip(why);
    const id = await recordClip(kit, { caseCode: 'fam-1501', segments: syntheticSegments(2, 10_000, 6) });
    const target = new DirTarget({ path: share });
    const dock = await checkShareDock(target);
    expect(dock.docked).toBe(false);
    expect(dock.reason).toMatch(/cannot be written \(EROFS/);
    const r = await service(kit, target).runOnce();
    expect(r.error?.reason).toBe('READ_ONLY');
    expect(r.error?.message).toMatch(new RegExp(`the share sync\\.dir\\.path "${share}" cannot be written \\(EROFS .*mount it read-write`));
    expect(kit.catalogue.getClip(id)!.uploadedAt).toBeNull();
  });

  it("a share that is not mounted (requireMountPoint) or not there is not docked and nothing lands on the kit's card", async () => {
    const kit = await makeKit(path.join(root, 'unmounted'));
    const mountPoint = path.join(root, 'unmounted-share');
    mkdirSync(mountPoint);
    const id = await recordClip(kit, { caseCode: 'fam-1601', segments: syntheticSegments(1, 10_000, 7) });
    const target = new DirTarget({ path: mountPoint, requireMountPoint: true });
    expect((await checkShareDock(target)).reason).toMatch(/is not a mount point/);
    const r = await service(kit, target).runOnce();
    expect(r.error?.reason).toBe('NOT_MOUNTED');
    expect(readdirSync(mountPoint)).toEqual([]);
    const gone = await service(kit, new DirTarget({ path: path.join(root, 'no-such-share') })).runOnce();
    expect(gone.error?.message).toMatch(/sync\.dir\.path ".*no-such-share" is not there \(ENOENT\): mount the share/);
    expect(kit.catalogue.getClip(id)!.uploadedAt).toBeNull();
  });

  it('start() runs at once and then every intervalMs after the previous run; stop() ends the schedule', async () => {
    const kit = await makeKit(path.join(root, 'schedule'));
    const share = path.join(root, 'schedule-share');
    mkdirSync(share);
    const first = await recordClip(kit, { caseCode: 'fam-1801', segments: syntheticSegments(1, 10_000, 10) });
    const svc = new SyncService({
      catalogue: kit.catalogue,
      clips: kit.clips,
      target: new DirTarget({ path: share }),
      kitId: KIT,
      orgRecipient: kit.orgRecipient,
      clock: kit.clock,
      logger: kit.logger,
      intervalMs: 100,
    });
    const runs: string[][] = [];
    let second = '';
    const twoRuns = new Promise<void>((resolve) => {
      svc.on('run.finished', (r) => {
        runs.push(r.uploaded);
        if (runs.length === 1) void recordClip(kit, { caseCode: 'fam-1801', segments: syntheticSegments(1, 10_000, 11) }).then((id) => (second = id));
        // recording the second clip may take longer than a few runs under load: wait for its upload
        if (runs.length >= 3 && second !== '' && runs.flat().includes(second)) resolve();
      });
    });
    svc.start();
    svc.start(); // idempotent
    await twoRuns;
    await svc.stop();
    const n = runs.length;
    expect(runs[0]).toEqual([first]);
    expect(runs.flat()).toEqual([first, second]);
    expect(kit.clock.delays.filter((d) => d === 100).length).toBeGreaterThanOrEqual(2);
    await new Promise((r) => setTimeout(r, 300));
    expect(runs.length).toBe(n);
    expect(svc.running).toBe(false);
  });

  it('a local segment that no longer matches its SHA-256 keeps that clip back (named) and the others go', async () => {
    const kit = await makeKit(path.join(root, 'local'));
    const share = path.join(root, 'local-share');
    mkdirSync(share);
    const bad = await recordClip(kit, { caseCode: 'fam-1701', segments: syntheticSegments(2, 10_000, 8) });
    const good = await recordClip(kit, { caseCode: 'fam-1701', segments: syntheticSegments(2, 10_000, 9) });
    const f = kit.clips.segmentFile(bad, 1);
    const data = readFileSync(f);
    data[100] = data[100]! ^ 1;
    writeFileSync(f, data);
    const svc = service(kit, new DirTarget({ path: share }));
    const r = await svc.runOnce();
    expect(r.uploaded).toEqual([good]);
    expect(r.failed).toEqual([{ clipId: bad, message: expect.stringMatching(new RegExp(`segment 1 of clip ${bad} does not match its SHA-256`)) }]);
    expect(svc.progress).toMatchObject({ state: 'error', lastError: { reason: 'LOCAL', clipId: bad } });
    expect(kit.catalogue.getClip(bad)!.uploadedAt).toBeNull();
    expect(existsSync(path.join(share, KIT, 'clips', bad, 'manifest.json.age'))).toBe(false);
  });
});

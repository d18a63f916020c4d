// Issue 21 without an S3 server: the case-tag key on the kit (wrapped like a content key, through
// rotations), and the whole office loop over directories (a mounted share for kits and office).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { AppError } from '../src/core/errors.js';
import { runOffice } from '../src/office/cli.js';
import { recordExport } from '../src/office/export-audit.js';
import { caseTagKeyFileText, readCaseTagKey, storeCaseTagKey } from '../src/office/tag-key.js';
import { CASE_TAG_SECRET } from '../src/session/case-tags.js';
import { DirBucket } from '../src/store/bucket-store.js';
import { parseDirectoryEntry } from '../src/store/directory-entry.js';
import { caseTag } from '../src/store/objects.js';
import { SyncService } from '../src/sync/service.js';
import { DirTarget } from '../src/sync/targets.js';
import { officeSide } from './helpers/office-kit.js';
import { makeKit, recordClip, syntheticSegments } from './helpers/sync-kit.js';
import { createLogger } from '../src/core/logger.js';
import { KeyStore } from '../src/store/keys.js';
import { addTrainer } from '../src/trainer-cli.js';

let root: string;
let orgKeyFile: string;
let tagKeyFile: string;

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'vht-office-kit-'));
  orgKeyFile = path.join(root, 'org.key');
  execFileSync('age-keygen', ['-o', orgKeyFile], { stdio: 'pipe' });
  tagKeyFile = path.join(root, 'org.key.case-tag');
  writeFileSync(tagKeyFile, caseTagKeyFileText());
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('the case-tag key on the kit', () => {
  it('opens only while a trainer is signed in, survives the rotation after a deletion, and reaches a trainer added later', async () => {
    const kit = await makeKit(path.join(root, 'k1'), { orgKeyFile });
    await storeCaseTagKey(kit.keys, tagKeyFile);
    const hex = Buffer.from(readCaseTagKey(tagKeyFile)).toString('hex');
    await expect(kit.keys.orgSecret(CASE_TAG_SECRET)).rejects.toMatchObject({ code: 'LOCKED' });
    expect(await kit.keys.unlock('4821')).toBe(true);
    expect(await kit.keys.orgSecret(CASE_TAG_SECRET)).toBe(hex);
    // a deletion rotates the signed-in trainer's wrapping key: the tag key is re-wrapped with it
    const id = await recordClip(kit, { caseCode: 'GZ-1', segments: syntheticSegments(1, 1000) });
    expect(await kit.keys.destroyClipKey(id)).toBe('complete');
    kit.keys.lock();
    expect(await kit.keys.unlock('4821')).toBe(true);
    expect(await kit.keys.orgSecret(CASE_TAG_SECRET)).toBe(hex);
    // a trainer added later gets a wrap the next time a holder opens it
    await kit.keys.addTrainer('T-002', '246802');
    expect(await kit.keys.orgSecret(CASE_TAG_SECRET)).toBe(hex);
    kit.keys.lock();
    expect(await kit.keys.unlock('246802', 'T-002')).toBe(true);
    expect(await kit.keys.orgSecret(CASE_TAG_SECRET)).toBe(hex);
    // the file holds no plaintext key
    const file = path.join(kit.dataDir, 'keys', 'org', 'case-tag.json');
    expect(execFileSync('cat', [file]).toString()).not.toContain(hex);
    kit.catalogue.close();
  });

  it('trainer add --case-tag-key wraps the key to the new trainer at once; another key file is refused and changes nothing', async () => {
    const kit = await makeKit(path.join(root, 'k-add'), { orgKeyFile });
    await storeCaseTagKey(kit.keys, tagKeyFile);
    const hex = Buffer.from(readCaseTagKey(tagKeyFile)).toString('hex');
    kit.catalogue.close();
    const config = parseConfig({ dataDir: kit.dataDir, kitId: 'kit-add', keys: { orgRecipient: kit.orgRecipient } });
    const logger = createLogger({ level: 'silent' });
    const office = { orgIdentityFile: orgKeyFile };
    // another organisation's key file: refused before anything changes
    const otherKey = path.join(root, 'other.case-tag');
    writeFileSync(otherKey, caseTagKeyFileText());
    await expect(addTrainer(config, 'T-030', '303030', office, logger, { caseTagKeyFile: otherKey })).rejects.toThrow(
      /case-tag key given is not the one this kit holds/,
    );
    expect(existsSync(path.join(kit.dataDir, 'keys', 'trainers', 'T-030.json'))).toBe(false);
    // the right one: the new trainer opens it at their first sign-in, before any holder signed in
    expect(await addTrainer(config, 'T-017', '170017', office, logger, { caseTagKeyFile: tagKeyFile })).toMatchObject({ caseTagKey: 'wrapped' });
    // without it: said so, the trainer gets it at a holder's next sign-in
    expect(await addTrainer(config, 'T-018', '180018', office, logger)).toMatchObject({ caseTagKey: 'at-next-sign-in' });
    const keys = new KeyStore({ dataDir: kit.dataDir, orgRecipient: kit.orgRecipient, allowDemoOrg: false, logger });
    await keys.start(null);
    expect(await keys.unlock('180018', 'T-018')).toBe(true);
    await expect(keys.orgSecret(CASE_TAG_SECRET)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    keys.lock();
    expect(await keys.unlock('170017', 'T-017')).toBe(true);
    expect(await keys.orgSecret(CASE_TAG_SECRET)).toBe(hex);
    // T-017 holds it now: their sign-in wrapped it to T-018 too
    keys.lock();
    expect(await keys.unlock('180018', 'T-018')).toBe(true);
    expect(await keys.orgSecret(CASE_TAG_SECRET)).toBe(hex);
  });

  it('a bad case-tag key file is named, not used', () => {
    const bad = path.join(root, 'bad.case-tag');
    writeFileSync(bad, 'abc\n');
    expect(() => readCaseTagKey(bad)).toThrow(/--case-tag-key: the case-tag key must be 64\+ hex characters \(got 3\)/);
  });
});

describe('the office over a directory share', () => {
  it('kit sync → office case → office erase → the kit erases at its next dock; bad input is named', async () => {
    const share = path.join(root, 'share');
    const officeDir = path.join(root, 'office');
    const privateDir = path.join(root, 'private');
    const inboxDir = path.join(root, 'inbox');
    for (const d of [share, officeDir, privateDir, inboxDir]) mkdirSync(d);
    const kit = await makeKit(path.join(root, 'k2'), { orgKeyFile });
    await storeCaseTagKey(kit.keys, tagKeyFile);
    const { tagger, link } = officeSide(kit, 'kit-dir', new DirBucket(officeDir), { storage: () => null, inbox: new DirBucket(inboxDir) });
    const sync = new SyncService({
      catalogue: kit.catalogue,
      clips: kit.clips,
      target: new DirTarget({ path: share }),
      kitId: 'kit-dir',
      orgRecipient: kit.orgRecipient,
      clock: kit.clock,
      logger: kit.logger,
      exportAudit: false,
      extensions: [link],
    });
    expect(await kit.keys.unlock('4821')).toBe(true);
    const clip = await recordClip(kit, { caseCode: 'KV-7', segments: syntheticSegments(2, 2000) });
    await tagger.tagCases();
    expect((await sync.runOnce()).uploaded).toEqual([clip]);

    const env = {
      VHT_OFFICE_KITS: share,
      VHT_OFFICE_BUCKET: officeDir,
      VHT_OFFICE_PRIVATE: privateDir,
      VHT_OFFICE_INBOX: inboxDir,
      VHT_OFFICE_IDENTITY: orgKeyFile,
      VHT_OFFICE_CASE_TAG_KEY: tagKeyFile,
    };
    let out = '';
    const io = (e: NodeJS.ProcessEnv = {}) => ({ env: { ...env, ...e }, out: { write: (s: string) => (out += s) }, err: { write: () => true } });
    // no operator: refused, named
    await expect(runOffice(['case', 'KV-7'], io())).rejects.toThrow(/--operator \(or VHT_OPERATOR\) is required/);
    await expect(runOffice(['erase', 'KV-7', '--scope', 'everything', '--operator', 'op-1'], io())).rejects.toThrow(/--scope "everything" is not one of/);
    await expect(runOffice(['kits', '--stale-days', 'soon', '--operator', 'op-1'], io())).rejects.toThrow(/--stale-days "soon" must be a number/);
    out = '';
    await runOffice(['case', 'KV-7', '--operator', 'op-1'], io());
    expect(out).toContain(`case KV-7 (tag ${caseTag('KV-7', readCaseTagKey(tagKeyFile))}): 1 item(s) on 1 kit(s)`);
    expect(out).toContain(`kit-dir\tclip ${clip}`);
    expect(out).toContain('(found through the case inbox)');
    const tag = caseTag('KV-7', readCaseTagKey(tagKeyFile));
    expect(readdirSync(path.join(inboxDir, 'cases', tag))).toEqual(['kit-dir']);
    out = '';
    await runOffice(['erase', 'KV-7', '--operator', 'op-1'], io());
    expect(out).toMatch(/erased \d+ object\(s\) of KV-7 \(scope all\) on 1 kit\(s\); verified gone/);
    expect(existsSync(path.join(share, 'kit-dir', 'clips', clip))).toBe(false);
    expect(existsSync(path.join(share, 'kit-dir', 'status.json.age'))).toBe(true);
    expect(readdirSync(path.join(officeDir, 'erasures'))).toHaveLength(1);
    expect(readdirSync(path.join(privateDir, 'receipts'))).toHaveLength(1);
    expect(existsSync(path.join(inboxDir, 'cases', tag))).toBe(false); // the marker went with the case
    // the kit docks: reads the notice, erases its copy, uploads nothing of the case
    expect((await sync.runOnce()).uploaded).toEqual([]);
    expect(kit.catalogue.getClip(clip)).toBeUndefined();
    expect(kit.keys.hasClipKey(clip)).toBe(false);
    out = '';
    await runOffice(['audit', 'verify', '--operator', 'op-1'], io());
    expect(out).toMatch(/^office audit whole: 2 entries/);
    // `vht-kit export` records who exported what (operator from the option or VHT_OPERATOR)
    expect(await recordExport({ kitId: 'kit-dir', clipId: clip, identityFile: orgKeyFile }, {})).toMatchObject({
      key: null,
      reason: /VHT_OFFICE_PRIVATE is not set/,
    });
    await expect(recordExport({ kitId: 'kit-dir', clipId: clip, identityFile: orgKeyFile }, { VHT_OFFICE_PRIVATE: privateDir })).rejects.toThrow(
      /--operator \(or VHT_OPERATOR\)/,
    );
    const rec = await recordExport({ kitId: 'kit-dir', clipId: clip, identityFile: orgKeyFile }, { VHT_OFFICE_PRIVATE: privateDir, VHT_OPERATOR: 'op-2' });
    expect(rec.key).toMatch(/^audit\//);
    out = '';
    await runOffice(['audit', 'list', '--json', '--operator', 'op-1'], io());
    const last = JSON.parse(out).at(-1).entry;
    expect(last).toMatchObject({ operator: 'op-2', action: 'clip.exported', details: { kitId: 'kit-dir', clip } });
    kit.catalogue.close();
  });
});

describe('one office bucket setting', () => {
  it('sync.fetch.officeBucket is refused with a message that names sync.office.bucket; sync.office takes the bucket and the case inbox', () => {
    let err: unknown;
    try {
      parseConfig({ sync: { fetch: { officeBucket: 'vht-org-office' } } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).message).toMatch(/sync\.fetch\.officeBucket: was replaced by sync\.office\.bucket .*"vht-org-office"/);
    expect((err as AppError).field).toBe('sync.fetch.officeBucket');
    const c = parseConfig({ sync: { office: { bucket: 'vht-org-office', inbox: 'vht-org-office-inbox' } } });
    expect(c.sync.office).toMatchObject({ bucket: 'vht-org-office', inbox: 'vht-org-office-inbox', inboxPath: null });
    expect('officeBucket' in c.sync.fetch).toBe(false);
    expect(() => parseConfig({ sync: { office: { inbox: 'Not A Bucket' } } })).toThrow(/sync\.office\.inbox: .*an S3 bucket name/);
  });
});

describe('office directory: the kits entries and the case trainers the kits read', () => {
  it('puts entries checked by the kits parser, sets and clears a case trainers on the kits that hold them, audits each write; bad input is named', async () => {
    const officeDir = path.join(root, 'dir-office');
    const privateDir = path.join(root, 'dir-private');
    const share = path.join(root, 'dir-share');
    for (const d of [officeDir, privateDir, share]) mkdirSync(d);
    const env = {
      VHT_OFFICE_KITS: share,
      VHT_OFFICE_BUCKET: officeDir,
      VHT_OFFICE_PRIVATE: privateDir,
      VHT_OFFICE_IDENTITY: orgKeyFile,
      VHT_OFFICE_CASE_TAG_KEY: tagKeyFile,
      VHT_OPERATOR: 'op-7',
    };
    let out = '';
    const io = () => ({ env, out: { write: (s: string) => (out += s) }, err: { write: () => true } });
    const recipient = () => execFileSync('age-keygen', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).match(/public key: (age1[0-9a-z]+)/)![1]!;
    const entryFile = (kitId: string, trainers: string[]) => {
      const f = path.join(root, `entry-${kitId}.json`);
      const entry = {
        format: 'vht-kit.directory-kit',
        v: 1,
        kitId,
        team: 'team-noord',
        bucket: `vht-org-kit-${kitId}`,
        trainers: Object.fromEntries(trainers.map((t) => [t, { inboxRecipient: recipient() }])),
      };
      writeFileSync(f, JSON.stringify(entry));
      return f;
    };
    await runOffice(['directory', 'put', 'kit-a', '--file', entryFile('kit-a', ['T-017'])], io());
    await runOffice(['directory', 'put', 'kit-b', '--file', entryFile('kit-b', ['T-017', 'T-018'])], io());
    await runOffice(['directory', 'put', 'kit-c', '--file', entryFile('kit-c', ['T-020'])], io());
    expect(out).toContain('directory entry of kit-b written: team team-noord, trainers T-017,T-018');
    // the entry's kit id must be the kit named; a broken entry is refused by the kits' own parser
    await expect(runOffice(['directory', 'put', 'kit-c', '--file', entryFile('kit-a', ['T-017'])], io())).rejects.toThrow(
      /kitId "kit-a" is not the kit named \("kit-c"\)/,
    );
    const broken = path.join(root, 'broken.json');
    writeFileSync(
      broken,
      JSON.stringify({ format: 'vht-kit.directory-kit', v: 1, kitId: 'kit-c', team: 't', bucket: 'b', trainers: { 'T-020': { inboxRecipient: 'age1nope' } } }),
    );
    await expect(runOffice(['directory', 'put', 'kit-c', '--file', broken], io())).rejects.toThrow(/trainers\.T-020\.inboxRecipient is "age1nope"/);
    await expect(runOffice(['directory', 'case', 'KV-9', '--trainers', 'T-017,Jan'], io())).rejects.toThrow(/--trainers: "Jan" is not a trainer id/);

    const tag = caseTag('KV-9', readCaseTagKey(tagKeyFile));
    const entryOf = (kitId: string) => parseDirectoryEntry(readFileSync(path.join(officeDir, 'directory', 'kits', `${kitId}.json`), 'utf8'), kitId);
    out = '';
    await runOffice(['directory', 'case', 'KV-9', '--trainers', 'T-018,T-017'], io());
    expect(out).toContain('entries changed: kit-a, kit-b');
    expect(entryOf('kit-a').caseTrainers).toEqual({ [tag]: ['T-017', 'T-018'] });
    expect(entryOf('kit-b').caseTrainers).toEqual({ [tag]: ['T-017', 'T-018'] });
    expect(entryOf('kit-c').caseTrainers ?? {}).toEqual({}); // none of them is on kit-c
    // T-017 comes off the case: kit-a (T-017 only) loses the tag, kit-b keeps it with T-018
    out = '';
    await runOffice(['directory', 'case', 'KV-9', '--trainers', 'T-018'], io());
    expect(entryOf('kit-a').caseTrainers).toEqual({});
    expect(entryOf('kit-b').caseTrainers).toEqual({ [tag]: ['T-018'] });
    await runOffice(['directory', 'case', 'KV-9', '--trainers', ''], io());
    expect(entryOf('kit-b').caseTrainers).toEqual({});
    out = '';
    await runOffice(['directory', 'show', 'kit-b', '--json'], io());
    expect((JSON.parse(out) as { trainers: Record<string, unknown> }).trainers).toHaveProperty('T-018');
    await expect(runOffice(['directory', 'show', 'kit-z'], io())).rejects.toThrow(/no entry for kit "kit-z"/);
    out = '';
    await runOffice(['audit', 'list', '--json'], io());
    const actions = (JSON.parse(out) as { entry: { action: string; operator: string } }[]).map((e) => e.entry.action);
    expect(actions.filter((a) => a === 'directory.put')).toHaveLength(3);
    expect(actions.filter((a) => a === 'directory.case')).toHaveLength(3);
  });
});

// Object names in the organisation's store (src/store/objects.ts, issue 13): clip names unchanged
// for clips already uploaded, the new names, and the case tag checked against openssl's HMAC.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import * as objects from '../src/store/objects.js';
import * as manifest from '../src/sync/manifest.js';

const KEY = randomBytes(32);

describe('object names', () => {
  it('clip objects keep the names kits have uploaded with so far, and the sync code uses these functions', () => {
    // the names a kit of before issue 13 wrote (test/sync-dock.test.ts and the office export read them)
    expect(objects.segmentKey('kit-07', 'abc0123456', 0)).toBe('kit-07/clips/abc0123456/0.ts.age');
    expect(objects.stillKey('kit-07', 'abc0123456', 2)).toBe('kit-07/clips/abc0123456/still-2.jpg.age');
    expect(objects.manifestKey('kit-07', 'abc0123456')).toBe(`kit-07/clips/abc0123456/${manifest.MANIFEST_NAME}`);
    expect(objects.auditKey('kit-07', Date.UTC(2026, 10, 22, 12, 0, 0, 123))).toBe('kit-07/audit/20261122T120000123Z.json.age');
    expect(manifest.segmentKey).toBe(objects.segmentKey);
    expect(manifest.manifestKey).toBe(objects.manifestKey);
    expect(manifest.auditKey).toBe(objects.auditKey);
  });

  it('names fragments, kept stills, reviews, status, indexes, inboxes and erasure notices by opaque ids only', () => {
    const tag = objects.caseTag('GZ-0042', KEY);
    const names = [
      objects.statusKey('kit-07'),
      objects.fragmentKey('kit-07', 'frag00000001'),
      objects.keptStillKey('kit-07', 'still0000001'),
      objects.reviewKey('kit-07', 'review000001'),
      objects.caseIndexKey('kit-07', tag, 'fragment', 'frag00000001'),
      objects.trainerIndexKey('kit-07', 'T-017'),
      objects.outboxKey('kit-07', 'T-017', 'kit-05', 'clip', 'abc0123456'),
      objects.directoryKitKey('kit-05'),
      objects.erasureNoticeKey(Date.UTC(2026, 11, 1), tag, 'review'),
      objects.receiptKey('rcpt00000001'),
      objects.officeAuditKey(Date.UTC(2026, 11, 1), 'ab'.repeat(32)),
    ];
    expect(names).toEqual([
      'kit-07/status.json.age',
      'kit-07/fragments/frag00000001.json.age',
      'kit-07/stills/still0000001.json.age',
      'kit-07/reviews/review000001.json.age',
      `kit-07/cases/${tag}/fragment-frag00000001.json.age`,
      'kit-07/trainers/T-017/index.json.age',
      'kit-07/outbox/T-017/kit-05/clip-abc0123456.key.age',
      'directory/kits/kit-05.json',
      `erasures/20261201T000000000Z-${tag}-review.json`,
      'receipts/rcpt00000001.json.age',
      `audit/20261201T000000000Z-${'ab'.repeat(6)}.json.age`,
    ]);
    for (const n of names) expect(n).not.toContain('GZ-0042');
    expect(objects.caseIndexKey('kit-07', tag, 'clip', 'abc0123456').startsWith(objects.casePrefix('kit-07', tag))).toBe(true);
    expect(objects.outboxKey('kit-07', 'T-017', 'kit-05', 'review', 'review000001').startsWith(objects.outboxPrefix('kit-07', 'T-017', 'kit-05'))).toBe(true);
    // every object a kit writes starts with its kit id (a bucket per kit, or prefix policies in one bucket)
    for (const n of names.slice(0, 7)) expect(n.startsWith('kit-07/')).toBe(true);
  });

  it('erasure notices sort by time and read back; a foreign name reads as null', () => {
    const tag = objects.caseTag('GZ-0042', KEY);
    const a = objects.erasureNoticeKey(Date.UTC(2026, 0, 2), tag, 'all');
    const b = objects.erasureNoticeKey(Date.UTC(2026, 0, 10), objects.caseTag('AB-0001', KEY), 'recording');
    expect([b, a].sort()).toEqual([a, b]);
    expect(objects.parseErasureNoticeKey(a)).toEqual({ at: '20260102T000000000Z', caseTag: tag, scope: 'all' });
    expect(objects.parseErasureNoticeKey('erasures/x.json')).toBeNull();
    expect(objects.parseErasureNoticeKey(a.replace('-all.', '-bogus.'))).toBeNull();
  });

  it('the case tag is HMAC-SHA-256 under the organisation key, as openssl computes it; another key gives another tag', () => {
    const tag = objects.caseTag('GZ-0042', KEY);
    expect(tag).toMatch(objects.CASE_TAG_PATTERN);
    const ref = execFileSync('openssl', ['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${KEY.toString('hex')}`], {
      input: Buffer.from('vht-kit case-tag v1\0GZ-0042'),
    }).toString();
    expect(ref.trim().split(/\s+/).pop()!.slice(0, 32)).toBe(tag);
    expect(objects.caseTag('GZ-0042', KEY)).toBe(tag);
    expect(objects.caseTag('GZ-0043', KEY)).not.toBe(tag);
    expect(objects.caseTag('GZ-0042', randomBytes(32))).not.toBe(tag);
  });

  it('bad input names the field and the value', () => {
    expect(() => objects.segmentKey('kit 07', 'abc0123456', 0)).toThrow(
      expect.objectContaining({ field: 'kitId', message: expect.stringContaining('"kit 07"') as string }),
    );
    expect(() => objects.fragmentKey('kit-07', '../x')).toThrow(expect.objectContaining({ field: 'fragmentId' }));
    expect(() => objects.caseIndexKey('kit-07', 'GZ-0042', 'clip', 'abc0123456')).toThrow(expect.objectContaining({ field: 'caseTag' }));
    expect(() => objects.trainerIndexKey('kit-07', 'Jansen')).toThrow(expect.objectContaining({ field: 'trainerId' }));
    expect(() => objects.caseTag('GZ-0042', randomBytes(8))).toThrow(expect.objectContaining({ field: 'keys.caseTagKey' }));
    expect(() => objects.erasureNoticeKey(0, objects.caseTag('GZ-1', KEY), 'everything' as objects.ErasureScope)).toThrow(
      expect.objectContaining({ field: 'scope' }),
    );
    expect(() => objects.auditKey('kit-07', Number.NaN)).toThrow(expect.objectContaining({ field: 'at' }));
  });
});

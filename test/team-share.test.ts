// Issue 20: a take assigned to a case follows the case's trainers on the kit (grant + narrow), with
// the real key store (age, scrypt-sealed keys) and a real SQLite catalogue.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../src/core/clock.js';
import { createLogger } from '../src/core/logger.js';
import { Team } from '../src/session/team.js';
import { Catalogue } from '../src/store/catalogue.js';
import { generateIdentity } from '../src/store/crypto.js';
import { KeyStore } from '../src/store/keys.js';

const logger = createLogger({ level: 'silent' });
const dir = mkdtempSync(path.join(os.tmpdir(), 'vht-share-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Team.shareWithCase', () => {
  it("grants the take's key to the case's trainers on the kit and narrows it to them; the others rotate", async () => {
    const { recipient } = await generateIdentity();
    const keys = new KeyStore({ dataDir: dir, orgRecipient: recipient, allowDemoOrg: false, logger });
    await keys.start(null);
    for (const [t, pin] of [
      ['T-017', '170017'],
      ['T-018', '180018'],
      ['T-019', '190019'],
    ] as const)
      await keys.addTrainer(t, pin);
    const catalogue = new Catalogue(path.join(dir, 'catalogue.db'));
    const team = new Team({ catalogue, keys, clock: systemClock });
    // a button take made before anyone signed in: every trainer on the kit holds it
    const id = 'mx0take0000aa';
    await keys.createContentKey({ kind: 'clip', id }, { trainers: ['T-017', 'T-018'] });
    expect(keys.entitled({ kind: 'clip', id })).toEqual(['T-017', 'T-018']);
    catalogue.insertCase('GZ-1901', 'k-vht', { recording: true, review: true, supervision: false, training: false }, 1);
    catalogue.addCaseTrainers('GZ-1901', ['T-017', 'T-019', 'T-404'], 1);
    expect(await keys.unlock('170017', 'T-017')).toBe(true);
    const identity = await keys.clipIdentity(id);
    expect(await team.shareWithCase(id, 'GZ-1901')).toBe('pending');
    expect(keys.entitled({ kind: 'clip', id })).toEqual(['T-017', 'T-019']);
    expect(keys.pendingRotations()).toEqual(['T-018']);
    keys.lock();
    expect(await keys.unlock('190019', 'T-019')).toBe(true);
    expect(await keys.clipIdentity(id)).toBe(identity);
    keys.lock();
    expect(await keys.unlock('180018', 'T-018')).toBe(true);
    await expect(keys.clipIdentity(id)).rejects.toThrow(/not shared with trainer T-018/);
    expect(keys.pendingRotations()).toEqual([]);
    expect(await team.shareWithCase('mx0nokey0000a', 'GZ-1901')).toBe('no-key');
    catalogue.close();
  });
});

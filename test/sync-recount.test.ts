// The sync status while a run ends: a clip assigned to a case after the run counted it (here in
// the run's last step, after its state said `done`, as `sync.e2e` met it under load) must be
// counted as pending once the run is over. Before, the recount asked for meanwhile was dropped
// and the status said "waiting for a case" until the next run.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SyncService } from '../src/sync/service.js';
import { DirTarget } from '../src/sync/targets.js';
import { ALL_CONSENT, makeKit, recordClip, syntheticSegments } from './helpers/sync-kit.js';

describe('sync status: what changes while a run ends is counted when it ends', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'vht-sync-recount-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('a clip assigned after the run counted it is pending once the run is over', async () => {
    const kit = await makeKit(path.join(root, 'kit'));
    const share = path.join(root, 'share');
    mkdirSync(share);
    const id = await recordClip(kit, { caseCode: null, segments: syntheticSegments(2, 20_000) });
    const states: string[] = [];
    const svc: SyncService = new SyncService({
      catalogue: kit.catalogue,
      clips: kit.clips,
      target: new DirTarget({ path: share }),
      kitId: 'kit-recount',
      orgRecipient: kit.orgRecipient,
      clock: kit.clock,
      logger: kit.logger,
      extensions: [
        {
          // the run's last step: its state is `done`; the trainer assigns the case now
          afterRun: async (_result, progress) => {
            states.push(progress.state);
            kit.catalogue.insertCase('GZ-0301', 'k-vht', ALL_CONSENT, kit.clock.now());
            kit.clips.assignCase(id, 'GZ-0301', ALL_CONSENT, kit.clock.now());
            svc.recount(); // what the kit does on clip.updated
            expect(svc.progress.waitingForCase).toBe(1); // the run keeps its own count
          },
        },
      ],
    });
    const r = await svc.runOnce();
    expect(r.waitingForCase).toEqual([id]);
    expect(states).toEqual(['done']);
    expect({ pending: svc.progress.pending, waitingForCase: svc.progress.waitingForCase }).toEqual({ pending: 1, waitingForCase: 0 });
    // and the next run uploads it
    expect((await svc.runOnce()).uploaded).toEqual([id]);
    expect(svc.progress.pending).toBe(0);
    kit.catalogue.close();
  });
});

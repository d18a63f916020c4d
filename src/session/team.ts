import type { Clock } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import type { CaseRow, Catalogue, ClipRow } from '../store/catalogue.js';
import type { ContentRef, KeyStore } from '../store/keys.js';

export interface TeamOptions {
  catalogue: Catalogue;
  keys: Pick<KeyStore, 'entitled' | 'hasClipKey' | 'hasContentKey' | 'holder' | 'trainerIds' | 'defaultTrainerId' | 'grant' | 'narrow'>;
  clock: Clock;
}

/**
 * Who sees what on a team kit (issue 20): a trainer sees, presents and exports only the cases they
 * are on (`case_trainers`, migration 8), and the clips of those cases; an unassigned take only when
 * its key is wrapped to them (the holder's button take) or when it has no key on the kit at all
 * (only the organisation can read it). Others' items answer 403, naming the id and the trainer.
 */
export class Team {
  constructor(private readonly o: TeamOptions) {}

  /** The cases this trainer is on ("mijn casussen"). */
  cases(trainerId: string): CaseRow[] {
    const mine = new Set(this.o.catalogue.casesOfTrainer(trainerId));
    return this.o.catalogue.listCases().filter((c) => mine.has(c.code));
  }

  /** Whether the trainer is on this case. */
  isOnCase(code: string, trainerId: string): boolean {
    return this.o.catalogue.caseTrainers(code).includes(trainerId);
  }

  /** Whether the trainer may see this clip. */
  maySee(clip: ClipRow, trainerId: string): boolean {
    if (clip.caseCode !== null) return this.isOnCase(clip.caseCode, trainerId);
    return !this.o.keys.hasClipKey(clip.id) || this.o.keys.entitled({ kind: 'clip', id: clip.id }).includes(trainerId);
  }

  /** This trainer's clips, newest first, paged after filtering. */
  clips(trainerId: string, limit = 500, offset = 0): ClipRow[] {
    const mine = new Set(this.o.catalogue.casesOfTrainer(trainerId));
    const visible = this.o.catalogue
      .allClips()
      .filter((c) => (c.caseCode !== null ? mine.has(c.caseCode) : this.maySee(c, trainerId)))
      .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
    return visible.slice(offset, offset + limit);
  }

  /** 403 unless the trainer may see the clip. */
  assertClip(clip: ClipRow, trainerId: string): ClipRow {
    if (!this.maySee(clip, trainerId)) {
      throw new AppError('FORBIDDEN', `clip ${clip.id} is not of a case of trainer ${trainerId} (niet van jouw casussen)`, {
        field: 'params.id',
        reason: 'not_your_case',
        params: { id: clip.id },
      });
    }
    return clip;
  }

  /**
   * 403 unless the trainer may see the clip of this id; the clip may be erased already while its
   * fragments and kept stills live on: then their case decides. An id with neither passes (the
   * use-case answers 404).
   */
  assertClipId(clipId: string, trainerId: string): void {
    const clip = this.o.catalogue.getClip(clipId);
    if (clip) {
      this.assertClip(clip, trainerId);
      return;
    }
    const ledger = this.o.catalogue.reviewLedger;
    const code = ledger.fragmentsOfClip(clipId)[0]?.caseCode ?? ledger.keptStillsOfClip(clipId)[0]?.caseCode;
    if (code !== undefined) this.assertItem({ kind: 'clip', id: clipId, caseCode: code }, trainerId);
  }

  /**
   * 403 unless the trainer is on the case of this fragment, kept still or review (issue 20: the
   * review cycle is scoped like clips, with the same reason code).
   */
  assertItem(item: { kind: 'clip' | 'fragment' | 'still' | 'review'; id: string; caseCode: string }, trainerId: string): void {
    if (this.isOnCase(item.caseCode, trainerId)) return;
    const noun = item.kind === 'still' ? 'kept still' : item.kind;
    throw new AppError('FORBIDDEN', `${noun} ${item.id} is not of a case of trainer ${trainerId} (niet van jouw casussen)`, {
      field: 'params.id',
      reason: 'not_your_case',
      params: { id: item.id },
    });
  }

  /** Whether a case is one of this trainer's (to filter lists of fragments, stills and reviews). */
  caseFilter(trainerId: string): (code: string) => boolean {
    const mine = new Set(this.o.catalogue.casesOfTrainer(trainerId));
    return (code) => mine.has(code);
  }

  /** 403 unless the trainer is on the case (a case that does not exist yet passes: it becomes theirs). */
  assertCase(code: string, trainerId: string): void {
    if (this.o.catalogue.getCase(code) && !this.isOnCase(code, trainerId)) {
      throw new AppError('FORBIDDEN', `case ${code} is not a case of trainer ${trainerId} (niet jouw casus)`, {
        field: 'caseCode',
        reason: 'not_your_case',
        params: { code },
      });
    }
  }

  /**
   * A take assigned to a case is the case's (docs/design/keys-layout-retention.md, "Who a content
   * key is wrapped to"): its key is granted to the case's trainers on this kit (public keys only;
   * the signed-in trainer must hold it) and narrowed to them (others' wraps go, and they rotate).
   */
  async shareWithCase(clipId: string, code: string): Promise<'complete' | 'pending' | 'no-key'> {
    if (!this.o.keys.hasClipKey(clipId)) return 'no-key';
    const ref = { kind: 'clip' as const, id: clipId };
    const onKit = new Set(this.o.keys.trainerIds());
    const trainers = this.o.catalogue.caseTrainers(code).filter((t) => onKit.has(t));
    const held = this.o.keys.entitled(ref);
    const missing = trainers.filter((t) => !held.includes(t));
    if (missing.length > 0) await this.o.keys.grant(ref, missing);
    return this.o.keys.narrow(ref, trainers);
  }

  /**
   * At a trainer's sign-in: every key of their cases that they hold here (clips, fragments, kept
   * stills, reviews) is granted to the case's other trainers on this kit who lack it (public keys
   * only; a co-trainer assigned at the office can then open the case's footage here, and the grant
   * also sends the key to the co-trainer's other kits). Returns how many keys were granted.
   */
  async shareWithCoTrainers(trainerId: string): Promise<number> {
    const onKit = new Set(this.o.keys.trainerIds());
    const ledger = this.o.catalogue.reviewLedger;
    let granted = 0;
    for (const code of this.o.catalogue.casesOfTrainer(trainerId)) {
      const trainers = this.o.catalogue.caseTrainers(code).filter((t) => onKit.has(t) && t !== trainerId);
      if (trainers.length === 0) continue;
      const refs: ContentRef[] = [
        ...this.o.catalogue.clipsOfCase(code).map((c) => ({ kind: 'clip' as const, id: c.id })),
        ...ledger
          .allFragments()
          .filter((f) => f.caseCode === code)
          .map((f) => ({ kind: 'fragment' as const, id: f.id })),
        ...ledger
          .allKeptStills()
          .filter((s) => s.caseCode === code)
          .map((s) => ({ kind: 'still' as const, id: s.id })),
        ...ledger.reviews(code).map((r) => ({ kind: 'review' as const, id: r.id })),
      ];
      const to = new Set<string>();
      let keys = 0;
      for (const ref of refs) {
        if (!this.o.keys.hasContentKey(ref)) continue;
        const held = this.o.keys.entitled(ref);
        const missing = trainers.filter((t) => !held.includes(t));
        if (!held.includes(trainerId) || missing.length === 0) continue;
        await this.o.keys.grant(ref, missing);
        for (const t of missing) to.add(t);
        keys += 1;
      }
      if (keys > 0) this.o.catalogue.audit('case.keys.shared', this.o.clock.now(), null, { case: code, trainers: [...to].sort(), keys });
      granted += keys;
    }
    return granted;
  }

  /** The kit where a case is made adds its maker (the signed-in trainer, else the kit's holder). */
  madeHere(code: string, trainerId: string | null): void {
    const t = trainerId ?? this.o.keys.holder() ?? this.o.keys.defaultTrainerId;
    this.o.catalogue.addCaseTrainers(code, [t], this.o.clock.now());
  }
}

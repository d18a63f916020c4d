import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Clock, TimerHandle } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { TRAJECTORIES } from '../store/migrations.js';
import { CONSENT_SCOPES, consentInForce, type CaseRow, type Catalogue, type ClipRow, type Consent, type ConsentScope } from '../store/catalogue.js';
import type { ClipStore } from '../store/clips.js';
import { writeFileDurableSync } from '../store/durable.js';
import { DEFAULT_RETENTION, evictionOrder, retentionDue, type RetainedItem, type RetentionPolicy } from '../store/retention.js';
import { keptRetention, type KeptFootage } from './kept-retention.js';

export type Trajectory = (typeof TRAJECTORIES)[number];

export interface PrivacyOptions {
  dataDir: string;
  /** What withdrawing recording consent does to the case's clips on the kit. */
  onWithdrawal: 'after-upload' | 'immediately';
  /** Hours after the organisation confirmed a clip before the kit deletes it (0 = at once). */
  deleteAfterUploadHours: number;
  /** A clip that is not uploaded after this many days shows as a warning. */
  warnUnuploadedDays: number;
  /** How often retention runs. */
  retentionIntervalMs: number;
  /** Days a fragment or kept still never put in a review is kept (src/store/retention.ts). */
  unusedFragmentDays?: number;
  /** Days after a review is held that it, its fragments and stills are kept. */
  afterReviewHeldDays?: number;
  /** The time retention acts on (src/store/retention.ts trustedNow); null = none trusted yet. Default: the clock. */
  trustedNow?: () => number | null;
  /** Fragments, kept stills and review keys (issue 19): retention erases them by the same table. */
  kept?: KeptFootage;
}

const SCOPE_NL: Record<ConsentScope, string> = {
  recording: 'opnemen',
  review: 'terugkijken met ouders op hun tv',
  supervision: 'gebruik in supervisie',
  training: 'gebruik in opleiding',
};

/**
 * Cases, consent and retention. A case is a pseudonymous code with a trajectory type and the
 * consent scopes recorded at the first visit; every clip carries the consent in force when it was
 * made. The kit refuses what the scopes do not allow, and deletes footage only once the
 * organisation has confirmed it (or at once after a withdrawal, when the policy says so).
 */
export class Privacy {
  private timer: TimerHandle | null = null;
  private running = false;

  constructor(
    private readonly catalogue: Catalogue,
    private readonly clips: ClipStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly opts: PrivacyOptions,
  ) {}

  private get casesFile(): string {
    return path.join(this.opts.dataDir, 'cases.json');
  }

  start(): void {
    void this.runRetention();
    this.schedule();
  }

  stop(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    this.timer = this.clock.setTimeout(() => {
      void this.runRetention().finally(() => this.schedule());
    }, this.opts.retentionIntervalMs);
    this.timer.unref?.();
  }

  // --- cases ---

  createCase(code: string, trajectory: Trajectory, consent: Consent): CaseRow {
    if (this.catalogue.getCase(code))
      throw new AppError('CONFLICT', `case ${code} exists already; change its consent instead`, { field: 'body.code', reason: 'case_exists' });
    const now = this.clock.now();
    this.catalogue.insertCase(code, trajectory, consent, now);
    this.catalogue.audit('case.created', now, null, { case: code, trajectory, consent });
    this.saveCases();
    return this.catalogue.getCase(code)!;
  }

  /** Changes a case's consent (and trajectory); a withdrawal of `recording` marks its clips for deletion. */
  async updateCase(code: string, patch: { trajectory?: Trajectory; consent?: Partial<Consent> }): Promise<CaseRow> {
    const current = this.requireCase(code);
    const now = this.clock.now();
    const consent: Consent = { ...current.consent, ...patch.consent };
    const trajectory = patch.trajectory ?? current.trajectory;
    this.catalogue.updateCase(code, trajectory, consent, now);
    const changed = CONSENT_SCOPES.filter((s) => consent[s] !== current.consent[s]);
    if (changed.length) this.catalogue.audit('consent.changed', now, null, { case: code, changed: Object.fromEntries(changed.map((s) => [s, consent[s]])) });
    this.saveCases();
    if (current.consent.recording && !consent.recording) {
      for (const clip of this.catalogue.clipsOfCase(code)) this.clips.requestDelete(clip.id, now, 'consent withdrawn');
      this.logger.info("recording consent withdrawn: the case's clips are marked for deletion", { policy: this.opts.onWithdrawal });
      await this.runRetention();
    } else if (current.consent.review && !consent.review) {
      // Fragments, kept stills and reviews of the case go at once (consent-review-withdrawn).
      await this.runRetention();
    }
    return this.catalogue.getCase(code)!;
  }

  requireCase(code: string): CaseRow {
    const c = this.catalogue.getCase(code);
    if (!c) throw new AppError('NOT_FOUND', `no case ${JSON.stringify(code)}`, { field: 'caseCode', reason: 'case_not_found' });
    return c;
  }

  /**
   * The consent a new take of this case is made under. An unknown code becomes a case with
   * recording consent only (the trainer records there); its other scopes are asked at the visit.
   */
  consentForRecording(code: string): Consent {
    let c = this.catalogue.getCase(code);
    if (!c) {
      const now = this.clock.now();
      this.catalogue.ensureCase(code, now);
      this.catalogue.audit('case.created', now, null, { case: code, implicit: true });
      this.saveCases();
      c = this.catalogue.getCase(code)!;
    }
    if (this.catalogue.caseClosedAt(code) !== null) {
      throw new AppError('FORBIDDEN', `case ${code} is closed (its trajectory ended): no new takes (casus is afgesloten)`, {
        field: 'caseCode',
        reason: 'case_closed',
      });
    }
    if (!c.consent.recording) {
      throw new AppError('FORBIDDEN', `case ${code} has no consent for recording (geen toestemming voor opnemen)`, {
        field: 'caseCode',
        reason: 'case_no_recording_consent',
      });
    }
    return c.consent;
  }

  /** Refuses a use of a clip that its consent (as made, and as now) does not allow. */
  assertAllowed(clip: ClipRow, scope: ConsentScope): void {
    if (clip.caseCode === null || clip.consent === null) {
      throw new AppError('FORBIDDEN', `clip ${clip.id} has no case yet: assign it to a case before ${SCOPE_NL[scope]} (eerst een casus kiezen)`, {
        field: 'caseCode',
        reason: 'clip_unassigned',
        params: { scope },
      });
    }
    if (!consentInForce(clip.consent, this.catalogue.getCase(clip.caseCode)?.consent)[scope]) {
      throw new AppError('FORBIDDEN', `no consent for ${scope} for this clip's case (geen toestemming voor ${SCOPE_NL[scope]})`, {
        field: `consent.${scope}`,
        reason: 'consent_missing',
        params: { scope },
      });
    }
  }

  // --- retention ---

  /** The retention table's policy, from the options. */
  get retentionPolicy(): RetentionPolicy {
    return {
      analysisHours: this.opts.deleteAfterUploadHours,
      unusedDays: this.opts.unusedFragmentDays ?? DEFAULT_RETENTION.unusedDays,
      afterReviewHeldDays: this.opts.afterReviewHeldDays ?? DEFAULT_RETENTION.afterReviewHeldDays,
      onWithdrawal: this.opts.onWithdrawal,
    };
  }

  /** The retention facts of a raw clip (src/store/retention.ts). */
  private retainedClip(clip: ClipRow): RetainedItem {
    const current = clip.caseCode ? this.catalogue.getCase(clip.caseCode)?.consent : undefined;
    const withdrawn = clip.consent ? CONSENT_SCOPES.filter((s) => clip.consent![s] && current?.[s] !== true) : [];
    return {
      kind: 'raw-clip',
      createdAt: clip.createdAt,
      confirmedAt: clip.uploadedAt,
      deleteRequestedAt: clip.deleteRequestedAt,
      withdrawn: clip.deleteReason === 'consent withdrawn' && !withdrawn.includes('recording') ? [...withdrawn, 'recording'] : withdrawn,
      caseClosedAt: clip.caseCode ? this.catalogue.caseClosedAt(clip.caseCode) : null,
      reviewTalk: this.catalogue.reviewLedger.reviewOfTalk(clip.id) !== null,
    };
  }

  /**
   * Erases what the retention table says may go, on the kit's trusted time (with none trusted yet,
   * only the rules that need no time act). Audited with the rule that decided.
   */
  async runRetention(): Promise<string[]> {
    if (this.running) return [];
    this.running = true;
    const deleted: string[] = [];
    try {
      const trusted = this.opts.trustedNow ? this.opts.trustedNow() : this.clock.now();
      const now = trusted ?? Number.NEGATIVE_INFINITY;
      const policy = this.retentionPolicy;
      for (const clip of this.catalogue.allClips()) {
        if (clip.state === 'recording') continue;
        const answer = retentionDue(this.retainedClip(clip), policy, now);
        if (answer.action !== 'erase') continue;
        await this.eraseClip(clip, answer.rule);
        deleted.push(clip.id);
      }
      if (this.opts.kept) deleted.push(...(await keptRetention(this.catalogue, this.opts.kept, policy, now, this.clock)));
      if (deleted.length) this.logger.info('retention deleted clips, fragments, stills or reviews', { count: deleted.length });
    } finally {
      this.running = false;
    }
    return deleted;
  }

  /**
   * Frees at least `bytesNeeded` for a take by erasing raw clips the organisation has confirmed,
   * the oldest confirmation first; never one it has not. Returns the erased ids (maybe too few).
   */
  async evictForRoom(bytesNeeded: number): Promise<string[]> {
    const candidates = this.catalogue
      .allClips()
      .filter((c) => c.state !== 'recording')
      .map((c) => ({ id: c.id, confirmedAt: c.uploadedAt, createdAt: c.createdAt, bytes: c.bytes, clip: c }));
    const out: string[] = [];
    for (const c of evictionOrder(candidates, bytesNeeded)) {
      await this.eraseClip(c.clip, 'room-needed');
      out.push(c.id);
    }
    return out;
  }

  private async eraseClip(clip: ClipRow, rule: string): Promise<void> {
    // The library still says where an erased clip is while fragments or stills of it are kept.
    if (this.catalogue.reviewLedger.keptCounts().has(clip.id)) {
      this.catalogue.reviewLedger.recordClipErasure({
        clipId: clip.id,
        caseCode: clip.caseCode,
        visitId: clip.visitId,
        createdAt: clip.createdAt,
        durationMs: clip.durationMs,
        uploadedAt: clip.uploadedAt,
        erasedAt: this.clock.now(),
        rule,
      });
    }
    const erase = await this.clips.deleteClip(clip.id);
    const now = this.clock.now();
    this.catalogue.audit('clip.deleted', now, clip.id, { reason: rule, uploaded: clip.uploadedAt !== null });
    this.catalogue.audit(erase === 'complete' ? 'key.destroyed' : 'key.destroy.pending', now, clip.id);
  }

  /**
   * Closes a case's trajectory: no new takes for it, and the retention table's `case-closed` rule
   * erases everything of it on the kit once the organisation has confirmed it (what is not uploaded
   * yet waits for the upload, then goes). Audited. Closing again changes nothing.
   */
  async closeCase(code: string): Promise<{ closedAt: number; erased: string[]; waitingForUpload: string[] }> {
    this.requireCase(code);
    const now = this.clock.now();
    const ofCase = new Set(this.catalogue.clipsOfCase(code).map((c) => c.id));
    if (this.catalogue.caseClosedAt(code) === null) {
      this.catalogue.closeCase(code, now);
      this.catalogue.audit('case.closed', now, null, { case: code });
      this.saveCases();
    }
    const erased = await this.runRetention();
    return {
      closedAt: this.catalogue.caseClosedAt(code)!,
      erased: erased.filter((id) => ofCase.has(id)),
      waitingForUpload: this.catalogue.clipsOfCase(code).map((c) => c.id),
    };
  }

  /**
   * Applies an erasure notice of the organisation (issue 21): the scope's consent is withdrawn for
   * the case (the narrowest consent wins; `all` withdraws every scope), and the kit's copies in that
   * scope are crypto-erased at once, uploaded or not (the organisation ordered it). Audited.
   */
  async applyErasureNotice(code: string, scope: 'all' | ConsentScope, notice: string): Promise<string[]> {
    const current = this.requireCase(code);
    const now = this.clock.now();
    const scopes: ConsentScope[] = scope === 'all' ? [...CONSENT_SCOPES] : [scope];
    const consent: Consent = { ...current.consent };
    for (const s of scopes) consent[s] = false;
    this.catalogue.updateCase(code, current.trajectory, consent, now);
    const erased: string[] = [];
    for (const clip of this.catalogue.clipsOfCase(code)) {
      const hit = scope === 'all' || scope === 'recording' || (scope === 'supervision' && clip.purposes.includes('supervision'));
      if (!hit || clip.state === 'recording') continue;
      await this.eraseClip(clip, `erasure-notice-${scope}`);
      erased.push(clip.id);
    }
    this.catalogue.audit('erasure.notice.applied', now, null, { case: code, scope, notice, erased: erased.length });
    this.saveCases();
    this.logger.info("applied the organisation's erasure notice", { scope, erased: erased.length });
    return erased;
  }

  /** Clips not yet confirmed by the organisation, and those older than the warning age. */
  uploadWarnings(): { pending: number; overdue: number } {
    const limit = this.clock.now() - this.opts.warnUnuploadedDays * 86_400_000;
    let pending = 0;
    let overdue = 0;
    for (const clip of this.catalogue.allClips()) {
      if (clip.uploadedAt !== null) continue;
      pending += 1;
      if (clip.createdAt < limit) overdue += 1;
    }
    return { pending, overdue };
  }

  // --- files are the truth: cases.json beside the clips ---

  private saveCases(): void {
    writeFileDurableSync(this.casesFile, JSON.stringify(this.catalogue.listCases(), null, 1));
    const closed = this.catalogue.closedCases();
    if (closed.length || existsSync(this.closedCasesFile)) writeFileDurableSync(this.closedCasesFile, JSON.stringify(closed, null, 1));
  }

  private get closedCasesFile(): string {
    return path.join(this.opts.dataDir, 'cases-closed.json');
  }

  /** Puts the cases of cases.json back into a new catalogue. */
  restoreCases(): number {
    if (!existsSync(this.casesFile)) return 0;
    const cases = JSON.parse(readFileSync(this.casesFile, 'utf8')) as CaseRow[];
    for (const c of cases) {
      if (this.catalogue.getCase(c.code)) this.catalogue.updateCase(c.code, c.trajectory, c.consent, c.consentUpdatedAt ?? c.createdAt);
      else this.catalogue.insertCase(c.code, c.trajectory, c.consent, c.createdAt);
    }
    if (existsSync(this.closedCasesFile)) {
      for (const c of JSON.parse(readFileSync(this.closedCasesFile, 'utf8')) as { code: string; closedAt: number }[])
        this.catalogue.closeCase(c.code, c.closedAt);
    }
    return cases.length;
  }
}

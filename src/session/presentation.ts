import type { Clock, TimerHandle } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import type { EventBus, PlayerState, PresentedReviewItem, TvAction, TvControl } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import { consentInForce, type Catalogue, type ClipRow } from '../store/catalogue.js';
import type { KeyStore } from '../store/keys.js';
import type { Privacy } from './privacy.js';

export interface PresentationOptions {
  catalogue: Catalogue;
  keys: KeyStore;
  privacy: Privacy;
  bus: EventBus;
  clock: Clock;
  logger: Logger;
  /** The playback key is dropped after this long without a trainer request. */
  lockAfterIdleMs: number;
  /** Frames per second of the camera (the TV player steps by 1/fps). */
  fps: number;
  /** Whether the trainer session that presented a review is still live (TV keys step items only then). Default: always. */
  sessionAlive?: (sessionKey: string) => boolean;
}

/** What kind of footage a TV asks for: the presented clip, or the presented review item's fragment or kept still. */
export type ShownKind = 'clip' | 'fragment' | 'still';

/** Where a review step came from: the phone, the TV page's keys, or the TV remote over HDMI-CEC. */
export type StepSource = 'phone' | 'keys' | 'cec';

const INITIAL_PLAYER: PlayerState = { playing: false, rate: 1, positionS: 0, loop: null };

/** A player command from the phone, before it gets its id. */
export interface ControlRequest {
  action: TvAction;
  rate?: number | undefined;
  time?: number | undefined;
  direction?: -1 | 1 | undefined;
  loop?: [number, number] | null | undefined;
}

/**
 * What the family's TV shows and who has looked at what: the presented clip (the only one a TV
 * may play), the ids of the player commands, the idle lock of the playback key and the
 * viewed-once audit. Each change audits and emits once, here.
 */
export class Presentation {
  private presentedId: string | null = null;
  /** The review item on the TV (then presentedId is null: the TV may not fetch the raw clip). */
  private item: PresentedReviewItem | null = null;
  /** The trainer session that presented the review. */
  private presentedBy: string | null = null;
  private player: PlayerState = { ...INITIAL_PLAYER };
  private controlId = 0;
  private idleTimer: TimerHandle | null = null;
  /** `<session>:<clip>` pairs already audited as viewed (dropped at logout). */
  private readonly viewed = new Set<string>();
  private readonly visitOverListeners: (() => void)[] = [];
  private readonly offControl: () => void;

  constructor(private readonly o: PresentationOptions) {
    // Ids stay above those of commands from elsewhere (the TV remote over HDMI-CEC), so an ack names one command.
    this.offControl = o.bus.on('tv.control', (c) => {
      if (c.id > this.controlId) this.controlId = c.id;
      // The TV remote over HDMI-CEC: within a review, its previous/next keys step items.
      if (c.source === 'cec' && this.item !== null) this.fromCec(c);
    });
  }

  /** The presented clip's id, or null. */
  get presented(): string | null {
    return this.presentedId;
  }

  /** Runs `fn` whenever a visit ends (idle lock, last logout): the web layer drops the TV sessions. */
  onVisitOver(fn: () => void): void {
    this.visitOverListeners.push(fn);
  }

  /** The presented review item, or null. */
  get presentedItem(): PresentedReviewItem | null {
    return this.item;
  }

  /** The player state the TV follows. */
  get playerState(): PlayerState {
    return { ...this.player, loop: this.player.loop ? [...this.player.loop] : null };
  }

  /** Whether a TV may fetch this footage: the presented clip, or the presented item's fragment or still only. */
  mayShow(kind: ShownKind, id: string): boolean {
    if (kind === 'clip') return this.presentedId !== null && this.presentedId === id;
    return this.item !== null && this.item.kind === kind && this.item.refId === id;
  }

  /** Shows a clip on the TV (consent for review required); audited. */
  present(clip: ClipRow): string {
    this.o.privacy.assertAllowed(clip, 'review');
    this.item = null;
    this.presentedBy = null;
    this.presentedId = clip.id;
    this.o.catalogue.audit('clip.presented', this.o.clock.now(), clip.id);
    this.o.bus.emit('present', { clipId: clip.id });
    return clip.id;
  }

  /**
   * Shows item `index` (0-based) of a review on the TV: a fragment plays from its in point and loops
   * its range at the chosen speed; a still shows full screen. Needs the case's review consent (as
   * the item was made, and now). Audited with where the step came from; the phone and the TV follow
   * the `present` event.
   */
  presentItem(reviewId: string, index: number, by: { sessionKey?: string; source: StepSource }): PresentedReviewItem {
    const items = this.reviewItems(reviewId);
    const it = items[index];
    if (!it) {
      throw new AppError('NOT_FOUND', `body.item: review ${reviewId} has ${items.length} items; there is no item ${index} (0-based)`, {
        field: 'body.item',
        reason: 'review_item_out_of_range',
        params: { item: index, count: items.length },
      });
    }
    if (!consentInForce(it.consent, this.o.catalogue.getCase(it.caseCode)?.consent).review) {
      throw new AppError('FORBIDDEN', `no consent for review for this case (geen toestemming voor terugkijken met ouders op hun tv)`, {
        field: 'consent.review',
        reason: 'no_review_consent',
      });
    }
    const range: [number, number] | null = it.range;
    this.item = { reviewId, item: index, count: items.length, kind: it.kind, refId: it.refId, label: it.label, range };
    if (by.sessionKey !== undefined) this.presentedBy = by.sessionKey;
    this.presentedId = null;
    this.player = { playing: it.kind === 'fragment', rate: this.player.rate, positionS: range ? range[0] : 0, loop: range };
    this.o.catalogue.audit('review.item.presented', this.o.clock.now(), null, { review: reviewId, item: index, kind: it.kind, source: by.source });
    this.o.bus.emit('present', { clipId: null, review: { ...this.item }, player: this.playerState });
    return { ...this.item };
  }

  /** The next (+1) or previous (−1) item of the presented review; 409 at either end or without a review. */
  step(direction: -1 | 1, by: { sessionKey?: string; source: StepSource }): PresentedReviewItem {
    const cur = this.item;
    if (!cur) throw new AppError('CONFLICT', 'no review is presented: present a review item first (POST /api/present)', { reason: 'no_review_presented' });
    const next = cur.item + direction;
    if (next < 0 || next >= cur.count) {
      throw new AppError('CONFLICT', `review ${cur.reviewId} has no ${direction > 0 ? 'next' : 'previous'} item (item ${cur.item} of ${cur.count})`, {
        field: 'direction',
        reason: direction > 0 ? 'no_next_item' : 'no_previous_item',
      });
    }
    return this.presentItem(cur.reviewId, next, by);
  }

  /**
   * A key on the TV (the TV page's keys): within a review that a live trainer session presented,
   * `marker` ±1 steps items and `rate`, `play`, `pause`, `toggle` drive the player; the phone
   * follows the events. Audited.
   */
  key(req: { action: 'play' | 'pause' | 'toggle' | 'rate' | 'marker'; rate?: number | undefined; direction?: -1 | 1 | undefined }): {
    review: PresentedReviewItem;
    player: PlayerState;
  } {
    const cur = this.item;
    if (!cur || this.presentedBy === null || !(this.o.sessionAlive?.(this.presentedBy) ?? true)) {
      throw new AppError('FORBIDDEN', 'the TV keys work only within a review that the trainer presents now (alleen tijdens een nabespreking)', {
        reason: 'no_live_review',
      });
    }
    if (req.action === 'marker') return { review: this.step(req.direction ?? 1, { source: 'keys' }), player: this.playerState };
    this.o.catalogue.audit('review.key', this.o.clock.now(), null, { review: cur.reviewId, item: cur.item, action: req.action });
    this.sendControl({ action: req.action, rate: req.rate }, 'keys');
    return { review: { ...cur }, player: this.playerState };
  }

  /** Nothing on the TV any more; at the end of a visit (`visitOver`) also every paired TV must pair again. */
  end(opts: { visitOver: boolean }): void {
    if (this.presentedId !== null || this.item !== null) {
      this.presentedId = null;
      this.item = null;
      this.presentedBy = null;
      this.player = { ...INITIAL_PLAYER };
      this.o.bus.emit('present', { clipId: null });
    }
    if (opts.visitOver) for (const fn of this.visitOverListeners) fn();
  }

  /** Ends the presentation when it shows this clip (it is being deleted). */
  endIfPresenting(clipId: string): void {
    if (this.presentedId === clipId) this.end({ visitOver: false });
  }

  /** Sends a player command to the TV; returns its id (the TV acks it). 409 when nothing is presented. */
  control(req: ControlRequest): number {
    if (this.presentedId === null && this.item === null)
      throw new AppError('CONFLICT', 'nothing is presented on the TV: present a clip first (POST /api/present)', { reason: 'nothing_presented' });
    return this.sendControl(req, 'phone');
  }

  private sendControl(req: ControlRequest, source: 'phone' | 'keys'): number {
    this.follow(req);
    this.controlId += 1;
    const cmd: TvControl = { action: req.action, source, id: this.controlId };
    if (req.rate !== undefined) cmd.rate = req.rate;
    if (req.time !== undefined) cmd.time = req.time;
    if (req.direction !== undefined) cmd.direction = req.direction;
    if (req.loop !== undefined) cmd.loop = req.loop;
    this.o.bus.emit('tv.control', cmd);
    return this.controlId;
  }

  /** What the TV may know: the presented clip's id, length, markers and frame rate, or the review item and the player state; nothing else. */
  tvState(): {
    clipId: string | null;
    durationMs: number;
    markers: { offsetMs: number; label: string | null }[];
    fps: number;
    review?: PresentedReviewItem | null;
    player?: PlayerState;
  } {
    const clip = this.presentedId === null ? undefined : this.o.catalogue.getClip(this.presentedId);
    // A whole clip: the TV learns what it did before (no review fields); a review item: it and the player state.
    const extra = this.item ? { review: { ...this.item }, player: this.playerState } : {};
    if (!clip) {
      const f = this.item?.kind === 'fragment' ? this.o.catalogue.reviewLedger.fragment(this.item.refId) : undefined;
      return { clipId: null, durationMs: f?.playlistDurationMs ?? 0, markers: [], fps: this.o.fps, ...extra };
    }
    return {
      clipId: clip.id,
      durationMs: clip.durationMs,
      markers: this.o.catalogue.markers(clip.id).map((m) => ({ offsetMs: m.offsetMs, label: m.label })),
      fps: this.o.fps,
      ...extra,
    };
  }

  /** Keeps the player state in step with a command (what a TV that connects later is told). */
  private follow(req: ControlRequest): void {
    const p = this.player;
    if (req.action === 'play') p.playing = true;
    else if (req.action === 'pause') p.playing = false;
    else if (req.action === 'toggle') p.playing = !p.playing;
    else if (req.action === 'rate' && req.rate !== undefined) p.rate = req.rate;
    else if (req.action === 'seek' && req.time !== undefined) p.positionS = req.time;
    else if (req.action === 'loop' && req.loop !== undefined) p.loop = req.loop;
  }

  private fromCec(c: TvControl): void {
    if (c.action === 'marker' && c.direction !== undefined) {
      if (this.presentedBy === null || !(this.o.sessionAlive?.(this.presentedBy) ?? true)) return;
      const next = this.item!.item + c.direction;
      if (next >= 0 && next < this.item!.count) this.presentItem(this.item!.reviewId, next, { source: 'cec' });
      return;
    }
    this.follow(c);
  }

  /** The presentable items of a review, in order (an erased fragment or still is skipped). */
  private reviewItems(reviewId: string) {
    const ledger = this.o.catalogue.reviewLedger;
    if (!ledger.review(reviewId)) {
      throw new AppError('NOT_FOUND', `body.reviewId: no review ${JSON.stringify(reviewId)}`, { field: 'body.reviewId', reason: 'review_not_found' });
    }
    const out: {
      kind: 'fragment' | 'still';
      refId: string;
      caseCode: string;
      consent: ClipRow['consent'] & object;
      label: string | null;
      range: [number, number] | null;
    }[] = [];
    for (const it of ledger.items(reviewId)) {
      if (it.kind === 'fragment') {
        const f = ledger.fragment(it.refId);
        if (f)
          out.push({
            kind: 'fragment',
            refId: f.id,
            caseCode: f.caseCode,
            consent: f.consent,
            label: f.label,
            range: [(f.inMs - f.playlistStartMs) / 1000, (f.outMs - f.playlistStartMs) / 1000],
          });
      } else {
        const st = ledger.keptStill(it.refId);
        if (st) out.push({ kind: 'still', refId: st.id, caseCode: st.caseCode, consent: st.consent, label: null, range: null });
      }
    }
    return out;
  }

  /** A clip counts as viewed once per session (playlist, first segment or still), not per request. */
  auditView(sessionKey: string, clipId: string): void {
    const key = `${sessionKey}:${clipId}`;
    if (this.viewed.has(key)) return;
    this.viewed.add(key);
    this.o.catalogue.audit('clip.viewed', this.o.clock.now(), clipId);
  }

  /** Forgets what a session has viewed (at its logout). */
  forgetViews(sessionKey: string): void {
    for (const key of this.viewed) if (key.startsWith(`${sessionKey}:`)) this.viewed.delete(key);
  }

  /** Restarts the idle lock: the playback key is dropped after `lockAfterIdleMs` without a trainer request. */
  touch(): void {
    if (this.idleTimer) this.o.clock.clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (!this.o.keys.unlocked) return;
    this.idleTimer = this.o.clock.setTimeout(() => {
      if (!this.o.keys.unlocked) return;
      this.o.keys.lock();
      this.o.catalogue.audit('lock.idle', this.o.clock.now());
      this.o.logger.info('playback key dropped after idle time');
      this.end({ visitOver: true });
    }, this.o.lockAfterIdleMs);
    this.idleTimer.unref?.();
  }

  /** The trainer hands the phone over: key dropped, nothing on the TV; audited. */
  lock(): void {
    this.o.keys.lock();
    this.end({ visitOver: false });
    this.o.catalogue.audit('lock', this.o.clock.now());
  }

  /** Stops the idle timer and the bus subscription (the app closes). */
  close(): void {
    if (this.idleTimer) this.o.clock.clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.offControl();
  }
}

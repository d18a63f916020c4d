import type { Clock, TimerHandle } from '../core/clock.js';
import { AppError } from '../core/errors.js';
import type { EventBus, TvAction, TvControl } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { Catalogue, ClipRow } from '../store/catalogue.js';
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
}

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

  /** Shows a clip on the TV (consent for review required); audited. */
  present(clip: ClipRow): string {
    this.o.privacy.assertAllowed(clip, 'review');
    this.presentedId = clip.id;
    this.o.catalogue.audit('clip.presented', this.o.clock.now(), clip.id);
    this.o.bus.emit('present', { clipId: clip.id });
    return clip.id;
  }

  /** Nothing on the TV any more; at the end of a visit (`visitOver`) also every paired TV must pair again. */
  end(opts: { visitOver: boolean }): void {
    if (this.presentedId !== null) {
      this.presentedId = null;
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
    if (this.presentedId === null)
      throw new AppError('CONFLICT', 'nothing is presented on the TV: present a clip first (POST /api/present)', { reason: 'nothing_presented' });
    this.controlId += 1;
    const cmd: TvControl = { action: req.action, source: 'phone', id: this.controlId };
    if (req.rate !== undefined) cmd.rate = req.rate;
    if (req.time !== undefined) cmd.time = req.time;
    if (req.direction !== undefined) cmd.direction = req.direction;
    if (req.loop !== undefined) cmd.loop = req.loop;
    this.o.bus.emit('tv.control', cmd);
    return this.controlId;
  }

  /** What the TV may know: the presented clip's id, length, markers and frame rate, nothing else. */
  tvState(): { clipId: string | null; durationMs: number; markers: { offsetMs: number; label: string | null }[]; fps: number } {
    const clip = this.presentedId === null ? undefined : this.o.catalogue.getClip(this.presentedId);
    if (!clip) return { clipId: null, durationMs: 0, markers: [], fps: this.o.fps };
    return {
      clipId: clip.id,
      durationMs: clip.durationMs,
      markers: this.o.catalogue.markers(clip.id).map((m) => ({ offsetMs: m.offsetMs, label: m.label })),
      fps: this.o.fps,
    };
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

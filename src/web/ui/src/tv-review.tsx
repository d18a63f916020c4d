// The TV's side of a presented review: a fragment plays from its in point and loops its range at
// the chosen speed (the player state from the kit: loop, rate, position, playing), a still fills
// the screen; nothing else but the speed (no note, no label, no count). The note never reaches the TV: the kit sends only the item's footage and range.
// The TV's own keys go to the kit (POST /api/tv/key): it steps items and changes speed, and the
// phone follows.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Api } from './api.js';
import { RangeGuard } from './fragment-video.js';
import { useT } from './i18n.js';
import { fragmentPlaylist, keptStillImage, sendTvKey, type PlayerState, type PresentedItem, type TvKey } from './review-api.js';
import { ack, type Command, type CommandHub } from './tv-commands.js';
import { attachHls, FrameClock, RATE_LABEL, RATES } from './video.js';

/** What identifies the screen of a presentation (a new one starts fresh). */
export function presentKey(p: { clipId?: string | null; review?: PresentedItem | null }): string | null {
  return p.review ? `${p.review.reviewId}:${p.review.item}:${p.review.refId}` : (p.clipId ?? null);
}

/** Applies the kit's player state to a fragment's video; the position only when asked (the first load: later the TV's own position is the truer one). */
function applyState(v: HTMLVideoElement, guard: RangeGuard, s: PlayerState, position: boolean): void {
  if (s.loop) guard.set(s.loop);
  if (s.rate > 0 && v.playbackRate !== s.rate) v.playbackRate = s.rate;
  if (position) v.currentTime = guard.inside(s.positionS);
  if (s.playing && v.paused) playMuted(v);
  else if (!s.playing && !v.paused) v.pause();
}

/** Plays; a TV browser that refuses sound without a gesture plays muted. */
function playMuted(v: HTMLVideoElement): void {
  v.play()
    .catch(() => {
      v.muted = true;
      return v.play();
    })
    .catch((err: unknown) => console.warn('tv play', err));
}

/** The fragment on the TV: its playlist, its range enforced, the kit's player state and the phone's commands. */
function FragmentScreen({
  api,
  item,
  player,
  commands,
  fps,
}: {
  api: Api;
  item: PresentedItem;
  player: PlayerState | undefined;
  commands: CommandHub;
  fps: number;
}) {
  const t = useT();
  const ref = useRef<HTMLVideoElement>(null);
  const guardRef = useRef<RangeGuard | null>(null);
  const [paused, setPaused] = useState(true);
  const [rate, setRate] = useState(1);
  const playerRef = useRef(player);
  playerRef.current = player;

  useEffect(() => {
    const v = ref.current!;
    const clock = new FrameClock(v);
    const range = item.range ?? [0, 24 * 3600];
    const guard = new RangeGuard(v, clock, range);
    guardRef.current = guard;
    const apply = (c: Command) => {
      switch (c.action) {
        case 'play':
          playMuted(v);
          break;
        case 'pause':
          v.pause();
          break;
        case 'toggle':
          if (v.paused) playMuted(v);
          else v.pause();
          break;
        case 'rate':
          if (c.rate && c.rate > 0) v.playbackRate = c.rate;
          break;
        case 'seek':
          if (typeof c.time === 'number') v.currentTime = guard.inside(c.time);
          break;
        case 'step':
          clock.step(c.direction ?? 1, fps > 0 ? fps : 25);
          break;
        case 'loop':
          // the fragment's range stays enforced; a narrower loop inside it is allowed
          guard.set(c.loop ?? range);
          break;
        case 'back':
          guard.rewind();
          break;
        case 'marker':
          break;
      }
      ack(api, c);
    };
    let detach: (() => void) | null = null;
    const onReady = () => {
      applyState(v, guard, playerRef.current ?? { playing: true, rate: 1, positionS: range[0], loop: null }, true);
      detach ??= commands.attach(apply);
    };
    const sync = () => {
      setPaused(v.paused);
      setRate(v.playbackRate);
    };
    v.addEventListener('loadedmetadata', onReady, { once: true });
    // Chromium's own HLS player can stall right after the first seek: the range is buffered, but no
    // frame comes (readyState stays at HAVE_METADATA) and the TV stays black. A seek a millisecond
    // further gets it going; tried at most a few times a mount.
    let nudges = 0;
    const watchdog = setInterval(() => {
      if (nudges >= 5 || v.paused || v.seeking || v.readyState >= 2 || v.readyState < 1) return;
      const t = v.currentTime;
      for (let i = 0; i < v.buffered.length; i++) {
        if (v.buffered.start(i) <= t && t < v.buffered.end(i)) {
          nudges += 1;
          // a seek to the very same time is no seek at all: a millisecond further is
          v.currentTime = Math.min(t + 0.001, v.buffered.end(i) - 0.001);
          return;
        }
      }
    }, 1000);
    for (const e of ['play', 'pause', 'ratechange']) v.addEventListener(e, sync);
    let attached: { destroy(): void } | null = null;
    let dead = false;
    void attachHls(v, fragmentPlaylist(item.refId)).then((a) => {
      if (dead) a.destroy();
      else attached = a;
    });
    return () => {
      dead = true;
      detach?.();
      v.removeEventListener('loadedmetadata', onReady);
      for (const e of ['play', 'pause', 'ratechange']) v.removeEventListener(e, sync);
      guard.destroy();
      guardRef.current = null;
      clock.stop();
      clearInterval(watchdog);
      attached?.destroy();
    };
  }, [item.refId]);

  // A changed player state from the kit (the TV's keys, a reconnect): speed, play state, loop.
  useEffect(() => {
    const v = ref.current;
    if (v && guardRef.current && player && v.readyState >= 1) applyState(v, guardRef.current, player, false);
  }, [player?.playing, player?.rate, player?.loop?.[0], player?.loop?.[1]]);

  return (
    <div class="tv-screen">
      <video ref={ref} class="tv-video" playsInline preload="auto" data-testid="tv-video" data-fragment={item.refId} aria-label={t('tvTitle')} />
      <div class="tv-osd" aria-hidden="true">
        {paused && <span class="tv-paused">❚❚</span>}
        {rate !== 1 && <span class="tv-rate">{RATE_LABEL[rate] ?? `${rate}×`}</span>}
      </div>
    </div>
  );
}

/** A kept still, full screen. */
function StillScreen({ api, item, commands }: { api: Api; item: PresentedItem; commands: CommandHub }) {
  const t = useT();
  // commands (from the phone) have nothing to move on a still: acknowledged, so the phone does not wait
  useEffect(() => commands.attach((c) => ack(api, c)), [item.refId]);
  return (
    <div class="tv-screen">
      <img class="tv-still" src={keptStillImage(item.refId)} alt={t('stills')} data-testid="tv-still" data-still={item.refId} />
    </div>
  );
}

/** The presented review item on the TV. */
export function ReviewScreen(props: { api: Api; item: PresentedItem; player: PlayerState | undefined; commands: CommandHub; fps: number }) {
  return props.item.kind === 'still' ? <StillScreen {...props} /> : <FragmentScreen {...props} />;
}

/**
 * A TV key within a presented review, as the kit takes it: ← → (and the media/channel keys) step
 * items, ↑ ↓ change speed, OK plays/pauses. Null for a key that means nothing here.
 */
export function reviewKey(key: string, video: HTMLVideoElement | null): TvKey | null {
  const rateIdx = Math.max(
    0,
    RATES.findIndex((r) => r === (video?.playbackRate ?? 1)),
  );
  switch (key) {
    case 'ArrowLeft':
    case 'MediaTrackPrevious':
    case 'PageUp':
    case 'ChannelUp':
      return { action: 'marker', direction: -1 };
    case 'ArrowRight':
    case 'MediaTrackNext':
    case 'PageDown':
    case 'ChannelDown':
      return { action: 'marker', direction: 1 };
    case 'ArrowDown':
      return { action: 'rate', rate: RATES[Math.min(RATES.length - 1, rateIdx + 1)]! };
    case 'ArrowUp':
      return { action: 'rate', rate: RATES[Math.max(0, rateIdx - 1)]! };
    case 'Enter':
    case ' ':
    case 'MediaPlayPause':
      return { action: video && !video.paused ? 'pause' : 'play' };
    case 'MediaPlay':
      return { action: 'play' };
    case 'MediaPause':
      return { action: 'pause' };
    default:
      return null;
  }
}

/** Sends a TV key to the kit; errors (e.g. the trainer stopped presenting meanwhile) go to `onError`. */
export function pressReviewKey(api: Api, key: TvKey, onError: (err: unknown) => void): void {
  sendTvKey(api, key).catch(onError);
}

// The player for micro-analysis: slow motion, frame steps, markers, A/B loop, stills; and the
// remote control of the TV while the clip is presented there.
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { ClipDetail } from './api.js';
import { fmtClipTime, fmtDuration, useT } from './i18n.js';
import { ClipReviewTools } from './fragments.js';
import { frameJpeg, MarkerList, MarkerTicks, StillList, TvSection } from './player-parts.js';
import { useClipVideo, usePlayerKeys, useTvControl } from './player-hooks.js';
import { useApp, useKitEvents } from './shared.js';
import { neighbourMarker, RATE_LABEL, RATES, type Rate } from './video.js';

/** What the player's buttons and shortcuts do. */
interface PlayerActions {
  toggle(): void;
  step(direction: -1 | 1): void;
  jumpMarker(direction: -1 | 1): void;
  setRate(r: Rate): void;
  toggleLoop(): void;
  addMarker(): Promise<void>;
  takeStill(): Promise<void>;
}

/** The transport (markers, frame steps, play), speeds with the A/B loop, and marker + still. */
function PlayerControls(props: {
  a: PlayerActions;
  paused: boolean;
  rate: number;
  loop: [number | null, number | null];
  label: string;
  setLabel: (l: string) => void;
}) {
  const {
    a,
    paused,
    rate,
    loop: [loopA, loopB],
    label,
    setLabel,
  } = props;
  const t = useT();
  const { config } = useApp();
  return (
    <>
      <div class="controls" role="toolbar" aria-label={t('playerTitle')}>
        <button type="button" onClick={() => a.jumpMarker(-1)} title="[" aria-label={t('prevMarker')} data-testid="prev-marker">
          ◀ {t('markerWord')}
        </button>
        <button type="button" onClick={() => a.step(-1)} title="," aria-label={t('frameBack')} data-testid="frame-back">
          ◀︎|
        </button>
        <button type="button" class="primary play" onClick={a.toggle} title={t('shortcuts')} aria-label={paused ? t('play') : t('pause')} data-testid="play">
          {paused ? '▶︎' : '❚❚'}
        </button>
        <button type="button" onClick={() => a.step(1)} title="." aria-label={t('frameForward')} data-testid="frame-forward">
          |▶︎
        </button>
        <button type="button" onClick={() => a.jumpMarker(1)} title="]" aria-label={t('nextMarker')} data-testid="next-marker">
          {t('markerWord')} ▶
        </button>
      </div>
      <div class="controls" role="group" aria-label={t('speed')}>
        {RATES.map((r) => (
          <button key={r} type="button" aria-pressed={rate === r} onClick={() => a.setRate(r)} data-testid={`rate-${r}`}>
            {RATE_LABEL[r]}
          </button>
        ))}
        <button type="button" class="secondary" onClick={a.toggleLoop} title="l" data-testid="loop">
          {loopA === null ? t('loopSetA') : loopB === null ? t('loopSetB') : t('loopClear')}
        </button>
      </div>
      <div class="controls">
        <label class="sr-only" for="marker-label">
          {t('markerLabel')}
        </label>
        <select id="marker-label" value={label} onChange={(e) => setLabel((e.target as HTMLSelectElement).value)}>
          <option value="">{t('markerNoLabel')}</option>
          {config.markerLabels.map((l) => (
            <option key={l} value={l}>
              {l}
            </option>
          ))}
        </select>
        <button type="button" onClick={a.addMarker} title="m" data-testid="add-marker">
          {t('addMarker')}
        </button>
        <button type="button" onClick={a.takeStill} title="s" data-testid="still">
          {t('still')}
        </button>
      </div>
    </>
  );
}

/** The clip's detail (markers, stills), loaded now and again when the kit says it changed. */
function useClipDetail(clipId: string) {
  const { api, events, fail } = useApp();
  const [clip, setClip] = useState<ClipDetail | null>(null);
  const loadClip = useCallback(async () => {
    try {
      setClip(await api.get<ClipDetail>(`/api/clips/${clipId}`));
    } catch (err) {
      fail(err);
    }
  }, [api, clipId, fail]);
  useEffect(() => void loadClip(), [loadClip]);
  useKitEvents(events, ['marker', 'clip.updated'], (_name, data: { clipId?: string | null }) => {
    if (data.clipId === clipId) void loadClip();
  });
  return { clip, loadClip };
}

/**
 * A jump to the previous or next marker lands `leadInMs` before it; the next jump counts from that
 * marker while the player is still where the last jump put it. Null: no marker that way.
 */
function markerJump(markersMs: number[], now: number, last: { marker: number; landed: number } | null, direction: -1 | 1, leadInMs: number) {
  const from = last && Math.abs(now - last.landed) < 0.1 ? last.marker : now;
  const target = neighbourMarker(markersMs, from, direction);
  return target === null ? null : { marker: target, landed: Math.max(0, target - Math.max(0, leadInMs) / 1000) };
}

/** `#/clip/<id>?t=<ms>` opens the clip at that time (the press of a take, for "review the last take"). */
function useStartAt(videoRef: { current: HTMLVideoElement | null }, seek: (time: number) => void) {
  useEffect(() => {
    const v = videoRef.current;
    const ms = Number(new URLSearchParams(location.hash.split('?')[1] ?? '').get('t'));
    if (!v || !Number.isFinite(ms) || ms <= 0) return;
    const go = () => seek(ms / 1000);
    if (v.readyState >= 1) go();
    else v.addEventListener('loadedmetadata', go, { once: true });
    return () => v.removeEventListener('loadedmetadata', go);
  }, []);
}

export function Player({ clipId }: { clipId: string }) {
  const t = useT();
  const { api, config, fail, notify } = useApp();
  const { clip, loadClip } = useClipDetail(clipId);
  const [rate, setRateState] = useState<number>(1);
  const [loopA, setLoopA] = useState<number | null>(null);
  const [loopB, setLoopB] = useState<number | null>(null);
  const [label, setLabel] = useState('');
  const lastJump = useRef<{ marker: number; landed: number } | null>(null);
  const { videoRef, clockRef, looperRef, paused, now, duration, videoError } = useClipVideo(clipId);
  const tv = useTvControl(clipId);
  const { control } = tv;
  const fps = config.fps > 0 ? config.fps : 25;

  const v = () => videoRef.current!;
  const clock = () => clockRef.current!;
  const play = () => {
    v()
      .play()
      .catch((err: unknown) => fail(err));
    void control({ action: 'play' });
  };
  const pause = () => {
    v().pause();
    void control({ action: 'pause' }).then(() => control({ action: 'seek', time: clock().now() }));
  };
  const seek = (time: number) => {
    v().currentTime = time;
    void control({ action: 'seek', time });
  };
  const markerTimes = useMemo(() => (clip?.markers ?? []).map((m) => m.offsetMs), [clip]);
  const setLoop = (a: number | null, b: number | null) => {
    setLoopA(a);
    setLoopB(b);
    const range: [number, number] | null = a !== null && b !== null && b > a ? [a, b] : null;
    looperRef.current?.set(range);
    if (range || (a === null && b === null)) void control({ action: 'loop', loop: range });
  };
  /** Runs a step that saves something, then reloads the clip; failures are shown. */
  const saving = (fn: () => Promise<void>) => fn().then(loadClip, fail);
  const actions: PlayerActions = {
    toggle: () => (v().paused ? play() : pause()),
    step: (direction) => {
      clock().step(direction, fps);
      void control({ action: 'step', direction });
    },
    jumpMarker: (direction) => {
      const jump = markerJump(markerTimes, clock().now(), lastJump.current, direction, config.markerLeadInMs);
      if (jump) seek((lastJump.current = jump).landed);
    },
    setRate: (r) => {
      v().playbackRate = r;
      setRateState(r);
      void control({ action: 'rate', rate: r });
    },
    toggleLoop: () => {
      const n = clock().now();
      if (loopA === null) setLoop(n, null);
      else if (loopB === null) setLoop(loopA, n);
      else setLoop(null, null);
    },
    addMarker: () =>
      saving(async () => {
        const offsetMs = Math.round(clock().now() * 1000);
        await api.post(`/api/clips/${clipId}/markers`, { offsetMs, label: label || null });
        notify(t('markerAdded', { label: label || t('markerNoLabel'), time: fmtClipTime(offsetMs / 1000) }));
      }),
    takeStill: () =>
      saving(async () => {
        const time = clock().now();
        const blob = await frameJpeg(v(), t('noVideo'));
        await api.request('POST', `/api/clips/${clipId}/stills?t=${Math.round(time * 1000)}`, blob, 'image/jpeg');
        notify(t('stillSaved', { time: fmtClipTime(time) }));
      }),
  };
  const shortcuts: Record<string, (shift: boolean) => void> = {
    ' ': actions.toggle,
    ArrowLeft: (shift) => seek(Math.max(0, clock().now() - (shift ? 5 : 1))),
    ArrowRight: (shift) => seek(clock().now() + (shift ? 5 : 1)),
    ',': () => actions.step(-1),
    '.': () => actions.step(1),
    '[': () => actions.jumpMarker(-1),
    ']': () => actions.jumpMarker(1),
    '1': () => actions.setRate(1),
    '2': () => actions.setRate(0.5),
    '4': () => actions.setRate(0.25),
    l: actions.toggleLoop,
    m: () => void actions.addMarker(),
    s: () => void actions.takeStill(),
  };
  usePlayerKeys((e) => {
    const fn = shortcuts[e.key];
    fn?.(e.shiftKey);
    return fn !== undefined;
  });

  const total = duration || (clip ? clip.durationMs / 1000 : 0);
  useStartAt(videoRef, seek);
  return (
    <div class="player">
      <p>
        <a class="back" href="#/library">
          ← {t('back')}
        </a>
      </p>
      <h1 class="sr-only">{t('playerTitle')}</h1>
      <div class="video-wrap">
        <video ref={videoRef} playsInline preload="auto" data-testid="player-video" aria-label={t('playerTitle')} />
      </div>
      {videoError && (
        <p class="error" role="alert">
          {t('noVideo')} ({videoError})
        </p>
      )}
      <p class="time" aria-live="off" data-testid="time">
        {fmtClipTime(now)} / {fmtClipTime(total)} · {RATE_LABEL[rate] ?? `${rate}×`}
        {loopA !== null && ` · ${loopB !== null ? t('loopOn', { a: fmtClipTime(loopA), b: fmtClipTime(loopB) }) : `A ${fmtClipTime(loopA)}`}`}
      </p>
      <label class="sr-only" for="seek">
        {t('time')}
      </label>
      <input
        id="seek"
        type="range"
        min={0}
        max={total || 0}
        step={1 / fps}
        value={now}
        onChange={(e) => seek(Number((e.target as HTMLInputElement).value))}
        class="seek"
      />
      <MarkerTicks markers={clip?.markers ?? []} total={total} />
      <PlayerControls a={actions} paused={paused} rate={rate} loop={[loopA, loopB]} label={label} setLabel={setLabel} />
      <TvSection clipId={clipId} {...tv} videoRef={videoRef} clockRef={clockRef} />
      <ClipReviewTools clipId={clipId} clip={clip} clockRef={clockRef} />
      <MarkerList clip={clip} seek={seek} />
      <StillList clipId={clipId} clip={clip} seek={seek} />
      <details class="card">
        <summary>{t('shortcuts')}</summary>
        <p>{t('shortcutsText')}</p>
      </details>
      {clip && (
        <p class="hint">
          {fmtDuration(clip.durationMs)} · {clip.caseCode ?? t('unassignedGroup')}
        </p>
      )}
    </div>
  );
}

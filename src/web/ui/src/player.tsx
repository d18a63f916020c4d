// The player for micro-analysis: slow motion, frame steps, markers, A/B loop, stills; and the
// remote control of the TV while the clip is presented there.
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { ClipDetail, ControlBody } from './api.js';
import { fmtClipTime, fmtDuration, useT } from './i18n.js';
import { useApp, useKitEvents } from './shared.js';
import './player-globals.js';
import { attachHls, FrameClock, Looper, neighbourMarker, RATE_LABEL, RATES } from './video.js';

export function Player({ clipId }: { clipId: string }) {
  const t = useT();
  const { api, config, events, fail, notify } = useApp();
  const [clip, setClip] = useState<ClipDetail | null>(null);
  const [presenting, setPresenting] = useState(false);
  const [paused, setPaused] = useState(true);
  const [rate, setRateState] = useState(1);
  const [now, setNow] = useState(0);
  const [duration, setDuration] = useState(0);
  const [loopA, setLoopA] = useState<number | null>(null);
  const [loopB, setLoopB] = useState<number | null>(null);
  const [label, setLabel] = useState('');
  const [pairing, setPairing] = useState<{ code: string; expiresAt: number } | null>(null);
  const [latency, setLatency] = useState<number | null>(null);
  const [videoError, setVideoError] = useState('');
  const videoRef = useRef<HTMLVideoElement>(null);
  const clockRef = useRef<FrameClock | null>(null);
  const looperRef = useRef<Looper | null>(null);
  const sent = useRef(new Map<number, number>());
  const earlyAcks = useRef(new Map<number, number>());
  const fps = config.fps > 0 ? config.fps : 25;

  const loadClip = useCallback(async () => {
    try {
      setClip(await api.get<ClipDetail>(`/api/clips/${clipId}`));
    } catch (err) {
      fail(err);
    }
  }, [api, clipId, fail]);

  useEffect(() => {
    void loadClip();
    api.get<{ clipId: string | null }>('/api/present').then((p) => setPresenting(p.clipId === clipId), () => undefined);
  }, [loadClip, api, clipId]);

  // Video: attach once per clip.
  useEffect(() => {
    const v = videoRef.current;
    if (!v) return;
    const clock = new FrameClock(v);
    clockRef.current = clock;
    const looper = new Looper(v, clock);
    looperRef.current = looper;
    let last = 0;
    const offFrame = clock.onFrame((time) => {
      const n = performance.now();
      if (n - last > 100 || v.paused) {
        last = n;
        setNow(time);
      }
    });
    const sync = () => {
      setPaused(v.paused);
      setNow(clock.now());
      if (Number.isFinite(v.duration)) setDuration(v.duration);
    };
    const evs = ['play', 'pause', 'seeked', 'loadedmetadata', 'durationchange', 'timeupdate'];
    evs.forEach((e) => v.addEventListener(e, sync));
    let attached: { destroy(): void } | null = null;
    let dead = false;
    void attachHls(v, `/api/clips/${clipId}/index.m3u8`, { onError: (m) => setVideoError(m) }).then((a) => {
      if (dead) a.destroy();
      else attached = a;
    });
    return () => {
      dead = true;
      offFrame();
      evs.forEach((e) => v.removeEventListener(e, sync));
      looper.destroy();
      clock.stop();
      attached?.destroy();
    };
  }, [clipId]);

  useKitEvents(events, ['present', 'tv.ack', 'marker', 'clip.updated'], (name, data: { clipId?: string | null; id?: number }) => {
    if (name === 'present') setPresenting(data.clipId === clipId);
    else if (name === 'tv.ack' && typeof data.id === 'number') {
      const at = performance.now();
      const t0 = sent.current.get(data.id);
      if (t0 === undefined) earlyAcks.current.set(data.id, at);
      else {
        sent.current.delete(data.id);
        record(at - t0);
      }
    } else if (data.clipId === clipId) void loadClip();
  });

  const record = (ms: number) => {
    (window.__vhtTvLatencies ??= []).push(ms);
    setLatency(Math.round(ms));
  };

  /** Sends a command to the TV while presenting (and measures the TV's reaction). */
  const control = useCallback(
    async (body: ControlBody) => {
      if (!presenting) return;
      const t0 = performance.now();
      try {
        const { id } = await api.post<{ id: number }>('/api/present/control', body);
        (window.__vhtTvSent ??= {})[id] = performance.timeOrigin + t0;
        const early = earlyAcks.current.get(id);
        if (early !== undefined) {
          earlyAcks.current.delete(id);
          record(early - t0);
        } else sent.current.set(id, t0);
      } catch (err) {
        fail(err);
      }
    },
    [api, presenting, fail],
  );

  const v = () => videoRef.current!;
  const clock = () => clockRef.current!;

  const play = () => {
    v().play().catch((err: unknown) => fail(err));
    void control({ action: 'play' });
  };
  const pause = () => {
    v().pause();
    void control({ action: 'pause' }).then(() => control({ action: 'seek', time: clock().now() }));
  };
  const toggle = () => (v().paused ? play() : pause());
  const setRate = (r: number) => {
    v().playbackRate = r;
    setRateState(r);
    void control({ action: 'rate', rate: r });
  };
  const step = (direction: -1 | 1) => {
    clock().step(direction, fps);
    void control({ action: 'step', direction });
  };
  const seek = (time: number) => {
    v().currentTime = time;
    void control({ action: 'seek', time });
  };
  const markerTimes = useMemo(() => (clip?.markers ?? []).map((m) => m.offsetMs), [clip]);
  const jumpMarker = (direction: -1 | 1) => {
    const target = neighbourMarker(markerTimes, clock().now(), direction);
    if (target !== null) seek(target);
  };
  const setLoop = (a: number | null, b: number | null) => {
    setLoopA(a);
    setLoopB(b);
    const range: [number, number] | null = a !== null && b !== null && b > a ? [a, b] : null;
    looperRef.current?.set(range);
    if (range || (a === null && b === null)) void control({ action: 'loop', loop: range });
  };
  const toggleLoop = () => {
    const n = clock().now();
    if (loopA === null) setLoop(n, null);
    else if (loopB === null) setLoop(loopA, n);
    else setLoop(null, null);
  };
  const addMarker = async () => {
    const offsetMs = Math.round(clock().now() * 1000);
    try {
      await api.post(`/api/clips/${clipId}/markers`, { offsetMs, label: label || null });
      notify(t('markerAdded', { label: label || t('markerNoLabel'), time: fmtClipTime(offsetMs / 1000) }));
      await loadClip();
    } catch (err) {
      fail(err);
    }
  };
  const takeStill = async () => {
    const video = v();
    const time = clock().now();
    try {
      const canvas = document.createElement('canvas');
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      const g = canvas.getContext('2d');
      if (!g || !canvas.width) throw new Error(t('noVideo'));
      g.drawImage(video, 0, 0);
      const blob = await new Promise<Blob>((resolve, reject) =>
        canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('toBlob'))), 'image/jpeg', 0.92),
      );
      const ms = Math.round(time * 1000);
      await api.request('POST', `/api/clips/${clipId}/stills?t=${ms}`, blob, 'image/jpeg');
      notify(t('stillSaved', { time: fmtClipTime(time) }));
      await loadClip();
    } catch (err) {
      fail(err);
    }
  };
  const present = async () => {
    try {
      if (presenting) {
        await api.del('/api/present');
        setPresenting(false);
        return;
      }
      syncTv.current = true;
      await api.post('/api/present', { clipId });
      setPresenting(true);
    } catch (err) {
      syncTv.current = false;
      fail(err);
    }
  };
  // When this page starts presenting, bring the TV to where the phone is (not on a mere reload).
  const syncTv = useRef(false);
  useEffect(() => {
    if (!presenting || !syncTv.current || !videoRef.current) return;
    syncTv.current = false;
    const video = videoRef.current;
    void (async () => {
      await control({ action: 'seek', time: clockRef.current?.now() ?? video.currentTime });
      if (video.playbackRate !== 1) await control({ action: 'rate', rate: video.playbackRate });
      if (!video.paused) await control({ action: 'play' });
    })();
  }, [presenting]);

  const pair = async () => {
    try {
      setPairing(await api.post<{ code: string; expiresAt: number }>('/api/tv/pairing', {}));
    } catch (err) {
      fail(err);
    }
  };

  // Keyboard shortcuts (not while typing in a field).
  const keys = useRef<(e: KeyboardEvent) => void>(() => undefined);
  keys.current = (e: KeyboardEvent) => {
    const el = e.target as HTMLElement | null;
    if (el && ['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName)) return;
    // Space/Enter on a focused button press that button (no second action from the shortcut).
    if (el && (el.tagName === 'BUTTON' || el.tagName === 'A' || el.tagName === 'SUMMARY') && (e.key === ' ' || e.key === 'Enter')) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const handled = (() => {
      switch (e.key) {
        case ' ': toggle(); return true;
        case 'ArrowLeft': seek(Math.max(0, clock().now() - (e.shiftKey ? 5 : 1))); return true;
        case 'ArrowRight': seek(clock().now() + (e.shiftKey ? 5 : 1)); return true;
        case ',': step(-1); return true;
        case '.': step(1); return true;
        case '[': jumpMarker(-1); return true;
        case ']': jumpMarker(1); return true;
        case '1': setRate(1); return true;
        case '2': setRate(0.5); return true;
        case '4': setRate(0.25); return true;
        case 'l': toggleLoop(); return true;
        case 'm': void addMarker(); return true;
        case 's': void takeStill(); return true;
        default: return false;
      }
    })();
    if (handled) e.preventDefault();
  };
  useEffect(() => {
    const on = (e: KeyboardEvent) => keys.current(e);
    document.addEventListener('keydown', on);
    return () => document.removeEventListener('keydown', on);
  }, []);

  const total = duration || (clip ? clip.durationMs / 1000 : 0);
  return (
    <div class="player">
      <p><a href="#/library">← {t('back')}</a></p>
      <h1 class="sr-only">{t('playerTitle')}</h1>
      <div class="video-wrap">
        <video ref={videoRef} playsInline preload="auto" data-testid="player-video" aria-label={t('playerTitle')} />
      </div>
      {videoError && <p class="error" role="alert">{t('noVideo')} ({videoError})</p>}
      <p class="time" aria-live="off" data-testid="time">
        {fmtClipTime(now)} / {fmtClipTime(total)} · {RATE_LABEL[rate] ?? `${rate}×`}
        {loopA !== null && ` · ${loopB !== null ? t('loopOn', { a: fmtClipTime(loopA), b: fmtClipTime(loopB) }) : `A ${fmtClipTime(loopA)}`}`}
      </p>
      <label class="sr-only" for="seek">{t('time')}</label>
      <input id="seek" type="range" min={0} max={total || 0} step={1 / fps} value={now}
        onChange={(e) => seek(Number((e.target as HTMLInputElement).value))} class="seek" />

      <div class="controls" role="toolbar" aria-label={t('playerTitle')}>
        <button type="button" onClick={() => jumpMarker(-1)} title="[" aria-label={t('prevMarker')} data-testid="prev-marker">◀ M</button>
        <button type="button" onClick={() => step(-1)} title="," aria-label={t('frameBack')} data-testid="frame-back">◀︎|</button>
        <button type="button" class="primary play" onClick={toggle} title={t('shortcuts')} aria-label={paused ? t('play') : t('pause')} data-testid="play">
          {paused ? '▶︎' : '❚❚'}
        </button>
        <button type="button" onClick={() => step(1)} title="." aria-label={t('frameForward')} data-testid="frame-forward">|▶︎</button>
        <button type="button" onClick={() => jumpMarker(1)} title="]" aria-label={t('nextMarker')} data-testid="next-marker">M ▶</button>
      </div>
      <div class="controls" role="group" aria-label={t('speed')}>
        {RATES.map((r) => (
          <button key={r} type="button" aria-pressed={rate === r} onClick={() => setRate(r)} data-testid={`rate-${r}`}>{RATE_LABEL[r]}</button>
        ))}
        <button type="button" aria-pressed={loopA !== null && loopB !== null} onClick={toggleLoop} title="l">
          {loopA === null ? t('loopA') : loopB === null ? t('loopB') : t('loopOff')}
        </button>
      </div>
      <div class="controls">
        <label class="sr-only" for="marker-label">{t('markerLabel')}</label>
        <select id="marker-label" value={label} onChange={(e) => setLabel((e.target as HTMLSelectElement).value)}>
          <option value="">{t('markerNoLabel')}</option>
          {config.markerLabels.map((l) => <option key={l} value={l}>{l}</option>)}
        </select>
        <button type="button" onClick={addMarker} title="m" data-testid="add-marker">{t('addMarker')}</button>
        <button type="button" onClick={takeStill} title="s" data-testid="still">{t('still')}</button>
      </div>

      <section class="card" aria-labelledby="tv-title">
        <h2 id="tv-title" class="sr-only">{t('tvSection')}</h2>
        <div class="row">
          <button type="button" class={presenting ? 'stop' : 'primary'} onClick={present} data-testid="present">
            {presenting ? t('presentStop') : t('present')}
          </button>
          <button type="button" class="secondary" onClick={pair} data-testid="pair">{t('pairing')}</button>
        </div>
        {presenting && <p role="status">{t('presenting')}{latency !== null && ` · ${t('tvLatency', { ms: latency })}`}</p>}
        {pairing && (
          <div class="pairing">
            <p class="pair-code" data-testid="pair-code" aria-label={t('pairingCode', { code: pairing.code })}>{pairing.code}</p>
            <p class="hint">{t('pairingHint', { time: new Date(pairing.expiresAt).toLocaleTimeString(t.lang === 'nl' ? 'nl-NL' : 'en-GB') })}</p>
          </div>
        )}
      </section>

      <section class="card" aria-labelledby="markers-title">
        <h2 id="markers-title">{t('markers')}</h2>
        {clip && clip.markers.length === 0 && <p class="hint">{t('markersNone')}</p>}
        <ul class="list" data-testid="markers">
          {clip?.markers.map((m, i) => (
            <li key={m.id ?? i}>
              <button type="button" class="link" onClick={() => seek(m.offsetMs / 1000)}>
                {fmtClipTime(m.offsetMs / 1000)} · {m.label ?? t('markerNoLabel')}
              </button>
            </li>
          ))}
        </ul>
      </section>

      <section class="card" aria-labelledby="stills-title">
        <h2 id="stills-title">{t('stills')}</h2>
        {(clip?.stills ?? []).length === 0 && <p class="hint">{t('stillsNone')}</p>}
        <ul class="stills" data-testid="stills">
          {(clip?.stills ?? []).map((s) => (
            <li key={s.id}>
              <button type="button" class="link" onClick={() => seek(s.timeMs / 1000)}>
                <img src={`/api/clips/${clipId}/stills/${s.id}.jpg`} alt={`${t('stills')} ${fmtClipTime(s.timeMs / 1000)}`} loading="lazy" />
                <span>{fmtClipTime(s.timeMs / 1000)}</span>
              </button>
            </li>
          ))}
        </ul>
      </section>

      <details class="card">
        <summary>{t('shortcuts')}</summary>
        <p>{t('shortcutsText')}</p>
      </details>
      {clip && <p class="hint">{fmtDuration(clip.durationMs)} · {clip.caseCode ?? t('unassignedGroup')}</p>}
    </div>
  );
}

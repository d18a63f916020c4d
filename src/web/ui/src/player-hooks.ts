// The player's hooks: the clip's video (HLS, frame clock, A/B looper) and the remote control of
// the TV while the clip is presented there (with the TV's reaction time).
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { ControlBody } from './api.js';
import { useApp, useKitEvents } from './shared.js';
import './player-globals.js';
import { attachHls, FrameClock, Looper } from './video.js';

/** The clip's video element with its frame clock and looper; position, pause state, length, error. */
export function useClipVideo(clipId: string) {
  const videoRef = useRef<HTMLVideoElement>(null);
  const clockRef = useRef<FrameClock | null>(null);
  const looperRef = useRef<Looper | null>(null);
  const [paused, setPaused] = useState(true);
  const [now, setNow] = useState(0);
  const [duration, setDuration] = useState(0);
  const [videoError, setVideoError] = useState('');

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

  return { videoRef, clockRef, looperRef, paused, now, duration, videoError };
}

/** Whether this clip is on the TV, and `control` that sends a command to it (measuring the TV's reaction). */
export function useTvControl(clipId: string) {
  const { api, events, fail } = useApp();
  const [presenting, setPresenting] = useState(false);
  const [latency, setLatency] = useState<number | null>(null);
  const sent = useRef(new Map<number, number>());
  const earlyAcks = useRef(new Map<number, number>());

  useEffect(() => {
    api.get<{ clipId: string | null }>('/api/present').then(
      (p) => setPresenting(p.clipId === clipId),
      () => undefined,
    );
  }, [api, clipId]);

  const record = (ms: number) => {
    (window.__vhtTvLatencies ??= []).push(ms);
    setLatency(Math.round(ms));
  };

  useKitEvents(events, ['present', 'tv.ack'], (name, data: { clipId?: string | null; id?: number }) => {
    if (name === 'present') setPresenting(data.clipId === clipId);
    else if (typeof data.id === 'number') {
      const at = performance.now();
      const t0 = sent.current.get(data.id);
      if (t0 === undefined) earlyAcks.current.set(data.id, at);
      else {
        sent.current.delete(data.id);
        record(at - t0);
      }
    }
  });

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

  return { presenting, setPresenting, latency, control };
}

/** The player's keyboard shortcuts (not while typing in a field, not on a focused button's own keys). */
export function usePlayerKeys(handle: (e: KeyboardEvent) => boolean): void {
  const keys = useRef(handle);
  keys.current = handle;
  useEffect(() => {
    const on = (e: KeyboardEvent) => {
      const el = e.target as HTMLElement | null;
      if (el && ['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName)) return;
      // Space/Enter on a focused button press that button (no second action from the shortcut).
      if (el && (el.tagName === 'BUTTON' || el.tagName === 'A' || el.tagName === 'SUMMARY') && (e.key === ' ' || e.key === 'Enter')) return;
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (keys.current(e)) e.preventDefault();
    };
    document.addEventListener('keydown', on);
    return () => document.removeEventListener('keydown', on);
  }, []);
}

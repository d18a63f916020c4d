// The TV page (/tv): a 10-foot screen that shows only the presented clip and follows the phone.
// Never the library, never a case code: it only knows /api/tv/state and /api/tv/events.
import { render } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Api, ApiError, errorText, subscribe, type TvState } from './api.js';
import { I18n, makeT, storedLang, storeLang, useT } from './i18n.js';
import { ack, CommandHub, type Command } from './tv-commands.js';
import { presentKey, pressReviewKey, reviewKey, ReviewScreen } from './tv-review.js';
import { attachHls, FrameClock, Looper, neighbourMarker, RATE_LABEL, RATES } from './video.js';

/** The kit's own Wi-Fi join code, shown only on the kit's HDMI screen (the server refuses it elsewhere). */
function JoinCode({ api }: { api: Api }) {
  const t = useT();
  const [info, setInfo] = useState<{ ssid: string | null; qrSvg: string | null } | null>(null);
  useEffect(() => {
    api.request<{ ssid: string | null; qrSvg: string | null }>('GET', '/api/tv/hotspot').then(setInfo, () => setInfo(null));
  }, [api]);
  if (!info || !info.ssid || !info.qrSvg) return null;
  return (
    <figure class="tv-join" data-testid="tv-join">
      <img src={`data:image/svg+xml;charset=utf-8,${encodeURIComponent(info.qrSvg)}`} alt={t('tvJoinAlt')} width={240} height={240} />
      <figcaption>
        {t('tvJoin')} <strong>{info.ssid}</strong>
      </figcaption>
    </figure>
  );
}

function Pairing({ api, onPaired }: { api: Api; onPaired: () => void }) {
  const t = useT();
  const [code, setCode] = useState('');
  const [error, setError] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      await api.post('/api/tv/pair', { code });
      onPaired();
    } catch (err) {
      setError(errorText(err, t));
    }
  };
  return (
    <form class="tv-pair" onSubmit={submit}>
      <h1>{t('tvPairTitle')}</h1>
      <p>{t('tvPairHint')}</p>
      <label for="tv-code">{t('tvCode')}</label>
      <input
        id="tv-code"
        inputMode="numeric"
        autoComplete="one-time-code"
        pattern="[0-9]{6}"
        maxLength={6}
        required
        autoFocus
        value={code}
        onInput={(e) => setCode((e.target as HTMLInputElement).value.replace(/\D/g, ''))}
      />
      <button type="submit">{t('tvPair')}</button>
      <p class="error" role="alert">
        {error}
      </p>
    </form>
  );
}

function Screen({ api, state, commands }: { api: Api; state: TvState; commands: CommandHub }) {
  const t = useT();
  const ref = useRef<HTMLVideoElement>(null);
  const [paused, setPaused] = useState(true);
  const [rate, setRate] = useState(1);
  const [flash, setFlash] = useState('');
  const stateRef = useRef(state);
  stateRef.current = state;

  useEffect(() => {
    const v = ref.current!;
    const clock = new FrameClock(v);
    const looper = new Looper(v, clock);
    const fps = () => (stateRef.current.fps > 0 ? stateRef.current.fps : 25);
    const show = (s: string) => {
      setFlash(s);
    };
    const apply = (c: Command) => {
      switch (c.action) {
        case 'play':
          v.play()
            .catch(() => {
              v.muted = true;
              return v.play();
            })
            .catch(() => undefined);
          break;
        case 'pause':
          v.pause();
          break;
        case 'toggle':
          if (v.paused) v.play().catch(() => undefined);
          else v.pause();
          break;
        case 'rate':
          if (c.rate && c.rate > 0) {
            v.playbackRate = c.rate;
            show(RATE_LABEL[c.rate] ?? `${c.rate}×`);
          }
          break;
        case 'seek':
          if (typeof c.time === 'number') v.currentTime = Math.max(0, c.time);
          break;
        case 'step':
          clock.step(c.direction ?? 1, fps());
          break;
        case 'marker': {
          const to = neighbourMarker(
            stateRef.current.markers.map((m) => m.offsetMs),
            clock.now(),
            c.direction ?? 1,
          );
          if (to !== null) v.currentTime = to;
          break;
        }
        case 'loop':
          looper.set(c.loop ?? null);
          break;
        case 'back':
          v.currentTime = Math.max(looper.range?.[0] ?? 0, clock.now() - 5);
          break;
      }
      ack(api, c);
    };
    // commands wait in the hub until the clip's metadata is there (a seek before it is lost)
    let detach: (() => void) | null = null;
    const onReady = () => {
      detach ??= commands.attach(apply);
    };
    const sync = () => {
      setPaused(v.paused);
      setRate(v.playbackRate);
    };
    v.addEventListener('loadedmetadata', onReady);
    if (v.readyState >= 1) onReady();
    for (const e of ['play', 'pause', 'ratechange']) v.addEventListener(e, sync);
    let attached: { destroy(): void } | null = null;
    let dead = false;
    void attachHls(v, `/api/clips/${state.clipId}/index.m3u8`).then((a) => {
      if (dead) a.destroy();
      else attached = a;
    });
    return () => {
      dead = true;
      detach?.();
      v.removeEventListener('loadedmetadata', onReady);
      for (const e of ['play', 'pause', 'ratechange']) v.removeEventListener(e, sync);
      looper.destroy();
      clock.stop();
      attached?.destroy();
    };
  }, [state.clipId]);

  useEffect(() => {
    if (!flash) return;
    const id = setTimeout(() => setFlash(''), 1500);
    return () => clearTimeout(id);
  }, [flash]);

  return (
    <div class="tv-screen">
      <video ref={ref} class="tv-video" playsInline preload="auto" data-testid="tv-video" aria-label={t('tvTitle')} />
      <div class="tv-osd" aria-hidden="true">
        {paused && <span class="tv-paused">❚❚</span>}
        {(rate !== 1 || flash) && <span class="tv-rate">{flash || RATE_LABEL[rate] || `${rate}×`}</span>}
      </div>
    </div>
  );
}

/**
 * A key of the TV's remote on the page itself (a TV browser), as before reviews: `rate.idx` counts
 * the ↓/↑ presses from 1× (it does not read the video's rate).
 */
function localKey(key: string, rate: { idx: number }): Command | null {
  switch (key) {
    case 'Enter':
    case ' ':
    case 'MediaPlayPause':
      return { action: 'toggle' };
    case 'MediaPlay':
      return { action: 'play' };
    case 'MediaPause':
      return { action: 'pause' };
    case 'ArrowLeft':
      return { action: 'step', direction: -1 };
    case 'ArrowRight':
      return { action: 'step', direction: 1 };
    case 'ArrowDown':
      rate.idx = Math.min(RATES.length - 1, rate.idx + 1);
      return { action: 'rate', rate: RATES[rate.idx]! };
    case 'ArrowUp':
      rate.idx = Math.max(0, rate.idx - 1);
      return { action: 'rate', rate: RATES[rate.idx]! };
    case 'Backspace':
    case 'Escape':
    case 'BrowserBack':
      return { action: 'back' };
    default:
      return null;
  }
}

/**
 * TV remote keys (arrows, OK/Enter, Back/Backspace/Escape). On a clip they act on the page
 * directly; within a presented review they go to the kit, which steps items and changes speed and
 * tells the phone (speed and pause also apply here at once).
 */
function useTvKeys(active: boolean, api: Api, commands: CommandHub, state: TvState | null, onError: (err: unknown) => void): void {
  const stateRef = useRef(state);
  stateRef.current = state;
  const errRef = useRef(onError);
  errRef.current = onError;
  useEffect(() => {
    if (!active) return;
    const rate = { idx: 0 };
    const on = (e: KeyboardEvent) => {
      if ((e.target as HTMLElement | null)?.tagName === 'INPUT') return;
      if (stateRef.current?.review) {
        const k = reviewKey(e.key, document.querySelector<HTMLVideoElement>('video.tv-video'));
        if (k) {
          e.preventDefault();
          if (k.action !== 'marker') commands.send({ action: k.action, ...(k.rate ? { rate: k.rate } : {}), source: 'keys' });
          pressReviewKey(api, k, (err) => errRef.current(err));
          return;
        }
        if (!['Backspace', 'Escape', 'BrowserBack'].includes(e.key)) return;
      }
      const local = localKey(e.key, rate);
      if (!local) return;
      e.preventDefault();
      commands.send({ ...local, source: 'keys' });
    };
    document.addEventListener('keydown', on);
    return () => document.removeEventListener('keydown', on);
  }, [active, api, commands]);
}

function Tv() {
  const [lang] = useState(storedLang());
  const t = useMemo(() => makeT(lang), [lang]);
  useEffect(() => storeLang(lang), [lang]);
  const api = useMemo(() => new Api(), []);
  const commands = useMemo(() => new CommandHub(), []);
  const [phase, setPhase] = useState<'loading' | 'pair' | 'ready'>('loading');
  const [state, setState] = useState<TvState | null>(null);
  const shown = useRef<string | null>(null);
  shown.current = state ? presentKey(state) : null;
  const [error, setError] = useState('');

  const loadState = useCallback(async () => {
    try {
      setState(await api.get<TvState>('/api/tv/state'));
      setError('');
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setPhase('pair');
      else setError(errorText(err, t));
    }
  }, [api, t]);

  const start = useCallback(async () => {
    try {
      const s = await api.session();
      if (!s) return setPhase('pair');
      setPhase('ready');
      await loadState();
    } catch (err) {
      setError(errorText(err, t));
      setPhase('pair');
    }
  }, [api, loadState, t]);

  useEffect(() => {
    api.onUnauthorized = () => setPhase('pair');
    void start();
  }, [api, start]);

  useEffect(() => {
    if (phase !== 'ready') return;
    return subscribe(
      '/api/tv/events',
      {
        present: (p: Parameters<typeof presentKey>[0]) => {
          if (presentKey(p) !== shown.current) commands.reset();
          void loadState();
        },
        'tv.control': (c: Command) => commands.send(c),
      },
      // On (re)connect the state may have changed; on a dropped stream the session may have ended
      // (the visit is over): loading the state then shows the pairing form.
      () => void loadState(),
    );
  }, [phase, loadState, commands]);

  useTvKeys(phase === 'ready', api, commands, state, (err) => setError(errorText(err, t)));

  let body;
  if (phase === 'loading') body = <p class="tv-idle">{t('loading')}</p>;
  else if (phase === 'pair') body = <Pairing api={api} onPaired={start} />;
  else if (state?.review)
    body = <ReviewScreen key={presentKey(state)} api={api} item={state.review} player={state.player} commands={commands} fps={state.fps} />;
  else if (!state || !state.clipId)
    body = (
      <div class="tv-idle" data-testid="tv-idle">
        <p class="tv-brand">{t('appName')}</p>
        <p>{t('tvIdle')}</p>
        <JoinCode api={api} />
      </div>
    );
  else body = <Screen key={state.clipId} api={api} state={state} commands={commands} />;
  return (
    <I18n.Provider value={t}>
      <main class="tv">
        {body}
        {error && (
          <p class="tv-error" role="alert">
            {error}
          </p>
        )}
      </main>
    </I18n.Provider>
  );
}

render(<Tv />, document.getElementById('tv')!);

// The trainer's app (index.html): login, then the remote, the library and the player, by URL hash.
import { render } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Api, ApiError, errorText, subscribe, type Session, type UiConfig } from './api.js';
import { I18n, makeT, storedLang, storeLang, type Lang, type T } from './i18n.js';
import { Library } from './library.js';
import { Player } from './player.js';
import { KIT_EVENT_NAMES } from '../../../core/events.js';
import { Remote } from './remote.js';
import { loginBody, SignedInAs, TrainerIdField } from './team.js';
import { reviewRoute } from './reviews.js';
import { useFieldErrors } from './errors.js';
import { AppCtx, DEFAULT_CONFIG, type Ctx, type Notice } from './shared.js';

/** Events of /api/events the pages listen to: the kit's status first, then every bus event. */
const KIT_EVENTS = ['status', ...KIT_EVENT_NAMES];

function useHash(): string {
  const [hash, setHash] = useState(location.hash || '#/');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function LangSwitch({ t, setLang }: { t: T; setLang: (l: Lang) => void }) {
  const other: Lang = t.lang === 'nl' ? 'en' : 'nl';
  return (
    <button type="button" class="lang" lang={other} onClick={() => setLang(other)} data-testid="lang" aria-label={t('language')} title={t('language')}>
      {other.toUpperCase()}
    </button>
  );
}

/** A PIN form: logging in, or unlocking the library and the player (the remote keeps recording). */
function PinForm({ api, t, onDone, kind }: { api: Api; t: T; onDone: () => void; kind: 'login' | 'unlock' }) {
  const [pin, setPin] = useState('');
  const [trainerId, setTrainerId] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const id = kind === 'login' ? 'pin' : 'unlock-card-pin';
  const fields = useMemo(() => ({ pin: id }), [id]);
  const pinError = useFieldErrors(fields, t);
  useEffect(() => {
    // Unlocked meanwhile (on the remote, or another phone)? Then straight on.
    if (kind === 'unlock')
      api.session().then(
        (s) => s && !s.locked && onDone(),
        () => undefined,
      );
  }, [api, onDone, kind]);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    pinError.clear();
    try {
      // The phone's time goes with a login: a kit whose clock is not synchronised takes it.
      await api.post(kind === 'login' ? '/api/login' : '/api/unlock', kind === 'login' ? { ...loginBody(trainerId, pin), clientTime: Date.now() } : { pin });
      onDone();
    } catch (err) {
      // A wrong PIN (or a lock-out) is said at the PIN field; anything else below the button.
      if (!pinError.show(err)) setError(errorText(err, t));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card login" onSubmit={submit} aria-labelledby={`${kind}-title`} data-testid={kind === 'unlock' ? 'unlock-card' : undefined}>
      <h1 id={`${kind}-title`}>{t(kind === 'login' ? 'loginTitle' : 'lockedTitle')}</h1>
      {kind === 'unlock' && <p>{t('lockedExplain')}</p>}
      {kind === 'login' && <TrainerIdField t={t} value={trainerId} onInput={setTrainerId} />}
      <label for={id}>{t('pinLabel')}</label>
      <input
        id={id}
        name="pin"
        type="password"
        inputMode="numeric"
        autoComplete="current-password"
        pattern="[0-9]{4,12}"
        required
        value={pin}
        onInput={(e) => setPin((e.target as HTMLInputElement).value)}
        autoFocus
        {...pinError.attrs(id)}
      />
      {pinError.error && (
        <p class="field-error" id={`${id}-error`} role="alert" data-testid="field-error">
          {pinError.error.text}
        </p>
      )}
      <button type="submit" class="primary big" disabled={busy}>
        {t(kind === 'login' ? 'loginButton' : 'unlock')}
      </button>
      <p class="error" role="alert">
        {error}
      </p>
    </form>
  );
}

function App() {
  const [lang, setLangState] = useState<Lang>(storedLang());
  const t = useMemo(() => makeT(lang), [lang]);
  const setLang = (l: Lang) => {
    storeLang(l);
    setLangState(l);
  };
  useEffect(() => storeLang(lang), []);
  const api = useMemo(() => new Api(), []);
  const events = useMemo(() => new EventTarget(), []);
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [config, setConfig] = useState<UiConfig>(DEFAULT_CONFIG);
  const [notice, setNotice] = useState<Notice | null>(null);
  /** A request was refused because the kit is locked (423): the library and player ask for the PIN. */
  const [lockedHit, setLockedHit] = useState(false);
  const [reloadKey, setReloadKey] = useState(0);
  const unlocked = useCallback(() => {
    setLockedHit(false);
    setReloadKey((k) => k + 1);
  }, []);
  const [online, setOnline] = useState(true);
  const hash = useHash();
  useEffect(() => {
    if (!notice || notice.kind === 'error') return;
    const id = setTimeout(() => setNotice((n) => (n === notice ? null : n)), 6000);
    return () => clearTimeout(id);
  }, [notice]);
  const tRef = useRef(t);
  tRef.current = t;

  const loadSession = useCallback(async () => {
    try {
      setSession(await api.session());
    } catch (err) {
      setSession(null);
      setNotice({ text: errorText(err, tRef.current), kind: 'error', at: Date.now() });
    }
  }, [api]);

  useEffect(() => {
    api.onUnauthorized = () => setSession(null);
    void loadSession();
  }, [api, loadSession]);

  const trainer = session?.role === 'trainer';

  useEffect(() => {
    if (!trainer) return;
    api.get<UiConfig>('/api/config/ui').then(
      (c) => setConfig({ ...DEFAULT_CONFIG, ...c }),
      (err) => setNotice({ text: errorText(err, tRef.current), kind: 'error', at: Date.now() }),
    );
    const handlers = Object.fromEntries(KIT_EVENTS.map((name) => [name, (data: unknown) => events.dispatchEvent(new CustomEvent(name, { detail: data }))]));
    return subscribe('/api/events', handlers, setOnline);
  }, [trainer, api, events]);

  const logout = useCallback(async () => {
    try {
      await api.post('/api/logout', {});
    } catch (err) {
      setNotice({ text: errorText(err, tRef.current), kind: 'error', at: Date.now() });
    }
    api.csrf = null;
    setSession(null);
  }, [api]);

  const ctx: Ctx = useMemo(
    () => ({
      api,
      events,
      config,
      notify: (text, kind = 'info') => setNotice({ text, kind, at: Date.now() }),
      fail: (err) => {
        if (err instanceof ApiError && err.status === 401) return;
        if (err instanceof ApiError && err.status === 423) {
          setLockedHit(true);
          return;
        }
        setNotice({ text: errorText(err, tRef.current), kind: 'error', at: Date.now() });
      },
      logout,
    }),
    [api, events, config, logout],
  );

  let page;
  const clipMatch = /^#\/clip\/([a-z0-9]+)/.exec(hash);
  const reviewPage = reviewRoute(hash);
  if (session === undefined) page = <p>{t('loading')}</p>;
  else if (!trainer) page = <PinForm kind="login" api={api} t={t} onDone={loadSession} />;
  else if (lockedHit && (clipMatch || reviewPage || hash.startsWith('#/library'))) page = <PinForm kind="unlock" api={api} t={t} onDone={unlocked} />;
  else if (clipMatch) page = <Player key={`${clipMatch[1]}:${reloadKey}`} clipId={clipMatch[1]!} />;
  else if (hash.startsWith('#/library')) page = <Library key={reloadKey} />;
  else if (reviewPage) page = reviewPage;
  else page = <Remote />;

  const nav = (h: string, label: string, active: boolean) => (
    <a href={h} aria-current={active ? 'page' : undefined}>
      {label}
    </a>
  );

  return (
    <I18n.Provider value={t}>
      <AppCtx.Provider value={ctx}>
        <header class="top">
          <span class="brand">{t('appName')}</span>
          {trainer && (
            <nav aria-label={t('menu')}>
              {nav('#/', t('navRemote'), !clipMatch && !reviewPage && !hash.startsWith('#/library'))}
              {nav('#/library', t('navLibrary'), hash.startsWith('#/library'))}
              {nav('#/reviews', t('navReviews'), reviewPage !== null)}
            </nav>
          )}
          {trainer && <SignedInAs t={t} trainerId={session?.trainerId} />}
          <LangSwitch t={t} setLang={setLang} />
          {trainer && (
            <button type="button" class="quiet wide-only" onClick={logout}>
              {t('logout')}
            </button>
          )}
        </header>
        {trainer && !online && (
          <p class="offline" role="status">
            {t('errorNetwork')}
          </p>
        )}
        <div class={`notice ${notice?.kind ?? ''}`} role={notice?.kind === 'error' ? 'alert' : 'status'} aria-live="polite" data-testid="notice">
          {notice && (
            <>
              <span>{notice.text}</span>
              <button type="button" class="quiet" onClick={() => setNotice(null)} aria-label={t('close')}>
                ×
              </button>
            </>
          )}
        </div>
        <main id="main">{page}</main>
      </AppCtx.Provider>
    </I18n.Provider>
  );
}

render(<App />, document.getElementById('app')!);

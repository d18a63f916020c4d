// The remote: what the trainer holds in one hand during a visit.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, type CaseRow, type Consent, type Status, type SyncStatus } from './api.js';
import { fmtDuration, useT, type Key } from './i18n.js';
import { useApp, useDebounced, useKitEvents } from './shared.js';
import { attachHls, type Attached } from './video.js';
import { FetchLine } from './team.js';

const STATE_KEY: Record<Status['state'], Key> = {
  idle: 'stateIdle',
  armed: 'stateArmed',
  recording: 'stateRecording',
  error: 'stateError',
};

const SCOPES: (keyof Consent)[] = ['recording', 'review', 'supervision', 'training'];

function consentText(c: Consent, term: (s: string) => string, none: string): string {
  const on = SCOPES.filter((s) => c[s]).map(term);
  return on.length ? on.join(', ') : none;
}

function CasePicker({ selected, setSelected, locked }: { selected: string; setSelected: (c: string) => void; locked: boolean }) {
  const t = useT();
  const { api, config, fail, notify } = useApp();
  const [cases, setCases] = useState<CaseRow[]>([]);
  const [creating, setCreating] = useState(false);
  const [code, setCode] = useState('');
  const [trajectory, setTrajectory] = useState('');
  const [consent, setConsent] = useState<Consent>({ recording: true, review: true, supervision: false, training: false });

  const load = useCallback(async () => {
    try {
      setCases((await api.get<{ cases: CaseRow[] }>('/api/cases')).cases);
    } catch (err) {
      // Locked: the list stays as it was (the chosen case still goes with a take); the remote
      // shows the unlock form.
      if (err instanceof ApiError && err.status === 423) return;
      fail(err);
    }
  }, [api, fail]);
  useEffect(() => void load(), [load, locked]);

  const create = async (e: Event) => {
    e.preventDefault();
    try {
      const traj = trajectory || config.trajectories[0] || '';
      const row = await api.post<CaseRow>('/api/cases', { code, trajectory: traj, consent });
      notify(t('caseCreated', { code: row?.code ?? code }));
      setCreating(false);
      setCode('');
      await load();
      setSelected(row?.code ?? code);
    } catch (err) {
      fail(err);
    }
  };

  const current = cases.find((c) => c.code === selected);
  const scopes = (config.consentScopes.length ? config.consentScopes : SCOPES).filter((s): s is keyof Consent => (SCOPES as string[]).includes(s));
  return (
    <section class="card" aria-labelledby="case-title">
      <h2 id="case-title">{t('caseTitle')}</h2>
      <label for="case-select">{t('caseSelect')}</label>
      <select id="case-select" value={selected} onChange={(e) => setSelected((e.target as HTMLSelectElement).value)}>
        <option value="">{t('caseNone')}</option>
        {cases.map((c) => (
          <option key={c.code} value={c.code}>
            {c.code}
            {c.trajectory ? ` · ${c.trajectory}` : ''} · {consentText(c.consent, t.term, t('consentNone'))}
          </option>
        ))}
      </select>
      {current && (
        <p class="hint" data-testid="case-consent">
          {t('trajectory')}: {current.trajectory ?? '–'} · {t('consent')}: {consentText(current.consent, t.term, t('consentNone'))}
        </p>
      )}
      {!creating ? (
        <button type="button" class="secondary" onClick={() => setCreating(true)}>
          {t('caseNew')}
        </button>
      ) : (
        <form onSubmit={create} class="stack" aria-label={t('caseNew')}>
          <label for="case-code">{t('caseCode')}</label>
          <input
            id="case-code"
            required
            value={code}
            autoComplete="off"
            aria-describedby="case-code-hint"
            onInput={(e) => setCode((e.target as HTMLInputElement).value.trim())}
          />
          <p class="hint" id="case-code-hint">
            {t('caseCodeHint')}
          </p>
          <label for="case-trajectory">{t('trajectory')}</label>
          <select
            id="case-trajectory"
            value={trajectory || config.trajectories[0] || ''}
            onChange={(e) => setTrajectory((e.target as HTMLSelectElement).value)}
          >
            {config.trajectories.map((tr) => (
              <option key={tr} value={tr}>
                {tr}
              </option>
            ))}
          </select>
          <fieldset>
            <legend>{t('consent')}</legend>
            {scopes.map((s) => (
              <label key={s} class="check">
                <input type="checkbox" checked={consent[s]} onChange={(e) => setConsent({ ...consent, [s]: (e.target as HTMLInputElement).checked })} />
                {t.term(s)}
              </label>
            ))}
          </fieldset>
          <div class="row">
            <button type="submit" class="primary">
              {t('create')}
            </button>
            <button type="button" class="secondary" onClick={() => setCreating(false)}>
              {t('cancel')}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}

function Preview({ active }: { active: boolean }) {
  const t = useT();
  const ref = useRef<HTMLVideoElement>(null);
  const [failed, setFailed] = useState(false);
  const [show, setShow] = useState(true);
  useEffect(() => {
    const v = ref.current;
    if (!v || !active || !show) return;
    setFailed(false);
    let attached: Attached | null = null;
    let dead = false;
    void attachHls(v, '/api/live.m3u8', { live: true, onError: () => setFailed(true) }).then((a) => {
      if (dead) a.destroy();
      else {
        attached = a;
        v.play().catch(() => undefined);
      }
    });
    return () => {
      dead = true;
      attached?.destroy();
    };
  }, [active, show]);
  const visible = active && show && !failed;
  return (
    <section class="card" aria-labelledby="preview-title">
      <div class="row spread">
        <h2 id="preview-title">{t('preview')}</h2>
        <label class="check">
          <input type="checkbox" checked={show} onChange={(e) => setShow((e.target as HTMLInputElement).checked)} />
          {t('preview')}
        </label>
      </div>
      <video ref={ref} class="preview" muted playsInline autoPlay hidden={!visible} aria-label={t('preview')} />
      {!visible && <p class="hint">{t('previewNone')}</p>}
    </section>
  );
}

/** The marker buttons: one per configured label, and a moment without a label. */
function MarkerButtons({ recording }: { recording: boolean }) {
  const t = useT();
  const { api, config, fail, notify } = useApp();
  const mark = async (label: string | null) => {
    try {
      const r = await api.post<{ offsetMs: number }>('/api/markers', { label });
      notify(t('markerAdded', { label: label ?? t('markerNoLabel'), time: fmtDuration(r.offsetMs) }));
    } catch (err) {
      fail(err);
    }
  };
  return (
    <section class="card" aria-labelledby="markers-title">
      <h2 id="markers-title">{t('markersTitle')}</h2>
      <div class="markers">
        {config.markerLabels.map((label) => (
          <button key={label} type="button" class="marker" disabled={!recording} onClick={() => mark(label)}>
            {label}
          </button>
        ))}
        <button type="button" class="marker" disabled={!recording} onClick={() => mark(null)} data-testid="mark">
          {t('markMoment')}
        </button>
      </div>
    </section>
  );
}

/** The kit's facts (storage, battery, dock, sync), lock/unlock and logout. */
function KitCard({ status, sync, busy, run }: { status: Status; sync: SyncStatus | null; busy: boolean; run: (fn: () => Promise<unknown>) => Promise<void> }) {
  const t = useT();
  const { api, logout } = useApp();
  const [pin, setPin] = useState('');
  const lock = () => run(() => api.post('/api/lock', {}));
  const unlock = async (e: Event) => {
    e.preventDefault();
    await run(() => api.post('/api/unlock', { pin }));
    setPin('');
  };
  const syncText = sync
    ? `${t(`sync_${sync.state}` as Key) || sync.state}${sync.pending ? ` · ${t('pending', { n: sync.pending })}` : ''}${sync.lastError ? ` · ${sync.lastError}` : ''}`
    : '–';
  return (
    <section class="card" aria-labelledby="kit-title">
      <h2 id="kit-title" class="sr-only">
        {t('appName')}
      </h2>
      <dl class="facts">
        <dt>{t('storage')}</dt>
        <dd data-testid="storage">{t('minutesLeft', { n: status.storage.minutesLeft })}</dd>
        <dt>{t('battery')}</dt>
        <dd>{status.battery ? `${status.battery.percent}%${status.battery.charging ? ` (${t('charging')})` : ''}` : t('batteryUnknown')}</dd>
        <dt>{t('dock')}</dt>
        <dd>{status.docked ? t('docked') : t('undocked')}</dd>
        <dt>{t('sync')}</dt>
        <dd>{syncText}</dd>
        <FetchLine t={t} sync={sync} />
      </dl>
      {status.locked ? (
        <form onSubmit={unlock} class="row">
          <label for="unlock-pin" class="sr-only">
            {t('unlockTitle')}
          </label>
          <input
            id="unlock-pin"
            type="password"
            inputMode="numeric"
            autoComplete="current-password"
            placeholder={t('unlockTitle')}
            value={pin}
            onInput={(e) => setPin((e.target as HTMLInputElement).value)}
            required
            pattern="[0-9]{4,12}"
          />
          <button type="submit" class="primary" disabled={busy}>
            {t('unlock')}
          </button>
        </form>
      ) : (
        <p class="row spread">
          <span>{t('unlocked')}</span>
          <button type="button" class="secondary" onClick={lock} disabled={busy}>
            {t('lock')}
          </button>
        </p>
      )}
      {status.locked && <p class="hint">{t('locked')}</p>}
      <p class="row">
        <button type="button" class="secondary" onClick={() => void logout()}>
          {t('logout')}
        </button>
      </p>
    </section>
  );
}

export function Remote() {
  const t = useT();
  const { api, events, fail } = useApp();
  const [status, setStatus] = useState<Status | null>(null);
  const [sync, setSync] = useState<SyncStatus | null>(null);
  const [caseCode, setCaseCode] = useState(() => sessionStorage.getItem('vht-case') ?? '');
  const [busy, setBusy] = useState(false);
  const base = useRef({ elapsedMs: 0, at: 0 });
  const [, tick] = useState(0);

  const selectCase = (c: string) => {
    setCaseCode(c);
    sessionStorage.setItem('vht-case', c);
  };

  const apply = (s: Status) => {
    base.current = { elapsedMs: s.elapsedMs ?? 0, at: performance.now() };
    setStatus(s);
  };
  const refresh = useCallback(async () => {
    try {
      apply(await api.get<Status>('/api/status'));
    } catch (err) {
      fail(err);
    }
  }, [api, fail]);
  useEffect(() => {
    void refresh();
    api.get<SyncStatus>('/api/sync').then(setSync, () => undefined);
  }, [refresh, api]);

  const refreshSoon = useDebounced(() => void refresh(), 50);
  useKitEvents(
    events,
    ['status', 'state', 'clip.started', 'clip.stopped', 'battery', 'dock', 'storage.low', 'camera.ok', 'camera.error', 'sync'],
    (name, data) => {
      if (name === 'status') return apply(data as Status);
      if (name === 'sync') setSync(data as SyncStatus);
      refreshSoon();
    },
  );

  const recording = status?.state === 'recording';
  useEffect(() => {
    if (!recording) return;
    const id = setInterval(() => tick((n) => n + 1), 250);
    return () => clearInterval(id);
  }, [recording]);

  const run = async (fn: () => Promise<unknown>) => {
    setBusy(true);
    try {
      await fn();
      await refresh();
    } catch (err) {
      fail(err);
    } finally {
      setBusy(false);
    }
  };

  const start = () => run(() => api.post('/api/recording/start', caseCode ? { caseCode } : {}));
  const [lastClip, setLastClip] = useState<string | null>(null);
  const stop = () =>
    run(async () => {
      const r = await api.post<{ clipId?: string }>('/api/recording/stop', {});
      if (r?.clipId) setLastClip(r.clipId);
    });
  const arm = () => run(() => api.post('/api/recording/arm', {}));

  if (!status) return <p>{t('loading')}</p>;
  const elapsed = recording ? base.current.elapsedMs + (performance.now() - base.current.at) : 0;

  return (
    <div class="remote" data-state={status.state}>
      <section class="card record" aria-labelledby="state-label">
        <p class="state" aria-live="polite" aria-atomic="true">
          <span class="dot" aria-hidden="true" />
          <strong id="state-label" data-testid="state">
            {t(STATE_KEY[status.state])}
          </strong>
          {status.state === 'error' && status.camera.error ? ` – ${status.camera.error}` : ''}
        </p>
        <p class="timer" role="timer" aria-label={t('timer')} data-testid="timer">
          {fmtDuration(elapsed)}
        </p>
        {status.state === 'idle' ? (
          <button type="button" class="primary huge" onClick={arm} disabled={busy}>
            {t('arm')}
          </button>
        ) : recording ? (
          <button type="button" class="stop huge" onClick={stop} disabled={busy} data-testid="stop">
            {t('stop')}
          </button>
        ) : (
          <button type="button" class="start huge" onClick={start} disabled={busy || status.state === 'error'} data-testid="start">
            {t('start')}
          </button>
        )}
        {!recording && lastClip && (
          <a class="button secondary review" href={`#/clip/${lastClip}`} data-testid="review-last">
            {t('reviewLast')}
          </a>
        )}
      </section>

      <MarkerButtons recording={recording} />

      <CasePicker selected={caseCode} setSelected={selectCase} locked={status.locked} />
      <Preview active={status.state === 'armed' || status.state === 'recording'} />

      <KitCard status={status} sync={sync} busy={busy} run={run} />
    </div>
  );
}

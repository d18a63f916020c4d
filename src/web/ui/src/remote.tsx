// The remote: what the trainer holds in one hand during a visit.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { Status, SyncStatus } from './api.js';
import { CasePicker } from './case-picker.js';
import { fmtDuration, useT, type Key } from './i18n.js';
import { useApp, useDebounced, useKitEvents } from './shared.js';
import { attachHls, type Attached } from './video.js';

const STATE_KEY: Record<Status['state'], Key> = {
  idle: 'stateIdle',
  armed: 'stateArmed',
  recording: 'stateRecording',
  error: 'stateError',
};

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
          {t('previewShow')}
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
  // The timer runs on the clip's time line (as markers and the library count): from the first
  // pre-roll frame, so at the press it already shows the pre-roll the take got.
  const base = useRef({ clipTimeMs: 0, at: 0 });
  const pressMs = useRef(0);
  const [, tick] = useState(0);

  const selectCase = (c: string) => {
    setCaseCode(c);
    sessionStorage.setItem('vht-case', c);
  };

  const apply = (s: Status) => {
    base.current = { clipTimeMs: s.clipTimeMs ?? s.elapsedMs ?? 0, at: performance.now() };
    if (s.state === 'recording') pressMs.current = s.pressMs ?? 0;
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
  const [lastClip, setLastClip] = useState<{ id: string; pressMs: number } | null>(null);
  const stop = () =>
    run(async () => {
      const at = pressMs.current;
      const r = await api.post<{ clipId?: string }>('/api/recording/stop', {});
      if (r?.clipId) setLastClip({ id: r.clipId, pressMs: at });
    });
  const arm = () => run(() => api.post('/api/recording/arm', {}));

  if (!status) return <p>{t('loading')}</p>;
  const elapsed = recording ? base.current.clipTimeMs + (performance.now() - base.current.at) : 0;
  const preRollS = Math.round((status.pressMs ?? 0) / 1000);

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
        {recording && preRollS > 0 && (
          <p class="preroll" data-testid="preroll">
            {t('preRollNote', { s: preRollS })}
          </p>
        )}
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
          <a class="button secondary review" href={`#/clip/${lastClip.id}${lastClip.pressMs > 0 ? `?t=${lastClip.pressMs}` : ''}`} data-testid="review-last">
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

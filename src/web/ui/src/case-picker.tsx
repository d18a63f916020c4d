// The remote's case card: the case the next take goes to, and a new case with explicit consent.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, type CaseRow, type Consent } from './api.js';
import { useFieldErrors } from './errors.js';
import { useT, type Key, type T } from './i18n.js';
import { useApp } from './shared.js';

const SCOPES: (keyof Consent)[] = ['recording', 'review', 'supervision', 'training'];
/** The server's field names of the new-case form → the ids of its controls. */
const FIELDS = { code: 'case-code', trajectory: 'case-trajectory', recording: 'consent-recording-yes', consent: 'consent-recording-yes' };

function consentText(c: Consent, term: (s: string) => string, none: string): string {
  const on = SCOPES.filter((s) => c[s]).map(term);
  return on.length ? on.join(', ') : none;
}

/** A consent choice not made yet: recording is asked yes or no (null = no choice), the others ticked or not. */
type Draft = { recording: boolean | null; review: boolean; supervision: boolean; training: boolean };
const EMPTY: Draft = { recording: null, review: false, supervision: false, training: false };

function ConsentFields({
  draft,
  setDraft,
  scopes,
  t,
  attrs,
}: {
  draft: Draft;
  setDraft: (d: Draft) => void;
  scopes: (keyof Consent)[];
  t: T;
  attrs: ReturnType<typeof useFieldErrors>['attrs'];
}) {
  const explain = (s: keyof Consent) => t(`consentExplain_${s}` as Key);
  return (
    <fieldset>
      <legend>{t('consent')}</legend>
      <p class="hint">{t('consentIntro')}</p>
      <div role="radiogroup" aria-labelledby="consent-recording-explain" aria-required="true" data-testid="consent-recording">
        <p class="hint" id="consent-recording-explain">
          {explain('recording')}
        </p>
        {([true, false] as const).map((yes) => (
          <label key={String(yes)} class="check">
            <input
              type="radio"
              name="consent-recording"
              id={yes ? 'consent-recording-yes' : 'consent-recording-no'}
              checked={draft.recording === yes}
              onChange={() => setDraft({ ...draft, recording: yes })}
              {...(yes ? attrs('consent-recording-yes', 'consent-recording-explain') : {})}
            />
            {t(yes ? 'consentRecordingYes' : 'consentRecordingNo')}
          </label>
        ))}
      </div>
      {scopes
        .filter((s) => s !== 'recording')
        .map((s) => (
          <label key={s} class="check">
            <input
              type="checkbox"
              data-scope={s}
              checked={draft[s]}
              aria-describedby={`consent-${s}-explain`}
              onChange={(e) => setDraft({ ...draft, [s]: (e.target as HTMLInputElement).checked })}
            />
            <span>
              {t.term(s)}
              <small class="hint" id={`consent-${s}-explain`}>
                {explain(s)}
              </small>
            </span>
          </label>
        ))}
    </fieldset>
  );
}

function NewCaseForm({ onCreated, onCancel }: { onCreated: (code: string) => void; onCancel: () => void }) {
  const t = useT();
  const { api, config, fail, notify } = useApp();
  const [code, setCode] = useState('');
  const [trajectory, setTrajectory] = useState('');
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const errors = useFieldErrors(FIELDS, t);
  const scopes = (config.consentScopes.length ? config.consentScopes : SCOPES).filter((s): s is keyof Consent => (SCOPES as string[]).includes(s));

  const create = async (e: Event) => {
    e.preventDefault();
    if (draft.recording === null) {
      errors.set({ id: FIELDS.recording, text: t('consentRecordingNeeded') });
      return;
    }
    errors.clear();
    try {
      const traj = trajectory || config.trajectories[0] || '';
      const row = await api.post<CaseRow>('/api/cases', { code, trajectory: traj, consent: { ...draft, recording: draft.recording } });
      notify(t('caseCreated', { code: row?.code ?? code }));
      onCreated(row?.code ?? code);
    } catch (err) {
      if (!errors.show(err)) fail(err);
    }
  };
  const message = (id: string) =>
    errors.error?.id === id && (
      <p class="field-error" id={`${id}-error`} data-testid="field-error">
        {errors.error.text}
      </p>
    );
  return (
    <form onSubmit={create} class="stack" aria-label={t('caseNew')} noValidate>
      <label for="case-code">{t('caseCode')}</label>
      <input
        id="case-code"
        required
        value={code}
        autoComplete="off"
        {...errors.attrs('case-code', 'case-code-hint')}
        onInput={(e) => setCode((e.target as HTMLInputElement).value.trim())}
      />
      <p class="hint" id="case-code-hint">
        {t('caseCodeHint')}
      </p>
      {message('case-code')}
      <label for="case-trajectory">{t('trajectory')}</label>
      <select
        id="case-trajectory"
        value={trajectory || config.trajectories[0] || ''}
        {...errors.attrs('case-trajectory')}
        onChange={(e) => setTrajectory((e.target as HTMLSelectElement).value)}
      >
        {config.trajectories.map((tr) => (
          <option key={tr} value={tr}>
            {t.term(tr)}
          </option>
        ))}
      </select>
      {message('case-trajectory')}
      <ConsentFields draft={draft} setDraft={setDraft} scopes={scopes} t={t} attrs={errors.attrs} />
      {message(FIELDS.recording)}
      <div class="row">
        <button type="submit" class="primary">
          {t('create')}
        </button>
        <button type="button" class="secondary" onClick={onCancel}>
          {t('cancel')}
        </button>
      </div>
    </form>
  );
}

/** The case for the next take (kept for this browser tab), its consent, and a new case. */
export function CasePicker({ selected, setSelected, locked }: { selected: string; setSelected: (c: string) => void; locked: boolean }) {
  const t = useT();
  const { api, fail } = useApp();
  const [cases, setCases] = useState<CaseRow[]>([]);
  const [creating, setCreating] = useState(false);

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

  const current = cases.find((c) => c.code === selected);
  return (
    <section class="card" aria-labelledby="case-title">
      <h2 id="case-title">{t('caseTitle')}</h2>
      <label for="case-select">{t('caseSelect')}</label>
      <select id="case-select" value={selected} onChange={(e) => setSelected((e.target as HTMLSelectElement).value)}>
        <option value="">{t('caseNone')}</option>
        {cases.map((c) => (
          <option key={c.code} value={c.code}>
            {c.code}
            {c.trajectory ? ` · ${t.term(c.trajectory)}` : ''} · {consentText(c.consent, t.term, t('consentNone'))}
          </option>
        ))}
      </select>
      {current && (
        <p class="hint" data-testid="case-consent">
          {t('trajectory')}: {current.trajectory ? t.term(current.trajectory) : '–'} · {t('consent')}: {consentText(current.consent, t.term, t('consentNone'))}
        </p>
      )}
      {!creating ? (
        <button type="button" class="secondary" onClick={() => setCreating(true)}>
          {t('caseNew')}
        </button>
      ) : (
        <NewCaseForm
          onCancel={() => setCreating(false)}
          onCreated={(code) => {
            setCreating(false);
            void load().then(() => setSelected(code));
          }}
        />
      )}
    </section>
  );
}

// The library: clips by case and visit, with their state, markers, assignment and deletion.
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { CaseRow, ClipSummary } from './api.js';
import type { RemovedClip } from './review-api.js';
import { fmtDuration, useT } from './i18n.js';
import { ClipPlace, RemovedClips } from './library-place.js';
import { useApp, useDebounced, useKitEvents } from './shared.js';

interface Group {
  key: string;
  title: string;
  visits: { key: string; title: string; clips: ClipSummary[] }[];
}

function dateText(ms: number, lang: string): string {
  return new Date(ms).toLocaleDateString(lang === 'nl' ? 'nl-NL' : 'en-GB', { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' });
}

function group(clips: ClipSummary[], t: ReturnType<typeof useT>): Group[] {
  const byCase = new Map<string, ClipSummary[]>();
  for (const c of clips) {
    const k = c.caseCode ?? '';
    byCase.set(k, [...(byCase.get(k) ?? []), c]);
  }
  const keys = [...byCase.keys()].sort((a, b) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b)));
  return keys.map((k) => {
    const visits = new Map<string, { title: string; clips: ClipSummary[] }>();
    for (const c of byCase.get(k)!) {
      const day = dateText(c.startedAt ?? c.createdAt, t.lang);
      const vk = c.visitId !== null ? `v${c.visitId}` : `d${day}`;
      const title = c.visitId !== null ? `${t('visit', { n: c.visitId })} · ${day}` : day;
      const v = visits.get(vk) ?? { title, clips: [] };
      v.clips.push(c);
      visits.set(vk, v);
    }
    return {
      key: k || '-',
      title: k || t('unassignedGroup'),
      visits: [...visits.entries()].map(([key, v]) => ({ key, ...v })),
    };
  });
}

function ClipCard({ clip, cases, markers, reload }: { clip: ClipSummary; cases: CaseRow[]; markers: number; reload: () => void }) {
  const t = useT();
  const { api, fail, notify } = useApp();
  const [assignTo, setAssignTo] = useState('');
  const [confirming, setConfirming] = useState(false);
  // The time of the press; the length counts the pre-roll too, and says so.
  const time = new Date(clip.startedAt !== null ? clip.startedAt + clip.pressMs : clip.createdAt).toLocaleTimeString(t.lang === 'nl' ? 'nl-NL' : 'en-GB', {
    hour: '2-digit',
    minute: '2-digit',
  });

  const assign = async (e: Event) => {
    e.preventDefault();
    const code = assignTo || cases[0]?.code;
    if (!code) return;
    try {
      await api.patch(`/api/clips/${clip.id}`, { caseCode: code });
      notify(t('assigned', { code }));
      reload();
    } catch (err) {
      fail(err);
    }
  };
  const remove = async () => {
    try {
      const r = await api.del<{ deleted: boolean }>(`/api/clips/${clip.id}`, { confirm: clip.id });
      notify(r.deleted ? t('deletedNow') : t('deletePending'));
      setConfirming(false);
      reload();
    } catch (err) {
      fail(err);
    }
  };

  return (
    <li class="clip" data-clip={clip.id}>
      <a class="clip-open" href={`#/clip/${clip.id}`} aria-label={`${t('open')} ${time}`}>
        <span class="clip-time">{time}</span>
        <span data-testid="clip-duration">{fmtDuration(clip.durationMs)}</span>
        {clip.pressMs >= 1000 && <span class="hint">{t('preRollBadge', { s: Math.round(clip.pressMs / 1000) })}</span>}
        <span>{t('markerCount', { n: markers })}</span>
      </a>
      <span class="badges">
        {clip.state === 'recording' && <span class="badge rec">{t('badgeRecording')}</span>}
        {clip.state === 'recovered' && <span class="badge warn">{t('badgeRecovered')}</span>}
        {clip.unassigned && <span class="badge warn">{t('badgeUnassigned')}</span>}
        {clip.uploaded && <span class="badge ok">{t('badgeUploaded')}</span>}
        <ClipPlace place={clip.place} />
      </span>
      <div class="clip-actions">
        {clip.unassigned && cases.length > 0 && (
          <form class="row" onSubmit={assign}>
            <label class="sr-only" for={`assign-${clip.id}`}>
              {t('assignTo')}
            </label>
            <select id={`assign-${clip.id}`} value={assignTo || cases[0]!.code} onChange={(e) => setAssignTo((e.target as HTMLSelectElement).value)}>
              {cases.map((c) => (
                <option key={c.code} value={c.code}>
                  {c.code}
                </option>
              ))}
            </select>
            <button type="submit" class="secondary">
              {t('assign')}
            </button>
          </form>
        )}
        {clip.state !== 'recording' && !confirming && (
          <button type="button" class="danger quiet" onClick={() => setConfirming(true)}>
            {t('delete')}
          </button>
        )}
        {confirming && (
          <div class="confirm" role="alertdialog" aria-label={t('deleteConfirm')}>
            <p>{t('deleteConfirm')}</p>
            <div class="row">
              <button type="button" class="danger" onClick={remove} autoFocus>
                {t('deleteYes')}
              </button>
              <button type="button" class="secondary" onClick={() => setConfirming(false)}>
                {t('cancel')}
              </button>
            </div>
          </div>
        )}
      </div>
    </li>
  );
}

export function Library() {
  const t = useT();
  const { api, events, fail } = useApp();
  const [clips, setClips] = useState<ClipSummary[] | null>(null);
  const [cases, setCases] = useState<CaseRow[]>([]);
  const [removed, setRemoved] = useState<RemovedClip[]>([]);

  const load = useCallback(async () => {
    try {
      const [c, k] = await Promise.all([
        api.get<{ clips: ClipSummary[]; removed: RemovedClip[] }>('/api/clips?limit=500'),
        api.get<{ cases: CaseRow[] }>('/api/cases'),
      ]);
      setClips(c.clips);
      setRemoved(c.removed);
      setCases(k.cases);
    } catch (err) {
      fail(err);
    }
  }, [api, fail]);
  useEffect(() => void load(), [load]);
  const loadSoon = useDebounced(() => void load(), 250);
  useKitEvents(events, ['clip.started', 'clip.stopped', 'clip.updated', 'marker'], loadSoon);

  if (!clips) return <p>{t('loading')}</p>;
  const groups = group(clips, t);
  return (
    <div class="library">
      <div class="row spread">
        <h1>{t('libraryTitle')}</h1>
        <button type="button" class="secondary" onClick={load}>
          {t('refresh')}
        </button>
      </div>
      {groups.length === 0 && removed.length === 0 && <p>{t('libraryEmpty')}</p>}
      {groups.map((g) => (
        <section key={g.key} class="card case-group" aria-labelledby={`g-${g.key}`}>
          <h2 id={`g-${g.key}`} class={g.key === '-' ? '' : 'code'}>
            {g.title}
          </h2>
          {g.visits.map((v) => (
            <div key={v.key}>
              <h3>{v.title}</h3>
              <ul class="clips">
                {v.clips.map((c) => (
                  <ClipCard key={c.id} clip={c} cases={cases} markers={c.markerCount} reload={load} />
                ))}
              </ul>
            </div>
          ))}
        </section>
      ))}
      <RemovedClips removed={removed} />
    </div>
  );
}

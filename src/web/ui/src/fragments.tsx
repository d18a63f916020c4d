// Fragments and kept stills on the phone: in the player, set an in and out point (frame precise)
// and keep the moment as a fragment with a VHT label and a question for the parents, or keep one
// from a marker (lead-in and lead-out from the kit's config); keep a still with a caption. The
// fragment player plays a kept fragment and never leaves its range.
import type { RefObject } from 'preact';
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import type { ClipDetail } from './api.js';
import { fmtClipTime, useT } from './i18n.js';
import { asLabel, ReviewApi, labelName, REVIEW_LABELS, secs, type Fragment, type KeptStill } from './review-api.js';
import { useApp } from './shared.js';
import type { FrameClock } from './video.js';
import './review.css';

/** The review API of the app's client (one per page). */
export function useReviewApi(): ReviewApi {
  const { api } = useApp();
  return useMemo(() => new ReviewApi(api), [api]);
}

/** A select of the VHT labels (the id is what the kit stores). */
export function LabelSelect({ id, value, onChange }: { id: string; value: string; onChange: (v: string) => void }) {
  const t = useT();
  return (
    <>
      <label for={id}>{t('fragmentLabel')}</label>
      <select id={id} value={value} onChange={(e) => onChange((e.target as HTMLSelectElement).value)} data-testid="fragment-label">
        <option value="">{t('markerNoLabel')}</option>
        {REVIEW_LABELS.map((l) => (
          <option key={l.id} value={l.id}>
            {l[t.lang]}
          </option>
        ))}
      </select>
    </>
  );
}

/** The note field: a question for the parents, shown only on the phone. */
export function NoteField({ id, value, onChange }: { id: string; value: string; onChange: (v: string) => void }) {
  const t = useT();
  return (
    <>
      <label for={id}>{t('fragmentNote')}</label>
      <textarea
        id={id}
        rows={2}
        maxLength={1000}
        placeholder={t('fragmentNotePlaceholder')}
        value={value}
        onInput={(e) => onChange((e.target as HTMLTextAreaElement).value)}
        data-testid="fragment-note"
      />
    </>
  );
}

/** In and out point at the frame on screen, label and note, "Fragment bewaren"; or a fragment from a marker. */
function FragmentMaker(props: { clipId: string; clip: ClipDetail | null; clockRef: RefObject<FrameClock | null>; onSaved: () => void }) {
  const { clipId, clip, clockRef, onSaved } = props;
  const t = useT();
  const { fail, notify } = useApp();
  const rapi = useReviewApi();
  const [inS, setIn] = useState<number | null>(null);
  const [outS, setOut] = useState<number | null>(null);
  const [label, setLabel] = useState('');
  const [note, setNote] = useState('');
  const [markerId, setMarkerId] = useState('');
  const [busy, setBusy] = useState(false);
  const now = () => clockRef.current?.now() ?? 0;
  const valid = inS !== null && outS !== null && outS > inS;

  const save = async (body: { inMs: number; outMs: number } | { markerId: number }) => {
    setBusy(true);
    try {
      const f = await rapi.saveFragment(clipId, { ...body, label: asLabel(label), note: note.trim() || null });
      notify(t('fragmentSaved', { label: labelName(t, f.label), s: secs(f.outMs - f.inMs) }));
      setIn(null);
      setOut(null);
      setNote('');
      onSaved();
    } catch (err) {
      fail(err);
    } finally {
      setBusy(false);
    }
  };
  const markers = clip?.markers ?? [];
  const chosenMarker = markerId || (markers[0] ? String(markers[0].id) : '');
  return (
    <section class="card fragment-maker" aria-labelledby="fragment-maker-title">
      <h2 id="fragment-maker-title">{t('fragmentSave')}</h2>
      <div class="row">
        <button type="button" onClick={() => setIn(now())} data-testid="fragment-in">
          {t('fragmentIn')}
        </button>
        <button type="button" onClick={() => setOut(now())} data-testid="fragment-out">
          {t('fragmentOut')}
        </button>
      </div>
      <p class="hint" data-testid="fragment-range" aria-live="polite">
        {inS !== null && outS !== null
          ? t('fragmentRange', { a: fmtClipTime(inS), b: fmtClipTime(outS), s: secs((outS - inS) * 1000) })
          : inS !== null
            ? `${t('fragmentIn')}: ${fmtClipTime(inS)}`
            : t('fragmentRangeUnset')}
      </p>
      <LabelSelect id="fragment-label" value={label} onChange={setLabel} />
      <NoteField id="fragment-note" value={note} onChange={setNote} />
      <div class="row">
        <button
          type="button"
          class="primary"
          disabled={!valid || busy}
          onClick={() => valid && save({ inMs: Math.round(inS * 1000), outMs: Math.round(outS * 1000) })}
          data-testid="fragment-save"
        >
          {t('fragmentSave')}
        </button>
      </div>
      {markers.length > 0 && (
        <div class="row">
          <label class="sr-only" for="fragment-marker">
            {t('markers')}
          </label>
          <select id="fragment-marker" value={chosenMarker} onChange={(e) => setMarkerId((e.target as HTMLSelectElement).value)} data-testid="fragment-marker">
            {markers.map((m) => (
              <option key={m.id} value={m.id}>
                {fmtClipTime(m.offsetMs / 1000)} · {m.label ?? t('markerNoLabel')}
              </option>
            ))}
          </select>
          <button
            type="button"
            class="secondary"
            disabled={busy || !chosenMarker}
            onClick={() => save({ markerId: Number(chosenMarker) })}
            data-testid="fragment-from-marker"
          >
            {t('fragmentFromMarker')}
          </button>
        </div>
      )}
    </section>
  );
}

/** A clip's kept fragments: watch (the fragment player) or discard (asks first). */
function FragmentList({ fragments, reload }: { fragments: Fragment[] | null; reload: () => void }) {
  const t = useT();
  const { fail, notify } = useApp();
  const rapi = useReviewApi();
  const [confirming, setConfirming] = useState<string | null>(null);
  const remove = async (id: string) => {
    try {
      await rapi.deleteFragment(id);
      notify(t('fragmentDeleted'));
      setConfirming(null);
      reload();
    } catch (err) {
      fail(err);
    }
  };
  return (
    <section class="card" aria-labelledby="fragments-title">
      <h2 id="fragments-title">{t('fragmentsTitle')}</h2>
      {fragments && fragments.length === 0 && <p class="hint">{t('fragmentsNone')}</p>}
      <ul class="list fragments" data-testid="fragments">
        {fragments?.map((f) => (
          <li key={f.id} data-fragment={f.id}>
            <span class="fragment-what">
              <strong>{labelName(t, f.label)}</strong> · {fmtClipTime(f.inMs / 1000)}–{fmtClipTime(f.outMs / 1000)} ({secs(f.outMs - f.inMs)} s)
            </span>
            {f.note && <span class="fragment-note">{f.note}</span>}
            <span class="row">
              <a class="button secondary" href={`#/fragment/${f.id}`}>
                {t('fragmentPlay')}
              </a>
              {confirming === f.id ? (
                <button type="button" class="danger" onClick={() => remove(f.id)} autoFocus>
                  {t('deleteYes')}
                </button>
              ) : (
                <button type="button" class="danger quiet" onClick={() => setConfirming(f.id)}>
                  {t('fragmentDelete')}
                </button>
              )}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** Per still of the clip: a caption and "bewaren" (kept apart from the clip, for a review). */
function StillKeeper({ clipId, clip, kept, reload }: { clipId: string; clip: ClipDetail | null; kept: KeptStill[]; reload: () => void }) {
  const t = useT();
  const { fail, notify } = useApp();
  const rapi = useReviewApi();
  const [captions, setCaptions] = useState<Record<number, string>>({});
  const stills = clip?.stills ?? [];
  if (stills.length === 0) return null;
  const keep = async (stillId: number) => {
    const caption = (captions[stillId] ?? '').trim() || null;
    try {
      const k = kept.find((x) => x.stillId === stillId);
      if (k) await rapi.patchKeptStill(k.id, caption);
      else await rapi.keepStill(clipId, stillId, caption);
      notify(t('stillKeptNotice'));
      reload();
    } catch (err) {
      fail(err);
    }
  };
  return (
    <section class="card" aria-labelledby="keep-stills-title">
      <h2 id="keep-stills-title">
        {t('stills')} · {t('stillKeep')}
      </h2>
      <ul class="list still-keep" data-testid="still-keep">
        {stills.map((s) => {
          const k = kept.find((x) => x.stillId === s.id);
          const value = captions[s.id] ?? k?.caption ?? '';
          return (
            <li key={s.id} data-still={s.id}>
              <img src={`/api/clips/${clipId}/stills/${s.id}.jpg`} alt={`${t('stills')} ${fmtClipTime(s.timeMs / 1000)}`} loading="lazy" />
              <div class="stack">
                <label for={`caption-${s.id}`}>
                  {fmtClipTime(s.timeMs / 1000)} · {t('stillCaption')}
                </label>
                <input
                  id={`caption-${s.id}`}
                  maxLength={1000}
                  value={value}
                  onInput={(e) => setCaptions({ ...captions, [s.id]: (e.target as HTMLInputElement).value })}
                  data-testid="still-caption"
                />
                <span class="row">
                  <button type="button" class="secondary" onClick={() => keep(s.id)} data-testid="still-keep-button">
                    {k ? t('save') : t('stillKeep')}
                  </button>
                  {k && <span class="badge ok">{t('stillKept')}</span>}
                </span>
              </div>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

/** The player's review tools: make a fragment, the clip's fragments, keep stills with a caption. */
export function ClipReviewTools({ clipId, clip, clockRef }: { clipId: string; clip: ClipDetail | null; clockRef: RefObject<FrameClock | null> }) {
  const { fail } = useApp();
  const rapi = useReviewApi();
  const [fragments, setFragments] = useState<Fragment[] | null>(null);
  const [kept, setKept] = useState<KeptStill[]>([]);
  const load = useCallback(async () => {
    try {
      const [f, k] = await Promise.all([rapi.clipFragments(clipId), rapi.clipKeptStills(clipId)]);
      setFragments(f);
      setKept(k);
    } catch (err) {
      fail(err);
    }
  }, [rapi, clipId, fail]);
  useEffect(() => void load(), [load, clip?.stills.length]);
  return (
    <>
      <FragmentMaker clipId={clipId} clip={clip} clockRef={clockRef} onSaved={load} />
      <FragmentList fragments={fragments} reload={load} />
      <StillKeeper clipId={clipId} clip={clip} kept={kept} reload={load} />
    </>
  );
}

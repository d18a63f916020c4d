// Presenting a review on the family's TV from the phone: item 1, next, previous, speed and pause;
// the phone follows what the TV shows (the TV's own keys step items and change speed too). The
// note of the item on screen is shown here, never on the TV. "Nabespreking opnemen" records the
// review talk; the kit's refusal (no supervision consent) is shown at the button in Dutch.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, errorText, type ControlBody } from './api.js';
import { useReviewApi } from './fragments.js';
import { useT, type T } from './i18n.js';
import { itemText, type PresentReply, type Review } from './review-api.js';
import { useApp, useKitEvents } from './shared.js';
import { RATE_LABEL, RATES } from './video.js';

/** The kit's refusal of the review talk in the UI's language: known reasons translated, else the kit's text. */
export function talkRefusal(err: unknown, t: T): string {
  if (err instanceof ApiError) {
    const r = `${err.reason ?? ''} ${err.field ?? ''}`;
    if (/supervision/.test(r)) return t('reviewTalkRefused', { reason: t('reviewTalkNoSupervision') });
    if (/recording/.test(r) && /consent/.test(r)) return t('reviewTalkRefused', { reason: t('reviewTalkNoRecording') });
  }
  return errorText(err, t);
}

/** What the TV shows, kept current from the kit's events (the TV's keys change it too). */
function usePresented() {
  const { events, fail } = useApp();
  const rapi = useReviewApi();
  const [p, setP] = useState<PresentReply | null>(null);
  const load = useCallback(() => rapi.presented().then(setP, fail), [rapi, fail]);
  useEffect(() => void load(), [load]);
  useKitEvents(events, ['present', 'tv.control'], (name, data: { action?: string; rate?: number; source?: string } & Partial<PresentReply>) => {
    if (name === 'tv.control' && data.action === 'rate' && typeof data.rate === 'number') {
      const rate = data.rate;
      setP((x) => (x?.player ? { ...x, player: { ...x.player, rate } } : x));
    } else if (name === 'tv.control' && (data.action === 'play' || data.action === 'pause')) {
      const playing = data.action === 'play';
      setP((x) => (x?.player ? { ...x, player: { ...x.player, playing } } : x));
    } else if (name !== 'tv.control') void load();
  });
  return { presented: p, setPresented: setP, reload: load };
}

/** The review talk: start and stop the take; the refusal at the button. */
function TalkButton({ review }: { review: Review }) {
  const t = useT();
  const { api, events, fail } = useApp();
  const rapi = useReviewApi();
  const [take, setTake] = useState<string | null>(null);
  const [refusal, setRefusal] = useState('');
  useEffect(() => {
    // a take running when the page opens (the talk, started before a reload) can be stopped here
    api.get<{ state: string; clipId?: string | null }>('/api/status').then((s) => setTake(s.state === 'recording' ? (s.clipId ?? null) : null), fail);
  }, [api, fail]);
  useKitEvents(events, ['clip.stopped'], (_n, d: { clipId?: string }) => d.clipId === take && setTake(null));
  const toggle = async () => {
    setRefusal('');
    try {
      if (take) {
        await rapi.stopTalk();
        setTake(null);
      } else setTake((await rapi.startTalk(review.caseCode, review.id)).clipId);
    } catch (err) {
      setRefusal(talkRefusal(err, t));
    }
  };
  return (
    <div class="talk">
      <button type="button" class={take ? 'stop' : 'start'} onClick={toggle} aria-describedby="talk-refusal" data-testid="talk">
        {take ? t('reviewTalkStop') : t('reviewTalk')}
      </button>
      {take && (
        <p role="status" class="hint" data-testid="talk-running">
          {t('reviewTalkRunning')}
        </p>
      )}
      <p id="talk-refusal" class="error" role="alert" data-testid="talk-refusal">
        {refusal}
      </p>
    </div>
  );
}

/** The phone's side of presenting a review: present, next/previous, speed, pause, stop; the note. */
export function PresentPanel({ review, notes }: { review: Review; notes: Map<string, string> }) {
  const t = useT();
  const { api, fail } = useApp();
  const rapi = useReviewApi();
  const { presented, setPresented } = usePresented();
  const mine = presented?.review?.reviewId === review.id ? presented.review : null;
  const player = mine ? presented?.player : undefined;
  const go = async (item: number) => {
    try {
      setPresented(await rapi.present(review.id, item));
    } catch (err) {
      fail(err);
    }
  };
  const stop = async () => {
    try {
      setPresented(await rapi.stopPresenting());
    } catch (err) {
      fail(err);
    }
  };
  const control = async (body: ControlBody) => {
    try {
      await api.post('/api/present/control', body);
      setPresented((x) => {
        if (!x?.player) return x;
        if (body.action === 'rate' && typeof body.rate === 'number') return { ...x, player: { ...x.player, rate: body.rate } };
        if (body.action === 'play' || body.action === 'pause') return { ...x, player: { ...x.player, playing: body.action === 'play' } };
        return x;
      });
    } catch (err) {
      fail(err);
    }
  };
  const current = mine ? review.items[mine.item] : undefined;
  return (
    <section class="card present-panel" aria-labelledby="present-title" data-testid="present-panel">
      <h2 id="present-title">{t('tvSection')}</h2>
      <p role="status" data-testid="present-status" data-item={mine?.item ?? ''}>
        {mine ? t('reviewNowShowing', { n: mine.item + 1, total: mine.count }) : t('reviewNotShowing')}
        {current && ` · ${itemText(t, current, mine!.item + 1)}`}
      </p>
      {current && notes.get(current.id) && (
        <p class="fragment-note present-note" data-testid="present-note">
          {notes.get(current.id)}
        </p>
      )}
      {!mine ? (
        <button type="button" class="primary big" disabled={review.items.length === 0} onClick={() => go(0)} data-testid="review-present">
          {t('reviewPresent')}
        </button>
      ) : (
        <>
          <div class="row present-steps">
            <button type="button" disabled={mine.item === 0} onClick={() => go(mine.item - 1)} data-testid="review-prev">
              ◀ {t('reviewPrev')}
            </button>
            <button type="button" class="primary" disabled={mine.item >= mine.count - 1} onClick={() => go(mine.item + 1)} data-testid="review-next">
              {t('reviewNext')} ▶
            </button>
          </div>
          {mine.kind === 'fragment' && (
            <div class="row" role="group" aria-label={t('speed')}>
              <button
                type="button"
                onClick={() => control({ action: player?.playing ? 'pause' : 'play' })}
                aria-label={player?.playing ? t('pause') : t('play')}
                data-testid="review-play"
              >
                {player?.playing ? '❚❚' : '▶︎'}
              </button>
              {RATES.map((r) => (
                <button
                  key={r}
                  type="button"
                  aria-pressed={player?.rate === r}
                  onClick={() => control({ action: 'rate', rate: r })}
                  data-testid={`review-rate-${r}`}
                >
                  {RATE_LABEL[r]}
                </button>
              ))}
            </div>
          )}
          <button type="button" class="stop" onClick={stop} data-testid="review-present-stop">
            {t('presentStop')}
          </button>
        </>
      )}
      <TalkButton review={review} />
    </section>
  );
}

// Reviews (nabespreking) on the phone: per case, an ordered list of fragments and kept stills from
// any of the case's clips, the visit it is planned for, add / reorder / remove, "gehouden"; and
// presenting it on the TV with the review talk (review-present.tsx).
import type { VNode } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { CaseRow } from './api.js';
import { useReviewApi } from './fragments.js';
import { FragmentPlayer } from './fragment-player.js';
import { useT } from './i18n.js';
import { PresentPanel } from './review-present.js';
import { dayText, itemText, labelName, secs, type Fragment, type KeptStill, type Review, type ReviewItem, type ReviewItemRef } from './review-api.js';
import { useApp } from './shared.js';
import './review.css';

/** The page for a review route (#/reviews, #/review/<id>, #/fragment/<id>), or null for another hash. */
export function reviewRoute(hash: string): VNode | null {
  const review = /^#\/review\/([a-z0-9]+)/.exec(hash);
  if (review) return <ReviewPage key={review[1]} reviewId={review[1]!} />;
  const fragment = /^#\/fragment\/([a-z0-9]+)/.exec(hash);
  if (fragment) return <FragmentPlayer key={fragment[1]} fragmentId={fragment[1]!} />;
  if (hash.startsWith('#/reviews')) return <ReviewList />;
  return null;
}

/** The cases with their reviews; a new review per case. */
function ReviewList() {
  const t = useT();
  const { api, fail, notify } = useApp();
  const rapi = useReviewApi();
  const [cases, setCases] = useState<CaseRow[] | null>(null);
  const [reviews, setReviews] = useState<Review[]>([]);
  const load = useCallback(async () => {
    try {
      const [k, r] = await Promise.all([api.get<{ cases: CaseRow[] }>('/api/cases'), rapi.reviews()]);
      setCases(k.cases);
      setReviews(r);
    } catch (err) {
      fail(err);
    }
  }, [api, rapi, fail]);
  useEffect(() => void load(), [load]);
  const create = async (code: string) => {
    try {
      const r = await rapi.createReview(code, null);
      notify(t('reviewCreated'));
      location.hash = `#/review/${r.id}`;
    } catch (err) {
      fail(err);
    }
  };
  if (!cases) return <p>{t('loading')}</p>;
  return (
    <div class="reviews">
      <h1>{t('reviewsTitle')}</h1>
      {cases.map((c) => {
        const mine = reviews.filter((r) => r.caseCode === c.code);
        return (
          <section key={c.code} class="card" aria-labelledby={`rc-${c.code}`} data-case={c.code}>
            <h2 id={`rc-${c.code}`} class="code">
              {c.code}
            </h2>
            {mine.length === 0 && <p class="hint">{t('reviewsNone')}</p>}
            <ul class="list">
              {mine.map((r) => (
                <li key={r.id}>
                  <a class="button secondary review-link" href={`#/review/${r.id}`} data-review={r.id}>
                    {r.plannedFor ?? t('reviewVisitNone')} · {t('reviewItemCount', { n: r.items.length })}
                    {r.heldAt !== null && ` · ${t('reviewHeld')}`}
                  </a>
                </li>
              ))}
            </ul>
            <button type="button" class="primary" onClick={() => create(c.code)} data-testid="review-new">
              {t('reviewNew')}
            </button>
          </section>
        );
      })}
    </div>
  );
}

const refOf = (it: Pick<ReviewItem, 'kind' | 'id'>): ReviewItemRef => ({ kind: it.kind, id: it.id });

/** The review's items in order: move up/down, take out (buttons, keyboard-accessible, ≥ 44 px). */
function ItemList(props: { review: Review; notes: Map<string, string>; setItems: (items: ReviewItemRef[], focus?: string) => Promise<void> }) {
  const { review, notes, setItems } = props;
  const t = useT();
  const items = review.items;
  const move = (i: number, d: -1 | 1) => {
    const next = items.map(refOf);
    const [x] = next.splice(i, 1);
    next.splice(i + d, 0, x!);
    void setItems(next, `${d < 0 ? 'up' : 'down'}-${x!.id}`);
  };
  return (
    <>
      {items.length === 0 && <p class="hint">{t('reviewItemsNone')}</p>}
      <ol class="review-items" data-testid="review-items">
        {items.map((it, i) => (
          <li key={it.id} data-item={it.id} data-kind={it.kind}>
            <span class="item-text">{itemText(t, it, i + 1)}</span>
            {notes.get(it.id) && <span class="fragment-note">{notes.get(it.id)}</span>}
            <span class="row item-buttons">
              <button
                type="button"
                id={`up-${it.id}`}
                disabled={i === 0}
                onClick={() => move(i, -1)}
                aria-label={`${t('reviewUp')}: ${i + 1}`}
                data-testid="item-up"
              >
                ↑
              </button>
              <button
                type="button"
                id={`down-${it.id}`}
                disabled={i === items.length - 1}
                onClick={() => move(i, 1)}
                aria-label={`${t('reviewDown')}: ${i + 1}`}
                data-testid="item-down"
              >
                ↓
              </button>
              <button
                type="button"
                class="danger quiet"
                onClick={() => setItems(items.filter((x) => x.id !== it.id).map(refOf))}
                aria-label={`${t('reviewRemove')}: ${i + 1}`}
                data-testid="item-remove"
              >
                ✕
              </button>
            </span>
          </li>
        ))}
      </ol>
    </>
  );
}

/** The case's fragments and kept stills that are not in the review yet, each with "Toevoegen". */
function Addable({ review, fragments, stills, add }: { review: Review; fragments: Fragment[]; stills: KeptStill[]; add: (r: ReviewItemRef) => void }) {
  const t = useT();
  const inReview = new Set(review.items.map((i) => i.id));
  const f = fragments.filter((x) => !inReview.has(x.id));
  const s = stills.filter((x) => !inReview.has(x.id));
  return (
    <section class="card" aria-labelledby="addable-title">
      <h2 id="addable-title">{t('reviewAddable')}</h2>
      {f.length + s.length === 0 && <p class="hint">{fragments.length + stills.length === 0 ? t('reviewAddableNone') : t('reviewAddableAllIn')}</p>}
      <ul class="list addable" data-testid="addable">
        {f.map((x) => (
          <li key={x.id} data-fragment={x.id}>
            <span>
              {t('fragmentTitle')}: <strong>{labelName(t, x.label)}</strong> · {secs(x.outMs - x.inMs)} s · {dayText(x.createdAt, t.lang)}
            </span>
            <button type="button" class="secondary" onClick={() => add({ kind: 'fragment', id: x.id })} data-testid="add-fragment">
              {t('reviewAdd')}
            </button>
          </li>
        ))}
        {s.map((x) => (
          <li key={x.id} data-still={x.id}>
            <span>
              {t('stills')}: {x.caption ?? ''}
            </span>
            <button type="button" class="secondary" onClick={() => add({ kind: 'still', id: x.id })} data-testid="add-still">
              {t('reviewAdd')}
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** "Gehouden": asks first, then marks the review as held (its fragments' retention starts). */
function HeldButton({ review, onHeld }: { review: Review; onHeld: (r: Review) => void }) {
  const t = useT();
  const { fail } = useApp();
  const rapi = useReviewApi();
  const [confirming, setConfirming] = useState(false);
  if (review.heldAt !== null)
    return (
      <p class="badge ok" data-testid="review-held">
        {t('reviewHeldAt', { date: dayText(review.heldAt, t.lang) })}
      </p>
    );
  if (!confirming)
    return (
      <button type="button" class="secondary" onClick={() => setConfirming(true)} data-testid="review-held-button">
        {t('reviewMarkHeld')}
      </button>
    );
  const held = async () => {
    try {
      onHeld(await rapi.held(review.id));
    } catch (err) {
      fail(err);
    }
  };
  return (
    <div class="confirm" role="alertdialog" aria-label={t('reviewHeldConfirm')}>
      <p>{t('reviewHeldConfirm')}</p>
      <div class="row">
        <button type="button" class="primary" onClick={held} autoFocus data-testid="review-held-yes">
          {t('reviewHeldYes')}
        </button>
        <button type="button" class="secondary" onClick={() => setConfirming(false)}>
          {t('cancel')}
        </button>
      </div>
    </div>
  );
}

/** One review: its items, what can be added, the planned visit, held; presenting it. */
function ReviewPage({ reviewId }: { reviewId: string }) {
  const t = useT();
  const { fail, notify } = useApp();
  const rapi = useReviewApi();
  const [review, setReview] = useState<Review | null>(null);
  const [fragments, setFragments] = useState<Fragment[]>([]);
  const [stills, setStills] = useState<KeptStill[]>([]);
  const load = useCallback(async () => {
    try {
      const r = await rapi.review(reviewId);
      const { fragments: f, stills: s } = await rapi.caseKept(r.caseCode);
      setReview(r);
      setFragments(f);
      setStills(s);
    } catch (err) {
      fail(err);
    }
  }, [rapi, reviewId, fail]);
  useEffect(() => void load(), [load]);
  const setItems = async (items: ReviewItemRef[], focus?: string) => {
    try {
      setReview(await rapi.patchReview(reviewId, { items }));
      notify(t('reviewSaved'));
      // keep the keyboard where it was: on the moved item's button
      if (focus) requestAnimationFrame(() => (document.getElementById(focus) as HTMLButtonElement | null)?.focus());
    } catch (err) {
      fail(err);
    }
  };
  const plan = async (day: string) => {
    try {
      setReview(await rapi.patchReview(reviewId, { plannedFor: day || null }));
    } catch (err) {
      fail(err);
    }
  };
  if (!review) return <p>{t('loading')}</p>;
  const notes = new Map<string, string>();
  for (const f of fragments) if (f.note) notes.set(f.id, f.note);
  for (const s of stills) if (s.caption) notes.set(s.id, s.caption);
  return (
    <div class="review" data-review={review.id}>
      <p>
        <a href="#/reviews">← {t('reviewBack')}</a>
      </p>
      <h1>
        {t('reviewFor')} <span class="nowrap">{review.caseCode}</span>
      </h1>
      <div class="row">
        <label for="review-day">{t('reviewVisit')}</label>
        <input
          id="review-day"
          type="date"
          value={review.plannedFor ?? ''}
          onChange={(e) => plan((e.target as HTMLInputElement).value)}
          data-testid="review-day"
        />
        <HeldButton review={review} onHeld={setReview} />
      </div>
      <PresentPanel review={review} notes={notes} />
      <section class="card" aria-labelledby="items-title">
        <h2 id="items-title">{t('reviewItems')}</h2>
        <ItemList review={review} notes={notes} setItems={setItems} />
      </section>
      <Addable review={review} fragments={fragments} stills={stills} add={(r) => setItems([...review.items.map(refOf), r])} />
    </div>
  );
}

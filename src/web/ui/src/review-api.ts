// The review cycle's part of the kit's API as the pages use it: the routes in one place, the shapes
// from the server's schemas (type-only), and the labels of the VHT vocabulary in the UI's language.
import { REVIEW_LABELS, type ReviewLabel } from '../../../core/vht-labels.js';
import type { Api } from './api.js';
import type { T } from './i18n.js';

export type {
  ClipPlace,
  Fragment,
  FragmentCreate,
  KeptStill,
  PlayerState,
  PresentedItem,
  PresentReply,
  RemovedClip,
  Review,
  ReviewItem,
  ReviewItemRef,
  TvKey,
} from '../../schemas.js';
import type { ClipSummary, Fragment, FragmentCreate, KeptStill, PresentReply, RemovedClip, Review, ReviewItem, ReviewItemRef, TvKey } from '../../schemas.js';

export { REVIEW_LABELS };

/** A label's name in the UI's language (the id itself for one the UI does not know). */
export function labelName(t: T, id: string | null): string {
  if (id === null) return t('markerNoLabel');
  const l = REVIEW_LABELS.find((x) => x.id === id);
  return l ? l[t.lang] : id;
}

/** A label id from a select ('' = none), as the API takes it. */
export function asLabel(v: string): ReviewLabel | null {
  return REVIEW_LABELS.find((l) => l.id === v)?.id ?? null;
}

/** Seconds, one decimal, for a fragment's length. */
export const secs = (ms: number) => (Math.round(ms / 100) / 10).toLocaleString('nl-NL');

/** A day in the UI's language. */
export function dayText(ms: number, lang: string): string {
  return new Date(ms).toLocaleDateString(lang === 'nl' ? 'nl-NL' : 'en-GB', { day: 'numeric', month: 'short', year: 'numeric' });
}

/** What a review item is, in a line: "Fragment 2: initiatief kind · 8 s · bezoek 1". */
export function itemText(t: T, it: ReviewItem, n: number): string {
  const visit = it.visitId ?? dayText(it.clipCreatedAt, t.lang);
  if (it.kind === 'fragment') return t('reviewItemFragment', { n, label: labelName(t, it.label), s: secs((it.outMs ?? 0) - (it.inMs ?? 0)), visit });
  return t('reviewItemStill', { n, visit });
}

/** The review cycle's routes, typed. */
export class ReviewApi {
  constructor(readonly api: Api) {}

  /** The fragments of a clip. */
  async clipFragments(clipId: string): Promise<Fragment[]> {
    return (await this.api.get<{ fragments: Fragment[] }>(`/api/clips/${clipId}/fragments`)).fragments;
  }

  /** Saves a fragment of a clip (a range or a marker). */
  saveFragment(clipId: string, body: FragmentCreate): Promise<Fragment> {
    return this.api.post<Fragment>(`/api/clips/${clipId}/fragments`, body);
  }

  /** One fragment, with its note (trainer only). */
  fragment(id: string): Promise<Fragment> {
    return this.api.get<Fragment>(`/api/fragments/${id}`);
  }

  /** Changes a fragment's label or note. */
  patchFragment(id: string, body: { label?: ReviewLabel | null; note?: string | null }): Promise<Fragment> {
    return this.api.patch<Fragment>(`/api/fragments/${id}`, body);
  }

  /** Discards a fragment (crypto-erase on the kit). */
  deleteFragment(id: string): Promise<unknown> {
    return this.api.del(`/api/fragments/${id}`);
  }

  /** The kept stills of a clip. */
  async clipKeptStills(clipId: string): Promise<KeptStill[]> {
    return (await this.api.get<{ stills: KeptStill[] }>(`/api/clips/${clipId}/kept-stills`)).stills;
  }

  /**
   * The fragments and kept stills of a case, from every clip of it (on the kit or already removed):
   * only the clips whose place says something is kept are asked.
   */
  async caseKept(caseCode: string): Promise<{ fragments: Fragment[]; stills: KeptStill[] }> {
    const list = await this.api.get<{ clips: ClipSummary[]; removed?: RemovedClip[] }>('/api/clips?limit=500');
    const mine = [...list.clips, ...(list.removed ?? [])].filter((c) => c.caseCode === caseCode);
    const [f, s] = await Promise.all([
      Promise.all(mine.filter((c) => c.place.fragments > 0).map((c) => this.clipFragments(c.id))),
      Promise.all(mine.filter((c) => c.place.keptStills > 0).map((c) => this.clipKeptStills(c.id))),
    ]);
    return { fragments: f.flat().sort((a, b) => a.createdAt - b.createdAt), stills: s.flat().sort((a, b) => a.createdAt - b.createdAt) };
  }

  /** Keeps a clip's still for a review, with an optional caption. */
  keepStill(clipId: string, stillId: number, caption: string | null): Promise<KeptStill> {
    return this.api.post<KeptStill>(`/api/clips/${clipId}/kept-stills`, { stillId, caption });
  }

  /** Changes a kept still's caption. */
  patchKeptStill(id: string, caption: string | null): Promise<KeptStill> {
    return this.api.patch<KeptStill>(`/api/stills/${id}`, { caption });
  }

  /** The reviews (of one case). */
  async reviews(caseCode?: string): Promise<Review[]> {
    const q = caseCode ? `?caseCode=${encodeURIComponent(caseCode)}` : '';
    return (await this.api.get<{ reviews: Review[] }>(`/api/reviews${q}`)).reviews;
  }

  review(id: string): Promise<Review> {
    return this.api.get<Review>(`/api/reviews/${id}`);
  }

  createReview(caseCode: string, plannedFor: string | null): Promise<Review> {
    return this.api.post<Review>('/api/reviews', { caseCode, plannedFor });
  }

  /** Sets the items (in order: add, reorder and remove are one list) or the planned day. */
  patchReview(id: string, body: { items?: ReviewItemRef[]; plannedFor?: string | null }): Promise<Review> {
    return this.api.patch<Review>(`/api/reviews/${id}`, body);
  }

  deleteReview(id: string): Promise<unknown> {
    return this.api.del(`/api/reviews/${id}`);
  }

  /** Marks the review as held (its retention starts). */
  held(id: string): Promise<Review> {
    return this.api.post<Review>(`/api/reviews/${id}/held`, {});
  }

  /** Presents item `item` (0-based) of a review on the TV. */
  present(reviewId: string, item: number): Promise<PresentReply> {
    return this.api.post<PresentReply>('/api/present', { reviewId, item });
  }

  /** What the TV shows now. */
  presented(): Promise<PresentReply> {
    return this.api.get<PresentReply>('/api/present');
  }

  /** The TV shows nothing. */
  stopPresenting(): Promise<PresentReply> {
    return this.api.del<PresentReply>('/api/present');
  }

  /** Starts the review talk: a take of the case that records what is presented. */
  startTalk(caseCode: string, reviewId: string): Promise<{ clipId: string }> {
    return this.api.post<{ clipId: string }>('/api/recording/start', { caseCode, reviewId });
  }

  stopTalk(): Promise<{ clipId: string; durationMs: number }> {
    return this.api.post<{ clipId: string; durationMs: number }>('/api/recording/stop', {});
  }
}

/** The TV's key within a presented review (the TV page's own client). */
export function sendTvKey(api: Api, key: TvKey): Promise<unknown> {
  return api.post('/api/tv/keys', key);
}

/** Media URLs. */
export const fragmentPlaylist = (id: string) => `/api/fragments/${id}/index.m3u8`;
export const keptStillImage = (id: string) => `/api/stills/${id}/image.jpg`;

// Where a clip is, in the library: on the kit, at the organisation (and removed from the kit), and
// how many of its fragments and stills are kept for a review; the clips already removed from the
// kit of which something is kept (the library passes them: one request for both lists).
import { fmtDuration, useT } from './i18n.js';
import { dayText, type ClipPlace as Place, type RemovedClip } from './review-api.js';
import './review.css';

/** Where a clip is (plain text beside the badges), and what of it is kept (badges). */
export function ClipPlace({ place }: { place: Place }) {
  const t = useT();
  const where = place.onKit ? (place.atOrganisation ? t('whereOrgAndKit') : t('whereKit')) : place.atOrganisation ? t('whereOrg') : t('whereRemoved');
  return (
    <>
      <span class={`place${place.onKit ? '' : ' removed'}`} data-testid="clip-place">
        {where}
      </span>
      {place.fragments > 0 && (
        <span class="badge ok" data-testid="clip-fragments">
          {place.fragments === 1 ? t('fragmentsKeptOne') : t('fragmentsKept', { n: place.fragments })}
        </span>
      )}
      {place.keptStills > 0 && <span class="badge ok">{place.keptStills === 1 ? t('stillsKeptOne') : t('stillsKept', { n: place.keptStills })}</span>}
    </>
  );
}

/** The clips removed from the kit (at the organisation) of which fragments or stills are kept. */
export function RemovedClips({ removed }: { removed: RemovedClip[] }) {
  const t = useT();
  if (removed.length === 0) return null;
  return (
    <section class="card" aria-labelledby="removed-title" data-testid="removed-clips">
      <h2 id="removed-title">{t('removedTitle')}</h2>
      <p class="hint">{t('removedExplain')}</p>
      <ul class="clips">
        {removed.map((c) => (
          <li key={c.id} class="clip" data-clip={c.id}>
            <span class="clip-open">
              <span class="code">{c.caseCode ?? t('unassignedGroup')}</span>
              <span>{c.visitId !== null ? t('visit', { n: c.visitId }) : dayText(c.createdAt, t.lang)}</span>
              <span>{fmtDuration(c.durationMs)}</span>
            </span>
            <span class="badges">
              <ClipPlace place={c.place} />
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

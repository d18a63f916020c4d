// Team kits (issue 20): the trainer-id field of the login form, and who is signed in.
import type { T } from './i18n.js';

/** The trainer id of the login form (pseudonymous, like T-017; empty = the kit's first trainer). */
export function TrainerIdField({ t, value, onInput }: { t: T; value: string; onInput: (v: string) => void }) {
  return (
    <>
      <label for="trainer-id">{t('trainerIdLabel')}</label>
      <input
        id="trainer-id"
        name="trainerId"
        autoComplete="username"
        autoCapitalize="characters"
        pattern="[Tt]-[0-9]{3,6}"
        placeholder="T-017"
        aria-describedby="trainer-id-hint"
        value={value}
        onInput={(e) => onInput((e.target as HTMLInputElement).value)}
      />
      <p id="trainer-id-hint" class="hint">
        {t('trainerIdHint')}
      </p>
    </>
  );
}

/** The login body: the trainer id (upper-cased) only when one was typed. */
export function loginBody(trainerId: string, pin: string): { pin: string; trainerId?: string } {
  const id = trainerId.trim().toUpperCase();
  return id ? { pin, trainerId: id } : { pin };
}

/** "Signed in as T-017 · my cases" for the header. */
export function SignedInAs({ t, trainerId }: { t: T; trainerId: string | undefined }) {
  if (!trainerId) return null;
  return (
    <span class="signed-in" data-testid="signed-in">
      {t('signedInAs', { id: trainerId })} · {t('myCases')}
    </span>
  );
}

/** What the docked kit fetches for the signed-in trainer (the sync status's `fetch`), as a line of the kit card. */
export function FetchLine({ t, sync }: { t: T; sync: object | null }) {
  const f = (
    sync as {
      fetch?: { state: string; clipsReady: number; clipsWaiting: number; bytesDone: number; bytesTotal: number; keptReady?: number; reviewsReady?: number };
    } | null
  )?.fetch;
  if (!f || f.state === 'idle') return null;
  const mb = (b: number) => Math.round(b / 1e6);
  return (
    <>
      <dt>{t('fetchLabel')}</dt>
      <dd data-testid="fetch-line">
        {f.state === 'locked'
          ? t('fetchLocked')
          : t('fetchLine', { ready: f.clipsReady, waiting: f.clipsWaiting, done: mb(f.bytesDone), total: mb(f.bytesTotal) })}
        {f.state !== 'locked' && (f.reviewsReady || f.keptReady) ? ` · ${t('fetchReviews', { reviews: f.reviewsReady ?? 0, kept: f.keptReady ?? 0 })}` : null}
      </dd>
    </>
  );
}

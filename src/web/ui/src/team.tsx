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

interface FetchStatus {
  state: string;
  clipsReady: number;
  clipsWaiting: number;
  bytesDone: number;
  bytesTotal: number;
  keptReady?: number;
  reviewsReady?: number;
  onKit?: { clips: number; reviews: number; fragments: number; stills: number };
}

/**
 * The kit card's line "voor het volgende bezoek" (the sync status's `fetch`): what this kit holds for
 * the signed-in trainer's open cases, what is being fetched now, what the last fetch brought, or that
 * it did not fully work.
 */
export function FetchLine({ t, sync }: { t: T; sync: object | null }) {
  const f = (sync as { fetch?: FetchStatus } | null)?.fetch;
  if (!f || (f.state === 'idle' && !f.onKit)) return null;
  const mb = (b: number) => Math.round(b / 1e6);
  const parts: string[] = [];
  if (f.state === 'locked') parts.push(t('fetchLocked'));
  if (f.onKit) parts.push(t('fetchOnKit', { clips: f.onKit.clips, reviews: f.onKit.reviews, kept: f.onKit.fragments + f.onKit.stills }));
  if (f.state === 'fetching') parts.push(t('fetchBusy', { waiting: f.clipsWaiting, done: mb(f.bytesDone), total: mb(f.bytesTotal) }));
  if (f.state === 'done' && (f.clipsReady || f.reviewsReady || f.keptReady))
    parts.push(t('fetchJust', { clips: f.clipsReady, reviews: f.reviewsReady ?? 0, kept: f.keptReady ?? 0 }));
  if (f.state === 'error') parts.push(t('fetchFailed'));
  return (
    <>
      <dt>{t('fetchLabel')}</dt>
      <dd data-testid="fetch-line">
        {parts.map((p) => (
          <div key={p}>{p}</div>
        ))}
      </dd>
    </>
  );
}

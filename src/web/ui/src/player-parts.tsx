// Parts of the player page: the TV card (present, pair, bring the TV to the phone's position),
// and the lists of markers and stills.
import type { RefObject } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ClipDetail, ControlBody } from './api.js';
import { fmtClipTime, useT } from './i18n.js';
import { Qr } from './qr.js';
import { useApp, useKitEvents } from './shared.js';
import { knownRate, type FrameClock } from './video.js';

/** Presenting this clip on the TV, and a pairing code for a TV browser. */
export function TvSection(props: {
  clipId: string;
  presenting: boolean;
  setPresenting: (p: boolean) => void;
  latency: number | null;
  control: (body: ControlBody) => Promise<void>;
  videoRef: RefObject<HTMLVideoElement | null>;
  clockRef: RefObject<FrameClock | null>;
}) {
  const { clipId, presenting, setPresenting, latency, control, videoRef, clockRef } = props;
  const t = useT();
  const { api, events, fail, notify } = useApp();
  const [pairing, setPairing] = useState<{ code: string; expiresAt: number } | null>(null);
  const [paired, setPaired] = useState(false);
  // A TV joined with the code: say so, and the used code goes.
  useKitEvents(events, ['tv.paired'], () => {
    setPairing(null);
    setPaired(true);
    notify(t('tvPaired'));
  });
  // When this page starts presenting, bring the TV to where the phone is (not on a mere reload).
  const syncTv = useRef(false);

  const present = async () => {
    try {
      if (presenting) {
        await api.del('/api/present');
        setPresenting(false);
        return;
      }
      syncTv.current = true;
      await api.post('/api/present', { clipId });
      setPresenting(true);
    } catch (err) {
      syncTv.current = false;
      fail(err);
    }
  };
  useEffect(() => {
    if (!presenting || !syncTv.current || !videoRef.current) return;
    syncTv.current = false;
    const video = videoRef.current;
    void (async () => {
      await control({ action: 'seek', time: clockRef.current?.now() ?? video.currentTime });
      const rate = knownRate(video.playbackRate);
      if (rate !== null && rate !== 1) await control({ action: 'rate', rate });
      if (!video.paused) await control({ action: 'play' });
    })();
  }, [presenting]);

  const pair = async () => {
    try {
      setPaired(false);
      setPairing(await api.post<{ code: string; expiresAt: number }>('/api/tv/pairing', {}));
    } catch (err) {
      fail(err);
    }
  };

  const tvUrl = `${location.origin}/tv`;
  return (
    <section class="card" aria-labelledby="tv-title">
      <h2 id="tv-title" class="sr-only">
        {t('tvSection')}
      </h2>
      <div class="row">
        <button type="button" class={presenting ? 'stop' : 'primary'} onClick={present} data-testid="present">
          {presenting ? t('presentStop') : t('present')}
        </button>
        <button type="button" class="secondary" onClick={pair} data-testid="pair">
          {t('pairing')}
        </button>
      </div>
      {presenting && (
        <p role="status">
          {t('presenting')}
          {latency !== null && ` · ${t('tvLatency', { ms: latency })}`}
        </p>
      )}
      {pairing && (
        <div class="pairing">
          <p class="pair-code" data-testid="pair-code" aria-label={t('pairingCode', { code: pairing.code })}>
            {pairing.code}
          </p>
          <p class="hint" data-testid="pair-hint">
            {t('pairingHint', { url: tvUrl, time: new Date(pairing.expiresAt).toLocaleTimeString(t.lang === 'nl' ? 'nl-NL' : 'en-GB') })}
          </p>
          <Qr text={tvUrl} label={t('pairingQr')} class="pair-qr" />
        </div>
      )}
      {paired && (
        <p role="status" data-testid="tv-paired">
          {t('tvPaired')}
        </p>
      )}
    </section>
  );
}

/** The markers as ticks under the time slider, where they are on the clip's time line. */
export function MarkerTicks({ markers, total }: { markers: ClipDetail['markers']; total: number }) {
  const t = useT();
  if (!total) return null;
  return (
    <div class="timeline" aria-hidden="true" data-testid="marker-ticks">
      {markers.map((m) => (
        <span
          key={m.id}
          class="tick"
          style={{ left: `${Math.min(100, (m.offsetMs / 1000 / total) * 100)}%` }}
          title={t('markerTick', { label: m.label ?? t('markerNoLabel'), time: fmtClipTime(m.offsetMs / 1000) })}
          data-offset-ms={m.offsetMs}
        />
      ))}
    </div>
  );
}

/** The clip's markers; a press seeks there. */
export function MarkerList({ clip, seek }: { clip: ClipDetail | null; seek: (time: number) => void }) {
  const t = useT();
  const { config } = useApp();
  return (
    <section class="card" aria-labelledby="markers-title">
      <h2 id="markers-title">{t('markers')}</h2>
      {clip && clip.markers.length === 0 && <p class="hint">{t('markersNone')}</p>}
      <ul class="list" data-testid="markers">
        {clip?.markers.map((m, i) => (
          <li key={m.id ?? i}>
            <button type="button" class="link" onClick={() => seek(Math.max(0, m.offsetMs - config.markerLeadInMs) / 1000)}>
              {fmtClipTime(m.offsetMs / 1000)} · {m.label ?? t('markerNoLabel')}
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** The clip's stills as thumbnails; a press seeks there. */
export function StillList({ clipId, clip, seek }: { clipId: string; clip: ClipDetail | null; seek: (time: number) => void }) {
  const t = useT();
  return (
    <section class="card" aria-labelledby="stills-title">
      <h2 id="stills-title">{t('stills')}</h2>
      {(clip?.stills ?? []).length === 0 && <p class="hint">{t('stillsNone')}</p>}
      <ul class="stills" data-testid="stills">
        {(clip?.stills ?? []).map((s) => (
          <li key={s.id}>
            <button type="button" class="link" onClick={() => seek(s.timeMs / 1000)}>
              <img src={`/api/clips/${clipId}/stills/${s.id}.jpg`} alt={`${t('stills')} ${fmtClipTime(s.timeMs / 1000)}`} loading="lazy" />
              <span>{fmtClipTime(s.timeMs / 1000)}</span>
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** A JPEG of the video's current frame. */
export async function frameJpeg(video: HTMLVideoElement, noVideo: string): Promise<Blob> {
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const g = canvas.getContext('2d');
  if (!g || !canvas.width) throw new Error(noVideo);
  g.drawImage(video, 0, 0);
  return new Promise<Blob>((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('toBlob'))), 'image/jpeg', 0.92));
}

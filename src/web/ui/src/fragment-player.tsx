// The fragment player (#/fragment/<id>): plays a kept fragment from its in point and loops its
// range at the chosen speed, frame by frame when paused; the label and the note (a question for the
// parents) can be changed here. It works after the raw clip has left the kit.
import { useEffect, useRef, useState } from 'preact/hooks';
import { RangeGuard } from './fragment-video.js';
import { LabelSelect, NoteField, useReviewApi } from './fragments.js';
import { fmtClipTime, useT } from './i18n.js';
import { usePlayerKeys } from './player-hooks.js';
import { asLabel, fragmentPlaylist, labelName, secs, type Fragment } from './review-api.js';
import { useApp } from './shared.js';
import { attachHls, FrameClock, RATE_LABEL, RATES } from './video.js';

/** The range of a fragment in seconds of its own playlist. */
export function playlistRange(f: Pick<Fragment, 'inMs' | 'outMs' | 'playlistStartMs'>): [number, number] {
  return [(f.inMs - f.playlistStartMs) / 1000, (f.outMs - f.playlistStartMs) / 1000];
}

/** A fragment's video: its playlist, a frame clock and the range guard; position in the range. */
function useFragmentVideo(f: Fragment | null) {
  const videoRef = useRef<HTMLVideoElement>(null);
  const clockRef = useRef<FrameClock | null>(null);
  const [now, setNow] = useState(0);
  const [paused, setPaused] = useState(true);
  const [error, setError] = useState('');
  const id = f?.id;
  useEffect(() => {
    const v = videoRef.current;
    if (!v || !f) return;
    const range = playlistRange(f);
    const clock = new FrameClock(v);
    clockRef.current = clock;
    const guard = new RangeGuard(v, clock, range);
    const offFrame = clock.onFrame((time) => setNow(time));
    const sync = () => {
      setPaused(v.paused);
      setNow(clock.now());
    };
    const start = () => guard.rewind();
    const evs = ['play', 'pause', 'seeked'];
    evs.forEach((e) => v.addEventListener(e, sync));
    v.addEventListener('loadedmetadata', start, { once: true });
    let attached: { destroy(): void } | null = null;
    let dead = false;
    void attachHls(v, fragmentPlaylist(f.id), { onError: setError }).then((a) => {
      if (dead) a.destroy();
      else attached = a;
    });
    return () => {
      dead = true;
      offFrame();
      evs.forEach((e) => v.removeEventListener(e, sync));
      v.removeEventListener('loadedmetadata', start);
      guard.destroy();
      clock.stop();
      attached?.destroy();
    };
  }, [id]);
  return { videoRef, clockRef, now, paused, error };
}

export function FragmentPlayer({ fragmentId }: { fragmentId: string }) {
  const t = useT();
  const { config, fail, notify } = useApp();
  const rapi = useReviewApi();
  const [f, setF] = useState<Fragment | null>(null);
  const [label, setLabel] = useState('');
  const [note, setNote] = useState('');
  const [rate, setRate] = useState<number>(1);
  useEffect(() => {
    rapi.fragment(fragmentId).then((x) => {
      setF(x);
      setLabel(x.label ?? '');
      setNote(x.note ?? '');
    }, fail);
  }, [rapi, fragmentId, fail]);
  const { videoRef, clockRef, now, paused, error } = useFragmentVideo(f);
  const fps = config.fps > 0 ? config.fps : 25;
  const v = () => videoRef.current!;
  const toggle = () => {
    if (v().paused) v().play().catch(fail);
    else v().pause();
  };
  const step = (d: -1 | 1) => clockRef.current?.step(d, fps);
  const speed = (r: number) => {
    v().playbackRate = r;
    setRate(r);
  };
  usePlayerKeys((e) => {
    const keys: Record<string, () => void> = {
      ' ': toggle,
      ',': () => step(-1),
      '.': () => step(1),
      '1': () => speed(1),
      '2': () => speed(0.5),
      '4': () => speed(0.25),
    };
    keys[e.key]?.();
    return e.key in keys;
  });
  const save = async () => {
    try {
      setF(await rapi.patchFragment(fragmentId, { label: asLabel(label), note: note.trim() || null }));
      notify(t('fragmentNoteSaved'));
    } catch (err) {
      fail(err);
    }
  };
  if (!f) return <p>{t('loading')}</p>;
  const [a, b] = playlistRange(f);
  return (
    <div class="player fragment-player">
      <p>
        <a href={`#/clip/${f.clipId}`}>← {t('fragmentBack')}</a>
      </p>
      <h1>
        {t('fragmentTitle')}: {labelName(t, f.label)}
      </h1>
      <div class="video-wrap">
        <video ref={videoRef} playsInline preload="auto" data-testid="fragment-video" aria-label={t('fragmentTitle')} />
      </div>
      {error && (
        <p class="error" role="alert">
          {t('noVideo')} ({error})
        </p>
      )}
      <p class="time" data-testid="fragment-time">
        {fmtClipTime(Math.max(0, now - a))} / {fmtClipTime(b - a)} · {RATE_LABEL[rate]} ·{' '}
        {t('fragmentLoops', { a: fmtClipTime(f.inMs / 1000), b: fmtClipTime(f.outMs / 1000) })}
      </p>
      <div class="controls" role="toolbar" aria-label={t('playerTitle')}>
        <button type="button" onClick={() => step(-1)} aria-label={t('frameBack')} data-testid="frame-back">
          ◀︎|
        </button>
        <button type="button" class="primary play" onClick={toggle} aria-label={paused ? t('play') : t('pause')} data-testid="play">
          {paused ? '▶︎' : '❚❚'}
        </button>
        <button type="button" onClick={() => step(1)} aria-label={t('frameForward')} data-testid="frame-forward">
          |▶︎
        </button>
        {RATES.map((r) => (
          <button key={r} type="button" aria-pressed={rate === r} onClick={() => speed(r)} data-testid={`rate-${r}`}>
            {RATE_LABEL[r]}
          </button>
        ))}
      </div>
      <section class="card">
        <LabelSelect id="fp-label" value={label} onChange={setLabel} />
        <NoteField id="fp-note" value={note} onChange={setNote} />
        <div class="row">
          <button type="button" class="primary" onClick={save} data-testid="fragment-update">
            {t('save')}
          </button>
          <span class="hint">{secs(f.outMs - f.inMs)} s</span>
        </div>
      </section>
    </div>
  );
}

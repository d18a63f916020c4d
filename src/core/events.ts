/**
 * The kit's vocabulary of events and TV actions: `as const` lists from which the types, the bus
 * and the UI (which imports this file) derive. No Node imports here: the web UI bundles it.
 */

/** Every event name on the bus, in one list (the web event stream forwards them all). */
export const KIT_EVENT_NAMES = [
  'state',
  'segment.closed',
  'clip.started',
  'clip.stopped',
  'clip.updated',
  'marker',
  'camera.error',
  'camera.ok',
  'storage.low',
  'battery',
  'dock',
  'button',
  'sync',
  'present',
  'tv.control',
  'tv.ack',
  'tv.paired',
] as const;

export type KitEventName = (typeof KIT_EVENT_NAMES)[number];

/** The player commands the TV page carries out. */
export const TV_ACTIONS = ['play', 'pause', 'toggle', 'rate', 'seek', 'step', 'marker', 'loop', 'back'] as const;

export type TvAction = (typeof TV_ACTIONS)[number];

/** The playback rates the TV accepts (slow motion for micro-analysis). */
export const TV_RATES = [1, 0.5, 0.25] as const;

/** Where a TV command came from. */
export const TV_SOURCES = ['phone', 'cec', 'keys'] as const;

export type RecorderStateName = 'idle' | 'armed' | 'recording' | 'error';

export interface TvControl {
  action: TvAction;
  /** rate: 1, 0.5 or 0.25. */
  rate?: number;
  /** seek: clip time in seconds. */
  time?: number;
  /** step / marker: -1 (back, previous) or +1 (forward, next). */
  direction?: -1 | 1;
  /** loop: [start, end] in seconds, or null to stop looping. */
  loop?: [number, number] | null;
  /** Where the command came from. */
  source: (typeof TV_SOURCES)[number];
  /** A counter the TV answers with, so the phone can measure the reaction time. */
  id: number;
}

/** The player state the TV follows while a review item is presented (seconds of the item's playlist). */
export interface PlayerState {
  playing: boolean;
  rate: number;
  positionS: number;
  loop: [number, number] | null;
}

/** A review item on the TV: which one, its footage and its range; never its note. */
export interface PresentedReviewItem {
  reviewId: string;
  /** 0-based index in the review's items. */
  item: number;
  count: number;
  kind: 'fragment' | 'still';
  refId: string;
  label: string | null;
  /** Fragments: the range to loop, in seconds of the fragment's playlist. */
  range: [number, number] | null;
}

/** The payload of each event; its keys are exactly KIT_EVENT_NAMES (checked below). */
export interface KitEvents {
  state: { state: RecorderStateName; clipId?: string; error?: string };
  'segment.closed': { clipId?: string; seq?: number; durationMs: number; bytes: number };
  'clip.started': { clipId: string; caseCode: string | null };
  'clip.stopped': { clipId: string; durationMs: number; reason: string };
  'clip.updated': { clipId: string };
  marker: { clipId: string; markerId: number; offsetMs: number; label: string | null };
  'camera.error': { message: string; restartInMs: number };
  'camera.ok': { profile: string };
  'storage.low': { freeBytes: number; minutesLeft: number };
  battery: { percent: number; charging: boolean };
  dock: { docked: boolean; source: string };
  button: { kind: string; action: string; ok: boolean; error?: string };
  sync: { state: string; pending: number; bytesDone: number; bytesTotal: number; etaSeconds?: number; lastError?: string };
  /** The clip or review item shown on the family's TV changed (clipId null and no review = nothing presented). */
  present: { clipId: string | null; review?: PresentedReviewItem | null; player?: PlayerState };
  /** A player command for the TV page: from the trainer's phone, or the TV remote over HDMI-CEC. */
  'tv.control': TvControl;
  /** The TV page has carried out the command with this id (for the phone's reaction-time display). */
  'tv.ack': { id: number };
  /** A TV browser joined with the pairing code (the phone says so; the code is used up). */
  'tv.paired': { at: number };
}

// Compile-time: the list and the payload table name the same events (an error here names the odd one).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const _sameEvents: Same<KitEventName, keyof KitEvents> = true;
void _sameEvents;

type Listener<T> = (payload: T) => void;

/** A typed event bus: components publish and subscribe by name, never by reference to each other. */
export class EventBus {
  private readonly listeners = new Map<KitEventName, Set<Listener<never>>>();

  /** Calls every listener of `name` in order of subscription (a listener added meanwhile waits for the next emit). */
  emit<K extends KitEventName>(name: K, payload: KitEvents[K]): void {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const fn of [...set]) (fn as Listener<KitEvents[K]>)(payload);
  }

  /** Subscribes to one event; returns the unsubscribe function. */
  on<K extends KitEventName>(name: K, fn: Listener<KitEvents[K]>): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    // A wrapper per subscription, so the same function subscribed twice is called twice (as before).
    const entry: Listener<KitEvents[K]> = (p) => fn(p);
    set.add(entry);
    return () => {
      set.delete(entry);
    };
  }

  /** Subscribe to every event; returns the unsubscribe function. */
  onAny(fn: (name: KitEventName, payload: unknown) => void): () => void {
    const offs = KIT_EVENT_NAMES.map((n) => this.on(n, (p) => fn(n, p)));
    return () => offs.forEach((off) => off());
  }
}

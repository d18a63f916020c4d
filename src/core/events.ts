import { EventEmitter } from 'node:events';

/** The kit's events; the web event stream forwards them to the UI. */
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
  /** The clip shown on the family's TV changed (null = nothing presented). */
  present: { clipId: string | null };
  /** A player command for the TV page: from the trainer's phone, or the TV remote over HDMI-CEC. */
  'tv.control': TvControl;
  /** The TV page has carried out the command with this id (for the phone's reaction-time display). */
  'tv.ack': { id: number };
}

export type TvAction = 'play' | 'pause' | 'toggle' | 'rate' | 'seek' | 'step' | 'marker' | 'loop' | 'back';

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
  source: 'phone' | 'cec' | 'keys';
  /** A counter the TV answers with, so the phone can measure the reaction time. */
  id: number;
}

export type RecorderStateName = 'idle' | 'armed' | 'recording' | 'error';

type Listener<T> = (payload: T) => void;

/** A typed event bus: components publish and subscribe by name, never by reference to each other. */
export class EventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(100);
  }

  emit<K extends keyof KitEvents>(name: K, payload: KitEvents[K]): void {
    this.emitter.emit(name, payload);
  }

  on<K extends keyof KitEvents>(name: K, fn: Listener<KitEvents[K]>): () => void {
    this.emitter.on(name, fn);
    return () => this.emitter.off(name, fn);
  }

  /** Subscribe to every event; returns the unsubscribe function. */
  onAny(fn: (name: keyof KitEvents, payload: unknown) => void): () => void {
    const names: (keyof KitEvents)[] = [
      'state', 'segment.closed', 'clip.started', 'clip.stopped', 'clip.updated', 'marker',
      'camera.error', 'camera.ok', 'storage.low', 'battery', 'dock', 'button', 'sync', 'present', 'tv.control', 'tv.ack',
    ];
    const offs = names.map((n) => this.on(n, (p) => fn(n, p)));
    return () => offs.forEach((off) => off());
  }
}

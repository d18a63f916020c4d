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
      'camera.error', 'camera.ok', 'storage.low', 'battery', 'dock', 'button', 'sync',
    ];
    const offs = names.map((n) => this.on(n, (p) => fn(n, p)));
    return () => offs.forEach((off) => off());
  }
}

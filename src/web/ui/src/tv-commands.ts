// The TV page's player commands: from the phone or the kit's TV remote (tv.control), or this TV's
// own keys; and the hub that hands them to the screen once it can apply them.
import type { TvAction } from '../../../core/events.js';
import type { Api } from './api.js';
import './player-globals.js';

/** A player command: from the phone or the kit's TV remote (tv.control), or this TV's own keys. */
export interface Command {
  action: TvAction;
  rate?: number;
  time?: number;
  direction?: -1 | 1;
  loop?: [number, number] | null;
  source?: string;
  id?: number;
}

/**
 * Hands commands to the screen once it can apply them; keeps the ones that arrive before (the
 * phone sends position and speed right after presenting, often before the TV has mounted the
 * screen or loaded the clip's metadata). The only command buffer of the TV page.
 */
export class CommandHub {
  private listener: ((c: Command) => void) | null = null;
  private pending: Command[] = [];

  send(c: Command): void {
    if (this.listener) this.listener(c);
    else if (this.pending.push(c) > 50) this.pending.shift();
  }

  attach(fn: (c: Command) => void): () => void {
    this.listener = fn;
    for (const c of this.pending.splice(0)) fn(c);
    return () => {
      if (this.listener === fn) this.listener = null;
    };
  }

  /**
   * Another clip or review item is presented (or none): what waits was meant for the old one, and
   * the screen showing the old one takes nothing more; the new one's screen attaches when ready.
   */
  reset(): void {
    this.pending = [];
    this.listener = null;
  }
}

/** Tells the kit the TV carried out command `c` (the phone shows the reaction time). */
export function ack(api: Api, c: Command): void {
  if (typeof c.id !== 'number') return;
  (window.__vhtTvApplied ??= {})[c.id] = performance.timeOrigin + performance.now();
  void api.post('/api/tv/ack', { id: c.id }).catch((err: unknown) => console.warn('tv ack', c.id, err));
}

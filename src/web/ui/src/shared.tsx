// Pieces every page of the trainer's app shares: the API client, live events, messages.
import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useRef } from 'preact/hooks';
import type { Api, UiConfig } from './api.js';

export interface Notice {
  text: string;
  kind: 'info' | 'error';
  at: number;
}

export interface Ctx {
  api: Api;
  /** Server-sent events of /api/events, re-dispatched as CustomEvents named like the kit's events. */
  events: EventTarget;
  config: UiConfig;
  notify: (text: string, kind?: 'info' | 'error') => void;
  /** Shows an API error in the message bar (Dutch or English lead + the server's message). */
  fail: (err: unknown) => void;
  logout: () => Promise<void>;
}

export const AppCtx = createContext<Ctx | null>(null);

export function useApp(): Ctx {
  const c = useContext(AppCtx);
  if (!c) throw new Error('AppCtx missing');
  return c;
}

/** Runs `fn` on each of the named kit events while the component is mounted. */
export function useKitEvents(events: EventTarget, names: string[], fn: (name: string, data: any) => void): void {
  const ref = useRef(fn);
  ref.current = fn;
  const key = names.join(',');
  useEffect(() => {
    const handlers = key.split(',').map((n) => {
      const h = (e: Event) => ref.current(n, (e as CustomEvent).detail);
      events.addEventListener(n, h);
      return [n, h] as const;
    });
    return () => handlers.forEach(([n, h]) => events.removeEventListener(n, h));
  }, [events, key]);
}

/**
 * `fn` at most once per `ms`, after the first call of a burst (a marker press or a take start
 * brings several events at once; one reload answers them all). Cancelled on unmount.
 */
export function useDebounced(fn: () => void, ms: number): () => void {
  const ref = useRef(fn);
  ref.current = fn;
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current);
    },
    [],
  );
  return useCallback(() => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      ref.current();
    }, ms);
  }, [ms]);
}

export const DEFAULT_CONFIG: UiConfig = {
  markerLabels: [],
  trajectories: [],
  consentScopes: ['recording', 'review', 'supervision', 'training'],
  kitId: '',
  fps: 25,
  markerLeadInMs: 3000,
  fragmentLeadOutMs: 7000,
};

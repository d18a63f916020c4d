// The kit's HTTP API as the pages use it: JSON in and out, the CSRF token on every state-changing
// request, the server's error message kept for display.

// ApiError and errorText live in errors.ts (the translated messages); re-exported here for the pages.
export { ApiError, errorText } from './errors.js';
import { ApiError } from './errors.js';

// The API's shapes come from the server's route schemas (type-only: no zod in the bundle).
export type { CaseRow, ClipDetail, ClipSummary, Consent, ControlBody, Marker, Session, Still, Status, SyncStatus, TvState, UiConfig } from '../../schemas.js';
import type { ErrorReply, Session } from '../../schemas.js';

type ErrorBody = ErrorReply['error'];

function cookie(name: string): string | null {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return null;
}

/** The API client of one page. `onUnauthorized` runs on every 401 (the page shows its login). */
export class Api {
  csrf: string | null = null;
  onUnauthorized: (() => void) | null = null;

  /**
   * This page's CSRF token: the one its session answered with, else the cookie (one cookie serves
   * both roles, so a browser that is trainer and paired TV at once overwrites it; a refusal for the
   * token makes the page ask its session again and retry once).
   */
  private token(): string {
    return this.csrf ?? cookie('vht_csrf') ?? '';
  }

  async request<R>(method: string, url: string, body?: unknown, contentType?: string): Promise<R> {
    try {
      return await this.once<R>(method, url, body, contentType);
    } catch (err) {
      const stale = err instanceof ApiError && err.status === 403 && err.field === 'headers.x-csrf-token';
      if (!stale) throw err;
      this.csrf = null;
      if ((await this.session()) === null) throw err;
      return this.once<R>(method, url, body, contentType);
    }
  }

  private async once<R>(method: string, url: string, body?: unknown, contentType?: string): Promise<R> {
    const headers: Record<string, string> = {};
    let payload: BodyInit | undefined;
    if (body instanceof Blob) {
      payload = body;
      headers['content-type'] = contentType ?? body.type;
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] = 'application/json';
    }
    if (method !== 'GET' && method !== 'HEAD') headers['x-csrf-token'] = this.token();
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body: payload, credentials: 'same-origin' });
    } catch (err) {
      throw new ApiError(0, 'NETWORK', err instanceof Error ? err.message : String(err));
    }
    if (res.status === 401 && url !== '/api/login' && url !== '/api/unlock') this.onUnauthorized?.();
    if (!res.ok) {
      let body: Partial<ErrorBody> = {};
      try {
        body = ((await res.json()) as Partial<ErrorReply>).error ?? {};
      } catch {
        body = { message: res.statusText };
      }
      throw new ApiError(res.status, body.code ?? 'HTTP', body.message ?? '', body.field, body.reason, body.params);
    }
    if (res.status === 204) return undefined as R;
    const type = res.headers.get('content-type') ?? '';
    return (type.includes('json') ? await res.json() : await res.text()) as R;
  }

  get<R>(url: string): Promise<R> {
    return this.request<R>('GET', url);
  }

  post<R>(url: string, body: unknown = {}): Promise<R> {
    return this.request<R>('POST', url, body);
  }

  patch<R>(url: string, body: unknown): Promise<R> {
    return this.request<R>('PATCH', url, body);
  }

  del<R>(url: string, body?: unknown): Promise<R> {
    return this.request<R>('DELETE', url, body);
  }

  /** GET /api/session; null when there is none (401). Keeps the CSRF token. */
  async session(): Promise<Session | null> {
    try {
      const s = await this.get<Session>('/api/session');
      this.csrf = s.csrf;
      return s;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return null;
      throw err;
    }
  }
}

/** Subscribes to named server-sent events; returns the close function. EventSource reconnects by itself. */
export function subscribe(url: string, handlers: Record<string, (data: any) => void>, onState?: (open: boolean) => void): () => void {
  let es: EventSource | null = null;
  let retry: ReturnType<typeof setTimeout> | null = null;
  let closed = false;
  const connect = () => {
    es = new EventSource(url);
    for (const [name, fn] of Object.entries(handlers)) {
      es.addEventListener(name, (e) => {
        try {
          fn(JSON.parse((e as MessageEvent<string>).data));
        } catch (err) {
          console.warn('bad event', name, err);
        }
      });
    }
    es.onopen = () => onState?.(true);
    es.onerror = () => {
      onState?.(false);
      // EventSource gives up for good after a refused reconnect (e.g. 401 once a session has
      // ended); try again a little later, the page's own requests meanwhile show why.
      if (es?.readyState === EventSource.CLOSED && !closed) retry = setTimeout(connect, 3000);
    };
  };
  connect();
  return () => {
    closed = true;
    if (retry) clearTimeout(retry);
    es?.close();
  };
}

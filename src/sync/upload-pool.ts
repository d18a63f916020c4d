import { abortedError } from './errors.js';

/**
 * Sends items with `concurrency` workers; the first error stops the others and is thrown. Each item
 * is prepared (read from the card, hashed) one step ahead, so the hashing overlaps the upload before it.
 */
export async function runUploadPool<T, P>(
  items: T[],
  concurrency: number,
  signal: AbortSignal,
  prepare: (item: T) => Promise<P>,
  send: (item: T, prepared: P, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  if (items.length === 0) return;
  const ctrl = new AbortController();
  const onAbort = () => ctrl.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  const prepared = new Map<number, Promise<P>>();
  const prepareAt = (i: number): Promise<P> => {
    let p = prepared.get(i);
    if (!p) {
      p = prepare(items[i]!);
      p.catch(() => undefined); // awaited (and reported) by the worker that sends it
      prepared.set(i, p);
    }
    return p;
  };
  let next = 0;
  let failure = null as { error: unknown } | null; // set by the workers: no narrowing to null
  const worker = async () => {
    while (failure === null && !ctrl.signal.aborted && next < items.length) {
      const i = next++;
      try {
        const ready = prepareAt(i);
        if (next < items.length) void prepareAt(next);
        const p = await ready;
        prepared.delete(i);
        await send(items[i]!, p, ctrl.signal);
      } catch (err) {
        failure ??= { error: err };
        ctrl.abort();
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  } finally {
    signal.removeEventListener('abort', onAbort);
    prepared.clear();
  }
  if (failure !== null) throw failure.error;
  if (signal.aborted) throw abortedError();
}

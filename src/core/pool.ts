/**
 * Runs `fn` over `items` with at most `limit` at a time (the office's parallel GETs and LISTs over
 * hundreds of kits, a kit's reads of the keys sent to it); results in input order. The first error stops new work and is thrown once
 * the running ones have settled. `onDone` counts finished items (the progress bar).
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
  onDone?: (done: number) => void,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let done = 0;
  let failure: { err: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (failure === null && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (err) {
        failure ??= { err };
        return;
      }
      done += 1;
      onDone?.(done);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw (failure as { err: unknown }).err;
  return out;
}

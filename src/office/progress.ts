/** Where a long office command shows how far it is: a bar on a TTY, nothing otherwise. */
export interface Progress {
  /** Starts a phase of `total` steps. */
  phase(label: string, total: number): void;
  /** Steps done in the current phase. */
  update(done: number): void;
  /** Clears the bar. */
  end(): void;
}

/** No output (not a TTY, --json piped, tests). */
export const NO_PROGRESS: Progress = { phase: () => undefined, update: () => undefined, end: () => undefined };

/** A one-line bar on `stream` (stderr), redrawn at most every 100 ms; only when it is a TTY. */
export function progressBar(stream: NodeJS.WriteStream, now: () => number = Date.now): Progress {
  if (!stream.isTTY) return NO_PROGRESS;
  let label = '';
  let total = 0;
  let last = 0;
  const draw = (done: number) => {
    const width = 30;
    const filled = total > 0 ? Math.round((done / total) * width) : 0;
    stream.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}\x1b[K`);
  };
  return {
    phase(l, t) {
      label = l;
      total = t;
      draw(0);
    },
    update(done) {
      if (done < total && now() - last < 100) return;
      last = now();
      draw(done);
    },
    end() {
      stream.write('\r\x1b[K');
    },
  };
}

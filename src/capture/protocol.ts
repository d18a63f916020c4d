/** IPC messages between the main process and the capture worker. */
export type ToWorker = { type: 'arm'; launch: string; segmentMs: number; playingTimeoutMs: number } | { type: 'cut' } | { type: 'disarm' };

export type FromWorker =
  /** Times are monotonic ms (CLOCK_MONOTONIC, see core/clock.ts), comparable across processes. */
  | { type: 'playing'; mono: number }
  | { type: 'segment'; path: string; startMono: number; endMono: number; bytes: number }
  | { type: 'error'; message: string; source?: string }
  | { type: 'eos' };

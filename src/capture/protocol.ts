/** IPC messages between the main process and the capture worker. */
export type ToWorker =
  | { type: 'arm'; launch: string; segmentMs: number; playingTimeoutMs: number }
  | { type: 'cut' }
  | { type: 'disarm' };

export type FromWorker =
  | { type: 'playing'; wallMs: number }
  | { type: 'segment'; path: string; startMs: number; endMs: number; bytes: number }
  | { type: 'error'; message: string; source?: string }
  | { type: 'eos' };

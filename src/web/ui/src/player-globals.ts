// Measurement hooks the benches read (bench/ui-latency.mjs): plain arrays on window, no behaviour.
export {};

declare global {
  interface Window {
    /** Reaction times of the TV (ms, phone command → TV acknowledgement), for the benches. */
    __vhtTvLatencies?: number[];
    /** When each command was sent (epoch ms, high resolution), by command id. */
    __vhtTvSent?: Record<number, number>;
    /** When the TV page applied each command (epoch ms, high resolution), by command id. */
    __vhtTvApplied?: Record<number, number>;
  }
}

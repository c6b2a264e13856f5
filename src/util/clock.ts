/** An opaque timer handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = object;

/**
 * Time as a dependency: every timer and timestamp in peerpost goes through a Clock, so
 * that backoff, timeouts and retries can be tested in virtual time.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `Date.now` and the global timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

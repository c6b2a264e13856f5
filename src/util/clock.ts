import { inMicrotask } from './microtask.js';

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

/** Reads of {@link BurstClock.now} that may share one reading of the clock. */
const BURST_READS = 256;

/**
 * The send path's clock: `Date.now()` costs ~50 ns on the machines peerpost is measured
 * on, about 5% of sending and receiving a 64 B message. Sends made in one synchronous
 * burst share a reading: at most {@link BURST_READS} of them, and never beyond the
 * current task (the reading expires in a microtask), so a timestamp is at most a few
 * hundred messages' worth of CPU old (well under a millisecond, the timestamps'
 * resolution) and a send in a later tick always reads the clock again. Only the real
 * clock is shared this way: a virtual clock (tests) is read on every call, since it can
 * move between two calls of one task.
 */
export class BurstClock {
  readonly #clock: Clock;
  readonly #shared: boolean;
  #ms = 0;
  #left = 0;
  #expiring = false;
  readonly #expire = (): void => {
    this.#left = 0;
    this.#expiring = false;
  };

  constructor(clock: Clock, shareReadings = clock === systemClock) {
    this.#clock = clock;
    this.#shared = shareReadings;
  }

  now(): number {
    if (this.#left > 0) {
      this.#left--;
      return this.#ms;
    }
    const ms = this.#clock.now();
    if (this.#shared) {
      this.#ms = ms;
      this.#left = BURST_READS - 1;
      if (!this.#expiring) {
        this.#expiring = true;
        inMicrotask(this.#expire);
      }
    }
    return ms;
  }
}

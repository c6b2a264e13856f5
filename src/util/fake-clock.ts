import type { Clock, TimerHandle } from './clock.js';

interface FakeTimer {
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * A virtual clock for tests. Timers fire only when the test advances time, in order of
 * due time (ties in order of creation). `pendingTimers` lets a test assert that an
 * object left no timer behind after `close()`.
 */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #timers = new Set<FakeTimer>();

  constructor(startMs = 1_700_000_000_000) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: FakeTimer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#timers.add(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as FakeTimer);
  }

  /** Number of timers set and not yet fired or cleared. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  #next(limit: number): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.#timers) {
      if (t.at <= limit && (best === undefined || t.at < best.at || (t.at === best.at && t.seq < best.seq))) {
        best = t;
      }
    }
    return best;
  }

  /** Advances time by `ms`, firing due timers synchronously, in order. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (let t = this.#next(target); t; t = this.#next(target)) {
      this.#timers.delete(t);
      this.#now = Math.max(this.#now, t.at);
      t.fn();
    }
    this.#now = target;
  }

  /**
   * Advances time by `ms` like {@link advance}, but lets promise callbacks and I/O
   * callbacks run after every timer (and before the first), so async code driven by
   * the timers makes progress as it would in real time.
   */
  async tick(ms: number): Promise<void> {
    const target = this.#now + ms;
    await settle();
    for (let t = this.#next(target); t; t = this.#next(target)) {
      this.#timers.delete(t);
      this.#now = Math.max(this.#now, t.at);
      t.fn();
      await settle();
    }
    this.#now = target;
    await settle();
  }
}

/** Lets queued microtasks and immediate callbacks run. */
export async function settle(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

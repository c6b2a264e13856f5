import type { Clock } from '../util/clock.js';

export interface DedupOptions {
  /** Message ids remembered at most; the oldest is forgotten first. @default 10000 */
  windowSize?: number;
  /** An id is remembered at most this long. @default 60000 */
  ttlMs?: number;
}

/**
 * A bounded window of recently delivered message ids. In `both` send mode a receiver gets
 * each message twice (direct and broadcast); the second copy is recognised here and
 * dropped. Memory is bounded by `windowSize` whatever the peers send.
 */
export class DedupWindow {
  readonly windowSize: number;
  readonly ttlMs: number;
  readonly #clock: Clock;
  /** Ids in the window, for membership. */
  readonly #seen = new Set<string>();
  /**
   * The same ids in arrival order with the time each was first seen, as a ring of
   * slots that grows up to `windowSize`: the oldest is at `#head`. (Iterating a Map from
   * its front after many deletes walks their holes: a ring keeps every call O(1).)
   */
  #ids: (string | undefined)[];
  #times: Float64Array;
  #head = 0;
  #count = 0;

  constructor(clock: Clock, options: DedupOptions = {}) {
    this.#clock = clock;
    this.windowSize = options.windowSize ?? 10_000;
    this.ttlMs = options.ttlMs ?? 60_000;
    const initial = Math.min(this.windowSize, 1024);
    this.#ids = new Array<string | undefined>(initial).fill(undefined);
    this.#times = new Float64Array(initial);
  }

  /**
   * True the first time `id` is seen within the window; false for a duplicate. `now`
   * (default: the clock) lets the caller pass the time it already read.
   */
  firstSeen(id: string, now: number = this.#clock.now()): boolean {
    this.#expire(now);
    if (this.#seen.has(id)) return false;
    if (this.windowSize === 0) return true;
    if (this.#count === this.windowSize) this.#dropOldest();
    else if (this.#count === this.#ids.length) this.#grow();
    const slot = (this.#head + this.#count) % this.#ids.length;
    this.#ids[slot] = id;
    this.#times[slot] = now;
    this.#count++;
    this.#seen.add(id);
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }

  #expire(now: number): void {
    while (this.#count > 0 && now - this.#times[this.#head]! >= this.ttlMs) this.#dropOldest();
  }

  #dropOldest(): void {
    this.#seen.delete(this.#ids[this.#head]!);
    this.#ids[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#ids.length;
    this.#count--;
  }

  /** Doubles the ring (up to `windowSize`), oldest first at slot 0. */
  #grow(): void {
    const size = Math.min(this.windowSize, this.#ids.length * 2);
    const ids = new Array<string | undefined>(size).fill(undefined);
    const times = new Float64Array(size);
    for (let i = 0; i < this.#count; i++) {
      const from = (this.#head + i) % this.#ids.length;
      ids[i] = this.#ids[from];
      times[i] = this.#times[from]!;
    }
    this.#ids = ids;
    this.#times = times;
    this.#head = 0;
  }
}

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
  /** id -> time first seen; Map iteration order is insertion order, so the oldest is first. */
  readonly #seen = new Map<string, number>();

  constructor(clock: Clock, options: DedupOptions = {}) {
    this.#clock = clock;
    this.windowSize = options.windowSize ?? 10_000;
    this.ttlMs = options.ttlMs ?? 60_000;
  }

  /** True the first time `id` is seen within the window; false for a duplicate. */
  firstSeen(id: string): boolean {
    const now = this.#clock.now();
    this.#expire(now);
    if (this.#seen.has(id)) return false;
    if (this.windowSize === 0) return true;
    this.#seen.set(id, now);
    if (this.#seen.size > this.windowSize) {
      const oldest = this.#seen.keys().next().value as string;
      this.#seen.delete(oldest);
    }
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }

  #expire(now: number): void {
    for (const [id, at] of this.#seen) {
      if (now - at < this.ttlMs) break;
      this.#seen.delete(id);
    }
  }
}

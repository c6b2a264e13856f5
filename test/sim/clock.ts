import type { Clock, TimerHandle } from '../../src/util/clock.js';

interface Timer {
  at: number;
  seq: number;
  fn: (() => void) | undefined;
}

/**
 * Virtual time for the simulation: FakeClock's semantics (timers fire in order of due
 * time, ties in order of creation, only when time is advanced) on a binary heap, so a
 * run with thousands of live timers stays O(log n) per timer. Cancelled timers stay in
 * the heap, marked, until they come up.
 */
export class SimClock implements Clock {
  #now: number;
  #seq = 0;
  #live = 0;
  readonly #heap: Timer[] = [];

  constructor(startMs = 1_700_000_000_000) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: Timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#push(timer);
    this.#live++;
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    const timer = handle as Timer;
    if (timer.fn === undefined) return;
    timer.fn = undefined;
    this.#live--;
  }

  /** Timers set and neither fired nor cleared. */
  get pendingTimers(): number {
    return this.#live;
  }

  /** Due time of the next live timer, or undefined. */
  get nextAt(): number | undefined {
    this.#dropCancelled();
    return this.#heap[0]?.at;
  }

  /**
   * Advances to `now + ms`, firing due timers in order; after each, `settle` runs so that
   * promise and I/O callbacks the timer caused happen before the next timer.
   */
  async tick(ms: number, settle: () => Promise<void>): Promise<void> {
    const target = this.#now + ms;
    await settle();
    for (;;) {
      this.#dropCancelled();
      const top = this.#heap[0];
      if (top === undefined || top.at > target) break;
      this.#pop();
      const fn = top.fn!;
      top.fn = undefined;
      this.#live--;
      this.#now = Math.max(this.#now, top.at);
      fn();
      await settle();
    }
    this.#now = target;
    await settle();
  }

  #dropCancelled(): void {
    while (this.#heap.length > 0 && this.#heap[0]!.fn === undefined) this.#pop();
  }

  #less(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #push(timer: Timer): void {
    const heap = this.#heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < heap.length && this.#less(heap[l]!, heap[best]!)) best = l;
      if (r < heap.length && this.#less(heap[r]!, heap[best]!)) best = r;
      if (best === i) return;
      [heap[i], heap[best]] = [heap[best]!, heap[i]!];
      i = best;
    }
  }
}

import { constants, type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';

/**
 * Mark-compacts per second, over {@link MARKING_STATE_WINDOW_MS}, from which a process is
 * taken to be in V8's marking state (docs/operations.md, "Heavy receivers: the old
 * generation's growth"): a mark-compact after every other young-generation collection,
 * about ten a second or more under load, where a process out of it has one now and then.
 */
export const MARKING_STATE_PER_S = 5;
/** The window the rate is taken over, in ms. */
export const MARKING_STATE_WINDOW_MS = 10_000;
/** Timestamps kept at most (a bound on memory whatever the rate). */
const MAX_KEPT = 1024;

/**
 * Tells when this process's mark-compacts start coming at the marking state's rate: fed
 * the time of each mark-compact, {@link record} returns the rate the first time it
 * reaches {@link MARKING_STATE_PER_S} over the last {@link MARKING_STATE_WINDOW_MS}, and
 * `undefined` otherwise. Once the rate falls below half of that, the next time it is
 * reached counts as a first time again.
 */
export class MarkingStateWatch {
  readonly #times: number[] = [];
  #inState = false;

  /** `atMs`: the mark-compact's time, in ms of any monotonic clock (the same for every call). */
  record(atMs: number): number | undefined {
    const times = this.#times;
    while (times.length > 0 && (times[0] as number) <= atMs - MARKING_STATE_WINDOW_MS) times.shift();
    if (times.length >= MAX_KEPT) times.shift();
    times.push(atMs);
    const perSecond = (times.length * 1000) / MARKING_STATE_WINDOW_MS;
    if (this.#inState) {
      if (perSecond < MARKING_STATE_PER_S / 2) this.#inState = false;
      return undefined;
    }
    if (perSecond < MARKING_STATE_PER_S) return undefined;
    this.#inState = true;
    return perSecond;
  }
}

/**
 * Watches this process's garbage collections (a `PerformanceObserver` of `gc` entries) and
 * calls `onEnter(perSecond)` each time its mark-compacts reach the marking state's rate
 * ({@link MarkingStateWatch}). Returns a function that stops watching.
 */
export function watchMarkingState(onEnter: (perSecond: number) => void): () => void {
  const watch = new MarkingStateWatch();
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[]) {
      if (entry.detail?.kind !== constants.NODE_PERFORMANCE_GC_MAJOR) continue;
      const perSecond = watch.record(entry.startTime);
      if (perSecond !== undefined) onEnter(perSecond);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}

import type { Random } from '../util/random.js';
import type { ResolvedSenderConfig } from './config.js';

/**
 * The un-jittered delay before retry number `index` (0-based): initialMs times the
 * Fibonacci sequence 1, 1, 2, 3, 5, 8, ... A pure function of the attempt.
 */
export function fibonacciDelay(index: number, initialMs: number, maxMs = Number.POSITIVE_INFINITY): number {
  let a = 1;
  let b = 1;
  // Stops once the cap is reached, so a long-failing retry loop costs nothing extra.
  for (let i = 0; i < index && a * initialMs < maxMs; i++) {
    const next = a + b;
    a = b;
    b = next;
  }
  return Math.min(maxMs, a * initialMs);
}

/** `base` scaled by a factor in [1 - jitter, 1 + jitter] drawn from `random`. */
export function jittered(base: number, jitter: number, random: Random): number {
  return Math.round(base * (1 + jitter * (2 * random() - 1)));
}

/** What is remembered about one (peer, address) between its senders. */
export interface BackoffEntry {
  /** Index of the next retry delay in the Fibonacci sequence. */
  index: number;
  /** No connect attempt before this time (ms since epoch). */
  notBefore: number;
}

/**
 * Backoff state per (peer, address), kept across sender restarts so that new traffic to
 * a dead address does not restart its backoff from zero. A successful connect forgets
 * the entry; topology changes forget the entries of addresses that went away.
 */
export class BackoffBook {
  readonly #entries = new Map<string, BackoffEntry>();

  static key(peerId: string, address: string): string {
    return `${peerId}\u0000${address}`;
  }

  get(peerId: string, address: string): BackoffEntry | undefined {
    return this.#entries.get(BackoffBook.key(peerId, address));
  }

  /**
   * Records a failed attempt and returns the jittered delay before the next one. The
   * delay is capped at the deadline, so a dead address is retried by new traffic at most
   * about once per deadline.
   */
  failed(peerId: string, address: string, now: number, config: ResolvedSenderConfig, random: Random): number {
    const key = BackoffBook.key(peerId, address);
    const entry = this.#entries.get(key) ?? { index: 0, notBefore: now };
    const { initialMs, deadlineMs, jitter } = config.backoff;
    const delay = jittered(Math.min(fibonacciDelay(entry.index, initialMs), deadlineMs), jitter, random);
    entry.index++;
    entry.notBefore = now + delay;
    this.#entries.set(key, entry);
    return delay;
  }

  /**
   * A connection that was up went down: the next sender waits one jittered initial
   * delay, so a cluster restart does not reconnect in lockstep.
   */
  lost(peerId: string, address: string, now: number, config: ResolvedSenderConfig, random: Random): void {
    const { initialMs, jitter } = config.backoff;
    this.#entries.set(BackoffBook.key(peerId, address), {
      index: 1,
      notBefore: now + jittered(initialMs, jitter, random),
    });
  }

  succeeded(peerId: string, address: string): void {
    this.#entries.delete(BackoffBook.key(peerId, address));
  }

  /** Forgets every entry for which `keep(peerId, address)` is false. */
  prune(keep: (peerId: string, address: string) => boolean): void {
    for (const key of this.#entries.keys()) {
      const sep = key.indexOf('\u0000');
      if (!keep(key.slice(0, sep), key.slice(sep + 1))) this.#entries.delete(key);
    }
  }

  get size(): number {
    return this.#entries.size;
  }
}

import type { ByteBudget } from '../util/byte-budget.js';
import { ByteFifo, frameBytes } from './byte-fifo.js';
import { deadReason, hasLimits, mergeBySeq, type OutgoingMessage } from './message.js';

/**
 * Messages for peers the topology does not know (yet): FIFO in send order, bounded in
 * messages and in bytes (their frames, counted in the node's `budget` too), with a
 * per-message TTL. Unlike the reference (newest first, silent eviction), overflow and
 * expiry hand the dropped messages back to the caller, which reports them.
 */
export class UnresolvedQueue {
  readonly #queue: ByteFifo;

  constructor(budget?: ByteBudget) {
    this.#queue = new ByteFifo(16, budget);
  }

  get length(): number {
    return this.#queue.length;
  }

  /** Frame bytes of the messages waiting. */
  get bytes(): number {
    return this.#queue.bytes;
  }

  /**
   * Appends `msg`; returns the messages evicted (oldest first) to stay within `capacity`
   * messages, and so that the messages before the newest hold less than `capacityBytes`
   * (the queue holds at most `capacityBytes` plus one message, and a queue holding less
   * than `capacityBytes` takes one more without evicting: `writable()` can tell).
   */
  push(
    msg: OutgoingMessage,
    now: number,
    capacity: number,
    capacityBytes = Number.POSITIVE_INFINITY,
  ): OutgoingMessage[] | undefined {
    msg.unresolvedAtMs = now;
    this.#queue.push(msg);
    return this.#trim(capacity, capacityBytes);
  }

  /** Puts messages back (a peer lost its last address), merged by send order. */
  restore(
    msgs: readonly OutgoingMessage[],
    now: number,
    capacity: number,
    capacityBytes = Number.POSITIVE_INFINITY,
  ): OutgoingMessage[] | undefined {
    for (const m of msgs) m.unresolvedAtMs = now;
    this.#refill(mergeBySeq(this.#queue.drain(), msgs));
    return this.#trim(capacity, capacityBytes);
  }

  /** Removes and returns the messages whose TTL ran out. */
  expire(now: number, ttlMs: number): OutgoingMessage[] {
    const expired: OutgoingMessage[] = [];
    const kept: OutgoingMessage[] = [];
    for (const m of this.#queue.drain()) (now - m.unresolvedAtMs >= ttlMs ? expired : kept).push(m);
    this.#refill(kept);
    return expired;
  }

  /** Removes and returns the messages that must not be written any more (deadline passed, aborted). */
  removeDead(now: number): OutgoingMessage[] {
    const dead: OutgoingMessage[] = [];
    const kept: OutgoingMessage[] = [];
    for (const m of this.#queue.drain())
      (hasLimits(m) && deadReason(m, now) !== undefined ? dead : kept).push(m);
    this.#refill(kept);
    return dead;
  }

  /** The distinct peer ids waiting, in order of their oldest message. */
  peerIds(): string[] {
    const ids = new Set<string>();
    for (const m of this.#snapshot()) ids.add(m.peerId);
    return [...ids];
  }

  /** Removes and returns every message for `peerId`, in send order. */
  take(peerId: string): OutgoingMessage[] {
    const taken: OutgoingMessage[] = [];
    const kept: OutgoingMessage[] = [];
    for (const m of this.#queue.drain()) (m.peerId === peerId ? taken : kept).push(m);
    this.#refill(kept);
    return taken;
  }

  drain(): OutgoingMessage[] {
    return this.#queue.drain();
  }

  #snapshot(): OutgoingMessage[] {
    const all = this.#queue.drain();
    this.#refill(all);
    return all;
  }

  #refill(msgs: readonly OutgoingMessage[]): void {
    for (const m of msgs) this.#queue.push(m);
  }

  #trim(capacity: number, capacityBytes: number): OutgoingMessage[] | undefined {
    let evicted: OutgoingMessage[] | undefined;
    const queue = this.#queue;
    const newest = queue.at(queue.length - 1);
    const newestBytes = newest === undefined ? 0 : frameBytes(newest);
    while (queue.length > capacity || (queue.length > 1 && queue.bytes - newestBytes >= capacityBytes)) {
      evicted ??= [];
      evicted.push(this.#queue.shift()!);
    }
    return evicted;
  }
}

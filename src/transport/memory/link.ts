import type { Buffer } from 'node:buffer';
import type { Clock, TimerHandle } from '../../util/clock.js';
import type { Random } from '../../util/random.js';
import type { MemoryConnection, Outbound } from './connection.js';
import type { LatencySpec, LinkOptions } from './options.js';

/** What a link needs from its network. */
export interface LinkHost {
  readonly clock: Clock;
  readonly random: Random;
  /** The conditions currently set from `fromHost` to `toHost`. */
  linkOptions(fromHost: string, toHost: string): LinkOptions;
  /** Resets both ends of `pair` (a fault: neither end asked for it). */
  resetPair(pair: ConnectionPair, message: string): void;
  /** Records a `deliver` event when the network keeps a log. */
  delivered(link: Link, bytes: number): void;
}

const DATA = 0;
const FIN = 1;
const RESET = 2;

interface Item {
  readonly type: typeof DATA | typeof FIN | typeof RESET;
  /** The chunks of one write (DATA), delivered in order, and their bytes in all. */
  readonly chunks: Buffer[] | undefined;
  readonly bytes: number;
  readonly message: string;
  /** A fault cut the connection inside this write: reset right after delivering it. */
  readonly cut: boolean;
  at: number;
}

/** Draws one delay from a latency spec. */
export function sampleLatency(spec: LatencySpec | undefined, random: Random): number {
  if (spec === undefined) return 0;
  if (typeof spec === 'number') return spec;
  return spec.minMs + (spec.maxMs - spec.minMs) * random();
}

/**
 * One direction of a connection: carries the bytes, FIN and reset of one end to the
 * other, with the latency, bandwidth, stalls and cuts of the fault plan. Order is kept:
 * an item never arrives before one sent earlier, whatever latency was drawn.
 *
 * An item goes through two steps. {@link send} admits it once: it is dropped if a reset
 * is already on its way (nothing written after a reset can arrive), and a DATA item may
 * be cut there by the fault plan. Admitted items are then transmitted: held while the
 * link is stalled, else timed by latency and bandwidth. Unstalling transmits the held
 * items again and never re-admits them, so an admitted item, the reset a cut carries
 * included, is lost only when the whole connection is gone (both ends closed).
 */
export class Link implements Outbound {
  readonly from: MemoryConnection;
  readonly to: MemoryConnection;
  readonly fromHost: string;
  readonly toHost: string;
  /** Admitted items held while the link is stalled (a partition), in order. */
  #held: Item[] = [];
  /** Items in transit, in order of arrival time; only while not stalled. */
  #queue: Item[] = [];
  #timer: TimerHandle | undefined;
  #lastAt = 0;
  #freeAt = 0;
  #stalled = false;
  #dead = false;
  /** A reset (RESET, or a cut: a DATA item that resets on arrival) was admitted: nothing after it may arrive. */
  #resetSent = false;
  /** Bytes still delivered before a requested cut; undefined when none is requested. */
  #cutAfter: number | undefined;
  readonly #host: LinkHost;
  pair!: ConnectionPair;

  constructor(
    host: LinkHost,
    from: MemoryConnection,
    to: MemoryConnection,
    fromHost: string,
    toHost: string,
  ) {
    this.#host = host;
    this.from = from;
    this.to = to;
    this.fromHost = fromHost;
    this.toHost = toHost;
  }

  data(chunks: Buffer[], bytes: number): void {
    this.#send({ type: DATA, chunks, bytes, message: '', cut: false, at: 0 });
  }

  fin(message: string): void {
    this.#send({ type: FIN, chunks: undefined, bytes: 0, message, cut: false, at: 0 });
  }

  /** Sends a reset; after the first one, a no-op. */
  reset(message: string): void {
    this.#send({ type: RESET, chunks: undefined, bytes: 0, message, cut: false, at: 0 });
  }

  /** Cuts the connection after `bytes` more bytes are sent this way (0: at the next byte). */
  cutAfter(bytes: number): void {
    this.#cutAfter = bytes;
  }

  get stalled(): boolean {
    return this.#stalled;
  }

  /**
   * Stalls (a partition) or resumes the link. A stalled link delivers nothing: what is
   * in transit is held with what is sent meanwhile. On resume every held item is
   * transmitted again, in order, with a fresh latency.
   */
  setStalled(stalled: boolean): void {
    if (this.#stalled === stalled || this.#dead) return;
    this.#stalled = stalled;
    if (stalled) {
      // #held is empty while not stalled: the items in transit become the held ones.
      const inTransit = this.#queue;
      this.#queue = this.#held;
      this.#held = inTransit;
      this.#clearTimer();
      return;
    }
    const held = this.#held;
    this.#held = [];
    for (const item of held) this.#transmit(item);
  }

  /** Drops everything in transit and clears the timer (both ends are closed). */
  dispose(): void {
    this.#dead = true;
    this.#held = [];
    this.#queue = [];
    this.#clearTimer();
  }

  /** Admits an item once: drops it after a reset, applies a requested or random cut. */
  #send(input: Item): void {
    if (this.#dead || this.#resetSent) return;
    let item = input;
    if (item.type === DATA) item = this.#maybeCut(item);
    if (item.cut || item.type === RESET) this.#resetSent = true;
    this.#transmit(item);
  }

  /** Holds an admitted item while stalled, else delivers it now or at its arrival time. */
  #transmit(item: Item): void {
    // A delivery of an earlier item may have closed both ends (a cut) or stalled the link.
    if (this.#dead) return;
    if (this.#stalled) {
      this.#held.push(item);
      return;
    }
    const options = this.#host.linkOptions(this.fromHost, this.toHost);
    const now = this.#host.clock.now();
    let at = now + sampleLatency(options.latency, this.#host.random);
    const bandwidth = options.bandwidthBytesPerSec;
    if (item.chunks !== undefined && bandwidth !== undefined && Number.isFinite(bandwidth)) {
      const start = Math.max(now, this.#freeAt);
      this.#freeAt = start + (item.bytes * 1000) / bandwidth;
      at += this.#freeAt - now;
    }
    at = Math.max(at, this.#lastAt);
    this.#lastAt = at;
    if (at <= now && this.#queue.length === 0) {
      this.#deliver(item);
      return;
    }
    item.at = at;
    this.#queue.push(item);
    if (this.#timer === undefined) this.#timer = this.#host.clock.setTimeout(this.#onTimer, at - now);
  }

  #maybeCut(item: Item): Item {
    const bytes = item.bytes;
    let cutAt: number | undefined;
    if (this.#cutAfter !== undefined && bytes >= this.#cutAfter) {
      cutAt = this.#cutAfter;
    } else {
      if (this.#cutAfter !== undefined) this.#cutAfter -= bytes;
      const rate = this.#host.linkOptions(this.fromHost, this.toHost).resetRate ?? 0;
      if (rate > 0 && this.#host.random() < rate) cutAt = Math.floor(this.#host.random() * bytes);
    }
    if (cutAt === undefined) return item;
    this.#cutAfter = undefined;
    return { type: DATA, chunks: headOf(item.chunks!, cutAt), bytes: cutAt, message: '', cut: true, at: 0 };
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    const now = this.#host.clock.now();
    while (this.#queue.length > 0 && this.#queue[0]!.at <= now) {
      this.#deliver(this.#queue.shift()!);
      // A delivery runs callbacks: they may have closed both ends or stalled the link
      // (which moved the queue to #held), or resumed it (which may have set the timer).
      if (this.#dead || this.#stalled) return;
    }
    const next = this.#queue[0];
    if (next !== undefined && this.#timer === undefined) {
      this.#timer = this.#host.clock.setTimeout(this.#onTimer, next.at - now);
    }
  };

  #clearTimer(): void {
    if (this.#timer !== undefined) {
      this.#host.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #deliver(item: Item): void {
    if (item.type === DATA) {
      this.#host.delivered(this, item.bytes);
      for (const chunk of item.chunks!) this.to.receiveData(chunk);
      if (item.cut) this.#host.resetPair(this.pair, 'connection reset in transit');
    } else if (item.type === FIN) {
      this.to.receiveFin(item.message);
    } else {
      this.to.receiveReset(item.message);
    }
  }
}

/** The first `bytes` bytes of `chunks`. */
function headOf(chunks: readonly Buffer[], bytes: number): Buffer[] {
  const head: Buffer[] = [];
  let left = bytes;
  for (const chunk of chunks) {
    if (left <= 0) break;
    head.push(chunk.length <= left ? chunk : chunk.subarray(0, left));
    left -= chunk.length;
  }
  return head;
}

/** The two directions of one connection, plus the idle timer a partition starts. */
export interface ConnectionPair {
  readonly client: MemoryConnection;
  readonly server: MemoryConnection;
  readonly up: Link;
  readonly down: Link;
  idleTimer: TimerHandle | undefined;
}

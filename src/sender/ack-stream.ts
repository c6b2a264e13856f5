import type { Buffer } from 'node:buffer';
import type { Random } from '../util/random.js';
import type { SlabPool } from '../wire/frame-slab.js';
import { FRAME_PREFIX_BYTES } from '../wire/framing.js';
import type { Accounting, OutcomeSubject } from './accounting.js';
import type { OutgoingMessage } from './message.js';
import type { UnacknowledgedDetail } from './outcome.js';
import { fill, MessageRing, MessageRun, type SlabUse, subject } from './peer-queue.js';

/** An entry of a stream: a message's record, or the run of a plain message from send()'s fast lane. */
export type AckEntry = OutgoingMessage | MessageRun;

/**
 * The sender's side of one acknowledged stream (docs/acks.md): the messages to one
 * address of one peer that were written and not yet acknowledged, in sequence order,
 * with their sequence numbers and first-write times. It outlives the peer senders (one
 * per connection) of its address, so what a lost connection carried is sent again on the
 * next one; the receiving node names the stream by `id` to suppress what it already has.
 *
 * Entries live in a {@link MessageRing} (a record or a run per entry, and its numbers
 * in a typed array: no allocation per entry once warm), at positions counted from the
 * first entry since the stream was last empty; an entry ended early (its deadline passed
 * before it could be sent again) is left as a hole, so sequence numbers and positions
 * never shift under a reader. An entry is a message's record, or for a message of
 * send()'s fast lane, which has none, the {@link MessageRun} it shares with its
 * neighbours, its frame's offset and size kept as numbers: a window of 32768 plain
 * messages waiting for their acks holds no object per message.
 */
export class AckStream {
  /** 16 random bytes as 32 hex characters. */
  readonly id: string;
  /** The sequence number of the next message written for the first time. */
  nextSeq = 1;
  /** The receiving node answered an OPEN of this stream at least once. */
  opened = false;
  /** Ended for good (the sender stopped for another reason than a lost connection). */
  ended = false;
  /** Bytes (frames, prefix included) of the entries waiting for their ack. */
  bytes = 0;
  /** Entries waiting for their ack (holes not counted). */
  count = 0;
  /** The entries: a record or run each, with its sequence number, frame offset and size, and first-write time. */
  readonly #ring = new MessageRing<AckEntry>();
  /** The position of the ring's first entry. */
  #head = 0;
  /** The outcome subject of a run's message, filled in place for each one. */
  readonly #subject = subject();

  /** Where a slab buffer goes once every lane message framed there was acknowledged. */
  readonly #slabs: SlabPool | undefined;

  constructor(random: Random, slabs?: SlabPool) {
    this.#slabs = slabs;
    let id = '';
    for (let i = 0; i < 4; i++)
      id += Math.floor(random() * 2 ** 32)
        .toString(16)
        .padStart(8, '0');
    this.id = id;
  }

  /** Position of the first entry (holes included). */
  get head(): number {
    return this.#head;
  }

  /** Position after the last entry. */
  get tail(): number {
    return this.#head + this.#ring.length;
  }

  /** The entry at position `i` (undefined for a hole). */
  msgAt(i: number): AckEntry | undefined {
    return this.#ring.ref(i - this.#head);
  }

  seqAt(i: number): number {
    return this.#ring.seq(i - this.#head);
  }

  /** Where the frame of the entry at position `i` is in its buffer (`msgAt(i).frames`)... */
  frameAt(i: number): number {
    return this.#ring.frameAt(i - this.#head);
  }

  /** ...and its envelope's size (without the frame prefix). */
  sizeAt(i: number): number {
    return this.#ring.size(i - this.#head);
  }

  /** The outcome subject of the ring's entry `k` (its `msg`): its record, or a run's message filled in. */
  #subjectAt(k: number, msg: AckEntry, accounting: Accounting): OutcomeSubject {
    if (!(msg instanceof MessageRun)) return msg;
    // A lane message was written during send(): its first write is its enqueue time.
    const ring = this.#ring;
    return fill(this.#subject, msg, ring.frameAt(k), ring.enqueuedAtMs(k) - accounting.epochMs);
  }

  /** The first position at or after `from` whose sequence number is above `seq`. */
  indexAfter(seq: number, from = this.#head): number {
    const head = this.#head;
    const ring = this.#ring;
    let lo = Math.max(from, head) - head;
    let hi = ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ring.seq(mid) <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo + head;
  }

  /**
   * The message of `msg` (its record, or its run) whose frame is at `frameAt` and `size`
   * bytes long (without the prefix) was written for the first time as `seq` at `nowMs`.
   */
  push(
    msg: AckEntry,
    seq: number,
    nowMs: number,
    frameAt: number,
    size: number,
    accounting: Accounting,
  ): void {
    this.#ring.push(msg, seq, frameAt, size, nowMs);
    this.count++;
    this.bytes += size + FRAME_PREFIX_BYTES;
    accounting.unackedChanged(1, size + FRAME_PREFIX_BYTES);
  }

  /** Every entry up to `seq` was handed to the peer's application: `delivered`. Returns how many. */
  ackUpTo(seq: number, accounting: Accounting, address: string, nowMs: number): number {
    return accounting.wantsIds
      ? this.#ackEach(seq, accounting, address, nowMs)
      : this.#ackAll(seq, accounting, address, nowMs);
  }

  /**
   * {@link ackUpTo} while nobody hears outcomes one by one (`Accounting.wantsIds` false):
   * the outcomes of lane messages are only counted, so the acknowledged run entries are
   * counted in one pass and told in one call (`deliveredMany`), and each buffer's use is
   * settled once per run of neighbours framed there (an ack covers hundreds of 64 B
   * messages). From the first record on, entries go one by one ({@link #ackEach}): a
   * record's outcome is told while the stream is consistent, whatever runs then.
   */
  #ackAll(seq: number, accounting: Accounting, address: string, nowMs: number): number {
    const ring = this.#ring;
    const last = this.indexAfter(seq) - this.#head;
    const timed = accounting.timesAcks;
    let k = 0;
    let n = 0;
    let bytes = 0;
    let use: SlabUse | undefined;
    let uses = 0;
    for (; k < last; k++) {
      const msg = ring.ref(k);
      if (msg === undefined) continue; // a hole
      if (!(msg instanceof MessageRun)) break;
      n++;
      bytes += ring.size(k) + FRAME_PREFIX_BYTES;
      if (timed) accounting.ackLatency(nowMs - ring.enqueuedAtMs(k));
      if (msg.use !== use) {
        if (use !== undefined) this.#acked(use, uses);
        use = msg.use;
        uses = 0;
      }
      uses++;
    }
    if (k > 0) {
      ring.drop(k);
      this.#head = ring.length === 0 ? 0 : this.#head + k;
      this.count -= n;
      this.bytes -= bytes;
    }
    if (use !== undefined) this.#acked(use, uses);
    if (n > 0) {
      accounting.unackedChanged(-n, -bytes);
      accounting.deliveredMany(n);
    }
    return k < last ? n + this.#ackEach(seq, accounting, address, nowMs) : n;
  }

  /** {@link ackUpTo}, each entry's outcome told on its own (someone hears them). */
  #ackEach(seq: number, accounting: Accounting, address: string, nowMs: number): number {
    const ring = this.#ring;
    let n = 0;
    let bytes = 0;
    let shifted = 0;
    while (ring.length > 0 && ring.seq(0) <= seq) {
      const msg = ring.ref(0);
      if (msg !== undefined) {
        bytes += ring.size(0) + FRAME_PREFIX_BYTES;
        const subject = this.#subjectAt(0, msg, accounting);
        const latencyMs = nowMs - ring.enqueuedAtMs(0);
        // A hole before its outcome is told: whatever a listener does then (close the
        // node, say, which abandons the stream) cannot end it a second time.
        ring.clear(0);
        accounting.delivered(subject, address, latencyMs);
        if (msg instanceof MessageRun) this.#acked(msg.use, 1);
        n++;
      }
      ring.shift();
      shifted++;
    }
    // Positions count from the first entry since the stream was last empty.
    this.#head = ring.length === 0 ? 0 : this.#head + shifted;
    this.count -= n;
    this.bytes -= bytes;
    if (n > 0) accounting.unackedChanged(-n, -bytes);
    return n;
  }

  /** Ends the entry at position `i` as `dropped:unacknowledged` with `detail`, leaving a hole. */
  endAt(i: number, accounting: Accounting, address: string, detail: UnacknowledgedDetail): void {
    const k = i - this.#head;
    const ring = this.#ring;
    const msg = ring.ref(k);
    if (msg === undefined) return;
    const bytes = ring.size(k) + FRAME_PREFIX_BYTES;
    const subject = this.#subjectAt(k, msg, accounting);
    ring.clear(k);
    this.count--;
    this.bytes -= bytes;
    accounting.unackedChanged(-1, -bytes);
    accounting.unacknowledged(subject, address, detail);
    // Its frame may still be in a write of a closing connection: the buffer is never reused.
    if (msg instanceof MessageRun) msg.use.shared = true;
  }

  /** Ends every entry as `dropped:unacknowledged` with `detail` (the stream goes on, empty). */
  abandon(accounting: Accounting, address: string, detail: UnacknowledgedDetail): void {
    for (let i = this.#head; i < this.tail; i++) this.endAt(i, accounting, address, detail);
    this.#ring.release();
    this.#head = 0;
  }

  /** Ends every entry (see {@link abandon}) and the stream itself. */
  end(accounting: Accounting, address: string, detail: UnacknowledgedDetail): void {
    if (this.ended) return;
    this.ended = true;
    this.abandon(accounting, address, detail);
  }

  /**
   * `n` lane messages framed in `use`'s buffer were acknowledged. Once every one framed there
   * is, and the buffer is no sender's current slab, it goes back to the pool: the receiver
   * read the last of those frames, so every write that took bytes of the buffer is done
   * (frames are written in order, a slab is filled in order).
   */
  #acked(use: SlabUse, n: number): void {
    use.pending -= n;
    if (use.pending > 0 || use.shared || use.current) return;
    use.shared = true; // handed on once
    this.#slabs?.give(use.buf as Buffer);
  }
}

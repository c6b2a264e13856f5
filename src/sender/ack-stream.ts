import type { Buffer } from 'node:buffer';
import type { Random } from '../util/random.js';
import type { SlabPool } from '../wire/frame-slab.js';
import { FRAME_PREFIX_BYTES } from '../wire/framing.js';
import type { Accounting, OutcomeSubject } from './accounting.js';
import type { OutgoingMessage } from './message.js';
import type { UnacknowledgedDetail } from './outcome.js';
import { fill, MessageRun, type SlabUse, subject } from './peer-queue.js';

/** An entry of a stream: a message's record, or the run of a plain message from send()'s fast lane. */
export type AckEntry = OutgoingMessage | MessageRun;

/**
 * The sender's side of one acknowledged stream (docs/acks.md): the messages to one
 * address of one peer that were written and not yet acknowledged, in sequence order,
 * with their sequence numbers and first-write times. It outlives the peer senders (one
 * per connection) of its address, so what a lost connection carried is sent again on the
 * next one; the receiving node names the stream by `id` to suppress what it already has.
 *
 * Entries live in plain arrays from `#head` on (compacted now and then); an entry ended
 * early (its deadline passed before it could be sent again) is left as a hole, so
 * sequence numbers and positions never shift under a reader. An entry is a message's
 * record, or for a message of send()'s fast lane, which has none, the {@link MessageRun} it
 * shares with its neighbours, its frame's offset and size kept here as numbers: a window
 * of 32768 plain messages waiting for their acks holds no object per message.
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
  #msgs: (AckEntry | undefined)[] = [];
  #seqs: number[] = [];
  #writtenAt: number[] = [];
  /** Where each entry's frame is in its buffer, and its envelope's size (no prefix). */
  #frameAt: number[] = [];
  #sizes: number[] = [];
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
    return this.#msgs.length;
  }

  /** The entry at position `i` (undefined for a hole). */
  msgAt(i: number): AckEntry | undefined {
    return this.#msgs[i];
  }

  seqAt(i: number): number {
    return this.#seqs[i]!;
  }

  /** Where the frame of the entry at position `i` is in its buffer (`msgAt(i).frames`)... */
  frameAt(i: number): number {
    return this.#frameAt[i]!;
  }

  /** ...and its envelope's size (without the frame prefix). */
  sizeAt(i: number): number {
    return this.#sizes[i]!;
  }

  /** The outcome subject of the entry at position `i`: its record, or a run's message filled in. */
  #subjectAt(i: number, msg: AckEntry, accounting: Accounting): OutcomeSubject {
    if (!(msg instanceof MessageRun)) return msg;
    // A lane message was written during send(): its first write is its enqueue time.
    return fill(this.#subject, msg, this.#frameAt[i]!, this.#writtenAt[i]! - accounting.epochMs);
  }

  /** The first position at or after `from` whose sequence number is above `seq`. */
  indexAfter(seq: number, from = this.#head): number {
    let lo = Math.max(from, this.#head);
    let hi = this.#msgs.length;
    const seqs = this.#seqs;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqs[mid]! <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
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
    this.#msgs.push(msg);
    this.#seqs.push(seq);
    this.#writtenAt.push(nowMs);
    this.#frameAt.push(frameAt);
    this.#sizes.push(size);
    this.count++;
    this.bytes += size + FRAME_PREFIX_BYTES;
    accounting.unackedChanged(1, size + FRAME_PREFIX_BYTES);
  }

  /** Every entry up to `seq` was handed to the peer's application: `delivered`. Returns how many. */
  ackUpTo(seq: number, accounting: Accounting, address: string, nowMs: number): number {
    const msgs = this.#msgs;
    const seqs = this.#seqs;
    const sizes = this.#sizes;
    const writtenAt = this.#writtenAt;
    let n = 0;
    let bytes = 0;
    let i = this.#head;
    for (; i < msgs.length && seqs[i]! <= seq; i++) {
      const msg = msgs[i];
      if (msg === undefined) continue;
      msgs[i] = undefined;
      bytes += sizes[i]! + FRAME_PREFIX_BYTES;
      accounting.delivered(this.#subjectAt(i, msg, accounting), address, nowMs - writtenAt[i]!);
      if (msg instanceof MessageRun) this.#acked(msg.use);
      n++;
    }
    this.#head = i;
    this.count -= n;
    this.bytes -= bytes;
    if (n > 0) accounting.unackedChanged(-n, -bytes);
    this.#compact();
    return n;
  }

  /** Ends the entry at position `i` as `dropped:unacknowledged` with `detail`, leaving a hole. */
  endAt(i: number, accounting: Accounting, address: string, detail: UnacknowledgedDetail): void {
    const msg = this.#msgs[i];
    if (msg === undefined) return;
    this.#msgs[i] = undefined;
    const bytes = this.#sizes[i]! + FRAME_PREFIX_BYTES;
    this.count--;
    this.bytes -= bytes;
    accounting.unackedChanged(-1, -bytes);
    accounting.unacknowledged(this.#subjectAt(i, msg, accounting), address, detail);
    // Its frame may still be in a write of a closing connection: the buffer is never reused.
    if (msg instanceof MessageRun) msg.use.shared = true;
  }

  /** Ends every entry as `dropped:unacknowledged` with `detail` (the stream goes on, empty). */
  abandon(accounting: Accounting, address: string, detail: UnacknowledgedDetail): void {
    for (let i = this.#head; i < this.#msgs.length; i++) this.endAt(i, accounting, address, detail);
    this.#msgs = [];
    this.#seqs = [];
    this.#writtenAt = [];
    this.#frameAt = [];
    this.#sizes = [];
    this.#head = 0;
  }

  /** Ends every entry (see {@link abandon}) and the stream itself. */
  end(accounting: Accounting, address: string, detail: UnacknowledgedDetail): void {
    if (this.ended) return;
    this.ended = true;
    this.abandon(accounting, address, detail);
  }

  /**
   * A lane message framed in `use`'s buffer was acknowledged. Once every one framed there
   * is, and the buffer is no sender's current slab, it goes back to the pool: the receiver
   * read the last of those frames, so every write that took bytes of the buffer is done
   * (frames are written in order, a slab is filled in order).
   */
  #acked(use: SlabUse): void {
    if (--use.pending > 0 || use.shared || use.current) return;
    use.shared = true; // handed on once
    this.#slabs?.give(use.buf as Buffer);
  }

  #compact(): void {
    const head = this.#head;
    if (head === this.#msgs.length) {
      this.#msgs.length = 0;
      this.#seqs.length = 0;
      this.#writtenAt.length = 0;
      this.#frameAt.length = 0;
      this.#sizes.length = 0;
      this.#head = 0;
    } else if (head > 1024 && head * 2 > this.#msgs.length) {
      this.#msgs.splice(0, head);
      this.#seqs.splice(0, head);
      this.#writtenAt.splice(0, head);
      this.#frameAt.splice(0, head);
      this.#sizes.splice(0, head);
      this.#head = 0;
    }
  }
}

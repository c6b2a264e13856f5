import type { Random } from '../util/random.js';
import { FRAME_PREFIX_BYTES } from '../wire/framing.js';
import type { Accounting } from './accounting.js';
import type { OutgoingMessage } from './message.js';
import type { UnacknowledgedDetail } from './outcome.js';

/**
 * The sender's side of one acknowledged stream (docs/acks.md): the messages to one
 * address of one peer that were written and not yet acknowledged, in sequence order,
 * with their sequence numbers and first-write times. It outlives the peer senders (one
 * per connection) of its address, so what a lost connection carried is sent again on the
 * next one; the receiving node names the stream by `id` to suppress what it already has.
 *
 * Entries live in plain arrays from `#head` on (compacted now and then); an entry ended
 * early (its deadline passed before it could be sent again) is left as a hole, so
 * sequence numbers and positions never shift under a reader.
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
  #msgs: (OutgoingMessage | undefined)[] = [];
  #seqs: number[] = [];
  #writtenAt: number[] = [];
  #head = 0;

  constructor(random: Random) {
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

  /** The message at position `i` (undefined for a hole). */
  msgAt(i: number): OutgoingMessage | undefined {
    return this.#msgs[i];
  }

  seqAt(i: number): number {
    return this.#seqs[i]!;
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

  /** `msg` was written for the first time as `seq` at `nowMs`. */
  push(msg: OutgoingMessage, seq: number, nowMs: number, accounting: Accounting): void {
    this.#msgs.push(msg);
    this.#seqs.push(seq);
    this.#writtenAt.push(nowMs);
    this.count++;
    this.bytes += msg.size + FRAME_PREFIX_BYTES;
    accounting.unackedChanged(1, msg.size + FRAME_PREFIX_BYTES);
  }

  /** Every entry up to `seq` was handed to the peer's application: `delivered`. Returns how many. */
  ackUpTo(seq: number, accounting: Accounting, address: string, nowMs: number): number {
    const msgs = this.#msgs;
    const seqs = this.#seqs;
    let n = 0;
    let bytes = 0;
    let i = this.#head;
    for (; i < msgs.length && seqs[i]! <= seq; i++) {
      const msg = msgs[i];
      if (msg === undefined) continue;
      msgs[i] = undefined;
      bytes += msg.size + FRAME_PREFIX_BYTES;
      accounting.delivered(msg, address, nowMs - this.#writtenAt[i]!);
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
    this.count--;
    this.bytes -= msg.size + FRAME_PREFIX_BYTES;
    accounting.unackedChanged(-1, -(msg.size + FRAME_PREFIX_BYTES));
    accounting.unacknowledged(msg, address, detail);
  }

  /** Ends every entry as `dropped:unacknowledged` with `detail` (the stream goes on, empty). */
  abandon(accounting: Accounting, address: string, detail: UnacknowledgedDetail): void {
    for (let i = this.#head; i < this.#msgs.length; i++) this.endAt(i, accounting, address, detail);
    this.#msgs = [];
    this.#seqs = [];
    this.#writtenAt = [];
    this.#head = 0;
  }

  /** Ends every entry (see {@link abandon}) and the stream itself. */
  end(accounting: Accounting, address: string, detail: UnacknowledgedDetail): void {
    if (this.ended) return;
    this.ended = true;
    this.abandon(accounting, address, detail);
  }

  #compact(): void {
    const head = this.#head;
    if (head === this.#msgs.length) {
      this.#msgs.length = 0;
      this.#seqs.length = 0;
      this.#writtenAt.length = 0;
      this.#head = 0;
    } else if (head > 1024 && head * 2 > this.#msgs.length) {
      this.#msgs.splice(0, head);
      this.#seqs.splice(0, head);
      this.#writtenAt.splice(0, head);
      this.#head = 0;
    }
  }
}

/**
 * Broadcast sequence numbers, carried in the message id so the envelope stays the
 * reference format: a node's broadcasts (`network.broadcast()` without an explicit id)
 * have ids `<node prefix>b:<n in base 36>`, n = 0, 1, 2, ... per publisher incarnation,
 * and nothing else it sends has `-b:` in its id. A subscriber that sees n jump knows how
 * many it missed; a publisher that restarts gets a new prefix (a new sequence).
 */
import { Buffer } from 'node:buffer';
import { asciiIndexOf, sameBytes } from '../wire/utf8.js';
import { isBase36Digit } from './id-counter.js';

export const BROADCAST_MARK = 'b:';
/** What precedes a broadcast's sequence number in its id: `-` then {@link BROADCAST_MARK}. */
const ID_MARK = `-${BROADCAST_MARK}`;

/** The publisher key (its id prefix) and sequence number of a broadcast id, or undefined. */
export function broadcastSeqOf(id: string): { publisher: string; seq: number } | undefined {
  const at = id.lastIndexOf(ID_MARK);
  if (at < 0) return undefined;
  const digits = id.slice(at + 1 + BROADCAST_MARK.length);
  if (digits.length === 0 || digits.length > 10 || !/^[0-9a-z]+$/.test(digits)) return undefined;
  return { publisher: id.slice(0, at + 1), seq: Number.parseInt(digits, 36) };
}

/**
 * {@link broadcastSeqOf} for the receive path, without an allocation per message: `read()`
 * answers the same (true, with {@link publisher} and {@link seq} set, where broadcastSeqOf
 * returns an object), and an id that starts like the previous publisher's is checked
 * from its digits on, with no search, slice or regular expression.
 */
export class BroadcastIdReader {
  /** The publisher of the last id read (its id prefix, ending in `-`). */
  publisher = '';
  /** The sequence number of the last id read. */
  seq = 0;
  /** `publisher` followed by the mark: ids of that publisher start with it. */
  #head = '';
  #headBytes: Buffer | undefined;

  /**
   * {@link read} of `source`'s id: from its bytes when they continue the last publisher's
   * head (the usual case: no id string is made), else from the string.
   */
  readSource(source: IdSource): boolean {
    const buf = source.idBytes;
    if (buf === undefined) return this.read(source.id);
    const start = source.idStart as number;
    const end = source.idEnd as number;
    const head = this.#headBytes;
    if (head !== undefined) {
      const digits = start + head.length;
      // At least one digit follows the head, so the head's bytes lie inside the id.
      if (end - digits >= 1 && end - digits <= 10 && sameBytes(head, buf, start, head.length)) {
        let seq = 0;
        let i = digits;
        for (; i < end; i++) {
          const c = buf[i]!;
          if (c >= 0x30 && c <= 0x39) seq = seq * 36 + (c - 0x30);
          else if (c >= 0x61 && c <= 0x7a) seq = seq * 36 + (c - 0x57);
          else break;
        }
        if (i === end) {
          this.seq = seq;
          return true;
        }
      }
    }
    // No `-b:` in the bytes: not a broadcast id, and no string made for it (a reply's id,
    // which holds its request's, is matched by its bytes too).
    return asciiIndexOf(buf, ID_MARK, start, end) >= 0 && this.read(source.id);
  }

  read(id: string): boolean {
    const head = this.#head;
    let start: number;
    // Digits cannot hold `-b:`: when they follow the previous publisher's head, that is
    // where the last mark is, as broadcastSeqOf would find it.
    if (head !== '' && id.startsWith(head) && digitsAt(id, head.length)) {
      start = head.length;
    } else {
      const at = id.lastIndexOf(ID_MARK);
      if (at < 0) return false;
      start = at + 1 + BROADCAST_MARK.length;
      if (!digitsAt(id, start)) return false;
      this.publisher = id.slice(0, at + 1);
      const next = id.slice(0, start);
      this.#head = next;
      // Its bytes, for readSource: only an ASCII head (one UTF-8 byte per character; latin1
      // bytes of other characters would alias ASCII ones).
      this.#headBytes =
        Buffer.byteLength(next, 'utf8') === next.length ? Buffer.from(next, 'latin1') : undefined;
    }
    let seq = 0;
    for (let i = start; i < id.length; i++) {
      const c = id.charCodeAt(i);
      seq = seq * 36 + (c <= 0x39 ? c - 0x30 : c - 0x57);
    }
    this.seq = seq;
    return true;
  }
}

/**
 * A message id as the receive path has it: the string, and for an ASCII id read from the
 * network also its bytes (`buf[start, end)`, see `ReceivedEnvelope`), which can be looked
 * at without making the string.
 */
export interface IdSource {
  readonly id: string;
  readonly idBytes?: Buffer | undefined;
  readonly idStart?: number;
  readonly idEnd?: number;
}

/** True when `id` ends, from `start`, in 1 to 10 base-36 digits (`[0-9a-z]`). */
function digitsAt(id: string, start: number): boolean {
  const n = id.length - start;
  if (n < 1 || n > 10) return false;
  for (let i = start; i < id.length; i++) if (!isBase36Digit(id.charCodeAt(i))) return false;
  return true;
}

/** What a subscriber learns it missed. */
export type Gap =
  | {
      /** Broadcasts of one publisher that never arrived here (lost to a full queue, a reconnect, ...). */
      readonly kind: 'broadcast';
      /** The publisher's id prefix (`<node id>-<incarnation>-`). */
      readonly publisher: string;
      /** The peer id of the publisher, when its connection is identified. */
      readonly peerId: string | undefined;
      /** Sequence numbers `from` .. `to` (inclusive) are missing. */
      readonly from: number;
      readonly to: number;
      readonly missed: number;
    }
  | {
      /** A `for await` reader fell more than `incomingCapacity` behind: the oldest buffered message was dropped. */
      readonly kind: 'reader_overflow';
      readonly messageId: string;
      /** Messages dropped this way so far. */
      readonly droppedTotal: number;
    };

/** Publishers followed at most; the least recently seen is forgotten past it. */
export const MAX_TRACKED_PUBLISHERS = 10_000;

/**
 * The last sequence number seen per publisher, bounded. `seen()` returns the gap a new
 * number opens, if any; numbers that go back (a duplicate, or the first message after we
 * forgot the publisher) open none.
 */
export class BroadcastSequences {
  readonly #last = new Map<string, number>();
  /**
   * The publisher seen last (the most recent in the map), whose last sequence number is
   * kept in `#newestLast` while its broadcasts keep coming (the map's value for it is
   * brought up to date when another publisher comes): no map operation per broadcast.
   */
  #newest: string | undefined;
  #newestLast = 0;

  get size(): number {
    return this.#last.size;
  }

  seen(publisher: string, seq: number): { from: number; to: number } | undefined {
    if (publisher === this.#newest) {
      // The usual case (one publisher, or a run of its broadcasts): no reordering.
      const last = this.#newestLast;
      if (seq > last) this.#newestLast = seq;
      return seq <= last + 1 ? undefined : { from: last + 1, to: seq - 1 };
    }
    const newest = this.#newest;
    if (newest !== undefined) this.#last.set(newest, this.#newestLast); // where it stands
    const last = this.#last.get(publisher);
    if (last !== undefined)
      this.#last.delete(publisher); // re-inserted: most recent last
    else if (this.#last.size >= MAX_TRACKED_PUBLISHERS) {
      const oldest = this.#last.keys().next().value as string;
      this.#last.delete(oldest);
    }
    const next = last === undefined ? seq : Math.max(last, seq);
    this.#last.set(publisher, next);
    this.#newest = publisher;
    this.#newestLast = next;
    if (last === undefined || seq <= last + 1) return undefined;
    return { from: last + 1, to: seq - 1 };
  }
}

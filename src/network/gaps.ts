/**
 * Broadcast sequence numbers, carried in the message id so the envelope stays the
 * reference format: a node's broadcasts (`network.broadcast()` without an explicit id)
 * have ids `<node prefix>b:<n in base 36>`, n = 0, 1, 2, ... per publisher incarnation,
 * and nothing else it sends has `-b:` in its id. A subscriber that sees n jump knows how
 * many it missed; a publisher that restarts gets a new prefix (a new sequence).
 */
export const BROADCAST_MARK = 'b:';

/** The publisher key (its id prefix) and sequence number of a broadcast id, or undefined. */
export function broadcastSeqOf(id: string): { publisher: string; seq: number } | undefined {
  const at = id.lastIndexOf(`-${BROADCAST_MARK}`);
  if (at < 0) return undefined;
  const digits = id.slice(at + 1 + BROADCAST_MARK.length);
  if (digits.length === 0 || digits.length > 10 || !/^[0-9a-z]+$/.test(digits)) return undefined;
  return { publisher: id.slice(0, at + 1), seq: Number.parseInt(digits, 36) };
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

  get size(): number {
    return this.#last.size;
  }

  seen(publisher: string, seq: number): { from: number; to: number } | undefined {
    const last = this.#last.get(publisher);
    if (last !== undefined)
      this.#last.delete(publisher); // re-inserted: most recent last
    else if (this.#last.size >= MAX_TRACKED_PUBLISHERS) {
      const oldest = this.#last.keys().next().value as string;
      this.#last.delete(oldest);
    }
    this.#last.set(publisher, last === undefined ? seq : Math.max(last, seq));
    if (last === undefined || seq <= last + 1) return undefined;
    return { from: last + 1, to: seq - 1 };
  }
}

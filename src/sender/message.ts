import type { Buffer } from 'node:buffer';
import { type Envelope, encodedEnvelopeIdAt } from '../wire/envelope.js';
import { FRAME_PREFIX_BYTES } from '../wire/framing.js';

/**
 * One accepted message on its way through the direct sender. A single record is shared
 * by every target address of the message; queues hold references to it.
 */
export interface OutgoingMessage {
  /** Dispatcher-wide sequence number: the order messages were sent in. */
  readonly seq: number;
  /**
   * The envelope's id, when someone wanted it at send time (an outcome listener, a watched
   * message); otherwise undefined, and {@link messageIdOf} reads it from the envelope or the
   * frame when it is wanted after all. A message that waits keeps no string of its own
   * alive: with tens of thousands waiting, one id string per message doubled the objects
   * every young-generation GC had to copy.
   */
  readonly id: string | undefined;
  /** The envelope's label, for outcomes (the envelope itself may be let go). */
  readonly label: string;
  /**
   * The message, until its frame is stored (see `frames`); then undefined, so a message
   * that waits in a queue keeps nothing alive but this record and its id. (Objects that
   * outlive a young-generation GC are copied by each one: with thousands of messages
   * waiting, the envelope, its timestamp and a buffer per message made GC the largest
   * cost of a backed-up connection.)
   */
  envelope: Envelope | undefined;
  /**
   * Where the encoded frame (4-byte length prefix + envelope) is, once the message had
   * to wait (a queue, the unresolved queue, a transport without `writeEnvelope`): bytes
   * `frameAt .. frameAt + 4 + size` of `frames`, a slab shared with other waiting
   * messages. Shared by every target; a message written at once is encoded straight
   * into the connection's buffer instead. Either way the payload is copied during `send()`.
   */
  frames: Buffer | undefined;
  frameAt: number;
  /** Encoded size of `envelope` (without the length prefix). */
  readonly size: number;
  /** The receiver as printed (bare id or address). */
  readonly receiver: string;
  /** The peer id for `peer(id)` receivers. */
  readonly peerId: string;
  /** `label` as counted in metrics: the envelope label if known, else `other`. */
  readonly metricLabel: string;
  /**
   * When the message entered the send queue (start of the OutgoingBuffer phase), in ms
   * since the sender's epoch (`Accounting.epochMs`), not since 1970: a small integer is
   * stored in the record itself, a clock reading would take a heap number per message.
   */
  readonly enqueuedAtMs: number;
  /**
   * Every address this message was ever a target at (shared with the peer's entry until
   * the message moves: the array is never changed in place). A message goes to an address
   * at most once in its life, so each (message, address) gets exactly one outcome.
   */
  addresses: readonly string[];
  /**
   * A copy was handed to a connection. Such a message no longer moves to other addresses
   * when one of its targets is removed: the copy may have reached the peer's node already.
   */
  sent: boolean;
  /** When the message (last) entered the unresolved queue, for its TTL. */
  unresolvedAtMs: number;
  /** Clock time after which it must not be written (`dropped:deadline`); 0: none. */
  readonly expiresAtMs: number;
  /** Once aborted, it must not be written (`dropped:aborted`). */
  readonly signal: AbortSignal | undefined;
}

/** The id of `msg`: its `id`, else the envelope's, else read from its encoded frame. */
export function messageIdOf(msg: Pick<OutgoingMessage, 'id' | 'envelope' | 'frames' | 'frameAt'>): string {
  if (msg.id !== undefined) return msg.id;
  if (msg.envelope !== undefined) return msg.envelope.id;
  return encodedEnvelopeIdAt(msg.frames as Buffer, msg.frameAt + FRAME_PREFIX_BYTES);
}

/** What `send()` may bound a message by. */
export interface SendLimits {
  /** Clock time after which it must not be written; 0: none. */
  readonly expiresAtMs: number;
  readonly signal: AbortSignal | undefined;
}

/**
 * Why `msg` must not be written any more at `nowMs` (its deadline passed, or its signal
 * aborted), or undefined. Only messages sent with limits are ever dead.
 */
export function deadReason(msg: OutgoingMessage, nowMs: number): 'deadline' | 'aborted' | undefined {
  if (msg.signal?.aborted === true) return 'aborted';
  if (msg.expiresAtMs !== 0 && nowMs >= msg.expiresAtMs) return 'deadline';
  return undefined;
}

/** True when `msg` was sent with a deadline or a signal. */
export function hasLimits(msg: OutgoingMessage): boolean {
  return msg.expiresAtMs !== 0 || msg.signal !== undefined;
}

/** Merges two lists that are each ordered by `seq` into one ordered list. */
export function mergeBySeq(a: readonly OutgoingMessage[], b: readonly OutgoingMessage[]): OutgoingMessage[] {
  const out: OutgoingMessage[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) out.push(a[i]!.seq <= b[j]!.seq ? a[i++]! : b[j++]!);
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return out;
}

/**
 * A plain message on `send()`'s fast lane (see `PeerSenderLike.writePlain`), besides its
 * id, label and payload: one object per dispatcher, filled anew for each message and only
 * read during the call, never kept (the lane makes no record per message).
 */
export interface PlainMessage {
  /** Dispatcher-wide sequence number (as {@link OutgoingMessage.seq}). */
  seq: number;
  /** Encoded envelope size, without the frame prefix (`plainEnvelopeSize`). */
  size: number;
  /** Its timestamp, in whole ms (a number: see `encodePlainInto`). */
  timestampMs: number;
  /** The peer it is sent to (its receiver as printed, too). */
  peerId: string;
  metricLabel: string;
  /** Its one target address (the peer's entry's array). */
  addresses: readonly string[];
  /** As {@link OutgoingMessage.enqueuedAtMs}: ms since the accounting's epoch. */
  enqueuedAtMs: number;
}

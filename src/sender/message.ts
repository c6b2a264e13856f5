import type { Envelope } from '../wire/envelope.js';

/**
 * One accepted message on its way through the direct sender. A single record is shared
 * by every target address of the message; queues hold references to it.
 */
export interface OutgoingMessage {
  /** Dispatcher-wide sequence number: the order messages were sent in. */
  readonly seq: number;
  readonly envelope: Envelope;
  /**
   * The encoded envelope (frame body without the length prefix), shared by every target.
   * Made only when the message has to wait (a queue, the unresolved queue, a transport
   * without `writeEnvelope`); a message written at once is encoded straight into the
   * connection's buffer. Either way the payload is copied during `send()`.
   */
  body: Buffer | undefined;
  /** Encoded size of `envelope` (without the length prefix). */
  readonly size: number;
  /** The receiver as printed (bare id or address). */
  readonly receiver: string;
  /** The peer id for `peer(id)` receivers. */
  readonly peerId: string;
  /** `label` as counted in metrics: the envelope label if known, else `other`. */
  readonly metricLabel: string;
  /** When the message entered the send queue (start of the OutgoingBuffer phase). */
  readonly enqueuedAtMs: number;
  /**
   * The dispatcher sequence number when the message was last handed to peer senders: a
   * sender created after it has not seen the message.
   */
  dispatchSeq: number;
  /** When the message (last) entered the unresolved queue, for its TTL. */
  unresolvedAtMs: number;
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

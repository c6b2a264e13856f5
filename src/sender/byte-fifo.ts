import { ByteBudget } from '../util/byte-budget.js';
import { Fifo } from '../util/fifo.js';
import { FRAME_PREFIX_BYTES } from '../wire/framing.js';
import type { OutgoingMessage } from './message.js';

/** Bytes a waiting message holds: its frame (length prefix + encoded envelope). */
export function frameBytes(msg: OutgoingMessage): number {
  return FRAME_PREFIX_BYTES + msg.size;
}

/**
 * A {@link Fifo} of waiting messages that counts their frame bytes, here and in `budget`
 * (the node's): every message in is taken from the budget, every message out (shifted,
 * drained) is given back, whichever path takes it out. A message queued at several
 * addresses of a peer counts once per queue (a bound, not a measure of shared buffers).
 */
export class ByteFifo extends Fifo<OutgoingMessage> {
  readonly budget: ByteBudget;

  constructor(initialCapacity: number, parent: ByteBudget | undefined) {
    super(initialCapacity);
    this.budget = new ByteBudget(Number.POSITIVE_INFINITY, parent);
  }

  /** Frame bytes of the messages queued here. */
  get bytes(): number {
    return this.budget.bytes;
  }

  override push(msg: OutgoingMessage): void {
    super.push(msg);
    this.budget.take(frameBytes(msg));
  }

  override unshift(msg: OutgoingMessage): void {
    super.unshift(msg);
    this.budget.take(frameBytes(msg));
  }

  override shift(): OutgoingMessage | undefined {
    const msg = super.shift();
    if (msg !== undefined) this.budget.give(frameBytes(msg));
    return msg;
  }
}

/**
 * How many of `msgs` (in order) a queue holding `depth` messages of `bytes` bytes takes:
 * one more while it holds fewer than `capacity` messages and fewer than `capacityBytes`
 * bytes (so it holds at most `capacityBytes` plus one message).
 */
export function admitted(
  msgs: readonly OutgoingMessage[],
  depth: number,
  bytes: number,
  capacity: number,
  capacityBytes: number,
): number {
  let n = 0;
  while (n < msgs.length && depth + n < capacity && bytes < capacityBytes) bytes += frameBytes(msgs[n++]!);
  return n;
}

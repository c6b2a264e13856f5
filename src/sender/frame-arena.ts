import { encodeFrameInto, FrameSlab } from '../wire/frame-slab.js';
import { FRAME_PREFIX_BYTES } from '../wire/framing.js';
import type { OutgoingMessage } from './message.js';

/**
 * Stores the frames of messages that wait (see {@link FrameSlab}): consecutive waiting
 * messages of a peer sender lie next to each other and go to the connection as one run.
 */
export class FrameArena {
  readonly #slab = new FrameSlab();

  /**
   * Encodes `msg`'s frame (length prefix + envelope) unless it has one, and lets go of
   * its envelope: from now on the frame is the message.
   */
  store(msg: OutgoingMessage): void {
    if (msg.frames !== undefined) return;
    const buf = this.#slab.reserve(FRAME_PREFIX_BYTES + msg.size);
    writeFrame(msg, buf, this.#slab.offset);
  }

  /** Lets go of the current slab (called when nothing waits, so an idle sender holds none). */
  release(): void {
    this.#slab.release();
  }
}

/** Stores `msg`'s frame in a buffer of its own (a message that waits alone, e.g. unresolved). */
export function storeFrame(msg: OutgoingMessage): void {
  if (msg.frames === undefined) writeFrame(msg, Buffer.allocUnsafe(FRAME_PREFIX_BYTES + msg.size), 0);
}

function writeFrame(msg: OutgoingMessage, buf: Buffer, at: number): void {
  encodeFrameInto(msg.envelope as NonNullable<OutgoingMessage['envelope']>, msg.size, buf, at);
  msg.frames = buf;
  msg.frameAt = at;
  msg.envelope = undefined;
}

/** The whole frame of a stored message (prefix included), as a view. */
export function frameOf(msg: OutgoingMessage): Buffer {
  if (msg.frames === undefined) storeFrame(msg);
  const frames = msg.frames as Buffer;
  return frames.subarray(msg.frameAt, msg.frameAt + FRAME_PREFIX_BYTES + msg.size);
}

/** The frame body (the encoded envelope, no prefix), as a view; stores the frame first if needed. */
export function bodyOf(msg: OutgoingMessage): Buffer {
  if (msg.frames === undefined) storeFrame(msg);
  const start = msg.frameAt + FRAME_PREFIX_BYTES;
  return (msg.frames as Buffer).subarray(start, start + msg.size);
}

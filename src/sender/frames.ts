import type { Buffer } from 'node:buffer';
import { type FrameSlab, frameBuffer } from '../wire/frame-slab.js';
import { FRAME_PREFIX_BYTES } from '../wire/framing.js';
import type { OutgoingMessage } from './message.js';

/**
 * Encodes `msg`'s frame (length prefix + envelope) unless it has one, and lets go of its
 * envelope: from now on the frame is the message. With `slab` (a peer sender's), the
 * frames of consecutive waiting messages lie next to each other and go to the connection
 * as one run; without, the frame gets a buffer of its own (a message that waits alone,
 * e.g. in the unresolved queue).
 */
export function storeFrame(msg: OutgoingMessage, slab?: FrameSlab): void {
  if (msg.frames !== undefined) return;
  const envelope = msg.envelope as NonNullable<OutgoingMessage['envelope']>;
  if (slab === undefined) {
    msg.frames = frameBuffer(envelope, msg.size);
    msg.frameAt = 0;
  } else {
    msg.frames = slab.encode(envelope, msg.size);
    msg.frameAt = slab.offset;
  }
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

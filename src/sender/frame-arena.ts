import { encodeEnvelopeInto } from '../wire/envelope.js';
import { FRAME_PREFIX_BYTES } from '../wire/framing.js';
import type { OutgoingMessage } from './message.js';

/** Size of an arena slab: the frames of many small waiting messages share one. */
const SLAB_BYTES = 64 * 1024;
/** A frame this large gets a buffer of its own (it would leave most of a slab unused). */
const OWN_BUFFER_BYTES = 16 * 1024;

/**
 * Where the frames of waiting messages are encoded: append-only slabs shared by
 * consecutive messages, so a queue of small messages costs a few large buffers (outside
 * the V8 heap) instead of one buffer object per message, and consecutive frames lie
 * next to each other and can be handed to a connection as one region
 * (`Connection.writeFrames`). A region once written is never written again: a
 * connection may hold it by reference until it is flushed.
 */
export class FrameArena {
  #slab: Buffer | undefined;
  #used = 0;

  /**
   * Encodes `msg`'s frame (length prefix + envelope) unless it has one, and lets go of
   * its envelope: from now on the frame is the message.
   */
  store(msg: OutgoingMessage): void {
    if (msg.frames !== undefined) return;
    const need = FRAME_PREFIX_BYTES + msg.size;
    let slab: Buffer;
    let at = 0;
    if (need >= OWN_BUFFER_BYTES) {
      slab = Buffer.allocUnsafe(need);
    } else {
      if (this.#slab === undefined || this.#slab.length - this.#used < need) {
        this.#slab = Buffer.allocUnsafe(SLAB_BYTES);
        this.#used = 0;
      }
      slab = this.#slab;
      at = this.#used;
      this.#used += need;
    }
    writeFrame(msg, slab, at);
  }

  /** Lets go of the current slab (called when nothing waits, so an idle sender holds none). */
  release(): void {
    this.#slab = undefined;
    this.#used = 0;
  }
}

/** Stores `msg`'s frame in a buffer of its own (a message that waits alone, e.g. unresolved). */
export function storeFrame(msg: OutgoingMessage): void {
  if (msg.frames === undefined) writeFrame(msg, Buffer.allocUnsafe(FRAME_PREFIX_BYTES + msg.size), 0);
}

function writeFrame(msg: OutgoingMessage, slab: Buffer, at: number): void {
  const envelope = msg.envelope as NonNullable<OutgoingMessage['envelope']>;
  slab.writeUInt32BE(msg.size, at);
  encodeEnvelopeInto(envelope, slab, at + FRAME_PREFIX_BYTES);
  msg.frames = slab;
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

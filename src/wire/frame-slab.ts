import { Buffer } from 'node:buffer';
import { PeerpostError } from '../errors.js';
import { type Envelope, encodeEnvelopeInto } from './envelope.js';
import { FRAME_PREFIX_BYTES } from './framing.js';

/** Size of a slab: the frames of many small messages share one. */
const SLAB_BYTES = 64 * 1024;
/** A frame this large gets a buffer of its own (it would leave most of a slab unused). */
const OWN_BUFFER_BYTES = 16 * 1024;
/** A slab with less room than this left is let go at once rather than kept for the next frame. */
const MIN_ROOM = 1024;

/**
 * Slabs a pool keeps by default: 64 x 64 KiB = 4 MiB. A backed-up sender has the
 * transport's high-water mark (1 MiB) and its queue framed in slabs, and its in-flight
 * amount swings by about that much between backpressure and drain: slabs flushed on one
 * swing must still be here for the next, or each one is a new 64 KiB buffer (external
 * memory, which makes V8 run full GCs: issue 16 measured 0.3-0.4 mark-compacts per 10k
 * 1 KiB messages and ~1 us/msg of GC threads with a pool of 4).
 */
export const POOLED_SLABS = 64;

/**
 * Slabs nobody refers to any more, kept for the next owner that needs one: an owner that
 * goes idle gives its slab back here (and holds no memory while idle) and one that gets
 * busy again, or fills its slab, takes one instead of allocating. At most `max` are kept (a
 * bounded, per-node amount of memory: `max` x 64 KiB).
 */
export class SlabPool {
  readonly #free: Buffer[] = [];
  readonly max: number;

  constructor(max = POOLED_SLABS) {
    this.max = max;
  }

  /** Slabs kept now. */
  get size(): number {
    return this.#free.length;
  }

  take(): Buffer | undefined {
    return this.#free.pop();
  }

  /** Keeps `slab` (a whole slab no frame of which is referred to any more) if there is room. */
  give(slab: Buffer): void {
    if (slab.length === SLAB_BYTES && this.#free.length < this.max) this.#free.push(slab);
  }
}

/**
 * Append-only slabs for encoded frames: consecutive frames share a few large buffers
 * (outside the V8 heap) instead of one buffer object each, and lie next to each other,
 * so a connection can take a run of them as one region (`Connection.writeFrames`, which
 * merges regions that continue each other). A region once handed out is never written
 * again: connections hold frames by reference until they are flushed.
 */
export class FrameSlab {
  #slab: Buffer | undefined;
  #used = 0;
  /** Where a new slab comes from first, and where its owner gives a slab back (SlabPool.give). */
  readonly #pool: SlabPool | undefined;
  /** Where the bytes of the last reserve() start in the buffer it returned. */
  offset = 0;
  /** The last reserve() returned a slab (shared by the frames around it), not a buffer of the frame's own. */
  fromSlab = false;

  constructor(pool?: SlabPool) {
    this.#pool = pool;
  }

  /** Reserves `bytes` and returns the buffer that holds them, from {@link offset}. */
  reserve(bytes: number): Buffer {
    if (bytes >= OWN_BUFFER_BYTES) {
      this.offset = 0;
      this.fromSlab = false;
      return Buffer.allocUnsafe(bytes);
    }
    if (this.#slab === undefined || this.#slab.length - this.#used < bytes) {
      this.#slab = this.#pool?.take() ?? Buffer.allocUnsafe(SLAB_BYTES);
      this.#used = 0;
    }
    const slab = this.#slab;
    this.fromSlab = true;
    this.offset = this.#used;
    this.#used += bytes;
    if (slab.length - this.#used < MIN_ROOM) this.release();
    return slab;
  }

  /**
   * Encodes `envelope` (of encoded size `size`) as a whole frame; returns the buffer that
   * holds it, from {@link offset}.
   */
  encode(envelope: Envelope, size: number): Buffer {
    const buf = this.reserve(FRAME_PREFIX_BYTES + size);
    encodeFrameInto(envelope, size, buf, this.offset);
    return buf;
  }

  /** Encodes `envelope` (of encoded size `size`) as a whole frame; returns a view of it. */
  frame(envelope: Envelope, size: number): Buffer {
    const buf = this.encode(envelope, size);
    return buf.subarray(this.offset, this.offset + FRAME_PREFIX_BYTES + size);
  }

  /** Lets go of the current slab (when nothing waits, so an idle owner holds none). */
  release(): void {
    this.#slab = undefined;
    this.#used = 0;
  }
}

/** The frame of `envelope` (of encoded size `size`) in a buffer of its own. */
export function frameBuffer(envelope: Envelope, size: number): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_PREFIX_BYTES + size);
  encodeFrameInto(envelope, size, frame, 0);
  return frame;
}

/**
 * Writes the frame of `envelope` (length prefix, then the `size` encoded bytes) at `at`.
 * Throws `ERR_INVALID_OPTION` when the encoding does not end where `size` says (the
 * prefix would lie about the frame).
 */
export function encodeFrameInto(envelope: Envelope, size: number, buf: Buffer, at: number): void {
  buf.writeUInt32BE(size, at);
  const end = encodeEnvelopeInto(envelope, buf, at + FRAME_PREFIX_BYTES);
  if (end !== at + FRAME_PREFIX_BYTES + size) {
    throw new PeerpostError('ERR_INVALID_OPTION', `writeEnvelope: size ${size} does not match the encoding`);
  }
}

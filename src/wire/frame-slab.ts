import { Buffer } from 'node:buffer';
import { PeerpostError } from '../errors.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { type Envelope, encodeEnvelopeInto, encodePlainInto } from './envelope.js';
import { FRAME_PREFIX_BYTES } from './framing.js';

/** Size of a slab: the frames of many small messages share one. */
const SLAB_BYTES = 64 * 1024;
/** A frame this large gets a buffer of its own (it would leave most of a slab unused). */
const OWN_BUFFER_BYTES = 16 * 1024;
/** A slab with less room than this left is let go at once rather than kept for the next frame. */
const MIN_ROOM = 1024;

/**
 * Bytes a pool keeps at most by default, and the least a node's pool keeps (a node sizes
 * its pool by its limits: `pooledBytesFor` of direct-sender.ts): 4 MiB (64 slabs). A backed-up sender has the
 * transport's high-water mark (1 MiB) and its queue framed in slabs, and its in-flight
 * amount swings by about that much between backpressure and drain: buffers flushed on one
 * swing must still be here for the next, or each one is a new buffer (external memory,
 * which makes V8 run full GCs: issue 16 measured 0.3-0.4 mark-compacts per 10k 1 KiB
 * messages and ~1 us/msg of GC threads with a pool of 4 slabs).
 */
export const POOLED_BYTES = 4 * 1024 * 1024;

/** Frames up to this size get a pooled buffer of their own; larger ones a buffer from the GC. */
export const MAX_POOLED_FRAME_BYTES = 1024 * 1024;

/** Buffers of frames of their own come in sizes that are multiples of this (at most 1/4 unused above 64 KiB). */
const SIZE_STEP = 16 * 1024;

/**
 * The free buffers of one size: a stack whose array keeps its length, a taken entry
 * overwritten with undefined. A pool whose only slab is taken and given back per round
 * trip would otherwise have the array's backing store dropped by each `pop()` to empty
 * and grown again by the next `push()`.
 */
class BufferStack {
  readonly #items: (Buffer | undefined)[] = [];
  count = 0;
  /** The pool's count of buffers asked for when one of this size was last asked for (0: never). */
  asked = 0;

  push(buf: Buffer): void {
    this.#items[this.count++] = buf;
  }

  pop(): Buffer | undefined {
    if (this.count === 0) return undefined;
    const buf = this.#items[--this.count];
    this.#items[this.count] = undefined;
    return buf;
  }
}

/**
 * Buffers nobody refers to any more, kept for the next owner that needs one: slabs (an
 * owner that goes idle gives its slab back here, and holds no memory while idle; one that
 * gets busy again, or fills its slab, takes one instead of allocating), and the buffers of
 * large frames (16 KiB up to {@link MAX_POOLED_FRAME_BYTES}, in sizes rounded up to 16 KiB),
 * given back once their frame was flushed. At most `maxBytes` are kept: a bounded,
 * per-node amount of memory.
 */
export class SlabPool {
  /** Free buffers by size. */
  readonly #free = new Map<number, BufferStack>();
  #bytes = 0;
  #maxBytes: number;
  readonly #idle: PoolIdleTrim | undefined;
  /** Buffers asked for so far (an idle check sees whether any were since the last one). */
  #takes = 0;
  #takesAtCheck = 0;
  #timer: TimerHandle | undefined;

  /**
   * `idle`: with a clock, the pool lets go of what it keeps above `floorBytes` once
   * `afterMs` passed without any buffer asked of it (checked by a timer armed only while
   * it keeps more than that; {@link close} clears it). Without, it keeps what it has.
   */
  constructor(maxBytes = POOLED_BYTES, idle?: PoolIdleTrim) {
    this.#maxBytes = maxBytes;
    this.#idle = idle;
  }

  /** Bytes the pool keeps at most. */
  get maxBytes(): number {
    return this.#maxBytes;
  }

  /** Sets the bound; lowering it lets go of kept buffers beyond it (largest sizes first). */
  set maxBytes(value: number) {
    this.#maxBytes = value;
    this.#trim(value);
  }

  /** Lets go of every kept buffer and clears the idle timer; the pool keeps nothing after (its bound is 0). */
  close(): void {
    this.maxBytes = 0;
    const idle = this.#idle;
    if (this.#timer !== undefined && idle !== undefined) idle.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Lets go of kept buffers, largest sizes first, until at most `bytes` are kept. */
  #trim(bytes: number): void {
    if (this.#bytes <= bytes) return;
    for (const size of [...this.#free.keys()].sort((a, b) => b - a)) {
      const list = this.#free.get(size) as BufferStack;
      while (list.count > 0 && this.#bytes > bytes) {
        list.pop();
        this.#bytes -= size;
      }
      if (this.#bytes <= bytes) return;
    }
  }

  /** Arms the idle check when the pool keeps more than its floor and none is armed. */
  #watchIdle(): void {
    const idle = this.#idle;
    if (idle === undefined || this.#timer !== undefined || this.#bytes <= idle.floorBytes) return;
    this.#takesAtCheck = this.#takes;
    this.#timer = idle.clock.setTimeout(this.#onIdleCheck, idle.afterMs);
  }

  readonly #onIdleCheck = (): void => {
    this.#timer = undefined;
    const idle = this.#idle as PoolIdleTrim;
    if (this.#takes === this.#takesAtCheck) this.#trim(idle.floorBytes);
    this.#watchIdle();
  };

  /** Buffers kept now. */
  get size(): number {
    let n = 0;
    for (const list of this.#free.values()) n += list.count;
    return n;
  }

  /** Bytes kept now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** A slab, if one is kept. */
  take(): Buffer | undefined {
    return this.#take(SLAB_BYTES);
  }

  /**
   * A buffer for a frame of `bytes` (16 KiB up to {@link MAX_POOLED_FRAME_BYTES}) of its
   * own: a kept one of its size class, or a new one of that size (so that it can be kept
   * when given back).
   */
  takeSized(bytes: number): Buffer {
    const size = Math.ceil(bytes / SIZE_STEP) * SIZE_STEP;
    return this.#take(size) ?? Buffer.allocUnsafe(size);
  }

  #take(size: number): Buffer | undefined {
    const takes = ++this.#takes;
    let list = this.#free.get(size);
    if (list === undefined) {
      list = new BufferStack(); // a size class asked for, so that give() knows it is wanted
      this.#free.set(size, list);
    }
    list.asked = takes;
    const buf = list.pop();
    if (buf !== undefined) this.#bytes -= size;
    return buf;
  }

  /**
   * Keeps `buf` (a whole slab, or a buffer from {@link takeSized}, no frame of which is
   * referred to any more) if there is room.
   */
  give(buf: Buffer): void {
    const size = buf.length;
    const pooled =
      size === SLAB_BYTES ||
      (size % SIZE_STEP === 0 && size >= OWN_BUFFER_BYTES && size <= MAX_POOLED_FRAME_BYTES);
    if (!pooled) return;
    const list = this.#free.get(size);
    if (list === undefined) return; // never asked for (every buffer of a pool's owner was)
    if (this.#bytes + size > this.#maxBytes && !this.#makeRoom(size, list.asked)) return;
    list.push(buf);
    this.#bytes += size;
    this.#watchIdle();
  }

  /**
   * When the pool is full: lets go of kept buffers of the sizes asked for least recently,
   * each asked for before `asked` (when a buffer of `size` last was), until `size` more
   * bytes fit. Without it a pool filled with one size kept it for good while the owners'
   * traffic had moved to another: a sender of 1 KiB messages whose messages grew to 64 KiB
   * filled its pool with slabs nobody took, and allocated a buffer per 64 KiB frame (the
   * external memory of which made V8 collect: issue 16, round 29). Whether it could make room.
   */
  #makeRoom(size: number, asked: number): boolean {
    while (this.#bytes + size > this.#maxBytes) {
      let oldest: BufferStack | undefined;
      let oldestSize = 0;
      for (const [s, list] of this.#free) {
        if (
          s !== size &&
          list.count > 0 &&
          list.asked < asked &&
          (oldest === undefined || list.asked < oldest.asked)
        ) {
          oldest = list;
          oldestSize = s;
        }
      }
      if (oldest === undefined) return false;
      while (oldest.count > 0 && this.#bytes + size > this.#maxBytes) {
        oldest.pop();
        this.#bytes -= oldestSize;
      }
    }
    return true;
  }
}

/** How a pool lets go of memory it no longer uses ({@link SlabPool}'s `idle`). */
export interface PoolIdleTrim {
  readonly clock: Clock;
  /** Time without any buffer asked of the pool after which it trims. */
  readonly afterMs: number;
  /** What it keeps after trimming. */
  readonly floorBytes: number;
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
  /** The last reserve() returned a buffer of the frame's own from the pool, to be given back once flushed. */
  pooled = false;

  constructor(pool?: SlabPool) {
    this.#pool = pool;
  }

  /** Reserves `bytes` and returns the buffer that holds them, from {@link offset}. */
  reserve(bytes: number): Buffer {
    if (bytes >= OWN_BUFFER_BYTES) {
      this.offset = 0;
      this.fromSlab = false;
      const pool = this.#pool;
      this.pooled = pool !== undefined && bytes <= MAX_POOLED_FRAME_BYTES;
      return this.pooled ? (pool as SlabPool).takeSized(bytes) : Buffer.allocUnsafe(bytes);
    }
    this.pooled = false;
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

  /**
   * Encodes the plain message of `envelope.ts`'s `encodePlainInto` (of encoded size
   * `size`, see `plainEnvelopeSize`) as a whole frame; returns the buffer that holds it,
   * from {@link offset}.
   */
  encodePlain(size: number, timestampMs: number, id: string, label: string, data: Uint8Array): Buffer {
    const buf = this.reserve(FRAME_PREFIX_BYTES + size);
    const at = this.offset;
    // writePrefix, then checkEnd, written out (send()'s path: see encodePlainInto).
    if (size > 0xffff_ffff) throw prefixOverflow(size);
    buf[at] = size >>> 24;
    buf[at + 1] = size >>> 16;
    buf[at + 2] = size >>> 8;
    buf[at + 3] = size;
    const end = encodePlainInto(buf, at + FRAME_PREFIX_BYTES, timestampMs, id, label, data);
    if (end !== at + FRAME_PREFIX_BYTES + size) throw sizeMismatch(size);
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
  writePrefix(buf, at, size);
  checkEnd(encodeEnvelopeInto(envelope, buf, at + FRAME_PREFIX_BYTES), at, size);
}

/**
 * Writes the frame of the plain message `encodePlainInto` describes (of encoded size
 * `size`, see `plainEnvelopeSize`) at `at`: {@link encodeFrameInto} with no envelope.
 */
export function encodePlainFrameInto(
  buf: Buffer,
  at: number,
  size: number,
  timestampMs: number,
  id: string,
  label: string,
  data: Uint8Array,
): void {
  writePrefix(buf, at, size);
  checkEnd(encodePlainInto(buf, at + FRAME_PREFIX_BYTES, timestampMs, id, label, data), at, size);
}

/** The u32 big-endian frame prefix as plain stores (writeUInt32BE checks its arguments: ~3x the cost). */
function writePrefix(buf: Buffer, at: number, size: number): void {
  if (size > 0xffff_ffff) throw prefixOverflow(size);
  buf[at] = size >>> 24;
  buf[at + 1] = size >>> 16;
  buf[at + 2] = size >>> 8;
  buf[at + 3] = size;
}

/** Throws when an encoding did not end where its frame of `size` bytes at `at` does. */
function checkEnd(end: number, at: number, size: number): void {
  if (end !== at + FRAME_PREFIX_BYTES + size) throw sizeMismatch(size);
}

/** The error of a frame size the u32 prefix cannot hold (writePrefix, FrameSlab.encodePlain). */
function prefixOverflow(size: number): PeerpostError {
  return new PeerpostError('ERR_INVALID_OPTION', `writeEnvelope: size ${size} does not fit a frame prefix`);
}

/** The error of an encoding that did not end where its frame's size says (checkEnd, FrameSlab.encodePlain). */
function sizeMismatch(size: number): PeerpostError {
  return new PeerpostError('ERR_INVALID_OPTION', `writeEnvelope: size ${size} does not match the encoding`);
}

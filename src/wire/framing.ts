import { Buffer } from 'node:buffer';
import { PeerpostError } from '../errors.js';
import { type Envelope, type EnvelopeVersion, encodedEnvelopeSize, encodeEnvelopeInto } from './envelope.js';

/** Bytes of the big-endian u32 length prefix. */
export const FRAME_PREFIX_BYTES = 4;
/** Default largest frame body accepted from a peer: 16 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Largest length a 4-byte prefix can carry. */
export const U32_MAX = 0xffff_ffff;

/** The length in the big-endian prefix at `at` (the caller checked that 4 bytes are there). */
export function frameLength(frames: Uint8Array, at: number): number {
  return frames[at]! * 0x1000000 + frames[at + 1]! * 0x10000 + frames[at + 2]! * 0x100 + frames[at + 3]!;
}

/**
 * Throws `ERR_INVALID_OPTION` unless `frames` is exactly `count` whole, non-empty
 * length-prefixed frames (the check of `Connection.writeFrames`).
 */
export function checkFrames(frames: Uint8Array, count: number): void {
  const n = frames.length;
  let at = 0;
  let seen = 0;
  while (at < n && seen < count) {
    const len = at + FRAME_PREFIX_BYTES <= n ? frameLength(frames, at) : 0;
    if (len === 0 || at + FRAME_PREFIX_BYTES + len > n) break;
    at += FRAME_PREFIX_BYTES + len;
    seen++;
  }
  if (at !== n || seen !== count || count < 1 || !Number.isInteger(count)) {
    throw new PeerpostError(
      'ERR_INVALID_OPTION',
      `writeFrames: ${n} bytes are not ${count} whole non-empty frames (${seen} found, ${n - at} bytes left over)`,
    );
  }
}

/** Prefix + body in one buffer (one copy of the body). */
export function encodeFrame(body: Uint8Array): Buffer {
  if (body.length > U32_MAX) {
    throw new PeerpostError('ERR_LENGTH_OVERFLOW', `frame body of ${body.length} bytes exceeds u32`);
  }
  const out = Buffer.allocUnsafe(FRAME_PREFIX_BYTES + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, FRAME_PREFIX_BYTES);
  return out;
}

/** Frames many bodies into one buffer, ready for a single socket write. */
export function encodeFrames(bodies: readonly Uint8Array[]): Buffer {
  let total = 0;
  for (const b of bodies) total += FRAME_PREFIX_BYTES + b.length;
  const out = Buffer.allocUnsafe(total);
  let o = 0;
  for (const b of bodies) {
    if (b.length > U32_MAX) {
      throw new PeerpostError('ERR_LENGTH_OVERFLOW', `frame body of ${b.length} bytes exceeds u32`);
    }
    out.writeUInt32BE(b.length, o);
    out.set(b, o + FRAME_PREFIX_BYTES);
    o += FRAME_PREFIX_BYTES + b.length;
  }
  return out;
}

/** Encodes an envelope straight into a framed buffer: no intermediate body copy. */
export function encodeEnvelopeFrame(envelope: Envelope, version: EnvelopeVersion = 1): Buffer {
  const size = encodedEnvelopeSize(envelope, version);
  const out = Buffer.allocUnsafe(FRAME_PREFIX_BYTES + size);
  out.writeUInt32BE(size, 0);
  encodeEnvelopeInto(envelope, out, FRAME_PREFIX_BYTES, version);
  return out;
}

/** The body of an empty frame (a keepalive) whose prefix was split across chunks. */
const EMPTY_FRAME = Buffer.alloc(0);

export interface FrameDecoderOptions {
  /** Largest accepted frame body; a larger prefix is rejected before any buffer is allocated. @default 16 MiB */
  maxFrameBytes?: number;
}

/**
 * Streaming decoder for length-prefixed frames. Feed arbitrary chunks with
 * {@link FrameDecoder.push}; whole frames are passed to the callback in order. A frame
 * that lies inside one chunk is passed as a view of that chunk (no copy); a frame split
 * across chunks is assembled once into a buffer of exactly its size.
 *
 * After an error the decoder is poisoned: the stream is no longer in sync, so the
 * connection that fed it must be closed.
 */
export class FrameDecoder {
  readonly maxFrameBytes: number;
  /** Bytes consumed from the stream so far (for error offsets). */
  #consumed = 0;
  /** The prefix bytes seen so far while a prefix is split across chunks (no buffer per decoder). */
  #header = 0;
  #headerFill = 0;
  /** Body being assembled across chunks; undefined while reading a header. */
  #body: Buffer | undefined;
  #bodyFill = 0;
  #failed: PeerpostError | undefined;
  /** push()'s callback and its `this`, while a push() runs. */
  #frameCallback: ((this: unknown, frame: Buffer) => void) | undefined;
  #frameThis: unknown;

  constructor(options: FrameDecoderOptions = {}) {
    const max = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isInteger(max) || max < 0 || max > U32_MAX) {
      throw new PeerpostError(
        'ERR_INVALID_OPTION',
        `maxFrameBytes must be an integer in 0..2^32-1, got ${max}`,
      );
    }
    this.maxFrameBytes = max;
  }

  /** True while part of a frame has been received but not all of it. */
  get hasPartialFrame(): boolean {
    return this.#headerFill > 0 || this.#body !== undefined;
  }

  /** Bytes of the stream consumed so far. */
  get offset(): number {
    return this.#consumed;
  }

  #checkLength(len: number, at: number): void {
    if (len > this.maxFrameBytes) {
      this.#failed = new PeerpostError(
        'ERR_FRAME_TOO_LARGE',
        `frame length ${len} at offset ${at} exceeds maxFrameBytes ${this.maxFrameBytes}`,
        { offset: at },
      );
      throw this.#failed;
    }
  }

  /**
   * Feeds a chunk; calls `onFrame` (with `this` = `thisArg`, so a caller can pass one
   * shared function instead of a closure per stream) for every complete frame. Throws a
   * coded error on a bad prefix.
   */
  push<T = undefined>(chunk: Uint8Array, onFrame: (this: T, frame: Buffer) => void, thisArg?: T): void {
    const outerCallback = this.#frameCallback; // push() may be re-entered from onFrame
    const outerThis = this.#frameThis;
    this.#frameCallback = onFrame as (this: unknown, frame: Buffer) => void;
    this.#frameThis = thisArg;
    try {
      this.pushRanges(
        Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length),
        FrameDecoder.#asFrame,
        this,
      );
    } finally {
      this.#frameCallback = outerCallback;
      this.#frameThis = outerThis;
    }
  }

  /** push()'s adapter (`this` is the decoder): the range as a view. */
  static readonly #asFrame = function (this: FrameDecoder, buf: Buffer, start: number, end: number): void {
    const frame = start === 0 && end === buf.length ? buf : buf.subarray(start, end);
    this.#frameCallback!.call(this.#frameThis, frame);
  };

  /**
   * push() without a view per frame: calls `onFrame(buf, start, end)` for every complete
   * frame, whose body is `buf[start, end)`. A frame that lies inside `chunk` is reported
   * as a range of `chunk`; one split across chunks is assembled into a buffer of its own
   * and reported whole. An empty frame (a keepalive) has `start === end`.
   */
  pushRanges<T = undefined>(
    chunk: Buffer,
    onFrame: (this: T, buf: Buffer, start: number, end: number) => void,
    thisArg?: T,
  ): void {
    if (this.#failed) throw this.#failed;
    const buf = chunk;
    let pos = 0;
    const n = buf.length;
    while (pos < n) {
      const body = this.#body;
      if (body !== undefined) {
        const want = body.length - this.#bodyFill;
        const take = Math.min(want, n - pos);
        buf.copy(body, this.#bodyFill, pos, pos + take);
        this.#bodyFill += take;
        pos += take;
        this.#consumed += take;
        if (this.#bodyFill === body.length) {
          this.#body = undefined;
          this.#bodyFill = 0;
          onFrame.call(thisArg as T, body, 0, body.length);
        }
        continue;
      }
      if (this.#headerFill === 0 && n - pos >= FRAME_PREFIX_BYTES) {
        // Fast path: the whole prefix is in this chunk.
        const len = frameLength(buf, pos);
        this.#checkLength(len, this.#consumed);
        const start = pos + FRAME_PREFIX_BYTES;
        if (n - start >= len) {
          pos = start + len;
          this.#consumed += FRAME_PREFIX_BYTES + len;
          onFrame.call(thisArg as T, buf, start, pos);
          continue;
        }
        this.#body = Buffer.allocUnsafe(len);
        this.#bodyFill = n - start;
        buf.copy(this.#body, 0, start, n);
        this.#consumed += n - pos;
        pos = n;
        continue;
      }
      // Slow path: the prefix itself is split across chunks.
      this.#header = this.#header * 0x100 + (buf[pos] as number);
      this.#headerFill++;
      pos++;
      this.#consumed++;
      if (this.#headerFill === FRAME_PREFIX_BYTES) {
        const len = this.#header;
        this.#header = 0;
        this.#headerFill = 0;
        this.#checkLength(len, this.#consumed - FRAME_PREFIX_BYTES);
        if (len === 0) {
          onFrame.call(thisArg as T, EMPTY_FRAME, 0, 0);
        } else {
          this.#body = Buffer.allocUnsafe(len);
          this.#bodyFill = 0;
        }
      }
    }
  }

  /** Declares the end of the stream: throws `ERR_FRAME_INCOMPLETE` if it ended inside a frame. */
  end(): void {
    if (this.#failed) throw this.#failed;
    if (this.hasPartialFrame) {
      const have = this.#body ? this.#bodyFill : this.#headerFill;
      const need = this.#body ? this.#body.length : FRAME_PREFIX_BYTES;
      throw new PeerpostError(
        'ERR_FRAME_INCOMPLETE',
        `stream ended inside a frame at offset ${this.#consumed}: ${have} of ${need} ${this.#body ? 'body' : 'prefix'} bytes`,
        { offset: this.#consumed },
      );
    }
  }
}

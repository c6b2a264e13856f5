import { Buffer } from 'node:buffer';
import { PeerpostError } from '../errors.js';
import { type IdReader, readUtf8, type StringInterner } from './utf8.js';

const EMPTY = Buffer.alloc(0);

/** Inputs up to this size may stay referenced after a decode (see Reader.viewOf). */
const KEPT_INPUT_BYTES = 64 * 1024;
/**
 * Inputs shorter than this are checked byte by byte: the word view {@link Reader.asciiAt}
 * makes per input costs more than it saves when the input holds a message or two (a
 * round trip's reply, a subscriber's share of a broadcast; node's TLS socket hands over
 * each record in an ArrayBuffer of its own).
 */
const WORDS_MIN_INPUT_BYTES = 1024;

/**
 * A cursor over one message body, for the envelope decoder. Every length is checked
 * against what remains before use; errors are coded (`ERR_TRUNCATED`, `ERR_INVALID_BOOL`,
 * `ERR_INVALID_OPTION_TAG`, `ERR_INVALID_UTF8`) with offsets relative to the message.
 */
export class Reader {
  buf: Buffer = EMPTY;
  pos = 0;
  end = 0;
  /** Where the message starts in `buf`: error offsets are relative to it. */
  origin = 0;
  /**
   * The input whose ArrayBuffer and byteOffset are in `area` and `base`. Frames of one
   * received chunk are decoded from that chunk one after the other, and those two
   * accessors are calls on Node 20 (~15 ns each): they are read once per chunk.
   */
  viewOf: Buffer = EMPTY;
  area: ArrayBufferLike = EMPTY.buffer;
  base = EMPTY.byteOffset;
  lastValue = 0;
  lastBigInt = 0n;
  /** The value u64() last returned as a number, or NaN when it was 2^53 or more (not exact). */
  lastNumber = 0;

  reset(buf: Buffer, start: number, end: number): this {
    this.buf = buf;
    this.pos = start;
    this.origin = start;
    this.end = end;
    if (buf !== this.viewOf) {
      this.viewOf = buf;
      this.area = buf.buffer;
      this.base = buf.byteOffset;
      this.#words = undefined;
    }
    return this;
  }

  /** Lets go of the input (a chunk-sized one stays referenced until the next decode). */
  release(): void {
    this.buf = EMPTY;
    if (this.viewOf.length > KEPT_INPUT_BYTES) {
      this.viewOf = EMPTY;
      this.area = EMPTY.buffer;
      this.base = EMPTY.byteOffset;
      this.#words = undefined;
    }
  }

  /**
   * The input's ArrayBuffer as aligned 32-bit words from the word holding the input's first
   * byte on (word k holds bytes 4k..4k+3 of the ArrayBuffer): made once per input, on the
   * first {@link asciiAt} that wants it.
   */
  #words: Uint32Array | undefined;

  /**
   * Whether `buf[start, end)` of the current input is all ASCII, read a 32-bit word at a
   * time past the first aligned byte in an input of WORDS_MIN_INPUT_BYTES or more (a
   * message id of ~20 bytes: ~10 ns less than byte by byte). Word reads are
   * native-endian, and ASCII is a property of each byte alone, so the mask 0x80808080
   * tests the four bytes whatever the order.
   */
  asciiAt(start: number, end: number): boolean {
    const buf = this.buf;
    let any = 0;
    let i = start;
    const base = this.base;
    // Short ranges, and ArrayBuffers whose offsets do not fit the unsigned shifts below, byte by byte.
    if (end - start >= 12 && this.viewOf.length >= WORDS_MIN_INPUT_BYTES && base + end <= 0xffff_ffff) {
      const origin = base - (base & 3);
      let words = this.#words;
      if (words === undefined) {
        words = new Uint32Array(this.area, origin, (this.area.byteLength - origin) >>> 2);
        this.#words = words;
      }
      while (((base + i) & 3) !== 0) any |= buf[i++] as number;
      const first = (base + i - origin) >>> 2;
      const last = (base + end - origin) >>> 2;
      let w = 0;
      for (let k = first; k < last; k++) w |= words[k] as number;
      if ((w & 0x80808080) !== 0) return false;
      i = origin + last * 4 - base;
    }
    for (; i < end; i++) any |= buf[i] as number;
    return any < 0x80;
  }

  /** The offset of `pos` in the message, for errors. */
  at(pos: number): number {
    return pos - this.origin;
  }

  need(n: number, what: string): void {
    if (this.end - this.pos < n) this.truncated(n, what);
  }

  truncated(n: number, what: string): never {
    throw new PeerpostError(
      'ERR_TRUNCATED',
      `input ends inside ${what}: needs ${n} bytes at offset ${this.at(this.pos)}, ${this.end - this.pos} remain`,
      { offset: this.at(this.pos) },
    );
  }

  u64(what: string): bigint {
    this.need(8, what);
    const b = this.buf;
    const p = this.pos;
    this.pos += 8;
    const hi = b[p + 4]! + (b[p + 5]! << 8) + (b[p + 6]! << 16) + b[p + 7]! * 0x1000000;
    if (hi < 0x200000) {
      // Below 2^53: build the bigint from one exact number; timestamps of consecutive
      // messages are mostly the same millisecond, so the last one is reused.
      const value =
        hi * 0x1_0000_0000 + (b[p]! + (b[p + 1]! << 8) + (b[p + 2]! << 16) + b[p + 3]! * 0x1000000);
      this.lastNumber = value;
      return this.bigIntOf(value);
    }
    this.lastNumber = Number.NaN;
    return b.readBigUInt64LE(p);
  }

  /** The bigint of `value` (an integer below 2^53), reusing the last one made when it is the same. */
  bigIntOf(value: number): bigint {
    if (value !== this.lastValue) {
      this.lastValue = value;
      this.lastBigInt = BigInt(value);
    }
    return this.lastBigInt;
  }

  /** A u64 length, compared with the remaining bytes before anything is allocated. */
  len(what: string): number {
    const p = this.pos;
    if (this.end - p < 8) this.truncated(8, `${what} length`);
    const b = this.buf;
    // Plain byte reads: the bounds were checked just above.
    const lo = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000;
    const hi = b[p + 4]! | b[p + 5]! | b[p + 6]! | b[p + 7]!;
    const remaining = this.end - p - 8;
    if (hi !== 0 || lo > remaining) {
      const claimed = b.readBigUInt64LE(p);
      throw new PeerpostError(
        'ERR_TRUNCATED',
        `${what} length ${claimed} at offset ${this.at(this.pos)} exceeds the ${remaining} bytes that remain`,
        { offset: this.at(this.pos) },
      );
    }
    this.pos += 8;
    return lo;
  }

  bool(what: string): boolean {
    return this.#zeroOrOne(what, 'ERR_INVALID_BOOL', '');
  }

  optionTag(what: string): boolean {
    return this.#zeroOrOne(what, 'ERR_INVALID_OPTION_TAG', ' option tag');
  }

  /** One byte that must be 0 or 1 (`kind` names it in the error). */
  #zeroOrOne(what: string, code: 'ERR_INVALID_BOOL' | 'ERR_INVALID_OPTION_TAG', kind: string): boolean {
    this.need(1, what);
    const b = this.buf[this.pos]!;
    if (b > 1) {
      throw new PeerpostError(
        code,
        `${what}${kind} at offset ${this.at(this.pos)} must be 0 or 1, found ${b}`,
        { offset: this.at(this.pos) },
      );
    }
    this.pos += 1;
    return b === 1;
  }

  string(what: string, intern?: StringInterner | IdReader): string {
    const n = this.len(what);
    const start = this.pos;
    // Strict: invalid bytes are an error, never replaced with U+FFFD.
    const s =
      intern === undefined ? readUtf8(this.buf, start, start + n) : intern.read(this.buf, start, start + n);
    if (s === undefined) {
      throw new PeerpostError('ERR_INVALID_UTF8', `${what} at offset ${this.at(start)} is not valid UTF-8`, {
        offset: this.at(start),
      });
    }
    this.pos += n;
    return s;
  }

  /** A view (no copy): a plain Uint8Array, which costs half of a Buffer view to make. */
  bytes(what: string): Uint8Array {
    const n = this.len(what);
    const view = new Uint8Array(this.area, this.base + this.pos, n);
    this.pos += n;
    return view;
  }
}

/**
 * Length-prefixed framing for the baseline systems (4-byte big-endian length, as
 * peerpost's wire format), written here rather than borrowed from src/wire so the
 * baselines owe nothing to the code they are compared with.
 */

const PREFIX = 4;

/**
 * `count` frames of `payload` in one buffer (one copy of each payload, as a real sender
 * makes). The baseline at its best: the prefix written byte by byte and the payload
 * copied with `TypedArray.prototype.set`, ~16 ns a 64 B frame on Node 20 where
 * `writeUInt32BE` and `Buffer#copy` took ~25-27 (round 28 of issue 16). `into`: a buffer
 * of exactly that length to write them into (a batch buffer used again), instead of a new one.
 */
export function frameBatch(payload: Buffer, count: number, into?: Buffer): Buffer {
  const len = payload.length;
  const step = PREFIX + len;
  const out = into ?? Buffer.allocUnsafe(step * count);
  if (out.length !== step * count)
    throw new RangeError(`frameBatch: ${out.length} bytes for ${count} frames of ${step}`);
  for (let i = 0, at = 0; i < count; i++, at += step) {
    out[at] = len >>> 24;
    out[at + 1] = len >>> 16;
    out[at + 2] = len >>> 8;
    out[at + 3] = len;
    out.set(payload, at + PREFIX);
  }
  return out;
}

/**
 * Streaming frame reader: whole frames are passed to `onFrame` as views of the chunk
 * when they lie in one chunk, or assembled once when split.
 */
export class FrameReader {
  #header = Buffer.alloc(PREFIX);
  #headerFill = 0;
  #body: Buffer | undefined;
  #bodyFill = 0;

  constructor(
    readonly onFrame: (frame: Buffer) => void,
    readonly maxFrameBytes = 16 * 1024 * 1024,
  ) {}

  push(chunk: Uint8Array): void {
    const buf = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let pos = 0;
    const n = buf.length;
    while (pos < n) {
      if (this.#body !== undefined) {
        const take = Math.min(this.#body.length - this.#bodyFill, n - pos);
        buf.copy(this.#body, this.#bodyFill, pos, pos + take);
        this.#bodyFill += take;
        pos += take;
        if (this.#bodyFill === this.#body.length) {
          const body = this.#body;
          this.#body = undefined;
          this.onFrame(body);
        }
        continue;
      }
      if (this.#headerFill === 0 && n - pos >= PREFIX) {
        const len = buf.readUInt32BE(pos);
        this.#check(len);
        if (n - pos - PREFIX >= len) {
          this.onFrame(buf.subarray(pos + PREFIX, pos + PREFIX + len));
          pos += PREFIX + len;
        } else {
          this.#startBody(len);
          pos += PREFIX;
        }
        continue;
      }
      const take = Math.min(PREFIX - this.#headerFill, n - pos);
      buf.copy(this.#header, this.#headerFill, pos, pos + take);
      this.#headerFill += take;
      pos += take;
      if (this.#headerFill === PREFIX) {
        this.#headerFill = 0;
        const len = this.#header.readUInt32BE(0);
        this.#check(len);
        if (len === 0) this.onFrame(Buffer.alloc(0));
        else this.#startBody(len);
      }
    }
  }

  #check(len: number): void {
    if (len > this.maxFrameBytes) throw new Error(`frame of ${len} bytes exceeds ${this.maxFrameBytes}`);
  }

  #startBody(len: number): void {
    this.#body = Buffer.allocUnsafe(len);
    this.#bodyFill = 0;
  }
}

/** Counts frames and resolves a waiter once a target is reached. */
export class FrameCounter {
  count = 0;
  #target = Number.POSITIVE_INFINITY;
  #resolve: (() => void) | undefined;
  readonly reader: FrameReader;

  constructor() {
    this.reader = new FrameReader(() => this.add(1));
  }

  add(n: number): void {
    this.count += n;
    if (this.count >= this.#target && this.#resolve) {
      const resolve = this.#resolve;
      this.#resolve = undefined;
      resolve();
    }
  }

  /** Resets the count and resolves once `target` more frames have arrived. */
  expect(target: number): Promise<void> {
    this.count = 0;
    this.#target = target;
    return new Promise<void>((resolve) => {
      this.#resolve = resolve;
    });
  }
}

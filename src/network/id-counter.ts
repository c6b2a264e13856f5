import { Buffer } from 'node:buffer';

/** Longest prefix kept as bytes; a longer one is concatenated instead. */
const MAX_PREFIX_BYTES = 256;
/** Base-36 digits of the largest safe integer (2^53 - 1). */
const MAX_DIGITS = 11;
const DIGIT_9 = 0x39;
const DIGIT_A = 0x61;
const DIGIT_Z = 0x7a;

/**
 * Message ids `prefix + n.toString(36)` for n = 0, 1, 2, ...: the very strings of that
 * expression, made differently. Concatenation gives a cons string (prefix and digits
 * linked), which the encoder has to flatten with a runtime call and which, while the
 * message waits in a queue, the scavenger copies as two objects (measured: about 7% of
 * the cost of a 64 B message). Here the prefix and the digits live in one small buffer,
 * the digits are incremented in place and each id is one flat string decoded from it.
 * A prefix that is not ASCII, or is very long, is concatenated as before.
 */
export class IdCounter {
  readonly #prefix: string;
  /** Prefix bytes followed by the digits of the next id; undefined: concatenate. */
  readonly #bytes: Buffer | undefined;
  #end: number;
  #seq = 0;

  constructor(prefix: string) {
    this.#prefix = prefix;
    const ascii = /^[\x20-\x7e]*$/.test(prefix) && prefix.length <= MAX_PREFIX_BYTES;
    this.#bytes = ascii ? Buffer.alloc(prefix.length + MAX_DIGITS) : undefined;
    this.#bytes?.write(prefix, 0, 'latin1');
    this.#end = prefix.length;
    if (this.#bytes !== undefined) this.#bytes[this.#end++] = 0x30; // "0"
  }

  /** The next id. */
  next(): string {
    const bytes = this.#bytes;
    const seq = this.#seq++;
    if (bytes === undefined || seq >= Number.MAX_SAFE_INTEGER) return this.#prefix + seq.toString(36);
    if (seq === 0) return bytes.toString('latin1', 0, this.#end);
    this.#increment(bytes);
    return bytes.toString('latin1', 0, this.#end);
  }

  /** Adds one to the base-36 digits after the prefix. */
  #increment(bytes: Buffer): void {
    const first = this.#prefix.length;
    for (let i = this.#end - 1; i >= first; i--) {
      const d = bytes[i]!;
      if (d === DIGIT_9) {
        bytes[i] = DIGIT_A;
        return;
      }
      if (d !== DIGIT_Z) {
        bytes[i] = d + 1;
        return;
      }
      bytes[i] = 0x30; // carry
    }
    // Every digit carried: one more digit, "1" followed by zeros.
    bytes[first] = 0x31;
    bytes[this.#end++] = 0x30;
  }
}

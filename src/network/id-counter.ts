import { Buffer } from 'node:buffer';
import { noteAscii } from '../wire/utf8.js';

/** Whether `c` is the code of a base-36 digit as `toString(36)` writes them (`0`-`9`, `a`-`z`). */
export function isBase36Digit(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a);
}

/** The base-36 digit strings "0" .. "z". */
const DIGITS: readonly string[] = Array.from({ length: 36 }, (_, d) => d.toString(36));

/**
 * Message ids `prefix + n.toString(36)` for n = 0, 1, 2, ...: the very strings of that
 * expression, made without a call to `toString` per id: the digits of n / 36 are remade
 * once every 36 ids and the last digit is taken from a table. The id is the
 * concatenation `prefix + tail` (a cons string for a long prefix: no copy of the
 * prefix per id). An ASCII prefix makes every id ASCII: the codec is told the latest id,
 * its prefix's bytes and its tail ({@link noteAscii}), so it sizes that id without
 * looking at it and encodes it from the prefix bytes and the short flat tail, never
 * reading (and so never flattening) the id itself. Of the earlier ways: `Buffer.toString`
 * of the id bytes is a call into C++ (~90 ns); `Array.prototype.join` made a flat string,
 * copying the prefix per id; a concatenation the encoder read was flattened by a runtime
 * call (bench/encode-micro.ts compares them).
 */
export class IdCounter {
  readonly #prefix: string;
  /** The digits of floor(n / 36) ('' while n < 36). */
  #high = '';
  /** The bytes of an ASCII prefix: every id is ASCII too, and the encoder is told so. */
  readonly #head: Uint8Array | undefined;
  #seq = 0;

  constructor(prefix: string) {
    this.#prefix = prefix;
    // One UTF-8 byte per UTF-16 unit exactly when every character is ASCII.
    const ascii = Buffer.byteLength(prefix, 'utf8') === prefix.length;
    this.#head = ascii ? Buffer.from(prefix, 'latin1') : undefined;
  }

  /** The next id. */
  next(): string {
    const seq = this.#seq++;
    // Past 2^53 - 1 the counter is no longer exact: the expression itself, as before.
    if (seq >= Number.MAX_SAFE_INTEGER) return this.#prefix + seq.toString(36);
    // seq = 36 q + r: seq.toString(36) is q.toString(36) (none for q = 0) followed by digit r.
    const r = seq % 36;
    if (r === 0 && seq !== 0) this.#high = (seq / 36).toString(36);
    const tail = this.#high + DIGITS[r];
    const id = this.#prefix + tail;
    if (this.#head !== undefined) noteAscii(id, this.#head, tail);
    return id;
  }
}

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
 * expression, made without a call to `toString` per id: the lead (the prefix and the
 * digits of n / 36) is remade once every 36 ids and the last digit is taken from a table.
 * The id is the concatenation `lead + digit` (a cons string for a long lead: one object
 * per id, no copy of the lead and no string of its own for the digits). An ASCII prefix
 * makes every id ASCII: the codec is told the latest id, its lead's bytes and its last
 * digit ({@link noteAscii}), so it sizes that id without looking at it and encodes it
 * from the lead bytes and the digit, never reading (and so never flattening) the id
 * itself. Of the earlier ways: `Buffer.toString` of the id bytes is a call into C++ (~90
 * ns); `Array.prototype.join` made a flat string, copying the prefix per id; a
 * concatenation the encoder read was flattened by a runtime call (bench/encode-micro.ts
 * compares them); `prefix + tail`, with the tail (the digits of n / 36 and the last
 * digit) a flat string made per id, allocated that string as well (round 28 of issue 16).
 */
export class IdCounter {
  readonly #prefix: string;
  /** The bytes of an ASCII prefix (undefined for another): every id is ASCII too, and the encoder is told so. */
  readonly #prefixBytes: Uint8Array | undefined;
  /** The prefix followed by the digits of floor(n / 36) (none while n < 36). */
  #lead: string;
  /** The bytes of {@link #lead}, for an ASCII prefix. */
  #leadBytes: Uint8Array | undefined;
  #seq = 0;

  constructor(prefix: string) {
    this.#prefix = prefix;
    // One UTF-8 byte per UTF-16 unit exactly when every character is ASCII.
    const ascii = Buffer.byteLength(prefix, 'utf8') === prefix.length;
    this.#prefixBytes = ascii ? Buffer.from(prefix, 'latin1') : undefined;
    this.#lead = prefix;
    this.#leadBytes = this.#prefixBytes;
  }

  /** The next id. */
  next(): string {
    const seq = this.#seq++;
    // Past 2^53 - 1 the counter is no longer exact: the expression itself, as before.
    if (seq >= Number.MAX_SAFE_INTEGER) return this.#prefix + seq.toString(36);
    // seq = 36 q + r: seq.toString(36) is q.toString(36) (none for q = 0) followed by digit r.
    const r = seq % 36;
    if (r === 0 && seq !== 0) this.#newLead((seq / 36).toString(36));
    const digit = DIGITS[r] as string;
    const id = this.#lead + digit;
    if (this.#leadBytes !== undefined) noteAscii(id, this.#leadBytes, digit);
    return id;
  }

  /** Makes the lead of the next 36 ids: the prefix and `high`, and its bytes (ASCII: one byte per character). */
  #newLead(high: string): void {
    this.#lead = this.#prefix + high;
    const head = this.#prefixBytes;
    if (head === undefined) return;
    const bytes = new Uint8Array(head.length + high.length);
    bytes.set(head);
    for (let i = 0; i < high.length; i++) bytes[head.length + i] = high.charCodeAt(i);
    this.#leadBytes = bytes;
  }
}

import { Buffer } from 'node:buffer';
import { noteAscii } from '../wire/utf8.js';

/** The base-36 digit strings "0" .. "z". */
const DIGITS: readonly string[] = Array.from({ length: 36 }, (_, d) => d.toString(36));

/**
 * Message ids `prefix + n.toString(36)` for n = 0, 1, 2, ...: the very strings of that
 * expression, made differently. Concatenation gives a cons string (prefix and digits
 * linked), which the encoder has to flatten with a runtime call and which, while the
 * message waits in a queue, the scavenger copies as two objects (measured: about 7% of
 * the cost of a 64 B message); decoding the id from a byte buffer (`buf.toString`) is a
 * call into C++ (~90 ns). Here the id is `Array.prototype.join` of the prefix, the
 * digits of n / 36 (remade once every 36 ids) and the last digit: one flat string, made
 * without leaving V8's builtins (~20 ns less than `buf.toString` on the bench machine).
 * An ASCII prefix makes every id ASCII: the codec is told so ({@link noteAscii}), and
 * sizes the latest id without scanning it and encodes it with one copy of the prefix
 * (bench/encode-micro.ts: id + size + encoding of a 64 B message ~25% cheaper).
 */
export class IdCounter {
  /** `[prefix, digits of floor(n / 36), last digit]`: joined into each id. */
  readonly #parts: [string, string, string];
  /** The bytes of an ASCII prefix: every id is ASCII too, and the encoder is told so. */
  readonly #head: Uint8Array | undefined;
  #seq = 0;

  constructor(prefix: string) {
    this.#parts = [prefix, '', ''];
    // One UTF-8 byte per UTF-16 unit exactly when every character is ASCII.
    const ascii = Buffer.byteLength(prefix, 'utf8') === prefix.length;
    this.#head = ascii ? Buffer.from(prefix, 'latin1') : undefined;
  }

  /** The next id. */
  next(): string {
    const seq = this.#seq++;
    const parts = this.#parts;
    // Past 2^53 - 1 the counter is no longer exact: the expression itself, as before.
    if (seq >= Number.MAX_SAFE_INTEGER) return parts[0] + seq.toString(36);
    // seq = 36 q + r: seq.toString(36) is q.toString(36) (none for q = 0) followed by digit r.
    const r = seq % 36;
    if (r === 0 && seq !== 0) parts[1] = (seq / 36).toString(36);
    parts[2] = DIGITS[r]!;
    const id = parts.join('');
    if (this.#head !== undefined) noteAscii(id, this.#head);
    return id;
  }
}

import { Buffer, isUtf8 } from 'node:buffer';
import { copyInto } from '../util/bytes.js';

/**
 * Small-string fast paths for the codec. Message ids, labels and peer ids are short and
 * nearly always ASCII; for those, a JS loop beats a call into C++ (buf.write, isUtf8
 * and toString each cost a native transition). Anything longer or non-ASCII takes the
 * native path.
 */
const SHORT = 48;

/**
 * The last string a producer of ASCII strings reported (see {@link noteAscii}), the
 * bytes of its first characters and the (short, flat) rest: a message id is sized right
 * after it is made, and mostly encoded right after that; then its length needs no scan
 * and it is written from its prefix's bytes and its rest, without reading the string
 * itself (a concatenation would be flattened by the first read).
 */
let lastAscii = '';
let lastAsciiHead: Uint8Array = new Uint8Array(0);
let lastAsciiTail = '';

/**
 * Tells the codec that `s` is ASCII (its UTF-8 length is `s.length`) and is the
 * characters of the bytes `head` followed by `tail`. The id counter calls it for each id
 * it makes; only the latest string is remembered.
 */
export function noteAscii(s: string, head: Uint8Array, tail: string): void {
  lastAscii = s;
  lastAsciiHead = head;
  lastAsciiTail = tail;
}

/**
 * When `s` is the latest string {@link noteAscii} was told about, the bytes of its first
 * characters (the rest is {@link notedTail}); else undefined. Lets a holder of `s` compare
 * it with bytes later without reading it (a concatenation would be flattened).
 */
export function notedHead(s: string): Uint8Array | undefined {
  return s === lastAscii ? lastAsciiHead : undefined;
}

/** The rest of the latest string {@link noteAscii} was told about, after {@link notedHead}'s bytes. */
export function notedTail(): string {
  return lastAsciiTail;
}

/** The UTF-8 length of `s` (`Buffer.byteLength(s, 'utf8')`), without a native call for short ASCII. */
export function utf8Length(s: string): number {
  // The id just made alone here (small enough to be inlined on send()'s path), the rest in
  // a function of its own.
  return s === lastAscii ? s.length : scanUtf8Length(s);
}

function scanUtf8Length(s: string): number {
  const n = s.length;
  if (n <= SHORT) {
    let i = 0;
    while (i < n && s.charCodeAt(i) < 0x80) i++;
    if (i === n) return n;
  }
  return Buffer.byteLength(s, 'utf8');
}

/** Writes `s` as UTF-8 at `offset`; returns the number of bytes written. */
export function writeUtf8(buf: Buffer, offset: number, s: string): number {
  const n = s.length;
  if (s === lastAscii) {
    const head = lastAsciiHead;
    const tail = lastAsciiTail;
    copyInto(buf, head, offset);
    const at = offset + head.length;
    for (let i = 0; i < tail.length; i++) buf[at + i] = tail.charCodeAt(i);
    return n;
  }
  if (n <= SHORT) {
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[offset + i] = c;
    }
    if (i === n) return n;
  }
  return buf.write(s, offset, 'utf8');
}

/**
 * Decodes `buf[start, end)` as strict UTF-8, or returns undefined when the bytes are not
 * valid UTF-8 (overlongs, surrogates and truncated sequences included).
 */
export function readUtf8(buf: Buffer, start: number, end: number): string | undefined {
  const n = end - start;
  if (n === 0) return '';
  if (n <= SHORT) {
    let i = start;
    while (i < end && buf[i]! < 0x80) i++;
    // All ASCII: latin1 decoding is exact and skips UTF-8 validation.
    if (i === end) return buf.toString('latin1', start, end);
  }
  const view = buf.subarray(start, end);
  return isUtf8(view) ? view.toString('utf8') : undefined;
}

/** `buf[start, end)` is all ASCII (then its UTF-8 and latin1 decodings are the same string). */
export function isAscii(buf: Buffer, start: number, end: number): boolean {
  let any = 0;
  for (let i = start; i < end; i++) any |= buf[i]!;
  return any < 0x80;
}

/** A cached decoding: the bytes (a copy, never a view of a received chunk) and their string. */
interface Interned {
  bytes: Uint8Array;
  str: string;
}

/**
 * A fixed-size direct-mapped table of decoded byte strings, the last hit checked first
 * (consecutive messages mostly repeat it): a peer sending many distinct values only
 * causes misses, never growth.
 */
class DecodedTable {
  readonly #table: (Interned | undefined)[];
  readonly #mask: number;
  #last: Interned | undefined;

  constructor(sizePow2: number) {
    this.#table = new Array(sizePow2).fill(undefined);
    this.#mask = sizePow2 - 1;
  }

  /** The entry whose bytes are exactly `buf[start, end)`, or undefined. */
  find(buf: Buffer, start: number, end: number): Interned | undefined {
    const n = end - start;
    const last = this.#last;
    if (last !== undefined && last.bytes.length === n && sameBytes(last.bytes, buf, start, n)) return last;
    const hit = this.#table[hashOf(buf, start, end) & this.#mask];
    if (hit === undefined || hit.bytes.length !== n || !sameBytes(hit.bytes, buf, start, n)) return undefined;
    this.#last = hit;
    return hit;
  }

  /** Remembers `str` as the decoding of `buf[start, end)`, in place of what shared its slot. */
  remember(buf: Buffer, start: number, end: number, str: string): void {
    this.#store(hashOf(buf, start, end), buf, start, end, str);
  }

  /**
   * {@link remember}, but only bytes missed twice in a row in their slot: one-off values
   * (a reply's id prefix holds the whole request id) cost a hash, no copy, and never push
   * out a value that repeats.
   */
  rememberIfSeen(buf: Buffer, start: number, end: number, str: string): void {
    const hash = hashOf(buf, start, end);
    // Four times the slots (64 at least), picked by other bits of the hash than the table's:
    // a one-off value rarely clobbers what a repeating one left there.
    this.#seen ??= new Int32Array(Math.max(64, 4 * (this.#mask + 1)));
    const seen = this.#seen;
    const at = (hash >>> 8) & (seen.length - 1);
    if (seen[at] !== hash) {
      seen[at] = hash;
      return;
    }
    this.#store(hash, buf, start, end, str);
  }

  /** The hashes of the last misses (made on the first {@link rememberIfSeen}). */
  #seen: Int32Array | undefined;

  #store(hash: number, buf: Buffer, start: number, end: number, str: string): void {
    const entry = { bytes: copyOf(buf, start, end), str };
    this.#table[hash & this.#mask] = entry;
    this.#last = entry;
  }
}

/**
 * Decodes fields that repeat across messages (labels, peer ids): a hit costs a hash and
 * a byte compare instead of building a new string.
 */
export class StringInterner {
  readonly #decoded: DecodedTable;

  constructor(sizePow2 = 256) {
    this.#decoded = new DecodedTable(sizePow2);
  }

  read(buf: Buffer, start: number, end: number): string | undefined {
    const n = end - start;
    if (n === 0) return '';
    if (n > SHORT) return readUtf8(buf, start, end);
    const hit = this.#decoded.find(buf, start, end);
    if (hit !== undefined) return hit.str;
    const str = readUtf8(buf, start, end);
    if (str !== undefined) this.#decoded.remember(buf, start, end, str);
    return str;
  }
}

/** FNV-1a style hash of `buf[start, end)`, folded so that its low bits pick a table slot. */
function hashOf(buf: Buffer, start: number, end: number): number {
  let h = end - start;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  return h ^ (h >>> 16);
}

/** `a` equals the `n` bytes of `buf` from `start`. */
export function sameBytes(a: Uint8Array, buf: Buffer, start: number, n: number): boolean {
  let i = 0;
  while (i < n && a[i] === buf[start + i]) i++;
  return i === n;
}

/**
 * Where the ASCII string `mark` first starts in `buf[from, end)`, or -1: a search of an id's
 * received bytes (a reply's `~r~`, a broadcast's `-b:`) without decoding them.
 */
export function asciiIndexOf(buf: Uint8Array, mark: string, from: number, end: number): number {
  const last = end - mark.length;
  next: for (let i = from; i <= last; i++) {
    for (let k = 0; k < mark.length; k++) if (buf[i + k] !== mark.charCodeAt(k)) continue next;
    return i;
  }
  return -1;
}

/** Longest id suffix (after the shared prefix) decoded without a native call. */
const MAX_SUFFIX = 16;

/**
 * Decodes message ids, which from one sender share a prefix and differ in a short
 * counter (`<node>-<random>-<seq>`): an id whose prefix (up to its last `-`, followed by
 * at most 16 ASCII characters) has been seen is that prefix's string plus its few
 * remaining characters, built in JS without decoding the whole id again. The prefixes
 * of up to `slots` senders are remembered in a fixed direct-mapped table (a node hears
 * from many peers at once, and a sender's ids keep arriving between other senders'), so
 * many senders only cause misses, never growth. Anything else is decoded as usual.
 */
export class IdReader {
  readonly #prefixes: DecodedTable;

  constructor(slotsPow2 = 64) {
    this.#prefixes = new DecodedTable(slotsPow2);
  }

  /** Ids read with a remembered prefix (for tests and benchmarks). */
  hits = 0;

  read(buf: Buffer, start: number, end: number): string | undefined {
    const n = end - start;
    if (n > SHORT) return readUtf8(buf, start, end);
    const pn = prefixLength(buf, start, end);
    if (pn > 0) {
      const hit = this.#prefixes.find(buf, start, start + pn);
      if (hit !== undefined) {
        const suffix = asciiSuffix(buf, start + pn, end);
        if (suffix !== undefined) {
          this.hits++;
          return hit.str + suffix;
        }
      }
    }
    const str = readUtf8(buf, start, end);
    // Only an all-ASCII id (one byte per character) gives its prefix to the table, and
    // only one seen twice: a reply's id (`<request id>~r~<fresh id>`) has a prefix of its
    // own, which would cost a copy per reply and push out the prefix of a steady sender.
    if (pn > 0 && str !== undefined && str.length === n) {
      this.#prefixes.rememberIfSeen(buf, start, start + pn, str.slice(0, pn));
    }
    return str;
  }
}

/**
 * The length of `buf[start, end)` up to and including its last `-` when at most
 * MAX_SUFFIX bytes follow it (at least one) and something precedes it; else 0.
 */
function prefixLength(buf: Buffer, start: number, end: number): number {
  const lowest = Math.max(start + 1, end - 1 - MAX_SUFFIX);
  for (let i = end - 2; i >= lowest; i--) if (buf[i] === 0x2d) return i + 1 - start;
  return 0;
}

/** A copy of `buf[start, end)`: a cache must not keep a whole received chunk alive through a view. */
function copyOf(buf: Buffer, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  for (let i = start; i < end; i++) out[i - start] = buf[i]!;
  return out;
}

/** `buf[start, end)` (1 to MAX_SUFFIX bytes) as a string if it is all ASCII, else undefined. */
function asciiSuffix(buf: Buffer, start: number, end: number): string | undefined {
  if (!isAscii(buf, start, end)) return undefined;
  if (end - start <= 8) return fromBytes(buf, start, end);
  return fromBytes(buf, start, start + 8) + fromBytes(buf, start + 8, end);
}

/** 1 to 8 bytes as characters, with one call. */
function fromBytes(b: Buffer, s: number, end: number): string {
  switch (end - s) {
    case 1:
      return String.fromCharCode(b[s]!);
    case 2:
      return String.fromCharCode(b[s]!, b[s + 1]!);
    case 3:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!);
    case 4:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!);
    case 5:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!);
    case 6:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!);
    case 7:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!);
    default:
      return String.fromCharCode(
        b[s]!,
        b[s + 1]!,
        b[s + 2]!,
        b[s + 3]!,
        b[s + 4]!,
        b[s + 5]!,
        b[s + 6]!,
        b[s + 7]!,
      );
  }
}

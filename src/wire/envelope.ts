import { Buffer } from 'node:buffer';
import { PeerpostError } from '../errors.js';
import { copyInto } from '../util/bytes.js';
import { Reader } from './reader.js';
import { IdReader, isAscii, StringInterner, utf8Length, writeUtf8 } from './utf8.js';

/** Labels and peer ids repeat from message to message: decode each distinct one once. */
const labelInterner = new StringInterner();
const peerInterner = new StringInterner();
/** Ids of one sender share a prefix: only their end is decoded. */
const ids = new IdReader();

/**
 * The message on the wire (the reference's NetMessage), encoded as bincode 1.x:
 * little-endian fixed-width integers, strings and bytes as u64 length + bytes,
 * bool as one byte, Option as one tag byte then the value.
 */
export interface Envelope {
  /** Milliseconds since the Unix epoch when delivery started (u64). */
  deliveryStartTimestampMs: bigint;
  id: string;
  /** The message type, e.g. `MsgType::Block`. */
  label: string;
  /** `data` is a zstd frame. */
  compressed: boolean;
  data: Uint8Array;
  lastSenderIsProxy: boolean;
  /** Set on broadcast-path copies: only the connection of this peer forwards the message. V1 only. */
  directReceiver?: string | undefined;
}

export type EnvelopeVersion = 0 | 1;

export interface DecodedEnvelope {
  envelope: Envelope;
  version: EnvelopeVersion;
}

export interface EncodeOptions {
  /** @default 1 */
  version?: EnvelopeVersion;
}

/** The 8 bytes a V1 message ends with: ASCII `acknck`, then 00 01. */
export const V1_TAG: Readonly<Uint8Array> = Uint8Array.of(0x61, 0x63, 0x6b, 0x6e, 0x63, 0x6b, 0x00, 0x01);
const TAG_LEN = 8;
/** Fixed bytes of a V0 body: timestamp, three u64 lengths, two bools. */
const V0_FIXED = 8 + 8 + 8 + 1 + 8 + 1;
const U64_MAX = (1n << 64n) - 1n;

/** The exact encoded size of `envelope`, without a frame prefix. */
export function encodedEnvelopeSize(envelope: Envelope, version: EnvelopeVersion = 1): number {
  let size = V0_FIXED + utf8Length(envelope.id) + labels.length(envelope.label);
  size += envelope.data.length;
  if (version === 1) {
    size += 1 + TAG_LEN;
    if (envelope.directReceiver !== undefined) size += 8 + receivers.length(envelope.directReceiver);
  }
  return size;
}

/** A u64 little-endian length (always < 2^32 here). Plain byte stores: the size was computed up front. */
function writeLen(buf: Buffer, o: number, len: number): number {
  buf[o] = len;
  buf[o + 1] = len >>> 8;
  buf[o + 2] = len >>> 16;
  buf[o + 3] = len >>> 24;
  buf[o + 4] = 0;
  buf[o + 5] = 0;
  buf[o + 6] = 0;
  buf[o + 7] = 0;
  return o + 8;
}

function writeString(buf: Buffer, offset: number, s: string): number {
  const written = writeUtf8(buf, offset + 8, s);
  writeLen(buf, offset, written);
  return offset + 8 + written;
}

/** Strings longer than this (in UTF-8 bytes) are encoded each time, never cached. */
const CACHED_STRING_BYTES = 64;
/** Distinct strings cached per field; past it the cache starts over (bounded, never grows). */
const CACHED_STRINGS = 256;

/**
 * The encodings (u64 length + UTF-8) of the recent strings of one field: labels and peer
 * ids repeat from message to message, so their length and bytes are worked out once and
 * copied after that. A node sends several labels to several peers in turn (a request and
 * its reply, a vote and a block), so a few hundred short strings are kept, the last one
 * checked first without hashing.
 */
class StringEncodings {
  #last: string | undefined;
  #lastEncoded: Buffer = Buffer.alloc(8);
  readonly #cache = new Map<string, Buffer>();

  /**
   * The encoding of `s`, a string other than the last one (its callers test that first),
   * made and cached if it is short; undefined for a long string.
   */
  #encoding(s: string): Buffer | undefined {
    let encoded = this.#cache.get(s);
    if (encoded === undefined) {
      const n = utf8Length(s);
      if (n > CACHED_STRING_BYTES) return undefined;
      if (this.#cache.size >= CACHED_STRINGS) this.#cache.clear();
      encoded = Buffer.allocUnsafe(8 + n);
      writeString(encoded, 0, s);
      this.#cache.set(s, encoded);
    }
    this.#last = s;
    this.#lastEncoded = encoded;
    return encoded;
  }

  /** UTF-8 length of `s`. */
  length(s: string): number {
    // The last string alone here (small enough to be inlined on send()'s path).
    if (s === this.#last) return this.#lastEncoded.length - 8;
    const encoded = this.#encoding(s);
    return encoded === undefined ? utf8Length(s) : encoded.length - 8;
  }

  /** Writes `s` as u64 length + UTF-8 at `offset`; returns the offset after it. */
  write(buf: Buffer, offset: number, s: string): number {
    const encoded = s === this.#last ? this.#lastEncoded : this.#encoding(s);
    if (encoded === undefined) return writeString(buf, offset, s);
    copyInto(buf, encoded, offset);
    return offset + encoded.length;
  }
}
const labels = new StringEncodings();
const receivers = new StringEncodings();

/** The last timestamp encoded, split into 32-bit halves (when below 2^53). */
let lastTs: bigint | undefined;
/** encodePlainInto's last timestamp (a number of ms) and its split into u32 halves. */
let lastPlainTs = -1;
let lastPlainLo = 0;
let lastPlainHi = 0;
let lastSafe = false;
let lastLo = 0;
let lastHi = 0;

/**
 * Encodes `envelope` into `buf` at `offset` (which must have room for
 * {@link encodedEnvelopeSize} bytes) and returns the offset after it.
 */
export function encodeEnvelopeInto(
  envelope: Envelope,
  buf: Buffer,
  offset: number,
  version: EnvelopeVersion = 1,
): number {
  const ts = envelope.deliveryStartTimestampMs;
  if (typeof ts !== 'bigint') {
    throw new PeerpostError(
      'ERR_LENGTH_OVERFLOW',
      `deliveryStartTimestampMs must be a u64 bigint, got ${typeof ts}`,
    );
  }
  let o = offset;
  if (ts !== lastTs) {
    // Number(ts) <= MAX_SAFE_INTEGER exactly when ts <= 2^53-1 (larger values round to
    // at least 2^53), so the common case needs one conversion and no bigint arithmetic.
    // Consecutive messages mostly share a millisecond: the split is kept for the next one.
    const n = Number(ts);
    lastSafe = n >= 0 && n <= Number.MAX_SAFE_INTEGER;
    lastLo = lastSafe ? n % 0x1_0000_0000 : 0;
    lastHi = lastSafe ? (n - lastLo) / 0x1_0000_0000 : 0;
    lastTs = ts;
  }
  if (lastSafe) {
    writeLen(buf, o, lastLo);
    const hi = lastHi;
    buf[o + 4] = hi;
    buf[o + 5] = hi >>> 8;
    buf[o + 6] = hi >>> 16;
    buf[o + 7] = hi >>> 24;
  } else if (ts >= 0n && ts <= U64_MAX) {
    buf.writeBigUInt64LE(ts, o);
  } else {
    throw new PeerpostError('ERR_LENGTH_OVERFLOW', `deliveryStartTimestampMs must be a u64, got ${ts}`);
  }
  o = writeString(buf, o + 8, envelope.id);
  o = labels.write(buf, o, envelope.label);
  buf[o++] = envelope.compressed ? 1 : 0;
  const data = envelope.data;
  o = writeLen(buf, o, data.length);
  copyInto(buf, data, o);
  o += data.length;
  buf[o++] = envelope.lastSenderIsProxy ? 1 : 0;
  if (version === 1) {
    if (envelope.directReceiver === undefined) {
      buf[o++] = 0;
    } else {
      buf[o++] = 1;
      o = receivers.write(buf, o, envelope.directReceiver);
    }
    // V1_TAG: `acknck` 00 01
    buf[o] = 0x61;
    buf[o + 1] = 0x63;
    buf[o + 2] = 0x6b;
    buf[o + 3] = 0x6e;
    buf[o + 4] = 0x63;
    buf[o + 5] = 0x6b;
    buf[o + 6] = 0x00;
    buf[o + 7] = 0x01;
    o += TAG_LEN;
  }
  return o;
}

/**
 * The V1 encoded size (no frame prefix) of a plain message: uncompressed `dataLength`
 * bytes, not from a proxy, no direct receiver (what `send()` makes of a small payload).
 */
export function plainEnvelopeSize(id: string, label: string, dataLength: number): number {
  return V0_FIXED + utf8Length(id) + labels.length(label) + dataLength + 1 + TAG_LEN;
}

/**
 * Encodes the plain message {@link plainEnvelopeSize} describes, as V1, into `buf` at
 * `offset` (room for its size) and returns the offset after it: the bytes
 * {@link encodeEnvelopeInto} writes for the same fields, with no envelope object made.
 * The timestamp, payload and tag are written here, not by helpers, as in
 * encodeEnvelopeInto: past V8's inlining budget on `send()`'s path each helper stayed a
 * call of its own (bench/send-micro.ts). The property test in test/wire/envelope.test.ts
 * compares both encoders' bytes over the whole range.
 *
 * The timestamp is a number of whole ms (0 to 2^53 - 1, the range a clock gives; a
 * coded error otherwise), not the envelope's bigint: the fast lane carries it from the
 * clock to here as a number, so no bigint made per millisecond is stored per message
 * (a young object stored into a long-lived one costs V8's write barrier its slow path).
 */
export function encodePlainInto(
  buf: Buffer,
  offset: number,
  timestampMs: number,
  id: string,
  label: string,
  data: Uint8Array,
): number {
  const ts = timestampMs;
  if (ts !== lastPlainTs) {
    if (!(Number.isSafeInteger(ts) && ts >= 0)) {
      throw new PeerpostError(
        'ERR_LENGTH_OVERFLOW',
        `deliveryStartTimestampMs must be a whole number of ms from 0 to 2^53 - 1, got ${ts}`,
      );
    }
    // One split per millisecond, kept for the next message.
    lastPlainLo = ts % 0x1_0000_0000;
    lastPlainHi = (ts - lastPlainLo) / 0x1_0000_0000;
    lastPlainTs = ts;
  }
  let o = offset;
  writeLen(buf, o, lastPlainLo);
  const hi = lastPlainHi;
  buf[o + 4] = hi;
  buf[o + 5] = hi >>> 8;
  buf[o + 6] = hi >>> 16;
  buf[o + 7] = hi >>> 24;
  o = writeString(buf, o + 8, id);
  o = labels.write(buf, o, label);
  buf[o++] = 0; // not compressed
  o = writeLen(buf, o, data.length);
  copyInto(buf, data, o);
  o += data.length;
  buf[o++] = 0; // not from a proxy
  buf[o++] = 0; // no direct receiver
  // V1_TAG: `acknck` 00 01
  buf[o] = 0x61;
  buf[o + 1] = 0x63;
  buf[o + 2] = 0x6b;
  buf[o + 3] = 0x6e;
  buf[o + 4] = 0x63;
  buf[o + 5] = 0x6b;
  buf[o + 6] = 0x00;
  buf[o + 7] = 0x01;
  return o + TAG_LEN;
}

/**
 * Throws `ERR_LENGTH_OVERFLOW` when `envelope` cannot be encoded: its timestamp is not a
 * u64 bigint (every other field always encodes). Lets a caller validate now and encode later.
 */
export function assertEncodable(envelope: Envelope): void {
  const ts = envelope.deliveryStartTimestampMs;
  if (ts === lastTs && lastSafe) return; // the timestamp just encoded (a u64 below 2^53)
  if (typeof ts !== 'bigint' || ts < 0n || ts > U64_MAX) {
    throw new PeerpostError(
      'ERR_LENGTH_OVERFLOW',
      `deliveryStartTimestampMs must be a u64 bigint, got ${String(ts)}`,
    );
  }
}

/** The V1 encoded size of `envelope` (no frame prefix), once {@link assertEncodable} passed. */
export function encodableSize(envelope: Envelope): number {
  assertEncodable(envelope);
  return encodedEnvelopeSize(envelope);
}

/** Encodes `envelope` as V1 (default) or V0 bytes. */
export function encodeEnvelope(envelope: Envelope, options?: EncodeOptions): Buffer {
  const version = options?.version ?? 1;
  if (version !== 0 && version !== 1) {
    throw new PeerpostError('ERR_INVALID_OPTION', `version must be 0 or 1, got ${String(version)}`);
  }
  const buf = Buffer.allocUnsafe(encodedEnvelopeSize(envelope, version));
  encodeEnvelopeInto(envelope, buf, 0, version);
  return buf;
}

/** Decoding is synchronous and never re-entered, so one cursor serves every call. */
const reader = new Reader();

function readV0Fields(r: Reader): ReceivedEnvelope {
  const deliveryStartTimestampMs = r.u64('delivery_start_timestamp_ms');
  const startMs = r.lastNumber;
  const idAt = r.pos;
  const idLength = r.len('id');
  const idStart = r.pos;
  let id: string | undefined;
  // An ASCII id (every id this library makes) is read when asked for; any other is
  // decoded (and checked) now.
  if (isAscii(r.buf, idStart, idStart + idLength)) r.pos += idLength;
  else {
    r.pos = idAt;
    id = r.string('id', ids);
  }
  const label = r.string('label', labelInterner);
  const compressed = r.bool('compressed');
  const data = r.bytes('data');
  const lastSenderIsProxy = r.bool('last_sender_is_proxy');
  return new ReceivedEnvelope(
    deliveryStartTimestampMs,
    startMs,
    id,
    r.buf,
    idStart,
    idStart + idLength,
    label,
    compressed,
    data,
    lastSenderIsProxy,
  );
}

/**
 * An envelope decoded from received bytes, whose `id` is read from those bytes when first
 * asked for: most received messages reach the application without anyone reading their
 * id, and building each one's id string was about a third of the receive path of a 64 B
 * message (bench/receive-micro.ts: 199 -> 136 ns per message without it). The id's bytes
 * are checked when the envelope is decoded (ASCII, or else decoded at once, strictly), so
 * reading it later cannot fail. The envelope keeps the received buffer (which its `data`,
 * a view into it, keeps alive anyway), so that a reader can also look at the id's bytes
 * (`idBytes`, e.g. the broadcast gap tracker) without making the string.
 *
 * `id` is an accessor of the class, not an own property: copy a received envelope's
 * fields by name (as {@link decodeEnvelope} does), not with an object spread.
 */
export class ReceivedEnvelope implements Envelope {
  directReceiver: string | undefined = undefined;
  #id: string | undefined;
  /**
   * The received buffer holding the id's bytes at [idStart, idEnd) when they are ASCII and
   * the id was not set since, else undefined.
   */
  idBytes: Buffer | undefined;
  readonly idStart: number;
  readonly idEnd: number;

  constructor(
    public deliveryStartTimestampMs: bigint,
    /** `deliveryStartTimestampMs` as a number, NaN when it is 2^53 or more (the metrics' transfer time). */
    readonly startMs: number,
    id: string | undefined,
    idBytes: Buffer,
    idStart: number,
    idEnd: number,
    public label: string,
    public compressed: boolean,
    public data: Uint8Array,
    public lastSenderIsProxy: boolean,
  ) {
    this.#id = id;
    this.idBytes = id === undefined ? idBytes : undefined;
    this.idStart = idStart;
    this.idEnd = idEnd;
  }

  get id(): string {
    let id = this.#id;
    if (id === undefined) {
      // Checked ASCII when decoded: the read cannot fail.
      id = ids.read(this.idBytes as Buffer, this.idStart, this.idEnd) as string;
      this.#id = id;
    }
    return id;
  }

  set id(value: string) {
    this.#id = value;
    this.idBytes = undefined;
  }
}

function expectEnd(r: Reader, version: EnvelopeVersion): void {
  if (r.pos !== r.end) {
    throw new PeerpostError(
      'ERR_TRAILING_BYTES',
      `${r.end - r.pos} bytes left after a complete V${version} message at offset ${r.at(r.pos)}`,
      { offset: r.at(r.pos) },
    );
  }
}

function decodeV1(buf: Buffer, start: number, end: number): ReceivedEnvelope {
  const r = reader.reset(buf, start, end - TAG_LEN);
  try {
    const envelope = readV0Fields(r);
    if (r.optionTag('direct_receiver')) envelope.directReceiver = r.string('direct_receiver', peerInterner);
    expectEnd(r, 1);
    return envelope;
  } finally {
    r.release(); // do not keep a large frame alive
  }
}

function decodeV0(buf: Buffer, start: number, end: number): ReceivedEnvelope {
  const r = reader.reset(buf, start, end);
  try {
    const envelope = readV0Fields(r);
    expectEnd(r, 0);
    return envelope;
  } finally {
    r.release();
  }
}

/**
 * {@link decodeV1} of the usual message, read straight from the bytes in one function: a
 * V1 envelope without `directReceiver`, with a timestamp below 2^53, an ASCII id and
 * well-formed lengths, label and flags. Undefined for anything else, which the caller then
 * decodes the general way (whose errors say what is wrong and where); whenever it returns
 * an envelope, it is the one decodeV1 returns.
 */
function decodeUsualV1(buf: Buffer, start: number, end: number): ReceivedEnvelope | undefined {
  const fieldsEnd = end - TAG_LEN;
  let p = start;
  if (fieldsEnd - p < V0_FIXED + 1) return undefined;
  // The reader keeps `buf`'s ArrayBuffer and offset from one message to the next (reading
  // `buf.buffer` and `buf.byteOffset` per message cost about as much as the view itself),
  // its words for the id's ASCII check, and the last timestamp's bigint (consecutive
  // messages mostly share one). An early `undefined` leaves it set: the caller's decodeV1
  // resets and releases it next.
  const r = reader.reset(buf, start, end);
  const hi = buf[p + 4]! + (buf[p + 5]! << 8) + (buf[p + 6]! << 16) + buf[p + 7]! * 0x1000000;
  if (hi >= 0x200000) return undefined;
  const ms =
    hi * 0x1_0000_0000 + (buf[p]! + (buf[p + 1]! << 8) + (buf[p + 2]! << 16) + buf[p + 3]! * 0x1000000);
  p += 8;
  const idLength = lengthAt(buf, p, fieldsEnd);
  if (idLength < 0) return undefined;
  const idStart = p + 8;
  p = idStart + idLength;
  if (!r.asciiAt(idStart, p)) return undefined;
  const labelLength = lengthAt(buf, p, fieldsEnd);
  if (labelLength < 0) return undefined;
  const labelStart = p + 8;
  p = labelStart + labelLength;
  const label = labelInterner.read(buf, labelStart, p);
  if (label === undefined || fieldsEnd - p < 1) return undefined;
  const compressed = buf[p]!;
  if (compressed > 1) return undefined;
  const dataLength = lengthAt(buf, p + 1, fieldsEnd);
  if (dataLength < 0) return undefined;
  const dataStart = p + 9;
  p = dataStart + dataLength;
  // Then exactly lastSenderIsProxy and the option tag of an absent directReceiver.
  if (fieldsEnd - p !== 2) return undefined;
  const proxy = buf[p]!;
  if (proxy > 1 || buf[p + 1] !== 0) return undefined;
  const data = new Uint8Array(r.area, r.base + dataStart, dataLength);
  const timestamp = r.bigIntOf(ms);
  r.release();
  return new ReceivedEnvelope(
    timestamp,
    ms,
    undefined,
    buf,
    idStart,
    idStart + idLength,
    label,
    compressed === 1,
    data,
    proxy === 1,
  );
}

/** The u64 length at `p` when its 8 bytes and that many more end by `limit`, else -1. */
function lengthAt(buf: Buffer, p: number, limit: number): number {
  if (limit - p < 8) return -1;
  if ((buf[p + 4]! | buf[p + 5]! | buf[p + 6]! | buf[p + 7]!) !== 0) return -1;
  const n = (buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16)) + buf[p + 3]! * 0x1000000;
  return n <= limit - p - 8 ? n : -1;
}

/**
 * Whether `buf[start, end)` ends with V1_TAG (`acknck` 00 01): its bytes compared with
 * constants, unrolled (a loop over V1_TAG's elements was ~10% of decoding a 64 B message:
 * a load and a bounds check of the tag per byte), as the encoders write them. The V1
 * wire vectors do not decode if these differ from V1_TAG.
 */
function endsWithTag(buf: Buffer, start: number, end: number): boolean {
  const t = end - TAG_LEN;
  return (
    t >= start &&
    buf[t] === 0x61 &&
    buf[t + 1] === 0x63 &&
    buf[t + 2] === 0x6b &&
    buf[t + 3] === 0x6e &&
    buf[t + 4] === 0x63 &&
    buf[t + 5] === 0x6b &&
    buf[t + 6] === 0x00 &&
    buf[t + 7] === 0x01
  );
}

/**
 * Decodes one message body (no frame prefix).
 *
 * Version detection: bytes that end with the V1 tag are parsed as V1; if that parse
 * fails they are parsed as V0, because a legal V0 message can end with the tag bytes
 * (its data may end with `acknck\0` followed by `lastSenderIsProxy = true`). Unlike the
 * reference (bincode 1.3 ignores trailing bytes), every byte must belong to the
 * message: a V1 message cut short inside `directReceiver` or its tag is rejected with
 * `ERR_TRAILING_BYTES` instead of being read as a V0 message that silently lost fields.
 *
 * `data` is a view into `bytes` (not a copy).
 */
export function decodeEnvelope(bytes: Uint8Array): DecodedEnvelope {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const e = decodeEnvelopeAt(buf, 0, buf.length);
  // A plain object with every field its own (a spread or JSON copy keeps the id).
  const envelope: Envelope = {
    deliveryStartTimestampMs: e.deliveryStartTimestampMs,
    id: e.id,
    label: e.label,
    compressed: e.compressed,
    data: e.data,
    lastSenderIsProxy: e.lastSenderIsProxy,
    directReceiver: e.directReceiver,
  };
  return { envelope, version: lastVersion };
}

/** The version of the message the last successful decodeEnvelopeAt() call returned. */
let lastVersion: EnvelopeVersion = 1;

/** The version of the envelope the last decodeEnvelopeAt() call returned. */
export function lastDecodedVersion(): EnvelopeVersion {
  return lastVersion;
}

/**
 * The id of an envelope this node encoded, whose body starts at `buf[start]` (right after
 * the u64 timestamp: a u64 length, then the UTF-8 bytes). No checks: only for frames the
 * encoder wrote, never for bytes from the network (decode those with {@link decodeEnvelopeAt}).
 */
export function encodedEnvelopeIdAt(buf: Buffer, start: number): string {
  const at = start + 8;
  return buf.toString('utf8', at + 8, at + 8 + buf.readUInt32LE(at));
}

/**
 * {@link decodeEnvelope} of the message body `buf[start, end)`, without making a view of
 * it (a transport hands over each frame of a received chunk as a range of that chunk)
 * and without a result object per message: the envelope is returned and its version is
 * {@link lastDecodedVersion} until the next call. Error offsets are relative to `start`;
 * `data` is a view into `buf`, and an ASCII id is read from `buf` when first asked for
 * ({@link ReceivedEnvelope}): `buf` must not be reused while the envelope lives.
 */
export function decodeEnvelopeAt(buf: Buffer, start: number, end: number): ReceivedEnvelope {
  if (endsWithTag(buf, start, end)) {
    const usual = decodeUsualV1(buf, start, end);
    if (usual !== undefined) {
      lastVersion = 1;
      return usual;
    }
    try {
      const envelope = decodeV1(buf, start, end);
      lastVersion = 1;
      return envelope;
    } catch (v1Error) {
      try {
        const envelope = decodeV0(buf, start, end);
        lastVersion = 0;
        return envelope;
      } catch {
        throw v1Error;
      }
    }
  }
  const envelope = decodeV0(buf, start, end);
  lastVersion = 0;
  return envelope;
}

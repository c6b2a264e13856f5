import { isUtf8 } from 'node:buffer';
import { PeerpostError } from '../errors.js';

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
  let size = V0_FIXED + Buffer.byteLength(envelope.id, 'utf8') + Buffer.byteLength(envelope.label, 'utf8');
  size += envelope.data.byteLength;
  if (version === 1) {
    size += 1 + TAG_LEN;
    if (envelope.directReceiver !== undefined) size += 8 + Buffer.byteLength(envelope.directReceiver, 'utf8');
  }
  return size;
}

function writeLen(buf: Buffer, offset: number, len: number): number {
  buf.writeUInt32LE(len, offset);
  buf.writeUInt32LE(0, offset + 4);
  return offset + 8;
}

function writeString(buf: Buffer, offset: number, s: string): number {
  // Written in place first, then the length is filled in: no intermediate byte array.
  const written = buf.write(s, offset + 8, 'utf8');
  writeLen(buf, offset, written);
  return offset + 8 + written;
}

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
  if (typeof ts !== 'bigint' || ts < 0n || ts > U64_MAX) {
    throw new PeerpostError(
      'ERR_LENGTH_OVERFLOW',
      `deliveryStartTimestampMs must be a u64 bigint, got ${ts}`,
    );
  }
  let o = offset;
  buf.writeBigUInt64LE(ts, o);
  o = writeString(buf, o + 8, envelope.id);
  o = writeString(buf, o, envelope.label);
  buf[o++] = envelope.compressed ? 1 : 0;
  const data = envelope.data;
  o = writeLen(buf, o, data.byteLength);
  buf.set(data, o);
  o += data.byteLength;
  buf[o++] = envelope.lastSenderIsProxy ? 1 : 0;
  if (version === 1) {
    if (envelope.directReceiver === undefined) {
      buf[o++] = 0;
    } else {
      buf[o++] = 1;
      o = writeString(buf, o, envelope.directReceiver);
    }
    buf.set(V1_TAG, o);
    o += TAG_LEN;
  }
  return o;
}

/** Encodes `envelope` as V1 (default) or V0 bytes. */
export function encodeEnvelope(envelope: Envelope, options: EncodeOptions = {}): Buffer {
  const version = options.version ?? 1;
  if (version !== 0 && version !== 1) {
    throw new PeerpostError('ERR_INVALID_OPTION', `version must be 0 or 1, got ${String(version)}`);
  }
  const buf = Buffer.allocUnsafe(encodedEnvelopeSize(envelope, version));
  encodeEnvelopeInto(envelope, buf, 0, version);
  return buf;
}

/** A cursor over one message body. Every length is checked against what remains before use. */
class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  need(n: number, what: string): void {
    if (this.end - this.pos < n) {
      throw new PeerpostError(
        'ERR_TRUNCATED',
        `input ends inside ${what}: needs ${n} bytes at offset ${this.pos}, ${this.end - this.pos} remain`,
        { offset: this.pos },
      );
    }
  }

  u64(what: string): bigint {
    this.need(8, what);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A u64 length, compared with the remaining bytes before anything is allocated. */
  len(what: string): number {
    this.need(8, `${what} length`);
    const lo = this.buf.readUInt32LE(this.pos);
    const hi = this.buf.readUInt32LE(this.pos + 4);
    const remaining = this.end - this.pos - 8;
    if (hi !== 0 || lo > remaining) {
      const claimed = (BigInt(hi) << 32n) | BigInt(lo);
      throw new PeerpostError(
        'ERR_TRUNCATED',
        `${what} length ${claimed} at offset ${this.pos} exceeds the ${remaining} bytes that remain`,
        { offset: this.pos },
      );
    }
    this.pos += 8;
    return lo;
  }

  bool(what: string): boolean {
    this.need(1, what);
    const b = this.buf[this.pos]!;
    if (b > 1) {
      throw new PeerpostError(
        'ERR_INVALID_BOOL',
        `${what} at offset ${this.pos} must be 0 or 1, found ${b}`,
        {
          offset: this.pos,
        },
      );
    }
    this.pos += 1;
    return b === 1;
  }

  optionTag(what: string): boolean {
    this.need(1, what);
    const b = this.buf[this.pos]!;
    if (b > 1) {
      throw new PeerpostError(
        'ERR_INVALID_OPTION_TAG',
        `${what} option tag at offset ${this.pos} must be 0 or 1, found ${b}`,
        { offset: this.pos },
      );
    }
    this.pos += 1;
    return b === 1;
  }

  string(what: string): string {
    const n = this.len(what);
    const start = this.pos;
    const view = this.buf.subarray(start, start + n);
    // isUtf8 is strict (rejects overlongs, surrogates, truncated sequences), so
    // toString below never has to substitute U+FFFD.
    if (!isUtf8(view)) {
      throw new PeerpostError('ERR_INVALID_UTF8', `${what} at offset ${start} is not valid UTF-8`, {
        offset: start,
      });
    }
    this.pos += n;
    return n === 0 ? '' : view.toString('utf8');
  }

  bytes(what: string): Buffer {
    const n = this.len(what);
    const view = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return view;
  }
}

function readV0Fields(r: Reader): Envelope {
  const deliveryStartTimestampMs = r.u64('delivery_start_timestamp_ms');
  const id = r.string('id');
  const label = r.string('label');
  const compressed = r.bool('compressed');
  const data = r.bytes('data');
  const lastSenderIsProxy = r.bool('last_sender_is_proxy');
  return { deliveryStartTimestampMs, id, label, compressed, data, lastSenderIsProxy };
}

function expectEnd(r: Reader, version: EnvelopeVersion): void {
  if (r.pos !== r.end) {
    throw new PeerpostError(
      'ERR_TRAILING_BYTES',
      `${r.end - r.pos} bytes left after a complete V${version} message at offset ${r.pos}`,
      { offset: r.pos },
    );
  }
}

function decodeV1(buf: Buffer): Envelope {
  const r = new Reader(buf, 0, buf.length - TAG_LEN);
  const envelope = readV0Fields(r);
  if (r.optionTag('direct_receiver')) envelope.directReceiver = r.string('direct_receiver');
  expectEnd(r, 1);
  return envelope;
}

function decodeV0(buf: Buffer): Envelope {
  const r = new Reader(buf, 0, buf.length);
  const envelope = readV0Fields(r);
  expectEnd(r, 0);
  return envelope;
}

function endsWithTag(buf: Buffer): boolean {
  const n = buf.length;
  if (n < TAG_LEN) return false;
  for (let i = 0; i < TAG_LEN; i++) if (buf[n - TAG_LEN + i] !== V1_TAG[i]) return false;
  return true;
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
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (endsWithTag(buf)) {
    try {
      return { envelope: decodeV1(buf), version: 1 };
    } catch (v1Error) {
      try {
        return { envelope: decodeV0(buf), version: 0 };
      } catch {
        throw v1Error;
      }
    }
  }
  return { envelope: decodeV0(buf), version: 0 };
}

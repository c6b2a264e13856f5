import { Buffer } from 'node:buffer';
import { PeerpostError } from '../errors.js';
import { FRAME_PREFIX_BYTES } from './framing.js';

/**
 * Control frames of the acknowledged direct protocol (ALPN `peerpost/direct-ack/1`, see
 * docs/acks.md). Message frames stay reference envelopes; a control frame starts with
 * eight 0xff bytes where an envelope has its u64 timestamp (no real timestamp is
 * 2^64 - 1), then a type byte and fixed fields:
 *
 * | type | name | from | fields |
 * | --- | --- | --- | --- |
 * | 1 | OPEN | sender | stream id (16 bytes) |
 * | 2 | OPENED | receiver | known (u8 0/1), last (u64 LE): the highest sequence number of the stream handed to the application |
 * | 3 | SEQ | sender | seq (u64 LE): the sequence number of the next message frame |
 * | 4 | ACK | receiver | seq (u64 LE): every message of the stream up to it was handed to the application |
 *
 * Sequence numbers start at 1 and stay below 2^53.
 */
export const ACK_OPEN = 1;
export const ACK_OPENED = 2;
export const ACK_SEQ = 3;
export const ACK_ACK = 4;

export const STREAM_ID_BYTES = 16;
const MARK_BYTES = 8;
const HEAD = MARK_BYTES + 1;
const SIZE_BY_TYPE = [0, HEAD + STREAM_ID_BYTES, HEAD + 1 + 8, HEAD + 8, HEAD + 8];
const TWO_32 = 2 ** 32;

export type ControlFrame =
  | { readonly type: typeof ACK_OPEN; readonly streamId: string }
  | { readonly type: typeof ACK_OPENED; readonly known: boolean; readonly seq: number }
  | { readonly type: typeof ACK_SEQ | typeof ACK_ACK; readonly seq: number };

/** True when the frame body `chunk[start, end)` is a control frame (only meaningful on an acked connection). */
export function isControlFrame(chunk: Uint8Array, start: number, end: number): boolean {
  if (end - start < HEAD) return false;
  for (let i = start; i < start + MARK_BYTES; i++) if (chunk[i] !== 0xff) return false;
  return true;
}

function fail(message: string): never {
  throw new PeerpostError('ERR_ACK_PROTOCOL', message);
}

function readSeq(chunk: Uint8Array, at: number): number {
  const lo = (chunk[at]! | (chunk[at + 1]! << 8) | (chunk[at + 2]! << 16) | (chunk[at + 3]! << 24)) >>> 0;
  const hi = (chunk[at + 4]! | (chunk[at + 5]! << 8) | (chunk[at + 6]! << 16) | (chunk[at + 7]! << 24)) >>> 0;
  if (hi >= 2 ** 21) fail('a sequence number at or above 2^53');
  return hi * TWO_32 + lo;
}

/**
 * Decodes the control frame `chunk[start, end)` (see {@link isControlFrame}). Throws
 * `ERR_ACK_PROTOCOL` for an unknown type, a wrong length or a value out of range: every
 * field is checked before use.
 */
export function decodeControlFrame(chunk: Uint8Array, start: number, end: number): ControlFrame {
  const type = chunk[start + MARK_BYTES]!;
  const size = SIZE_BY_TYPE[type];
  if (size === undefined || size === 0) fail(`unknown control frame type ${type}`);
  if (end - start !== size) fail(`control frame type ${type} of ${end - start} bytes, expected ${size}`);
  const at = start + HEAD;
  switch (type) {
    case ACK_OPEN:
      return {
        type,
        streamId: Buffer.from(chunk.buffer, chunk.byteOffset + at, STREAM_ID_BYTES).toString('hex'),
      };
    case ACK_OPENED: {
      const known = chunk[at];
      if (known !== 0 && known !== 1) fail('OPENED with a known byte other than 0 or 1');
      return { type, known: known === 1, seq: readSeq(chunk, at + 1) };
    }
    default:
      return { type: type as typeof ACK_SEQ | typeof ACK_ACK, seq: readSeq(chunk, at) };
  }
}

function frame(type: number): Buffer {
  const size = SIZE_BY_TYPE[type]!;
  const buf = Buffer.alloc(FRAME_PREFIX_BYTES + size);
  buf.writeUInt32BE(size, 0);
  buf.fill(0xff, FRAME_PREFIX_BYTES, FRAME_PREFIX_BYTES + MARK_BYTES);
  buf[FRAME_PREFIX_BYTES + MARK_BYTES] = type;
  return buf;
}

function writeSeq(buf: Buffer, at: number, seq: number): void {
  if (!Number.isSafeInteger(seq) || seq < 0)
    throw new PeerpostError('ERR_INVALID_OPTION', `bad sequence number ${seq}`);
  buf.writeUInt32LE(seq % TWO_32, at);
  buf.writeUInt32LE(Math.floor(seq / TWO_32), at + 4);
}

const BODY = FRAME_PREFIX_BYTES + HEAD;

/** The whole frame (length prefix included) of OPEN for `streamId` (32 hex characters). */
export function openFrame(streamId: string): Buffer {
  const buf = frame(ACK_OPEN);
  if (buf.write(streamId, BODY, 'hex') !== STREAM_ID_BYTES) {
    throw new PeerpostError('ERR_INVALID_OPTION', `a stream id is ${STREAM_ID_BYTES} bytes in hex`);
  }
  return buf;
}

/** The whole frame of OPENED. */
export function openedFrame(known: boolean, last: number): Buffer {
  const buf = frame(ACK_OPENED);
  buf[BODY] = known ? 1 : 0;
  writeSeq(buf, BODY + 1, last);
  return buf;
}

/** The whole frame of SEQ or ACK. */
export function seqFrame(type: typeof ACK_SEQ | typeof ACK_ACK, seq: number): Buffer {
  const buf = frame(type);
  writeSeq(buf, BODY, seq);
  return buf;
}

/** Where a control frame is written: a connection's write calls (see Connection). */
interface FrameWriter {
  write(body: Uint8Array): boolean;
  writeFrames?(frames: Uint8Array, count: number): boolean;
}

/** Writes the whole control frame `frame` (prefix included) to `connection`; false above its high-water mark. */
export function writeControlFrame(connection: FrameWriter, frame: Buffer): boolean {
  return connection.writeFrames !== undefined
    ? connection.writeFrames(frame, 1)
    : connection.write(frame.subarray(FRAME_PREFIX_BYTES));
}

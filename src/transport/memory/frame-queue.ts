import { Buffer } from 'node:buffer';
import { PeerpostError } from '../../errors.js';
import type { Envelope } from '../../wire/envelope.js';
import { encodeFrameInto, encodePlainFrameInto } from '../../wire/frame-slab.js';
import { FRAME_PREFIX_BYTES, frameLength, U32_MAX } from '../../wire/framing.js';

/** Bodies and runs at least this large are kept by reference and copied once, when flushed. */
const LARGE_BYTES = 16 * 1024;
/**
 * Smallest slab (larger than the Buffer pool's share, so a slab is never a pool slice):
 * the only size kept once the queue is empty, so an idle connection holds at most this.
 */
const SLAB_MIN_BYTES = 8 * 1024;
const SLAB_MAX_BYTES = 64 * 1024;
/** A slab with less room than this after a flush is let go rather than kept. */
const MIN_SLAB_ROOM = 1024;

/** Kind of a queue entry, in `#counts`: a run of `n` frames in a slab is stored as `n` (> 0). */
const BODY = 0; // one frame body kept by reference (its prefix is written when flushed)
// A run of `n` whole frames kept by reference (the caller's bytes) is stored as `-n`.

/**
 * The send buffer of one in-memory connection: frames queued in order until the network's
 * next pass hands them to the link as the chunks of one write (what a socket write would
 * carry).
 *
 * Frames are copied (or encoded) at once into an append-only slab owned by the queue, so
 * consecutive frames form one contiguous run, handed to the link as a view, with no
 * further copy. A region once handed over is never written again (the receiver keeps
 * views of it). Bodies and framed runs of {@link LARGE_BYTES} or more are kept by
 * reference and copied once, when flushed, as a socket copies what it accepts: the caller
 * may change them after `onFlushed`.
 */
export class FrameQueue {
  /** Framed bytes queued (prefixes included). */
  bytes = 0;
  /** Frames queued. */
  frames = 0;
  /** Frames taken by the last {@link take}. */
  takenFrames = 0;
  #entries: Uint8Array[] = [];
  #counts: number[] = [];
  /** First entry not taken yet. */
  #head = 0;
  #slab: Buffer | undefined;
  #slabUsed = 0;
  /** Start in `#slab` of the run that is the last entry (still growing), or -1. */
  #runStart = -1;

  /** Queues one frame body (not empty, checked by the caller). */
  pushBody(body: Uint8Array): void {
    const len = body.length;
    if (len > U32_MAX) {
      throw new PeerpostError('ERR_LENGTH_OVERFLOW', `frame body of ${len} bytes exceeds u32`);
    }
    if (len >= LARGE_BYTES) {
      this.#pushEntry(body, BODY, FRAME_PREFIX_BYTES + len, 1);
      return;
    }
    const at = this.#reserve(FRAME_PREFIX_BYTES + len);
    const slab = this.#slab as Buffer;
    slab.writeUInt32BE(len, at);
    slab.set(body, at + FRAME_PREFIX_BYTES);
    this.#appended(at, FRAME_PREFIX_BYTES + len, 1);
  }

  /** Encodes `envelope` (encoded size `size`) with its prefix into the slab. */
  pushEnvelope(envelope: Envelope, size: number): void {
    const need = FRAME_PREFIX_BYTES + size;
    const at = this.#reserve(need);
    const slab = this.#slab as Buffer;
    // Past `#slabUsed` nothing was handed out: a failed or wrong encoding leaves no trace.
    encodeFrameInto(envelope, size, slab, at);
    this.#appended(at, need, 1);
  }

  /** pushEnvelope() of the plain message `encodePlainInto` describes (of encoded size `size`): no envelope object. */
  pushPlain(size: number, timestampMs: number, id: string, label: string, data: Uint8Array): void {
    const need = FRAME_PREFIX_BYTES + size;
    const at = this.#reserve(need);
    encodePlainFrameInto(this.#slab as Buffer, at, size, timestampMs, id, label, data);
    this.#appended(at, need, 1);
  }

  /** Queues `count` whole frames (already validated with {@link checkFrames}). */
  pushFrames(frames: Uint8Array, count: number): void {
    const len = frames.length;
    if (len >= LARGE_BYTES) {
      this.#pushEntry(frames, -count, len, count);
      return;
    }
    const at = this.#reserve(len);
    (this.#slab as Buffer).set(frames, at);
    this.#appended(at, len, count);
  }

  /**
   * Takes frames from the front while fewer than `room` bytes are taken (the last one may
   * go past `room`, as a socket accepts a whole write) and appends them to `out` as the
   * chunks of one pass: runs of the slab as views, what is held by reference as a copy.
   * Returns the bytes taken; {@link takenFrames} tells how many frames. Call only when
   * frames are queued.
   */
  take(room: number, out: Buffer[]): number {
    this.#closeRun();
    const entries = this.#entries;
    const counts = this.#counts;
    const n = entries.length;
    const first = this.#head;
    let i = first;
    let bytes = 0;
    let frames = 0;
    /** First entry and bytes of the pending group of entries held by reference (copied together). */
    let group = first;
    let groupBytes = 0;
    /** Bytes and frames taken of entry `i` when the pass ends inside it (0: none). */
    let part = 0;
    let partFrames = 0;
    while (i < n && bytes < room) {
      const entry = entries[i] as Uint8Array;
      const count = counts[i] as number;
      const all = count < 0 ? -count : count === BODY ? 1 : count;
      const len = count === BODY ? FRAME_PREFIX_BYTES + entry.length : entry.length;
      let take = len;
      if (all > 1 && bytes + len > room) {
        take = splitPoint(entry, room - bytes);
        if (take < len) {
          part = take;
          partFrames = countFrames(entry, take);
        }
      }
      if (count > 0) {
        if (groupBytes > 0) out.push(copyGroup(entries, counts, group, groupBytes));
        groupBytes = 0;
        out.push(take === len ? (entry as Buffer) : (entry as Buffer).subarray(0, take));
      } else {
        if (groupBytes === 0) group = i;
        groupBytes += take;
      }
      bytes += take;
      if (part > 0) {
        frames += partFrames;
        break;
      }
      frames += all;
      i++;
    }
    if (groupBytes > 0) out.push(copyGroup(entries, counts, group, groupBytes));
    for (let k = first; k < i; k++) entries[k] = EMPTY; // let taken entries go
    if (part > 0) {
      const count = counts[i] as number;
      const left = (count < 0 ? -count : count) - partFrames;
      entries[i] = (entries[i] as Uint8Array).subarray(part);
      counts[i] = count < 0 ? -left : left;
    }
    if (i === n) {
      entries.length = 0;
      counts.length = 0;
      this.#head = 0;
    } else if (i >= 16 && 2 * i >= n) {
      // A queue that never empties (a reader slower than the writer) drops its taken
      // entries from time to time instead of growing.
      entries.copyWithin(0, i);
      counts.copyWithin(0, i);
      entries.length = counts.length = n - i;
      this.#head = 0;
    } else {
      this.#head = i;
    }
    this.bytes -= bytes;
    this.frames -= frames;
    this.takenFrames = frames;
    const slab = this.#slab;
    // A slab made for a busy pass is not kept once the queue is empty: an idle connection
    // holds at most a small one.
    if (
      slab !== undefined &&
      (slab.length - this.#slabUsed < MIN_SLAB_ROOM || (this.frames === 0 && slab.length > SLAB_MIN_BYTES))
    )
      this.#slab = undefined;
    return bytes;
  }

  /** Offset in the slab where `need` bytes fit, after starting a new slab if needed. */
  #reserve(need: number): number {
    const slab = this.#slab;
    if (slab !== undefined && slab.length - this.#slabUsed >= need) return this.#slabUsed;
    this.#closeRun();
    // Sized to the traffic since the last pass: a busy connection gets large slabs.
    const size = Math.min(SLAB_MAX_BYTES, Math.max(SLAB_MIN_BYTES, 2 * (this.bytes + need)));
    this.#slab = Buffer.allocUnsafe(Math.max(size, need));
    this.#slabUsed = 0;
    return 0;
  }

  /** `bytes` holding `frames` frames were written at `at` in the slab. */
  #appended(at: number, bytes: number, frames: number): void {
    this.#slabUsed = at + bytes;
    this.bytes += bytes;
    this.frames += frames;
    if (this.#runStart >= 0) {
      const last = this.#counts.length - 1;
      this.#counts[last] = (this.#counts[last] as number) + frames;
      return;
    }
    this.#runStart = at;
    this.#entries.push(EMPTY); // placeholder: the run's view is made when it closes
    this.#counts.push(frames);
  }

  #pushEntry(entry: Uint8Array, kind: number, bytes: number, frames: number): void {
    this.#closeRun();
    this.#entries.push(entry);
    this.#counts.push(kind);
    this.bytes += bytes;
    this.frames += frames;
  }

  /** Fixes the growing run (the last entry) as a view of the slab. */
  #closeRun(): void {
    if (this.#runStart < 0) return;
    this.#entries[this.#entries.length - 1] = (this.#slab as Buffer).subarray(this.#runStart, this.#slabUsed);
    this.#runStart = -1;
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Copies `bytes` of the entries from `from` on (held by reference: bodies get their
 * prefix, runs are copied as they are, the last one possibly in part) into one buffer.
 */
function copyGroup(entries: Uint8Array[], counts: number[], from: number, bytes: number): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (let k = from; at < bytes; k++) {
    const entry = entries[k] as Uint8Array;
    if (counts[k] === BODY) {
      out.writeUInt32BE(entry.length, at);
      out.set(entry, at + FRAME_PREFIX_BYTES);
      at += FRAME_PREFIX_BYTES + entry.length;
    } else {
      const take = Math.min(entry.length, bytes - at);
      out.set(take === entry.length ? entry : entry.subarray(0, take), at);
      at += take;
    }
  }
  return out;
}

/** End of the first frames of a run that reach `room` bytes (the last one may go past it). */
function splitPoint(frames: Uint8Array, room: number): number {
  let at = 0;
  while (at < room) at += FRAME_PREFIX_BYTES + frameLength(frames, at);
  return at;
}

/** Frames in the first `bytes` bytes of a run (which end on a frame boundary). */
function countFrames(frames: Uint8Array, bytes: number): number {
  let at = 0;
  let n = 0;
  for (; at < bytes; n++) at += FRAME_PREFIX_BYTES + frameLength(frames, at);
  return n;
}

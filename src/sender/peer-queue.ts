import type { Buffer } from 'node:buffer';
import { ByteBudget } from '../util/byte-budget.js';
import { FRAME_PREFIX_BYTES } from '../wire/framing.js';
import type { OutcomeSubject } from './accounting.js';
import { hasLimits, type OutgoingMessage } from './message.js';

/**
 * One buffer a peer sender encodes frames into, as its plain messages use it: once no
 * plain message framed there is queued or unflushed, and no frame there can be referred to
 * from elsewhere, the buffer can be reused (the node's slab pool) instead of being left to
 * the garbage collector and a new one allocated.
 */
export class SlabUse {
  /** Plain messages framed here still queued or unflushed (or, acknowledged, not yet acked). */
  pending = 0;
  /** It is a sender's current slab buffer (more frames may go there). */
  current = false;
  /**
   * A frame here may be referred to from elsewhere (a record's, or a plain message's taken
   * out of the queue as a record), or the buffer was already handed on: never reuse it.
   */
  shared: boolean;

  constructor(
    readonly buf: Buffer | undefined,
    shared = false,
  ) {
    this.shared = shared;
  }
}

/**
 * What consecutive plain messages of one peer sender share: where their frames are (a
 * slab of the sender's) and everything an outcome or a move needs except the numbers
 * (sequence, frame offset, size, enqueue time), which the rings keep in a typed array.
 * One object per slab and label instead of one record per message: with megabytes in
 * flight, a record per message survived every young-generation GC and made collection
 * the largest cost of a busy sender (issue 16).
 */
export class MessageRun {
  constructor(
    readonly frames: Buffer,
    /** How the sender uses `frames`' buffer (counts this run's messages while they wait). */
    readonly use: SlabUse,
    readonly label: string,
    readonly receiver: string,
    readonly peerId: string,
    readonly metricLabel: string,
    readonly addresses: readonly string[],
  ) {}

  /**
   * The id of the last message framed in this run while outcomes wanted ids (a watched
   * message: a request), and where its frame is: its outcome then needs no id read back
   * from the frame (a string made per outcome, and the watch looked up by another string
   * than its key). -1: none.
   */
  lastId: string | undefined = undefined;
  lastIdAt = -1;
}

/** An outcome subject filled in place for plain messages (see {@link MessageRun}): no object per message. */
interface Subject {
  id: string | undefined;
  label: string;
  receiver: string;
  metricLabel: string;
  enqueuedAtMs: number;
  envelope: undefined;
  frames: Buffer | undefined;
  frameAt: number;
}

/** A new {@link Subject}, to be filled by {@link fill} for each plain message it stands for. */
export function subject(): Subject {
  return {
    id: undefined,
    label: '',
    receiver: '',
    metricLabel: '',
    enqueuedAtMs: 0,
    envelope: undefined,
    frames: undefined,
    frameAt: 0,
  };
}

/**
 * `s` filled as the plain message of `run` framed at `frameAt` (its id is the run's
 * {@link MessageRun.lastId} if that is its frame's, else read from the frame if wanted).
 */
export function fill(s: Subject, run: MessageRun, frameAt: number, enqueuedAtMs: number): OutcomeSubject {
  s.id = frameAt === run.lastIdAt ? run.lastId : undefined;
  s.label = run.label;
  s.receiver = run.receiver;
  s.metricLabel = run.metricLabel;
  s.enqueuedAtMs = enqueuedAtMs;
  s.frames = run.frames;
  s.frameAt = frameAt;
  return s;
}

/**
 * True when `msg` can wait as numbers in a {@link MessageRun}: nobody wanted its id at send
 * time, it has no deadline or signal, it has at most one target (a message queued at
 * several addresses must stay one object, the dispatcher tells its copies apart by
 * identity) and no copy of it went out yet.
 */
export function isPlain(msg: OutgoingMessage): boolean {
  return msg.id === undefined && !hasLimits(msg) && msg.addresses.length <= 1 && !msg.sent;
}

/** Columns of the number table: one row of four per entry. */
const SEQ = 0;
const AT = 1;
const SIZE = 2;
const ENQUEUED = 3;
const ROW = 4;

/**
 * A ring of messages, each either an {@link OutgoingMessage} record or a row of numbers
 * in a {@link MessageRun} (`seq`, frame offset, size, enqueue time): O(1) push and shift,
 * no allocation per entry once warm. A record's numbers are in the table too, so a run of
 * frames can be found without looking at the record.
 */
export class MessageRing<R = OutgoingMessage | MessageRun> {
  #refs: (R | undefined)[] = [];
  #nums = new Float64Array(0);
  #head = 0;
  #length = 0;
  /** Capacity - 1 (capacities are powers of two); -1 until the first push. */
  #mask = -1;

  get length(): number {
    return this.#length;
  }

  push(ref: R, seq: number, frameAt: number, size: number, enqueuedAtMs: number): void {
    if (this.#length > this.#mask) this.#grow();
    const i = (this.#head + this.#length) & this.#mask;
    this.#refs[i] = ref;
    const row = i * ROW;
    const nums = this.#nums;
    nums[row + SEQ] = seq;
    nums[row + AT] = frameAt;
    nums[row + SIZE] = size;
    nums[row + ENQUEUED] = enqueuedAtMs;
    this.#length++;
  }

  /** The entry `i` places from the front (0: the first), or undefined. */
  ref(i: number): R | undefined {
    return i >= 0 && i < this.#length ? this.#refs[(this.#head + i) & this.#mask] : undefined;
  }

  seq(i: number): number {
    return this.#nums[((this.#head + i) & this.#mask) * ROW + SEQ] as number;
  }

  frameAt(i: number): number {
    return this.#nums[((this.#head + i) & this.#mask) * ROW + AT] as number;
  }

  size(i: number): number {
    return this.#nums[((this.#head + i) & this.#mask) * ROW + SIZE] as number;
  }

  enqueuedAtMs(i: number): number {
    return this.#nums[((this.#head + i) & this.#mask) * ROW + ENQUEUED] as number;
  }

  /** Leaves a hole at entry `i` (its numbers stay; `ref(i)` is undefined from now on). */
  clear(i: number): void {
    if (i >= 0 && i < this.#length) this.#refs[(this.#head + i) & this.#mask] = undefined;
  }

  /** Empties the ring and lets its storage go. */
  release(): void {
    this.#refs = [];
    this.#nums = new Float64Array(0);
    this.#head = 0;
    this.#length = 0;
    this.#mask = -1;
  }

  /** Removes the first `k` entries (at most {@link length}; read their numbers before). */
  drop(k: number): void {
    const refs = this.#refs;
    const mask = this.#mask;
    let head = this.#head;
    for (let i = 0; i < k; i++) {
      refs[head] = undefined;
      head = (head + 1) & mask;
    }
    this.#head = head;
    this.#length -= k;
  }

  /** Removes the first entry (read its numbers before). */
  shift(): R | undefined {
    if (this.#length === 0) return undefined;
    const ref = this.#refs[this.#head];
    this.#refs[this.#head] = undefined;
    this.#head = (this.#head + 1) & this.#mask;
    this.#length--;
    return ref;
  }

  #grow(): void {
    const cap = Math.max(8, (this.#mask + 1) * 2);
    const refs = new Array<R | undefined>(cap);
    const nums = new Float64Array(cap * ROW);
    const head = this.#head;
    const length = this.#length;
    for (let i = 0; i < length; i++) refs[i] = this.#refs[(head + i) & this.#mask];
    // The rows in two pieces at most (from the head to the end of the storage, then from
    // its start), not a view per row: growing to 2^20 rows made 2^20 views before.
    const first = Math.min(length, this.#mask + 1 - head);
    nums.set(this.#nums.subarray(head * ROW, (head + first) * ROW), 0);
    if (first < length) nums.set(this.#nums.subarray(0, (length - first) * ROW), first * ROW);
    this.#refs = refs;
    this.#nums = nums;
    this.#head = 0;
    this.#mask = cap - 1;
  }
}

/**
 * The queue of a peer sender: waiting messages in send order, plain ones
 * ({@link isPlain}) as numbers in a {@link MessageRun}, the others as their records.
 * Counts their frame bytes, here and in `budget` (the node's): every message in is
 * taken from the budget, every message out is given back. Whoever takes messages out as
 * records ({@link shift}, {@link drain}: a stopped sender's leftovers, a merge) gets a
 * record made for a plain one, equal to the one it came from.
 */
export class PeerQueue {
  readonly budget: ByteBudget;
  readonly #ring = new MessageRing();
  /** The run the last plain message joined. */
  #run: MessageRun | undefined;

  constructor(parent: ByteBudget | undefined) {
    this.budget = new ByteBudget(Number.POSITIVE_INFINITY, parent);
  }

  get length(): number {
    return this.#ring.length;
  }

  /** Frame bytes of the messages queued here. */
  get bytes(): number {
    return this.budget.bytes;
  }

  /** Queues `msg` as its record (its frame stored: its offset is kept in the ring as for plain ones). */
  push(msg: OutgoingMessage): void {
    this.#ring.push(msg, msg.seq, msg.frameAt, msg.size, msg.enqueuedAtMs);
    this.budget.take(FRAME_PREFIX_BYTES + msg.size);
  }

  /**
   * Queues plain `msg` (see {@link isPlain}) whose frame is at `frames[frameAt..]`, a buffer
   * used as `use` says, as numbers.
   */
  pushPlain(msg: OutgoingMessage, frames: Buffer, frameAt: number, use: SlabUse): void {
    this.pushPlainAt(this.runOf(msg, frames, use), msg.seq, frameAt, msg.size, msg.enqueuedAtMs);
  }

  /** {@link pushPlain} of a plain message given by its run and numbers (no record made). */
  pushPlainAt(run: MessageRun, seq: number, frameAt: number, size: number, enqueuedAtMs: number): void {
    this.#ring.push(run, seq, frameAt, size, enqueuedAtMs);
    this.budget.take(FRAME_PREFIX_BYTES + size);
  }

  /** The run of plain `msg` framed in `frames` (used as `use` says): the last one if it fits, else a new one. */
  runOf(msg: OutgoingMessage, frames: Buffer, use: SlabUse): MessageRun {
    return this.runWith(frames, use, msg.label, msg.receiver, msg.peerId, msg.metricLabel, msg.addresses);
  }

  /** {@link runOf} for a plain message given by its fields (no record made). */
  runWith(
    frames: Buffer,
    use: SlabUse,
    label: string,
    receiver: string,
    peerId: string,
    metricLabel: string,
    addresses: readonly string[],
  ): MessageRun {
    const last = this.#run;
    // The use counts, not only the buffer: a slab given back to the pool and taken again is
    // the same buffer in a new use, and a message counted in the old one would keep the new
    // one from ever going back.
    if (
      last !== undefined &&
      last.frames === frames &&
      last.use === use &&
      last.label === label &&
      last.receiver === receiver &&
      last.peerId === peerId &&
      last.metricLabel === metricLabel &&
      last.addresses === addresses
    ) {
      return last;
    }
    const run = new MessageRun(frames, use, label, receiver, peerId, metricLabel, addresses);
    this.#run = run;
    return run;
  }

  /** The entry `i` places from the front: a record, or the run of a plain message. */
  ref(i: number): OutgoingMessage | MessageRun | undefined {
    return this.#ring.ref(i);
  }

  /** Where entry `i`'s frame is: its buffer... */
  framesOf(i: number): Buffer | undefined {
    return this.#ring.ref(i)?.frames;
  }

  /** ...and its offset there. */
  frameAt(i: number): number {
    return this.#ring.frameAt(i);
  }

  /**
   * How many entries from the front have frames that lie next to each other in one buffer
   * (from the first one's), stopping before a record with limits after the first; their
   * bytes are then in {@link regionBytes}. The first entry's frame must be stored.
   */
  region(): number {
    const ring = this.#ring;
    const frames = (ring.ref(0) as OutgoingMessage | MessageRun).frames;
    const start = ring.frameAt(0);
    let end = start;
    let n = 0;
    while (n < ring.length) {
      const ref = ring.ref(n) as OutgoingMessage | MessageRun;
      if (ref.frames !== frames || ring.frameAt(n) !== end) break;
      if (n > 0 && !(ref instanceof MessageRun) && hasLimits(ref)) break;
      end += FRAME_PREFIX_BYTES + ring.size(n);
      n++;
    }
    this.regionBytes = end - start;
    return n;
  }

  /** Frame bytes of the entries the last {@link region} counted. */
  regionBytes = 0;

  /** The ring itself, for a sender that walks a region it just wrote (then {@link release}s it). */
  get ring(): MessageRing {
    return this.#ring;
  }

  /** Removes `n` entries from the front whose frames hold `bytes` in all, without records. */
  release(n: number, bytes: number): void {
    const ring = this.#ring;
    for (let i = 0; i < n; i++) ring.shift();
    this.budget.give(bytes);
  }

  /** Removes the first entry without making a record of it; returns it (a record or a run). */
  take(): OutgoingMessage | MessageRun | undefined {
    const ring = this.#ring;
    if (ring.length === 0) return undefined;
    this.budget.give(FRAME_PREFIX_BYTES + ring.size(0));
    return ring.shift();
  }

  /** Removes the first message and returns it as a record. */
  shift(): OutgoingMessage | undefined {
    const ring = this.#ring;
    const ref = ring.ref(0);
    if (ref === undefined) return undefined;
    let msg: OutgoingMessage;
    if (ref instanceof MessageRun) {
      msg = recordOf(ref, ring.seq(0), ring.frameAt(0), ring.size(0), ring.enqueuedAtMs(0));
      // Its frame now goes wherever the record goes: the buffer is never reused.
      ref.use.pending--;
      ref.use.shared = true;
    } else msg = ref;
    this.take();
    return msg;
  }

  /** Removes every message and returns them as records, oldest first. */
  drain(): OutgoingMessage[] {
    const out: OutgoingMessage[] = [];
    for (let msg = this.shift(); msg !== undefined; msg = this.shift()) out.push(msg);
    return out;
  }
}

/** The record of a plain message that waited as numbers (the fields, in the order send() makes them). */
function recordOf(
  run: MessageRun,
  seq: number,
  frameAt: number,
  size: number,
  enqueuedAtMs: number,
): OutgoingMessage {
  return {
    seq,
    id: undefined,
    label: run.label,
    envelope: undefined,
    frames: run.frames,
    frameAt,
    size,
    receiver: run.receiver,
    peerId: run.peerId,
    metricLabel: run.metricLabel,
    enqueuedAtMs,
    addresses: run.addresses,
    sent: false,
    unresolvedAtMs: 0,
    expiresAtMs: 0,
    signal: undefined,
  };
}

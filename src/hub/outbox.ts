import type { Buffer } from 'node:buffer';
import type { Connection } from '../transport/types.js';
import { ByteBudget } from '../util/byte-budget.js';
import type { Envelope } from '../wire/envelope.js';
import { frameBuffer } from '../wire/frame-slab.js';
import { FRAME_PREFIX_BYTES } from '../wire/framing.js';
import type { OutcomeTicket, QueueRefusal } from './port.js';

/**
 * Messages whose outcomes wait for their frames' flush, in order, each with the ordinal of
 * its frame handed over: two rings (tickets, and ordinals in a typed array), no object per
 * message (a broadcast puts one here per subscriber).
 */
class Waiting {
  #tickets: (OutcomeTicket | undefined)[] = new Array(16);
  #at = new Float64Array(16);
  #head = 0;
  length = 0;

  push(at: number, ticket: OutcomeTicket): void {
    if (this.length === this.#tickets.length) this.#grow();
    const i = (this.#head + this.length) & (this.#tickets.length - 1);
    this.#tickets[i] = ticket;
    this.#at[i] = at;
    this.length++;
  }

  /** The first one's ordinal (when length > 0). */
  firstAt(): number {
    return this.#at[this.#head] as number;
  }

  /** Takes the first one's ticket (when length > 0). */
  shift(): OutcomeTicket {
    const i = this.#head;
    const ticket = this.#tickets[i] as OutcomeTicket;
    this.#tickets[i] = undefined;
    this.#head = (i + 1) & (this.#tickets.length - 1);
    this.length--;
    return ticket;
  }

  #grow(): void {
    const n = this.#tickets.length;
    const tickets: (OutcomeTicket | undefined)[] = new Array(n * 2);
    const at = new Float64Array(n * 2);
    for (let k = 0; k < this.length; k++) {
      const i = (this.#head + k) & (n - 1);
      tickets[k] = this.#tickets[i];
      at[k] = this.#at[i] as number;
    }
    this.#tickets = tickets;
    this.#at = at;
    this.#head = 0;
  }
}

/** A running total shared by the outboxes of one kind, for the queue-depth gauge. */
export interface DepthTotal {
  value: number;
}

export { ByteBudget };

const INITIAL_SLOTS = 16;
/**
 * The ring of every outbox that never had to queue (most of them: an idle or keeping-up
 * connection): shared and never written, since push() grows a full ring before storing.
 */
const NO_SLOTS: readonly (Uint8Array | undefined)[] = Object.freeze([]);
const NO_STARTS = new Float64Array(0);
/** A region of waiting frames {@link Outbox.drain} hands over ends at the first frame that reaches this many bytes. */
const RUN_BYTES = 64 * 1024;

/**
 * The outgoing side of one connection in the hub: frames go straight to the transport
 * while it accepts them; once `write()` reports the high-water mark, they wait here in a
 * bounded ring (grown on demand up to `capacity`) until `onDrain`. When the ring is full
 * the frame is dropped for this connection only: one slow peer never blocks the others.
 *
 * No per-frame allocation besides the ring's occasional growth; frames are shared
 * buffers (a broadcast is encoded once for every subscriber). A frame here is a whole
 * frame, length prefix included: it goes to `Connection.writeFrames` by reference, so the
 * consecutive frames the hub encodes next to each other reach each socket as one region
 * (no copy per subscriber); a transport without it gets `write(body)`.
 */
export class Outbox {
  readonly #connection: Connection;
  readonly #capacity: number;
  readonly #capacityBytes: number;
  readonly #depth: DepthTotal;
  readonly #budget: ByteBudget;
  /** Bytes of the frames in the ring. */
  #bytes = 0;
  #ring = NO_SLOTS as (Uint8Array | undefined)[];
  /**
   * For each frame in the ring that this process encoded into a shared area (a broadcast
   * in the hub's slab), that area and where the frame starts in it (else undefined): a
   * drained frame then goes to the transport as that region, as it would have had it not
   * waited, without the frame being checked again or its view's buffer and offset read.
   */
  #areas = NO_SLOTS as (Buffer | undefined)[];
  #starts = NO_STARTS;
  /**
   * For each frame in the ring, the ticket of its message (else undefined): taken when the
   * frame was queued, it moves to {@link #inTransport} when the frame is handed over.
   */
  #tickets = NO_SLOTS as (OutcomeTicket | undefined)[];
  #head = 0;
  #size = 0;
  #blocked = false;
  /** Frames dropped because the ring was full. */
  drops = 0;
  /** Drops since a frame was last accepted. */
  consecutiveDrops = 0;
  /** Why the last refused frame was refused: this ring's bounds or the hub's, or the node's budget. */
  refusal: QueueRefusal = 'queue_full';
  // Ordinals of frames handed to the transport / reported flushed by it. A message's ticket
  // is settled when the flushed count passes its frame.
  #handed = 0;
  #flushed = 0;
  /** Messages with a ticket whose frames were handed over (by hand-over ordinal). */
  #inTransport: Waiting | undefined;
  /** Set once the connection closed: how messages handed over after that end. */
  #lost: 'connection_lost' | 'shutdown' | undefined;
  /**
   * A subscriber connection with acks (docs/acks.md): a message is settled `delivered`
   * when the subscriber acknowledges its frame, not when it is flushed.
   */
  readonly #acknowledged: boolean;

  constructor(
    connection: Connection,
    capacity: number,
    depth: DepthTotal,
    capacityBytes = Number.POSITIVE_INFINITY,
    budget: ByteBudget = new ByteBudget(),
    acknowledged = false,
  ) {
    this.#acknowledged = acknowledged;
    this.#connection = connection;
    this.#capacity = capacity;
    this.#depth = depth;
    this.#capacityBytes = capacityBytes;
    this.#budget = budget;
  }

  /** Bytes of the frames waiting here. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * True when a frame of `frameBytes` that has to wait here would be refused for this
   * queue's own bounds (its frame count, or its bytes: a first frame always fits); the
   * rule {@link #hasRoom} applies.
   */
  fullFor(frameBytes: number): boolean {
    return this.#size >= this.#capacity || (this.#size > 0 && this.#bytes + frameBytes > this.#capacityBytes);
  }

  /** Half the capacity or less is used, in frames and in bytes. */
  get atHalf(): boolean {
    return this.#size <= this.#capacity / 2 && this.#bytes <= this.#capacityBytes / 2;
  }

  /** Frames waiting in the ring (not yet handed to the transport). */
  get depth(): number {
    return this.#size;
  }

  /**
   * Hands `frame` (a whole frame, prefix included) to the transport, or queues it while
   * the transport is above its high-water mark. False when the ring is full and the
   * frame was dropped. With a `ticket`, the frame's outcome on this connection is
   * reported to it (see {@link OutcomeTicket}); a refused frame is left to the caller.
   */
  push(frame: Uint8Array, ticket?: OutcomeTicket, area?: Buffer, start = 0): boolean {
    if (!this.#blocked) {
      ticket?.taken(this.#connection.remoteAddress);
      if (!this.#write(frame, area, start)) this.#blocked = true;
      if (ticket !== undefined) this.#waitFlush(ticket);
      this.consecutiveDrops = 0;
      return true;
    }
    if (!this.#hasRoom(frame.length)) return false;
    // A message queued here is taken now, settled once flushed.
    ticket?.taken(this.#connection.remoteAddress);
    this.#enqueue(frame, area, start, ticket);
    return true;
  }

  /**
   * push() for a message to this connection only (a reply), of encoded size `size`: while
   * the transport accepts, it encodes the envelope straight into its write batch
   * (`Connection.writeEnvelope`), so no buffer is allocated for the frame; only a message
   * that has to wait here is encoded, into a buffer of its own. Throws a coded error,
   * before anything is queued or reported, if the envelope cannot be encoded.
   */
  pushEnvelope(envelope: Envelope, size: number, ticket?: OutcomeTicket): boolean {
    if (!this.#blocked) {
      const connection = this.#connection;
      let accepted: boolean;
      if (connection.writeEnvelope !== undefined) {
        accepted = connection.writeEnvelope(envelope, size);
        this.#handed++;
      } else accepted = this.#write(frameBuffer(envelope, size));
      this.#handedOver(accepted, ticket);
      return true;
    }
    if (!this.#hasRoom(FRAME_PREFIX_BYTES + size)) return false;
    const frame = frameBuffer(envelope, size);
    ticket?.taken(this.#connection.remoteAddress);
    this.#enqueue(frame, undefined, 0, ticket);
    return true;
  }

  /**
   * pushEnvelope() of a plain reply (the plain message `encodePlainInto` describes, of
   * encoded size `size`), with no envelope made: only while the transport accepts and has
   * `writePlain`, which encodes it straight into its write batch. False otherwise, having
   * done nothing and told the ticket nothing: the caller then takes the general path,
   * which queues it here as an encoded frame.
   */
  pushPlain(
    size: number,
    timestampMs: number,
    id: string,
    label: string,
    data: Uint8Array,
    ticket: OutcomeTicket,
  ): boolean {
    const connection = this.#connection;
    if (this.#blocked || connection.writePlain === undefined) return false;
    const accepted = connection.writePlain(size, timestampMs, id, label, data);
    this.#handed++;
    this.#handedOver(accepted, ticket);
    return true;
  }

  /**
   * A message's frame was just handed to the transport (`accepted`: what its write
   * returned): its ticket, if any, is taken and waits for the frame's flush.
   */
  #handedOver(accepted: boolean, ticket: OutcomeTicket | undefined): void {
    if (ticket !== undefined) {
      ticket.taken(this.#connection.remoteAddress);
      this.#waitFlush(ticket);
    }
    if (!accepted) this.#blocked = true;
    this.consecutiveDrops = 0;
  }

  /**
   * Hands a small control frame (a whole frame; see wire/ack-frames.ts) to the transport
   * at once, ahead of anything waiting in the ring: it carries no message, so it needs no
   * ticket and takes no room, and the transport queues it even above its high-water mark.
   */
  control(frame: Uint8Array): void {
    if (!this.#write(frame)) this.#blocked = true;
  }

  /** True when nothing waits here and every message handed over was flushed (or reported). */
  get idle(): boolean {
    return this.#size === 0 && (this.#inTransport === undefined || this.#inTransport.length === 0);
  }

  /** The message of the frame handed over as `at` (by default the last one) waits for that frame's flush. */
  #waitFlush(ticket: OutcomeTicket, at = this.#handed - 1): void {
    if (this.#lost !== undefined) {
      // The connection closed while the frame was being handed over.
      ticket.settle(this.#lost, this.#connection.remoteAddress);
      return;
    }
    this.#inTransport ??= new Waiting();
    this.#inTransport.push(at, ticket);
  }

  /** The transport flushed `count` more frames: messages among them are `written`. */
  flushed(count: number): void {
    this.#flushed += count;
    if (this.#acknowledged) return;
    const waiting = this.#inTransport;
    while (waiting !== undefined && waiting.length > 0 && waiting.firstAt() < this.#flushed) {
      waiting.shift().settle('written', this.#connection.remoteAddress);
    }
  }

  /**
   * The connection closed: messages handed over and not flushed were not sent; they end
   * as `reason` (`shutdown` when the hub closed it, else `connection_lost`).
   */
  closed(reason: 'connection_lost' | 'shutdown' = 'connection_lost'): void {
    this.#lost ??= reason;
    const waiting = this.#inTransport;
    this.#inTransport = undefined;
    const address = this.#connection.remoteAddress;
    if (waiting === undefined) return;
    while (waiting.length > 0) {
      // With acks, a flushed frame may have reached the subscriber: nobody can tell now.
      const flushed = this.#acknowledged && waiting.firstAt() < this.#flushed;
      waiting.shift().settle(flushed ? 'unacknowledged' : this.#lost, address);
    }
  }

  /** The subscriber acknowledged the first `count` frames handed over (acks only). */
  acknowledged(count: number): void {
    if (!this.#acknowledged) return;
    const upTo = Math.min(count, this.#flushed);
    const waiting = this.#inTransport;
    while (waiting !== undefined && waiting.length > 0 && waiting.firstAt() < upTo) {
      waiting.shift().settle('delivered', this.#connection.remoteAddress);
    }
  }

  /**
   * False (and the drop counted, its reason in `refusal`) when the ring is full: its frame
   * count, its bytes (a first frame always fits, so a frame as large as the byte bound is
   * not stuck), the hub's budget, or the node's (the budget's parent).
   */
  #hasRoom(frameBytes: number): boolean {
    const over = this.fullFor(frameBytes) ? this.#budget : this.#budget.exceededBy(frameBytes);
    if (over === undefined) return true;
    this.refusal = over === this.#budget ? 'queue_full' : 'node_queue_full';
    this.drops++;
    this.consecutiveDrops++;
    return false;
  }

  #enqueue(frame: Uint8Array, area?: Buffer, start = 0, ticket?: OutcomeTicket): void {
    this.#bytes += frame.length;
    this.#budget.take(frame.length);
    if (this.#size === this.#ring.length) this.#grow();
    const slot = (this.#head + this.#size) % this.#ring.length;
    this.#ring[slot] = frame;
    this.#areas[slot] = area;
    this.#starts[slot] = start;
    this.#tickets[slot] = ticket;
    this.#size++;
    this.#depth.value++;
    this.consecutiveDrops = 0;
  }

  /**
   * The transport drained below its high-water mark: move queued frames to it, until it
   * says it is full again. Frames that lie next to each other in one area (consecutive
   * broadcasts in the hub's slab) go over as one region (of {@link RUN_BYTES} or a frame
   * more at most) when the transport tells its room (`Connection.room`): the same frames
   * as one by one, in fewer calls.
   */
  drain(): void {
    this.#blocked = false;
    const connection = this.#connection;
    while (this.#size > 0) {
      const ring = this.#ring;
      const slot = this.#head;
      const area = this.#areas[slot];
      const start = this.#starts[slot] as number;
      let end = start + (ring[slot] as Uint8Array).length;
      let n = 1;
      if (area !== undefined && connection.writeEncoded !== undefined) {
        // As far as writing them one by one would have gone: until the transport is full.
        const most = Math.min(RUN_BYTES, connection.room ?? 0);
        for (let at = (slot + 1) % ring.length; n < this.#size && end - start < most; n++) {
          if (this.#areas[at] !== area || this.#starts[at] !== end) break;
          end += (ring[at] as Uint8Array).length;
          at = (at + 1) % ring.length;
        }
      }
      const frame = ring[slot] as Uint8Array;
      const tickets = this.#tickets;
      const handed = this.#handed;
      for (let k = 0; k < n; k++) {
        const at = (slot + k) % ring.length;
        ring[at] = undefined;
        this.#areas[at] = undefined;
        // Its message now waits for the frame's flush (the frame is handed over below, as
        // frame `handed + k`): before the write, so that a flush or a close reported from
        // inside the write finds it there.
        const ticket = tickets[at];
        if (ticket !== undefined) {
          tickets[at] = undefined;
          this.#waitFlush(ticket, handed + k);
        }
      }
      this.#head = (slot + n) % ring.length;
      this.#size -= n;
      this.#depth.value -= n;
      this.#bytes -= end - start;
      this.#budget.give(end - start);
      let accepted: boolean;
      if (area !== undefined && connection.writeEncoded !== undefined) {
        this.#handed += n;
        accepted = connection.writeEncoded(area, start, end, n);
      } else accepted = this.#write(frame);
      if (!accepted) {
        this.#blocked = true;
        return;
      }
    }
  }

  /**
   * Forgets queued frames (the connection closed or is closing); returns how many were
   * discarded. Messages with a ticket among them end as `reason`.
   */
  clear(reason: 'connection_lost' | 'shutdown' = 'connection_lost'): number {
    const discarded = this.#size;
    const tickets = this.#tickets;
    const head = this.#head;
    this.#depth.value -= discarded;
    this.#budget.give(this.#bytes);
    this.#bytes = 0;
    this.#ring = NO_SLOTS as (Uint8Array | undefined)[];
    this.#areas = NO_SLOTS as (Buffer | undefined)[];
    this.#starts = NO_STARTS;
    this.#tickets = NO_SLOTS as (OutcomeTicket | undefined)[];
    this.#head = 0;
    this.#size = 0;
    // The ring is let go first: what a settled message's listener does next finds it empty.
    const address = this.#connection.remoteAddress;
    for (let i = 0; i < discarded; i++) {
      tickets[(head + i) % tickets.length]?.settle(reason, address);
    }
    return discarded;
  }

  /**
   * Hands `frame` to the transport: as the region `area[start, ...)` it lies in when given
   * (this process encoded it: no view to read, no framing to check again), else by itself.
   */
  #write(frame: Uint8Array, area?: Buffer, start = 0): boolean {
    this.#handed++;
    const connection = this.#connection;
    if (area !== undefined && connection.writeEncoded !== undefined) {
      return connection.writeEncoded(area, start, start + frame.length, 1);
    }
    if (connection.writeFrames !== undefined) return connection.writeFrames(frame, 1);
    return connection.write(frame.subarray(FRAME_PREFIX_BYTES));
  }

  #grow(): void {
    const slots = Math.min(this.#capacity, Math.max(INITIAL_SLOTS, this.#ring.length * 2));
    const next: (Uint8Array | undefined)[] = new Array(slots);
    const areas: (Buffer | undefined)[] = new Array(slots);
    const starts = new Float64Array(slots);
    const tickets: (OutcomeTicket | undefined)[] = new Array(slots);
    for (let i = 0; i < this.#size; i++) {
      const from = (this.#head + i) % this.#ring.length;
      next[i] = this.#ring[from];
      areas[i] = this.#areas[from];
      starts[i] = this.#starts[from] as number;
      tickets[i] = this.#tickets[from];
    }
    this.#ring = next;
    this.#areas = areas;
    this.#starts = starts;
    this.#tickets = tickets;
    this.#head = 0;
  }
}

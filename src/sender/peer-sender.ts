import type { Buffer } from 'node:buffer';
import { isPeerpostError } from '../errors.js';
import type { IdentityIndex } from '../hub/identify.js';
import type { HubPort } from '../hub/port.js';
import { deliverTo, type IncomingSink, type MessageSource } from '../network/incoming.js';
import type { PeerAddress } from '../topology/types.js';
import type { CloseReason, Connection, ConnectionHandler, Transport } from '../transport/types.js';
import type { ByteBudget } from '../util/byte-budget.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { Random } from '../util/random.js';
import {
  ACK_ACK,
  ACK_OPENED,
  ACK_SEQ,
  decodeControlFrame,
  isControlFrame,
  openFrame,
  seqFrame,
  writeControlFrame,
} from '../wire/ack-frames.js';
import { decodeEnvelopeAt, type Envelope, lastDecodedVersion } from '../wire/envelope.js';
import { FrameSlab, type SlabPool } from '../wire/frame-slab.js';
import { FRAME_PREFIX_BYTES } from '../wire/framing.js';
import type { Accounting } from './accounting.js';
import type { AckEntry, AckStream } from './ack-stream.js';
import type { BackoffBook } from './backoff.js';
import { admitted } from './byte-fifo.js';
import type { ResolvedSenderConfig } from './config.js';
import { bodyOf, frameOf, storeFrame } from './frames.js';
import { deadReason, hasLimits, mergeBySeq, type OutgoingMessage, type PlainMessage } from './message.js';
import type { UnacknowledgedDetail } from './outcome.js';
import { fill, isPlain, MessageRing, MessageRun, PeerQueue, SlabUse, subject } from './peer-queue.js';

/** Why a peer sender stopped. */
export type StopReason = 'connect_failed' | 'identity_mismatch' | 'connection_lost' | 'removed' | 'shutdown';

/**
 * What happened to an outbound connection to one address of a peer: `connected`,
 * `disconnected` (an open connection closed, whatever the reason), `gave_up` (connecting
 * failed until the backoff deadline) or `identity_mismatch` (the peer at the address is not
 * the pinned identity).
 */
export type PeerEventKind = 'connected' | 'disconnected' | 'gave_up' | 'identity_mismatch';

/** The life of a peer sender (see docs/direct-sender.md for the diagram). */
export type SenderState =
  | { readonly kind: 'connecting'; readonly attempt: number; readonly since: number }
  | { readonly kind: 'backoff'; readonly attempt: number; readonly retryAt: number }
  | { readonly kind: 'connected'; readonly connection: Connection; readonly since: number }
  | { readonly kind: 'stopped'; readonly reason: StopReason };

/** What a peer sender needs from its dispatcher: shared services and one callback. */
export interface PeerSenderHost {
  readonly transport: Transport;
  readonly clock: Clock;
  readonly random: Random;
  readonly accounting: Accounting;
  readonly book: BackoffBook;
  readonly incoming: IncomingSink;
  /** The node's hub (its reader and identity index for replies; see HubPort). */
  readonly hub: HubPort;
  readonly logger: Logger;
  /** The node's byte budget for queued data (`limits.nodeQueueBytes`); absent: unbounded. */
  readonly budget?: ByteBudget;
  /** Frame buffers senders are done with (idle senders' slabs, flushed large frames' buffers), for reuse; absent: none kept. */
  readonly slabs?: SlabPool;
  config(): ResolvedSenderConfig;
  /** A sender stopped by itself; `leftover` are its queued messages (never written), oldest first. */
  senderStopped(sender: PeerSenderLike, leftover: OutgoingMessage[], reason: StopReason): void;
  /** Called on each {@link PeerEventKind} of the sender. */
  peerEvent(sender: PeerSenderLike, kind: PeerEventKind): void;
  /** True while someone waits for room in a peer's queues (`Network.ready`). */
  readonly roomWanted: boolean;
  /** The sender's queue went down to half its capacity or less (called only while `roomWanted`). */
  room(sender: PeerSenderLike): void;
}

export interface PeerSenderInit {
  readonly host: PeerSenderHost;
  readonly peerId: string;
  readonly target: PeerAddress;
  /** Dispatcher sequence number at creation: tells senders made by one topology change apart. */
  readonly createdSeq: number;
  /** The acknowledged stream of this (peer, address), when acks are wanted (docs/acks.md). */
  readonly stream?: AckStream | undefined;
}

/** Stands in the unflushed list for a frame that settles nothing when flushed (a control frame, a retransmission). */
const NOTHING = Symbol('nothing to settle');
/** A frame written and not yet flushed: a message's record, a plain message (its run; numbers in the ring), or NOTHING. */
type Unflushed = OutgoingMessage | MessageRun | typeof NOTHING;

/** The use of a buffer this sender did not encode into (never reused by it). */
const FOREIGN = new SlabUse(undefined, true);

/** The dispatcher's view of a sender (the factory may return any implementation). */
export interface PeerSenderLike {
  readonly peerId: string;
  readonly address: string;
  readonly createdSeq: number;
  readonly state: SenderState;
  /** Messages queued and not yet written. */
  readonly queueDepth: number;
  /** Frame bytes of the messages queued (bounded by `peerQueueBytes`). */
  readonly queueBytes?: number;
  /** Messages written to the connection and not yet flushed to the socket. */
  readonly unflushed: number;
  /**
   * `queued` (or written at once), `full` (its queue's count or byte bound: nothing done),
   * `node_full` (it would wait and the node's byte budget is spent: nothing done), or `stopped`.
   */
  enqueue(msg: OutgoingMessage): 'queued' | 'full' | 'node_full' | 'stopped';
  /**
   * `send()`'s fast lane: writes a plain message to peer `peerId` (the V1 envelope of
   * `encodePlainInto`, of encoded size `size`) at once, with no record made, and counts it
   * as accepted and handed off, when nothing waits before it (connected, not backed up,
   * queue empty; with acks: OPENED came, nothing left to send again, room in the window,
   * and the message then waits in the stream for its ack). Returns false, having done
   * nothing, otherwise: the caller then takes the general path ({@link enqueue}).
   */
  writePlain?(plain: PlainMessage, id: string, label: string, data: Uint8Array): boolean;
  /**
   * `send()`'s lane when the message must wait (no connection yet, backed up, messages
   * queued before it, a full ack window): queues the plain message as {@link enqueue}
   * queues a plain record, encoded from its fields, with no record made, and counts it as
   * accepted. Returns false, having done nothing, when enqueue would not queue it
   * (stopped, its queue or the node's byte budget full): the caller's general path then
   * reports the drop.
   */
  queuePlain?(plain: PlainMessage, id: string, label: string, data: Uint8Array): boolean;
  /** True when {@link writePlain} would write a message now (cheap: a few field reads). */
  readonly laneOpen?: boolean;
  /** Takes messages moved from elsewhere, merged by send order; returns those over capacity. */
  adopt(msgs: readonly OutgoingMessage[]): OutgoingMessage[];
  /** Stops; returns the queued messages (oldest first). Unflushed ones end through the connection. */
  stop(reason: StopReason): OutgoingMessage[];
  /** Messages of its acknowledged stream written and waiting for their ack (0 without acks). */
  readonly unacked?: number;
  /** Its connection negotiated acks (its unflushed messages are among the unacked ones). */
  readonly acked?: boolean;
  /**
   * Ends its acknowledged stream: what waits for an ack ends as `dropped:unacknowledged`
   * with `detail` (a sender that stopped with its connection lost keeps the stream for its
   * successor until the dispatcher decides there is none).
   */
  endAcks?(detail: UnacknowledgedDetail): void;
  /** While backing off: connect now instead of at the end of the delay. */
  retryNow?(): void;
  /** Resolves when the sender's connection, pending connect and timer are all gone. */
  readonly closed: Promise<void>;
}

export type PeerSenderFactory = (init: PeerSenderInit) => PeerSenderLike;

/**
 * One connection to one address of one peer: connects with backoff, writes its queue in
 * order, passes replies read on the same connection to the incoming queue.
 *
 * A sender has at most one connection in its life (when it closes, the sender stops and
 * the dispatcher starts a new one for the next message), and is that connection's
 * {@link ConnectionHandler} itself: an idle sender holds no per-connection closures.
 */
export class PeerSender implements PeerSenderLike, ConnectionHandler {
  readonly peerId: string;
  readonly address: string;
  readonly createdSeq: number;
  #state: SenderState;
  readonly #host: PeerSenderHost;
  readonly #target: PeerAddress;
  /** The source of replies on the connection (made on the first reply, let go on close). */
  #source: MessageSource | undefined;
  /** The identity index `#source` was identified with. */
  #sourceIndex: IdentityIndex | undefined;
  /** Waiting messages (plain ones as numbers); counts their bytes here and in the node's budget. */
  readonly #queue: PeerQueue;
  /** Frames written and not yet flushed, in order: numbers `(seq, frameAt, size, enqueuedAtMs)` beside each. */
  readonly #unflushed = new MessageRing<Unflushed>();
  /** Outcome subjects for plain messages: one while an outcome is reported, one while one is handed off. */
  readonly #outcomeSubject = subject();
  readonly #handOffSubject = subject();
  /** The acknowledged stream of the target (acks wanted), whether or not the connection has them. */
  readonly #stream: AckStream | undefined;
  /** The connection negotiated acks: written messages wait in `#stream` for their ack. */
  #acked = false;
  /** OPEN was sent and OPENED has not come: nothing is written yet. */
  #awaitOpen = false;
  /** The sequence number the receiver gives the next message frame (0: none yet, a SEQ must come first). */
  #wireNext = 0;
  /** Retransmissions still to write go up to this sequence number... */
  #resendUpTo = 0;
  /** ...and on from the first entry after this one. */
  #resentUpTo = 0;
  /**
   * Where messages are encoded (written at once or waiting); made for the first one. A
   * buffer of it (see {@link SlabUse}) goes to the node's pool of slabs (`host.slabs`) once
   * no plain message framed there is queued or unflushed, as long as no record's frame went
   * there (a record may be queued at another sender too, by reference): a busy sender then
   * takes slabs from the pool instead of allocating them, and an idle one holds none.
   */
  #slab: FrameSlab | undefined;
  /** How the slab's current buffer is used. */
  #use: SlabUse | undefined;
  readonly #windowStart: number;
  #attempt = 0;
  #blocked = false;
  #timer: TimerHandle | undefined;
  #abort: AbortController | undefined;
  #connecting = false;
  #connection: Connection | undefined;
  /** Made when someone waits for the sender to close (an idle sender has none). */
  #closed: Promise<void> | undefined;
  #resolveClosed: (() => void) | undefined;
  #isClosed = false;
  /** The backoff timer's callback, bound when a timer is first needed. */
  #onTimerBound: (() => void) | undefined;

  constructor(init: PeerSenderInit) {
    this.#host = init.host;
    this.peerId = init.peerId;
    this.address = init.target.address;
    this.#target = init.target;
    this.createdSeq = init.createdSeq;
    this.#stream = init.stream;
    this.#queue = new PeerQueue(init.host.budget);
    const now = this.#host.clock.now();
    this.#windowStart = now;
    const entry = this.#host.book.get(this.peerId, this.address);
    if (entry !== undefined && entry.notBefore > now) {
      this.#state = { kind: 'backoff', attempt: 0, retryAt: entry.notBefore };
      this.#arm(entry.notBefore - now);
    } else {
      this.#state = { kind: 'connecting', attempt: 1, since: now };
      this.#connect();
    }
  }

  get closed(): Promise<void> {
    this.#closed ??= this.#isClosed
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          this.#resolveClosed = resolve;
        });
    return this.#closed;
  }

  get state(): SenderState {
    return this.#state;
  }

  get queueDepth(): number {
    return this.#queue.length;
  }

  get queueBytes(): number {
    return this.#queue.bytes;
  }

  get unflushed(): number {
    return this.#unflushed.length;
  }

  enqueue(msg: OutgoingMessage): 'queued' | 'full' | 'node_full' | 'stopped' {
    if (this.#state.kind === 'stopped') return 'stopped';
    const connection = this.#connection;
    if (connection !== undefined && !this.#blocked && this.#queue.length === 0) {
      // Fast path: nothing waits before it, so write at once (order is kept).
      if (connection.closeReason === undefined) {
        if (!this.#acked) {
          this.#writeNow(connection, msg);
          return 'queued';
        }
        // With acks: when no retransmission waits and the window has room.
        const stream = this.#stream as AckStream;
        if (this.#ackRoom(stream)) {
          // Written during send(): its first write is its enqueue time (no clock read per message).
          this.#writeAcked(connection, msg, stream, this.#host.accounting.epochMs + msg.enqueuedAtMs);
          return 'queued';
        }
      }
    }
    const refused = this.#refusal();
    if (refused !== undefined) return refused;
    this.#hold(msg); // it waits: copy the payload now
    if (connection !== undefined && !this.#blocked) this.#flush(connection);
    return 'queued';
  }

  get laneOpen(): boolean {
    const connection = this.#connection;
    if (
      connection === undefined ||
      this.#blocked ||
      this.#queue.length !== 0 ||
      this.#state.kind === 'stopped' ||
      connection.closeReason !== undefined ||
      connection.writeEncoded === undefined
    ) {
      return false;
    }
    // With acks: as enqueue's, when no retransmission waits and the window has room.
    return !this.#acked || this.#ackRoom(this.#stream as AckStream);
  }

  /** With acks: OPENED came, no retransmission waits and `stream`'s window has room for one more message. */
  #ackRoom(stream: AckStream): boolean {
    const acks = this.#host.config().acks;
    return (
      !this.#awaitOpen &&
      this.#resentUpTo >= this.#resendUpTo &&
      stream.count < acks.window &&
      stream.bytes < acks.windowBytes
    );
  }

  writePlain(plain: PlainMessage, id: string, label: string, data: Uint8Array): boolean {
    if (!this.laneOpen) return false;
    const connection = this.#connection as Connection & {
      writeEncoded: NonNullable<Connection['writeEncoded']>;
    };
    const size = plain.size;
    const run = this.#framePlain(plain, id, label, data);
    const at = (this.#slab as FrameSlab).offset;
    // The acked lane in a method of its own: on send()'s path this one is inlined into its
    // caller, and V8 inlines by bytecode size within a budget per optimized function.
    if (this.#acked) return this.#writePlainAcked(connection, plain, id, run, at);
    const accounting = this.#host.accounting;
    const ok = connection.writeEncoded(run.frames, at, at + FRAME_PREFIX_BYTES + size, 1);
    if (accounting.wantsIds) {
      run.lastId = id;
      run.lastIdAt = at;
    }
    this.#unflushed.push(run, plain.seq, at, size, plain.enqueuedAtMs);
    accounting.acceptHandedOff(id, plain.metricLabel, 'direct');
    if (!ok) this.#blocked = true;
    return true;
  }

  /** {@link writePlain} with acks, of the message just framed as `run`'s frame at `at`. */
  #writePlainAcked(
    connection: Connection,
    plain: PlainMessage,
    id: string,
    run: MessageRun,
    at: number,
  ): true {
    const size = plain.size;
    const accounting = this.#host.accounting;
    // It waits in the stream for its ack (and is written again from there on a new
    // connection): the stream gives the buffer back once every message framed there
    // was acknowledged (AckStream.ackUpTo).
    const stream = this.#stream as AckStream;
    const seq = stream.nextSeq++;
    this.#writeSeq(connection, seq, run, at, size);
    this.#unflushed.push(run, plain.seq, at, size, plain.enqueuedAtMs);
    accounting.acceptHandedOff(id, plain.metricLabel, 'direct');
    // Written during send(): its first write is its enqueue time (no clock read per message).
    stream.push(run, seq, accounting.epochMs + plain.enqueuedAtMs, at, size, accounting);
    return true;
  }

  queuePlain(plain: PlainMessage, id: string, label: string, data: Uint8Array): boolean {
    if (this.#state.kind === 'stopped' || this.#refusal() !== undefined) return false;
    // As #hold does for a plain record: its frame in the slab, numbers in the queue.
    const run = this.#framePlain(plain, id, label, data);
    const at = (this.#slab as FrameSlab).offset;
    this.#queue.pushPlainAt(run, plain.seq, at, plain.size, plain.enqueuedAtMs);
    this.#host.accounting.acceptQueued(id, plain.metricLabel, 'direct');
    const connection = this.#connection;
    if (connection !== undefined && !this.#blocked) this.#flush(connection);
    return true;
  }

  /**
   * Encodes plain message `plain` into the slab (its frame starts at the slab's `offset`)
   * and returns its run, whose use now counts it: for {@link writePlain} and
   * {@link queuePlain}.
   */
  #framePlain(plain: PlainMessage, id: string, label: string, data: Uint8Array): MessageRun {
    const slab = this.#frameSlab();
    const frames = slab.encodePlain(plain.size, plain.timestampMs, id, label, data);
    const use = this.#useOf(frames, slab);
    use.pending++;
    return this.#queue.runWith(
      frames,
      use,
      label,
      plain.peerId,
      plain.peerId,
      plain.metricLabel,
      plain.addresses,
    );
  }

  /** Why the queue would not take one more message now (its count or byte bound, the node's budget), if it would not. */
  #refusal(): 'full' | 'node_full' | undefined {
    const config = this.#host.config();
    const queue = this.#queue;
    if (queue.length >= config.peerQueueCapacity || queue.bytes >= config.peerQueueBytes) return 'full';
    if (this.#host.budget?.hasRoom === false) return 'node_full';
    return undefined;
  }

  /** Queues `msg` with its frame stored: as numbers when it is plain, else as its record. */
  #hold(msg: OutgoingMessage): void {
    const use = msg.frames === undefined ? this.#store(msg) : FOREIGN;
    if (isPlain(msg)) {
      use.pending++;
      this.#queue.pushPlain(msg, msg.frames as Buffer, msg.frameAt, use);
    } else {
      use.shared = true; // a record's frame: it may be queued elsewhere too
      this.#queue.push(msg);
    }
  }

  /** Stores `msg`'s frame in the slab; returns the use of the buffer it went to. */
  #store(msg: OutgoingMessage): SlabUse {
    const slab = this.#frameSlab();
    storeFrame(msg, slab);
    return this.#useOf(msg.frames as Buffer, slab);
  }

  #frameSlab(): FrameSlab {
    this.#slab ??= new FrameSlab(this.#host.slabs);
    return this.#slab;
  }

  /**
   * The use of `frames`, just reserved by `slab`: in its current slab (a new slab buffer
   * starts a new use, and the one before is handed on if it can be), in a pooled buffer of
   * the frame's own (a use of its own, handed back to the pool once flushed), or in a
   * buffer from the GC (never handed on).
   */
  #useOf(frames: Buffer, slab: FrameSlab): SlabUse {
    if (slab.pooled) return new SlabUse(frames);
    const use = this.#use;
    if (use !== undefined && use.buf === frames) return use;
    if (!slab.fromSlab) return FOREIGN;
    const next = new SlabUse(frames);
    next.current = true;
    this.#use = next;
    if (use !== undefined) {
      use.current = false;
      this.#settle(use, 0);
    }
    return next;
  }

  /** `n` plain messages framed in `use`'s buffer left this sender's queue and unflushed list. */
  #settle(use: SlabUse, n: number): void {
    use.pending -= n;
    if (use.pending > 0 || use.shared || use.current) return;
    use.shared = true; // handed on once
    this.#host.slabs?.give(use.buf as Buffer);
  }

  /**
   * Writes `msg` at once. A plain message is encoded into the sender's slab and written as
   * a region there (the next one continues it), and only its numbers wait for the flush.
   */
  #writeNow(connection: Connection, msg: OutgoingMessage): void {
    const envelope = msg.envelope;
    if (connection.writeEncoded === undefined || envelope === undefined || !isPlain(msg)) {
      this.#write(connection, msg);
      return;
    }
    const slab = this.#frameSlab();
    const frames = slab.encode(envelope, msg.size);
    const at = slab.offset;
    const use = this.#useOf(frames, slab);
    use.pending++;
    const ok = connection.writeEncoded(frames, at, at + FRAME_PREFIX_BYTES + msg.size, 1);
    this.#unflushed.push(this.#queue.runOf(msg, frames, use), msg.seq, at, msg.size, msg.enqueuedAtMs);
    this.#host.accounting.handOff(msg, 'direct');
    if (!ok) this.#blocked = true;
  }

  adopt(msgs: readonly OutgoingMessage[]): OutgoingMessage[] {
    if (this.#state.kind === 'stopped') return [...msgs];
    const merged = mergeBySeq(this.#queue.drain(), msgs);
    const config = this.#host.config();
    const over = merged.splice(admitted(merged, 0, 0, config.peerQueueCapacity, config.peerQueueBytes));
    for (const m of merged) this.#hold(m);
    if (this.#connection !== undefined && !this.#blocked) this.#flush(this.#connection);
    return over;
  }

  stop(reason: StopReason): OutgoingMessage[] {
    if (this.#state.kind === 'stopped') return [];
    this.#state = { kind: 'stopped', reason };
    if (reason !== 'connection_lost') this.endAcks(reason);
    if (this.#timer !== undefined) this.#host.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#abort?.abort();
    this.#connection?.close(reason);
    const leftover = this.#queue.drain();
    this.#maybeClosed();
    return leftover;
  }

  retryNow(): void {
    if (this.#state.kind !== 'backoff') return;
    if (this.#timer !== undefined) this.#host.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#connect();
  }

  #connect(): void {
    this.#attempt++;
    this.#state = { kind: 'connecting', attempt: this.#attempt, since: this.#host.clock.now() };
    this.#connecting = true;
    const abort = new AbortController();
    this.#abort = abort;
    this.#host.transport
      .connect(this.address, 'direct', {
        expectedIdentity: this.#target.expectedIdentity,
        signal: abort.signal,
        acks: this.#stream !== undefined,
      })
      .then(
        (connection) => this.#connected(connection),
        (err: unknown) => this.#connectFailed(err),
      );
  }

  #connected(connection: Connection): void {
    this.#connecting = false;
    this.#abort = undefined;
    if (this.#state.kind === 'stopped') {
      connection.close('sender stopped');
      this.#track(connection);
      return;
    }
    const host = this.#host;
    host.book.succeeded(this.peerId, this.address);
    this.#connection = connection;
    this.#open++; // until onClose
    this.#state = { kind: 'connected', connection, since: host.clock.now() };
    host.accounting.connection(false);
    host.logger.debug({ peer: this.peerId, address: this.address }, 'peer sender connected');
    connection.attach(this);
    host.peerEvent(this, 'connected');
    const stream = this.#stream;
    if (stream !== undefined) {
      if (connection.acks === true) {
        this.#acked = true;
        this.#awaitOpen = true;
        this.#control(connection, openFrame(stream.id));
        return;
      }
      // The peer at this address does not speak acks (any more): what waits for an ack
      // from an earlier connection can no longer be confirmed.
      stream.abandon(host.accounting, this.address, 'no_acks');
    }
    this.#flush(connection);
  }

  /** Writes a control frame (it settles nothing when flushed). */
  #control(connection: Connection, frame: Buffer): void {
    const ok = writeControlFrame(connection, frame);
    this.#unflushed.push(NOTHING, 0, 0, 0, 0);
    if (!ok) this.#blocked = true;
  }

  #connectFailed(err: unknown): void {
    this.#connecting = false;
    this.#abort = undefined;
    const host = this.#host;
    if (this.#state.kind === 'stopped') {
      this.#maybeClosed();
      return;
    }
    const now = host.clock.now();
    const config = host.config();
    const delay = host.book.failed(this.peerId, this.address, now, config, host.random);
    if (isPeerpostError(err, 'ERR_IDENTITY_MISMATCH')) {
      host.accounting.error('identity_mismatch');
      host.logger.warn(
        {
          event: 'security',
          kind: 'identity_mismatch',
          peer: this.peerId,
          address: this.address,
          expected: this.#target.expectedIdentity,
          error: err.message,
        },
        'peer at address is not the expected identity',
      );
      this.#stopSelf('identity_mismatch');
      return;
    }
    host.accounting.error('fail_create_out_con');
    host.logger.debug(
      { peer: this.peerId, address: this.address, attempt: this.#attempt, err },
      'connect failed',
    );
    if (now + delay - this.#windowStart > config.backoff.deadlineMs) {
      host.accounting.error('fail_conn_to_peer');
      host.logger.warn(
        { peer: this.peerId, address: this.address, attempts: this.#attempt },
        'giving up connecting',
      );
      this.#stopSelf('connect_failed');
      return;
    }
    this.#state = { kind: 'backoff', attempt: this.#attempt, retryAt: now + delay };
    this.#arm(delay);
  }

  #flush(connection: Connection): void {
    if (this.#acked) {
      this.#flushAcked(connection);
      return;
    }
    const queue = this.#queue;
    const byRegion = connection.writeEncoded !== undefined || connection.writeFrames !== undefined;
    let now = -1;
    while (!this.#blocked && queue.length > 0) {
      if (connection.closeReason !== undefined) return;
      const first = queue.ref(0) as OutgoingMessage | MessageRun;
      if (!(first instanceof MessageRun) && hasLimits(first)) {
        if (now < 0) now = this.#host.clock.now();
        const dead = deadReason(first, now);
        if (dead !== undefined) {
          // Its deadline passed (or it was aborted) while it waited: never written.
          queue.take();
          this.#host.accounting.dropQueued(first, this.address, 'direct', dead);
          continue;
        }
      }
      if (byRegion && first.frames !== undefined) this.#writeRun(connection);
      else this.#write(connection, queue.shift() as OutgoingMessage);
    }
    const host = this.#host;
    if (host.roomWanted) {
      const config = host.config();
      if (queue.length <= config.peerQueueCapacity / 2 && queue.bytes <= config.peerQueueBytes / 2)
        host.room(this);
    }
  }

  /**
   * #flush on a connection with acks: after OPENED, first what earlier connections
   * carried without an ack (in order), then the queue while the stream's window has room.
   * Each message frame follows a SEQ unless it is the one the receiver expects next.
   */
  #flushAcked(connection: Connection): void {
    if (this.#awaitOpen) return;
    const stream = this.#stream as AckStream;
    const host = this.#host;
    while (!this.#blocked && this.#resentUpTo < this.#resendUpTo) {
      if (connection.closeReason !== undefined) return;
      const i = stream.indexAfter(this.#resentUpTo);
      if (i >= stream.tail || stream.seqAt(i) > this.#resendUpTo) {
        this.#resentUpTo = this.#resendUpTo;
        break;
      }
      const seq = stream.seqAt(i);
      this.#resentUpTo = seq;
      const msg = stream.msgAt(i);
      if (msg === undefined) continue;
      const size = stream.sizeAt(i);
      this.#writeSeq(connection, seq, msg, stream.frameAt(i), size);
      this.#unflushed.push(NOTHING, 0, 0, 0, 0);
      host.accounting.retransmitted(msg, size + FRAME_PREFIX_BYTES);
    }
    const queue = this.#queue;
    const { window, windowBytes } = host.config().acks;
    let now = -1;
    while (!this.#blocked && queue.length > 0 && stream.count < window && stream.bytes < windowBytes) {
      if (connection.closeReason !== undefined) return;
      if (now < 0) now = host.clock.now();
      const ref = queue.ref(0);
      if (ref instanceof MessageRun) {
        // A plain message that waited as numbers: it goes on to the stream as numbers (its
        // use still counts it, until its ack).
        const ring = queue.ring;
        const at = ring.frameAt(0);
        const size = ring.size(0);
        const enqueuedAtMs = ring.enqueuedAtMs(0);
        const seq = ring.seq(0);
        queue.take();
        const wireSeq = stream.nextSeq++;
        this.#writeSeq(connection, wireSeq, ref, at, size);
        this.#unflushed.push(ref, seq, at, size, enqueuedAtMs);
        host.accounting.handOff(fill(this.#handOffSubject, ref, at, enqueuedAtMs), 'direct');
        stream.push(ref, wireSeq, now, at, size, host.accounting);
        continue;
      }
      const msg = queue.shift() as OutgoingMessage;
      if (hasLimits(msg)) {
        const dead = deadReason(msg, now);
        if (dead !== undefined) {
          host.accounting.dropQueued(msg, this.address, 'direct', dead);
          continue;
        }
      }
      this.#writeAcked(connection, msg, stream, now);
    }
    // The slab is kept while frames wait for their ack (a new one per flush would be a
    // 64 KiB buffer per message); it goes when nothing waits at all.
    if (queue.length === 0 && stream.count === 0) this.#idleSlab();
    if (host.roomWanted && queue.length <= host.config().peerQueueCapacity / 2) host.room(this);
  }

  /** Writes `msg` for the first time as the stream's next message; it waits in the stream for its ack. */
  #writeAcked(connection: Connection, msg: OutgoingMessage, stream: AckStream, now: number): void {
    const accounting = this.#host.accounting;
    if (isPlain(msg)) {
      // As numbers in a run, as a lane message (its record is let go): its use counts it
      // until its ack, and the stream gives the slab back once all there are acknowledged.
      const use = msg.frames === undefined ? this.#store(msg) : FOREIGN;
      use.pending++;
      const at = msg.frameAt;
      const run = this.#queue.runOf(msg, msg.frames as Buffer, use);
      const seq = stream.nextSeq++;
      this.#writeSeq(connection, seq, run, at, msg.size);
      this.#unflushed.push(run, msg.seq, at, msg.size, msg.enqueuedAtMs);
      accounting.handOff(msg, 'direct');
      stream.push(run, seq, now, at, msg.size, accounting);
      return;
    }
    // Kept until acknowledged, and written again on a new connection; it may be queued at
    // another address too: its buffer is never reused.
    if (msg.frames === undefined) this.#store(msg).shared = true;
    const seq = stream.nextSeq++;
    this.#writeSeq(connection, seq, msg, msg.frameAt, msg.size);
    msg.sent = true;
    this.#unflushed.push(msg, msg.seq, msg.frameAt, msg.size, msg.enqueuedAtMs);
    accounting.handOff(msg, 'direct');
    stream.push(msg, seq, now, msg.frameAt, msg.size, accounting);
  }

  /**
   * Writes the frame of `msg` (a record, or a lane message's run) at `frameAt` of its
   * buffer, `size` bytes without the prefix, as message `seq` of the stream (after a SEQ
   * when the receiver expects another).
   */
  #writeSeq(connection: Connection, seq: number, msg: AckEntry, frameAt: number, size: number): void {
    if (seq !== this.#wireNext) this.#control(connection, seqFrame(ACK_SEQ, seq));
    this.#wireNext = seq + 1;
    const frames = msg.frames as Buffer; // stored when first written (#writeAcked, writePlain)
    const end = frameAt + FRAME_PREFIX_BYTES + size;
    let ok: boolean;
    if (connection.writeEncoded !== undefined) {
      // Its frame, stored by this library: written as a region (no view, no second parse).
      ok = connection.writeEncoded(frames, frameAt, end, 1);
    } else if (connection.writeFrames !== undefined) {
      ok = connection.writeFrames(frames.subarray(frameAt, end), 1);
    } else {
      ok = connection.write(frames.subarray(frameAt + FRAME_PREFIX_BYTES, end));
    }
    if (!ok) this.#blocked = true;
  }

  /** An OPENED or ACK on the connection (anything else from the receiver breaks the protocol). */
  #onControl(connection: Connection, chunk: Buffer, start: number, end: number): void {
    const host = this.#host;
    const stream = this.#stream as AckStream;
    let control: ReturnType<typeof decodeControlFrame>;
    try {
      control = decodeControlFrame(chunk, start, end);
    } catch (err) {
      this.#ackViolation(connection, err);
      return;
    }
    if (this.#state.kind === 'stopped' || stream.ended) return;
    const now = host.clock.now();
    if (control.type === ACK_OPENED && this.#awaitOpen) {
      // What the receiving node already handed to its application: its ack was lost.
      stream.ackUpTo(Math.min(control.seq, stream.nextSeq - 1), host.accounting, this.address, now);
      if (!control.known && stream.opened) {
        // It no longer knows the stream (it restarted, or forgot it): whether what is
        // still unacknowledged reached its application cannot be known.
        stream.abandon(host.accounting, this.address, 'peer_lost_state');
      }
      stream.opened = true;
      this.#awaitOpen = false;
      // Past their deadline (or aborted): never written again.
      for (let i = stream.head; i < stream.tail; i++) {
        const msg = stream.msgAt(i);
        // (A lane message has no limits: it is in a run.)
        if (msg === undefined || msg instanceof MessageRun || !hasLimits(msg)) continue;
        const dead = deadReason(msg, now);
        if (dead !== undefined) stream.endAt(i, host.accounting, this.address, dead);
      }
      this.#resentUpTo = 0;
      this.#resendUpTo = stream.nextSeq - 1;
      this.#flush(connection);
    } else if (control.type === ACK_ACK && !this.#awaitOpen) {
      if (stream.ackUpTo(Math.min(control.seq, stream.nextSeq - 1), host.accounting, this.address, now) > 0) {
        if (!this.#blocked) this.#flush(connection);
        // Nothing waits any more: an idle sender keeps no slab.
        if (stream.count === 0 && this.#queue.length === 0) this.#idleSlab();
      }
    } else {
      this.#ackViolation(connection, undefined);
    }
  }

  #ackViolation(connection: Connection, err: unknown): void {
    this.#host.accounting.error('fail_deser_msg');
    this.#host.logger.warn(
      { peer: this.peerId, address: this.address, code: 'ERR_ACK_PROTOCOL', err },
      'peer broke the acknowledged-delivery protocol: closing connection',
    );
    connection.close('acknowledged-delivery protocol broken');
  }

  /**
   * Writes the queued messages whose frames lie next to each other from the first one's on
   * (consecutive waiting messages were stored so) as one region.
   */
  #writeRun(connection: Connection): void {
    const queue = this.#queue;
    const n = queue.region();
    const bytes = queue.regionBytes;
    const frames = queue.framesOf(0) as Buffer;
    const start = queue.frameAt(0);
    // Frames this library encoded: written as a region without being parsed again.
    const ok =
      connection.writeEncoded !== undefined
        ? connection.writeEncoded(frames, start, start + bytes, n)
        : (connection.writeFrames as NonNullable<Connection['writeFrames']>)(
            frames.subarray(start, start + bytes),
            n,
          );
    const accounting = this.#host.accounting;
    const unflushed = this.#unflushed;
    const ring = queue.ring;
    for (let i = 0; i < n; ) {
      const ref = ring.ref(i) as OutgoingMessage | MessageRun;
      if (ref instanceof MessageRun) {
        // The plain messages of one run, one after the other: handed off together.
        const from = i;
        do {
          unflushed.push(ref, 0, ring.frameAt(i), ring.size(i), ring.enqueuedAtMs(i));
          i++;
        } while (i < n && ring.ref(i) === ref);
        accounting.handOffMany(ref.metricLabel, 'direct', i - from, ring, from);
      } else {
        ref.sent = true;
        unflushed.push(ref, ref.seq, ref.frameAt, ref.size, ref.enqueuedAtMs);
        accounting.handOff(ref, 'direct');
        i++;
      }
    }
    queue.release(n, bytes);
    if (!ok) this.#blocked = true;
  }

  #write(connection: Connection, msg: OutgoingMessage): void {
    let ok: boolean;
    if (msg.envelope !== undefined && connection.writeEnvelope !== undefined) {
      ok = connection.writeEnvelope(msg.envelope, msg.size);
    } else if (msg.frames !== undefined && connection.writeFrames !== undefined) {
      ok = connection.writeFrames(frameOf(msg), 1);
    } else {
      ok = connection.write(bodyOf(msg));
    }
    msg.sent = true;
    this.#unflushed.push(msg, msg.seq, msg.frameAt, msg.size, msg.enqueuedAtMs);
    this.#host.accounting.handOff(msg, 'direct');
    if (!ok) this.#blocked = true;
  }

  /** Arms the backoff timer (bound once, and only for senders that back off). */
  #arm(delay: number): void {
    this.#onTimerBound ??= () => {
      this.#timer = undefined;
      if (this.#state.kind === 'backoff') this.#connect();
    };
    this.#timer = this.#host.clock.setTimeout(this.#onTimerBound, delay);
  }

  /** ConnectionHandler: frames handed to the socket (called by the connection only). */
  onFlushed(count: number): void {
    const accounting = this.#host.accounting;
    const acked = this.#acked;
    const unflushed = this.#unflushed;
    // Plain messages whose outcomes nobody hears one by one are counted per run.
    const byRun = !accounting.wantsIds;
    let left = Math.min(count, unflushed.length);
    while (left > 0) {
      const ref = unflushed.ref(0) as Unflushed;
      if (ref instanceof MessageRun) {
        if (acked || byRun) {
          let n = 0;
          let bytes = 0;
          while (n < left && unflushed.ref(n) === ref) bytes += FRAME_PREFIX_BYTES + unflushed.size(n++);
          for (let i = 0; i < n; i++) unflushed.shift();
          left -= n;
          if (acked) {
            // Waiting for their ack: their transfer ends, their outcome (and use) waits.
            accounting.ackFlushedMany(ref, 'direct', n, bytes);
          } else {
            this.#settle(ref.use, n);
            accounting.flushedMany(ref, 'direct', n, bytes);
          }
          continue;
        }
        const size = unflushed.size(0);
        const s = fill(this.#outcomeSubject, ref, unflushed.frameAt(0), unflushed.enqueuedAtMs(0));
        unflushed.shift();
        this.#settle(ref.use, 1);
        accounting.flushed(s, this.address, 'direct', FRAME_PREFIX_BYTES + size);
      } else {
        unflushed.shift();
        if (ref !== NOTHING) {
          if (acked) accounting.ackFlushed(ref, 'direct', ref.size + FRAME_PREFIX_BYTES);
          else accounting.flushed(ref, this.address, 'direct', ref.size + FRAME_PREFIX_BYTES);
        }
      }
      left--;
    }
    if (unflushed.length === 0 && this.#queue.length === 0 && !acked && this.#state.kind !== 'stopped') {
      this.#idleSlab();
    }
  }

  /** Nothing of the slab is queued or unflushed: its buffer goes back to the pool if it can (see #slab). */
  #idleSlab(): void {
    const use = this.#use;
    this.#slab?.release();
    this.#use = undefined;
    if (use !== undefined) {
      use.current = false;
      this.#settle(use, 0);
    }
  }

  /** ConnectionHandler: the write buffer drained (called by the connection only). */
  onDrain(): void {
    this.#blocked = false;
    if (this.#connection !== undefined) this.#flush(this.#connection);
  }

  /** ConnectionHandler: a reply frame (called by the connection only). */
  onFrame(frame: Buffer, readAtMs?: number): void {
    this.onFrameAt(frame, 0, frame.length, readAtMs ?? this.#host.clock.now());
  }

  /** ConnectionHandler: a reply frame, `chunk[start, end)` (called by the connection only). */
  onFrameAt(chunk: Buffer, start: number, end: number, readAtMs: number): void {
    const connection = this.#connection;
    if (connection === undefined) return;
    if (this.#acked && isControlFrame(chunk, start, end)) {
      this.#onControl(connection, chunk, start, end);
      return;
    }
    const host = this.#host;
    // The node's reader counts received bytes and the incoming phases, as on the hub's paths.
    const reader = host.hub.reader;
    if (reader !== undefined) {
      if (!reader.readAt(chunk, start, end, this.#sourceOf(connection), 'direct', readAtMs)) {
        connection.close('undecodable frame');
      }
      return;
    }
    let envelope: Envelope;
    try {
      envelope = decodeEnvelopeAt(chunk, start, end);
    } catch (err) {
      host.accounting.error('fail_deser_msg');
      host.logger.warn(
        { peer: this.peerId, address: this.address, err },
        'undecodable reply: closing connection',
      );
      connection.close('undecodable frame');
      return;
    }
    deliverTo(host.incoming, envelope, lastDecodedVersion(), this.#sourceOf(connection), readAtMs);
  }

  /** Where replies on `connection` come from: one object per connection (a sender has one in its life). */
  #sourceOf(connection: Connection): MessageSource {
    // The node's identity index (rebuilt on topology changes), as on the hub's paths.
    const index = this.#host.hub.identities?.();
    if (this.#source === undefined || index !== this.#sourceIndex) {
      this.#sourceIndex = index;
      this.#source = {
        // The peer the topology names by this identity; else the peer we dialed (only an
        // unpinned address can be answered by an identity the topology does not name).
        peerId: index?.identify(connection.remoteIdentity) ?? this.peerId,
        address: this.address,
        identity: connection.remoteIdentity,
        direction: 'outbound',
        close: (why) => connection.close(why),
      };
    }
    return this.#source;
  }

  /** ConnectionHandler: the connection closed (called by the connection only, once). */
  onClose(reason: CloseReason): void {
    if (this.#connection === undefined) return;
    this.#open--;
    const host = this.#host;
    const lostAs =
      this.#state.kind === 'stopped' && this.#state.reason === 'shutdown' ? 'shutdown' : 'connection_lost';
    const unflushed = this.#unflushed;
    while (unflushed.length > 0) {
      const ref = unflushed.ref(0) as Unflushed;
      if (ref instanceof MessageRun) {
        const s = fill(this.#outcomeSubject, ref, unflushed.frameAt(0), unflushed.enqueuedAtMs(0));
        unflushed.shift();
        // With acks, it still waits in the stream (as a record would, below).
        if (this.#acked) host.accounting.ackFlushed(s, 'direct', 0);
        else host.accounting.lost(s, this.address, 'direct', lostAs);
        continue;
      }
      unflushed.shift();
      if (ref === NOTHING) continue;
      // With acks, it still waits in the stream: the next connection sends it again.
      if (this.#acked) host.accounting.ackFlushed(ref, 'direct', 0);
      else host.accounting.lost(ref, this.address, 'direct', lostAs);
    }
    host.accounting.connection(true);
    this.#connection = undefined;
    this.#source = undefined;
    host.peerEvent(this, 'disconnected');
    if (this.#state.kind !== 'stopped') {
      host.accounting.error('fail_write_to_peer');
      host.logger.info(
        { peer: this.peerId, address: this.address, code: reason.code },
        'peer connection closed',
      );
      host.book.lost(this.peerId, this.address, host.clock.now(), host.config(), host.random);
      this.#stopSelf('connection_lost');
    }
    this.#maybeClosed();
  }

  get unacked(): number {
    return this.#stream?.count ?? 0;
  }

  get acked(): boolean {
    return this.#acked;
  }

  endAcks(detail: UnacknowledgedDetail): void {
    this.#stream?.end(this.#host.accounting, this.address, detail);
  }

  #stopSelf(reason: StopReason): void {
    this.#state = { kind: 'stopped', reason };
    if (reason !== 'connection_lost') this.endAcks(reason);
    if (reason === 'connect_failed') this.#host.peerEvent(this, 'gave_up');
    else if (reason === 'identity_mismatch') this.#host.peerEvent(this, 'identity_mismatch');
    const leftover = this.#queue.drain();
    this.#host.senderStopped(this, leftover, reason);
    this.#maybeClosed();
  }

  /** Connections not closed yet: the attached one (until onClose) and any refused after stop. */
  #open = 0;
  #track(connection: Connection): void {
    this.#open++;
    void connection.closed.then(() => {
      this.#open--;
      this.#maybeClosed();
    });
  }

  #maybeClosed(): void {
    if (
      this.#state.kind === 'stopped' &&
      !this.#connecting &&
      this.#open === 0 &&
      this.#timer === undefined &&
      !this.#isClosed
    ) {
      this.#isClosed = true;
      this.#resolveClosed?.();
    }
  }
}

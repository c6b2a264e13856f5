import type { Buffer } from 'node:buffer';
import type { MessageSource } from '../network/incoming.js';
import type { CloseReason, Connection, ConnectionHandler, ConnectionKind } from '../transport/types.js';
import { EndOfTask } from '../util/microtask.js';
import {
  ACK_ACK,
  ACK_OPEN,
  ACK_SEQ,
  decodeControlFrame,
  isControlFrame,
  openedFrame,
  seqFrame,
} from '../wire/ack-frames.js';
import type { AckStreamState, AckStreams } from './ack-streams.js';
import type { IncomingReader } from './incoming-reader.js';
import { type ByteBudget, type DepthTotal, Outbox } from './outbox.js';

/** What an inbound connection reports back to its hub. */
export interface InboundOwner {
  readonly reader: IncomingReader;
  inboundClosed(inbound: InboundConnection, reason: CloseReason): void;
  /** The transport drained and this connection's queue moved to it (see {@link Outbox.drain}). */
  drained(inbound: InboundConnection): void;
  /**
   * The peer broke the protocol: a frame that does not decode, or any frame on a
   * (one-way) subscriber connection. The owner stops routing to it and closes it.
   */
  protocolViolation(
    inbound: InboundConnection,
    what: 'undecodable' | 'unexpected_frame' | 'bad_payload' | 'ack_protocol',
  ): void;
  /** The acknowledged streams this node remembers (for connections that negotiated acks). */
  readonly ackStreams: AckStreams;
  /** A retransmitted message frame was not delivered again (counted in metrics). */
  ackDuplicate?(): void;
  /** True once the owner closes its connections itself: what they still hold ends as `shutdown`. */
  readonly shuttingDown: boolean;
  /** A connection flushed frames or closed (the owner may be waiting for its queues to drain). */
  progress(): void;
}

/**
 * One connection accepted by the hub: its handler (one object per connection, so no
 * per-frame closures), its outgoing queue, and who the topology says it is.
 *
 * Direct connections are read into the node's incoming queue and carry replies by
 * address; subscriber connections (`subscribe-node`, `subscribe-proxy`) carry
 * broadcasts only.
 */
export class InboundConnection implements ConnectionHandler {
  readonly connection: Connection;
  readonly kind: ConnectionKind;
  readonly outbox: Outbox;
  /** Clock time the hub accepted the connection. */
  readonly acceptedAtMs: number;
  readonly #owner: InboundOwner;
  #source: MessageSource;
  #closed = false;
  /** False once the connection is being closed for a protocol violation: later frames are ignored. */
  #reading = true;
  #retired = false;
  /** On an acked connection: the stream its OPEN named (undefined before OPEN). */
  #stream: AckStreamState | undefined;
  /** The sequence number of the next message frame (0: no SEQ yet). */
  #nextSeq = 0;
  /** The highest sequence number acknowledged on this connection. */
  #acked = 0;

  constructor(
    owner: InboundOwner,
    connection: Connection,
    peerId: string | undefined,
    queueCapacity: number,
    depth: DepthTotal,
    acceptedAtMs: number,
    queueBytes?: number,
    budget?: ByteBudget,
  ) {
    this.#owner = owner;
    this.connection = connection;
    this.kind = connection.kind;
    this.acceptedAtMs = acceptedAtMs;
    // On a subscriber connection with acks the subscriber acknowledges broadcasts; on a
    // direct one, acks are for the peer's messages to us (replies are not acknowledged).
    const acknowledged = connection.acks === true && connection.kind !== 'direct';
    this.outbox = new Outbox(connection, queueCapacity, depth, queueBytes, budget, acknowledged);
    this.#source = this.#makeSource(peerId);
  }

  get isSubscriber(): boolean {
    return this.kind !== 'direct';
  }

  get peerId(): string | undefined {
    return this.#source.peerId;
  }

  get remoteAddress(): string {
    return this.connection.remoteAddress;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** True once the hub stopped routing to this connection (it is closing). */
  get isRetired(): boolean {
    return this.#retired;
  }

  /**
   * Takes the connection out of routing before its (graceful) close completes, which
   * for a peer that stopped reading can take up to the transport's write timeout.
   * Returns false if it was already retired.
   */
  retire(): boolean {
    if (this.#retired) return false;
    this.#retired = true;
    this.#reading = false;
    this.outbox.clear(this.#lostAs());
    return true;
  }

  /** Re-identifies after a topology change. Returns true when the peer id changed. */
  setPeerId(peerId: string | undefined): boolean {
    if (peerId === this.#source.peerId) return false;
    // A new object: messages already handed out keep the source they arrived with.
    this.#source = this.#makeSource(peerId);
    return true;
  }

  onFrame(frame: Buffer, readAtMs?: number): void {
    this.onFrameAt(frame, 0, frame.length, readAtMs);
  }

  onFrameAt(chunk: Buffer, start: number, end: number, readAtMs?: number): void {
    if (!this.#reading) return;
    if (this.isSubscriber) {
      if (this.connection.acks === true && isControlFrame(chunk, start, end)) {
        let control: ReturnType<typeof decodeControlFrame> | undefined;
        try {
          control = decodeControlFrame(chunk, start, end);
        } catch {
          control = undefined;
        }
        if (control?.type === ACK_ACK) {
          this.outbox.acknowledged(control.seq);
          this.#owner.progress();
          return;
        }
        this.#violation('ack_protocol');
        return;
      }
      this.#reading = false;
      this.#owner.protocolViolation(this, 'unexpected_frame');
      return;
    }
    if (this.connection.acks === true) {
      this.#ackedFrame(chunk, start, end, readAtMs);
      return;
    }
    if (!this.#owner.reader.readAt(chunk, start, end, this.#source, 'direct', readAtMs)) {
      this.#reading = false;
      this.#owner.protocolViolation(this, 'undecodable');
    }
  }

  /**
   * A frame on a connection that negotiated acks (docs/acks.md): OPEN names the stream and
   * is answered with what this node already has of it; SEQ numbers the next message frame;
   * a message frame numbered at or below what the application already has is a
   * retransmission, acknowledged again and not delivered. One ACK per stream per turn of
   * the event loop, after the frames of the chunk read.
   */
  #ackedFrame(chunk: Buffer, start: number, end: number, readAtMs?: number): void {
    if (isControlFrame(chunk, start, end)) {
      let control: ReturnType<typeof decodeControlFrame>;
      try {
        control = decodeControlFrame(chunk, start, end);
      } catch {
        this.#violation('ack_protocol');
        return;
      }
      if (control.type === ACK_OPEN && this.#stream === undefined) {
        const { state, known } = this.#owner.ackStreams.open(control.streamId);
        this.#stream = state;
        this.#acked = state.last;
        this.outbox.control(openedFrame(known, state.last));
      } else if (control.type === ACK_SEQ && this.#stream !== undefined && control.seq > 0) {
        this.#nextSeq = control.seq;
      } else {
        // OPENED and ACK go the other way; a second OPEN or a SEQ before OPEN is a broken peer.
        this.#violation('ack_protocol');
      }
      return;
    }
    const stream = this.#stream;
    if (stream === undefined || this.#nextSeq === 0) {
      this.#violation('ack_protocol');
      return;
    }
    const seq = this.#nextSeq++;
    if (seq <= stream.last) {
      this.#owner.ackStreams.duplicates++;
      this.#owner.ackDuplicate?.();
    } else {
      if (!this.#owner.reader.readAt(chunk, start, end, this.#source, 'direct', readAtMs)) {
        this.#violation('undecodable');
        return;
      }
      stream.last = seq;
    }
    this.#sendAck.arm();
  }

  readonly #sendAck = new EndOfTask(() => {
    const stream = this.#stream;
    if (stream === undefined || this.#closed || stream.last <= this.#acked) return;
    this.#acked = stream.last;
    this.outbox.control(seqFrame(ACK_ACK, stream.last));
  });

  #violation(what: 'undecodable' | 'ack_protocol'): void {
    this.#reading = false;
    this.#owner.protocolViolation(this, what);
  }

  onDrain(): void {
    this.outbox.drain();
    this.#owner.drained(this);
  }

  onFlushed(count: number): void {
    this.outbox.flushed(count);
    this.#owner.progress();
  }

  onClose(reason: CloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reading = false;
    const lost = this.#lostAs();
    this.outbox.clear(lost);
    this.outbox.closed(lost);
    this.#owner.inboundClosed(this, reason);
    this.#owner.progress();
  }

  /** How messages this connection still holds end when it goes. */
  #lostAs(): 'shutdown' | 'connection_lost' {
    return this.#owner.shuttingDown ? 'shutdown' : 'connection_lost';
  }

  #makeSource(peerId: string | undefined): MessageSource {
    return {
      peerId,
      address: this.connection.remoteAddress,
      identity: this.connection.remoteIdentity,
      direction: 'inbound',
      close: this.#refuse,
    };
  }

  /** Bad input: stop reading, and let the owner take the connection out of routing and close it. */
  readonly #refuse = (): void => {
    if (!this.#reading) return;
    this.#reading = false;
    this.#owner.protocolViolation(this, 'bad_payload');
  };
}

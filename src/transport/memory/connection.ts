import type { Buffer } from 'node:buffer';
import { type ErrorCode, isPeerpostError, PeerpostError } from '../../errors.js';
import type { Clock, TimerHandle } from '../../util/clock.js';
import type { Envelope } from '../../wire/envelope.js';
import { checkFrames, FrameDecoder } from '../../wire/framing.js';
import { CLOSE_GRACE_MS } from '../limits.js';
import {
  type CloseReason,
  type Connection,
  type ConnectionHandler,
  type ConnectionKind,
  deliverFrame,
  type RemoteIdentity,
} from '../types.js';
import { FrameQueue } from './frame-queue.js';
import type { ResolvedLimits } from './options.js';

/** What a connection needs from its network: time, the per-tick scheduler and the socket buffer size. */
export interface ConnectionHost {
  readonly clock: Clock;
  readonly socketBufferBytes: number;
  /** Runs `conn.service()` in the next pass (one setImmediate for the whole network). */
  schedule(conn: MemoryConnection): void;
  /** Called once when `conn` is closed. */
  closed(conn: MemoryConnection, reason: CloseReason): void;
}

/** Where a connection's outgoing bytes go: the link to its peer. */
export interface Outbound {
  /** The chunks of one pass (`bytes` in all), as one socket write: the link owns `chunks`. */
  data(chunks: Buffer[], bytes: number): void;
  fin(message: string): void;
  reset(message: string): void;
}

export interface ConnectionInit {
  readonly kind: ConnectionKind;
  readonly acks: boolean;
  readonly localAddress: string;
  readonly remoteAddress: string;
  readonly remoteIdentity: RemoteIdentity;
  readonly limits: ResolvedLimits;
}

/**
 * One end of an in-memory connection. Writes of one tick are framed into one buffer (see
 * {@link FrameQueue}) and handed to the link in the network's next pass; the receiver
 * decodes that byte stream with the same {@link FrameDecoder} a socket would use, so
 * limits apply as on a socket. Frames are delivered with the clock time of the read.
 */
export class MemoryConnection implements Connection {
  readonly kind: ConnectionKind;
  readonly acks: boolean;
  readonly localAddress: string;
  readonly remoteAddress: string;
  readonly remoteIdentity: RemoteIdentity;
  readonly closed: Promise<CloseReason>;
  /** Set by the network when it links the two ends. */
  out!: Outbound;
  peer!: MemoryConnection;
  /** True while queued in the network's next pass. */
  scheduled = false;

  readonly #host: ConnectionHost;
  readonly #limits: ResolvedLimits;
  readonly #decoder: FrameDecoder;
  #handler: ConnectionHandler | undefined;
  #state: 'open' | 'closing' | 'closed' = 'open';
  #closeMessage = '';
  #closeReason: CloseReason | undefined;
  #closeNotified = false;
  #resolveClosed!: (reason: CloseReason) => void;
  readonly #queue = new FrameQueue();
  /** Bytes handed to the link that the peer has not read yet. */
  #inflight = 0;
  #needDrain = false;
  #writeTimer: TimerHandle | undefined;
  /** Armed by close(): how long an orderly close waits for a peer that does not read. */
  #closeTimer: TimerHandle | undefined;
  #blockedSince: number | undefined;
  #inbound: Buffer[] = [];
  #finMessage: string | undefined;
  #paused = false;
  /**
   * Frames flushed before attach(): reported to the handler in the next pass after
   * attach(), and always before onClose (a frame the peer may have read is never
   * reported as unsent).
   */
  #flushedUnreported = 0;
  /** Clock time of the chunk being decoded (passed with its frames as `readAtMs`). */
  #readAt = 0;

  constructor(host: ConnectionHost, init: ConnectionInit) {
    this.#host = host;
    this.kind = init.kind;
    this.acks = init.acks;
    this.localAddress = init.localAddress;
    this.remoteAddress = init.remoteAddress;
    this.remoteIdentity = init.remoteIdentity;
    this.#limits = init.limits;
    this.#decoder = new FrameDecoder({ maxFrameBytes: init.limits.maxFrameBytes });
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  get bufferedBytes(): number {
    return this.#queue.bytes;
  }

  get pendingFrames(): number {
    return this.#queue.frames;
  }

  /** See Connection.room. */
  get room(): number {
    return this.#limits.highWaterMarkBytes - this.#queue.bytes;
  }

  get closeReason(): CloseReason | undefined {
    return this.#closeReason;
  }

  /** The idle timeout of this end, used when a partition silences the link. */
  get idleTimeoutMs(): number {
    return this.#limits.idleTimeoutMs;
  }

  /** True while reading is paused by a fault ({@link MemoryNetwork.pauseReading}). */
  get readingPaused(): boolean {
    return this.#paused;
  }

  attach(handler: ConnectionHandler): void {
    if (this.#handler !== undefined) {
      throw new PeerpostError('ERR_INVALID_OPTION', 'attach() may be called only once per connection');
    }
    this.#handler = handler;
    if (
      this.#inbound.length > 0 ||
      this.#finMessage !== undefined ||
      this.#state === 'closed' ||
      this.#flushedUnreported > 0
    ) {
      this.#host.schedule(this);
    }
  }

  write(body: Uint8Array): boolean {
    if (this.#state !== 'open') return false;
    if (body.length === 0) {
      throw new PeerpostError('ERR_INVALID_OPTION', 'an empty frame body is reserved for keepalives');
    }
    this.#queue.pushBody(body);
    return this.#queued();
  }

  /** `write(encodeEnvelope(envelope))` with one copy of the payload: see Connection.writeEnvelope. */
  writeEnvelope(envelope: Envelope, size: number): boolean {
    if (this.#state !== 'open') return false;
    this.#queue.pushEnvelope(envelope, size);
    return this.#queued();
  }

  /** writeEnvelope() of a plain message with no envelope object: see Connection.writePlain. */
  writePlain(size: number, timestampMs: number, id: string, label: string, data: Uint8Array): boolean {
    if (this.#state !== 'open') return false;
    this.#queue.pushPlain(size, timestampMs, id, label, data);
    return this.#queued();
  }

  /** `count` calls of write() in one: see Connection.writeFrames. */
  writeFrames(frames: Uint8Array, count: number): boolean {
    checkFrames(frames, count);
    if (this.#state !== 'open') return false;
    this.#queue.pushFrames(frames, count);
    return this.#queued();
  }

  /** `count` whole frames this process encoded, `frames[start, end)`: see Connection.writeEncoded. */
  writeEncoded(frames: Buffer, start: number, end: number, count: number): boolean {
    if (this.#state !== 'open') return false;
    this.#queue.pushFrames(frames.subarray(start, end), count);
    return this.#queued();
  }

  /** After a write: schedules the flush, reports backpressure. */
  #queued(): boolean {
    if (!this.scheduled) this.#host.schedule(this);
    if (this.#queue.bytes >= this.#limits.highWaterMarkBytes) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  close(reason = 'closed by the local side'): void {
    if (this.#state !== 'open') return;
    this.#state = 'closing';
    this.#closeMessage = reason;
    this.#host.schedule(this);
    // As over TLS: the queued frames get CLOSE_GRACE_MS (at most the write timeout) to
    // leave; a peer that stopped reading then gets a reset instead of holding the close.
    this.#closeTimer = this.#host.clock.setTimeout(
      this.#onCloseGrace,
      Math.min(this.#limits.writeTimeoutMs, CLOSE_GRACE_MS),
    );
  }

  readonly #onCloseGrace = (): void => {
    this.#closeTimer = undefined;
    if (this.#state !== 'closing') return;
    this.#finish({ code: 'ERR_CONNECTION_CLOSED', message: this.#closeMessage, initiator: 'local' });
    this.out.reset(this.#closeMessage);
  };

  /** Fails the connection now: queued frames are dropped and the peer is reset. */
  destroy(code: ErrorCode, message: string, cause?: unknown): void {
    if (this.#state === 'closed') return;
    this.#finish({ code, message, initiator: 'local', ...(cause === undefined ? {} : { cause }) });
    this.out.reset(message);
  }

  /** Closes this end without telling the peer (the network handles the peer itself). */
  abort(reason: CloseReason): void {
    if (this.#state !== 'closed') this.#finish(reason);
  }

  setPaused(paused: boolean): void {
    this.#paused = paused;
    if (!paused && this.#inbound.length + (this.#finMessage === undefined ? 0 : 1) > 0) {
      this.#host.schedule(this);
    }
  }

  /** One pass of the network: read held input, flush queued frames, finish a requested close. */
  service(): void {
    if (this.#flushedUnreported > 0) this.#reportFlushedBeforeAttach();
    if (this.#state === 'closed') {
      this.#notifyClose();
      return;
    }
    this.#read();
    // #read() may have closed the connection through a callback or a bad frame.
    const state = this.#state as 'open' | 'closing' | 'closed';
    if (state !== 'closed' && this.#queue.frames > 0) this.#flush();
    if ((this.#state as typeof state) === 'closing' && this.#queue.frames === 0) {
      this.out.fin(this.#closeMessage);
      this.#finish({ code: 'ERR_CONNECTION_CLOSED', message: this.#closeMessage, initiator: 'local' });
    }
  }

  // ---- input from the link ----

  receiveData(chunk: Buffer): void {
    if (this.#state === 'closed') {
      // As a TCP stack answers data for a closed socket: the writer is reset, so it
      // never keeps writing into a connection nobody reads (a reader that is paused or
      // not attached may not have seen this end's FIN yet). One reset per link.
      this.out.reset(`data for a closed connection (${this.#closeReason!.message})`);
      return;
    }
    this.#inbound.push(chunk);
    this.#read();
  }

  receiveFin(message: string): void {
    if (this.#state === 'closed') return;
    this.#finMessage = message;
    this.#read();
  }

  receiveReset(message: string): void {
    if (this.#state === 'closed') return;
    this.#finish({ code: 'ERR_CONNECTION_RESET', message: `reset by peer: ${message}`, initiator: 'remote' });
  }

  /** The peer read `bytes` of what this end sent: room in the socket buffer again. */
  acknowledge(bytes: number): void {
    this.#inflight -= bytes;
    if (this.#state !== 'closed' && this.#queue.frames > 0 && !this.scheduled) this.#host.schedule(this);
  }

  readonly #onDecoded = (chunk: Buffer, start: number, end: number): void => {
    // An empty frame is a keepalive (see src/transport/types.ts): never delivered.
    if (this.#state !== 'closed' && start !== end)
      deliverFrame(this.#handler!, chunk, start, end, this.#readAt);
  };

  #read(): void {
    while (this.#handler !== undefined && !this.#paused && this.#state !== 'closed') {
      const chunk = this.#inbound.shift();
      if (chunk === undefined) {
        if (this.#finMessage !== undefined) {
          this.#finish({ code: 'ERR_CONNECTION_CLOSED', message: this.#finMessage, initiator: 'remote' });
        }
        return;
      }
      this.#readAt = this.#host.clock.now();
      try {
        this.#decoder.pushRanges(chunk, this.#onDecoded);
      } catch (err) {
        const code = isPeerpostError(err) ? err.code : 'ERR_CONNECTION_RESET';
        this.destroy(code, err instanceof Error ? err.message : String(err), err);
        return;
      }
      this.peer.acknowledge(chunk.length);
    }
  }

  #flush(): void {
    const room = this.#host.socketBufferBytes - this.#inflight;
    if (room <= 0) {
      this.#blocked();
      return;
    }
    const queue = this.#queue;
    const chunks: Buffer[] = [];
    const bytes = queue.take(room, chunks);
    const count = queue.takenFrames;
    this.#inflight += bytes;
    this.#blockedSince = undefined;
    if (queue.frames > 0) this.#blocked();
    else this.#clearWriteTimer();
    const handler = this.#handler;
    // The writer is told before the bytes go to the link (where the peer may read them
    // at once): a frame the peer reads was always reported flushed first.
    if (handler === undefined) this.#flushedUnreported += count;
    else handler.onFlushed?.(count);
    if (this.#needDrain && queue.bytes < this.#limits.highWaterMarkBytes) {
      this.#needDrain = false;
      handler?.onDrain?.();
    }
    if (this.#state !== 'closed') this.out.data(chunks, bytes);
  }

  #blocked(): void {
    this.#blockedSince ??= this.#host.clock.now();
    this.#writeTimer ??= this.#host.clock.setTimeout(this.#onWriteTimer, this.#limits.writeTimeoutMs);
  }

  readonly #onWriteTimer = (): void => {
    this.#writeTimer = undefined;
    if (this.#state === 'closed' || this.#queue.frames === 0 || this.#blockedSince === undefined) return;
    const waited = this.#host.clock.now() - this.#blockedSince;
    if (waited >= this.#limits.writeTimeoutMs) {
      this.destroy(
        'ERR_WRITE_TIMEOUT',
        `write did not complete within ${this.#limits.writeTimeoutMs} ms (${this.#queue.bytes} bytes buffered)`,
      );
    } else {
      this.#writeTimer = this.#host.clock.setTimeout(
        this.#onWriteTimer,
        this.#limits.writeTimeoutMs - waited,
      );
    }
  };

  #clearWriteTimer(): void {
    if (this.#writeTimer !== undefined) {
      this.#host.clock.clearTimeout(this.#writeTimer);
      this.#writeTimer = undefined;
    }
  }

  #finish(reason: CloseReason): void {
    this.#state = 'closed';
    this.#closeReason = reason;
    this.#clearWriteTimer();
    if (this.#closeTimer !== undefined) {
      this.#host.clock.clearTimeout(this.#closeTimer);
      this.#closeTimer = undefined;
    }
    this.#inbound = [];
    this.#finMessage = undefined;
    this.#host.closed(this, reason);
    this.#notifyClose();
    this.#resolveClosed(reason);
  }

  /** Tells a handler attached since about the frames flushed before attach(). */
  #reportFlushedBeforeAttach(): void {
    const handler = this.#handler;
    if (handler === undefined) return;
    const count = this.#flushedUnreported;
    this.#flushedUnreported = 0;
    handler.onFlushed?.(count);
  }

  #notifyClose(): void {
    if (this.#closeNotified || this.#handler === undefined || this.#closeReason === undefined) return;
    // Never report as unsent a frame the peer may have read.
    if (this.#flushedUnreported > 0) this.#reportFlushedBeforeAttach();
    this.#closeNotified = true;
    this.#handler.onClose?.(this.#closeReason);
  }
}

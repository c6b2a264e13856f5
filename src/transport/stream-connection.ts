import { Buffer } from 'node:buffer';
import process from 'node:process';
import type { Duplex } from 'node:stream';
import { type ErrorCode, PeerpostError } from '../errors.js';
import { connectionErrorKind, type ErrorKind, errorLabels } from '../metrics/error-kinds.js';
import { type Metrics, noopMetrics } from '../metrics/types.js';
import { type Clock, systemClock, type TimerHandle } from '../util/clock.js';
import { Fifo } from '../util/fifo.js';
import { type Logger, noopLogger } from '../util/logger.js';
import type { Envelope } from '../wire/envelope.js';
import { checkFrames, FRAME_PREFIX_BYTES, FrameDecoder, U32_MAX } from '../wire/framing.js';
import { CLOSE_GRACE_MS } from './limits.js';
import type { SocketReads } from './socket-reads.js';
import {
  type CloseReason,
  type Connection,
  type ConnectionHandler,
  type ConnectionKind,
  deliverFrame,
  type RemoteIdentity,
  type TransportLimits,
} from './types.js';
import { WriteBatch } from './write-batch.js';

/**
 * A zero-length frame is the keepalive of the peerpost protocols (ALPN `peerpost/.../1`):
 * an envelope is never empty, so it cannot be mistaken for a message. It is sent when
 * nothing else was written for a quarter of the idle timeout, and never delivered.
 */
const KEEPALIVE_FRAME = Buffer.alloc(FRAME_PREFIX_BYTES);
/**
 * The first bytes a listener sends on a connection it has authenticated and admitted: a
 * keepalive frame. `connect()` resolves only when it arrives, so a client refused after
 * the TLS 1.3 handshake (untrusted, over a cap) learns it before writing a frame.
 */
export const ACCEPTANCE_FRAME: Readonly<Buffer> = KEEPALIVE_FRAME;

export interface StreamConnectionOptions {
  kind: ConnectionKind;
  /** The connection negotiated the acknowledged-delivery protocol. @default false */
  acks?: boolean;
  direction: 'inbound' | 'outbound';
  remoteAddress: string;
  localAddress: string;
  remoteIdentity: RemoteIdentity;
  limits: Required<TransportLimits>;
  clock?: Clock;
  logger?: Logger;
  metrics?: Metrics;
  /** Called once when the socket is gone (bookkeeping of the owner). */
  onFinished?: (connection: StreamConnection) => void;
  /**
   * Where the socket's reads arrive when it was made with node's `onread` option (an
   * outbound TLS socket; see SocketReads): the connection takes its chunks from there
   * instead of listening to `'data'`. The socket is paused until attach().
   */
  reads?: SocketReads;
}

/**
 * A {@link Connection} over any node Duplex that carries the peerpost byte stream (a
 * TLS socket, or a plain TCP socket). Writes of one tick are framed into one buffer and
 * handed to the socket in one write; reads go through a {@link FrameDecoder}. The only
 * timers are one write timer (armed while the socket is backed up), one liveness timer
 * (keepalive frames out, and `ERR_IDLE_TIMEOUT` when nothing at all came in for
 * `idleTimeoutMs`: a dead or stalled peer is noticed within the idle timeout) and one
 * close timer (while an orderly close waits for the peer).
 */
export class StreamConnection implements Connection {
  readonly kind: ConnectionKind;
  readonly acks: boolean;
  readonly direction: 'inbound' | 'outbound';
  readonly remoteAddress: string;
  readonly localAddress: string;
  readonly remoteIdentity: RemoteIdentity;

  readonly #socket: Duplex;
  readonly #limits: Required<TransportLimits>;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  readonly #onFinished: ((connection: StreamConnection) => void) | undefined;
  readonly #decoder: FrameDecoder;
  readonly #reads: SocketReads | undefined;
  #handler: ConnectionHandler | undefined;
  /** Frames queued since the last socket write; made by the first write, let go when idle. */
  #batch: WriteBatch | undefined;
  /** Frames accepted by write() and not yet reported by onFlushed (queued or in the socket). */
  #unreported = 0;
  /** Frame counts of the batches handed to the socket and not yet written, in order (made by the first flush). */
  #inSocket: Fifo<number> | undefined;
  #scheduled = false;
  /**
   * Set while a read's frames are handed to the handler: what it writes to this
   * connection meanwhile (a reply) is flushed when the read is done, instead of on the
   * next tick (see {@link #onData}), but for a first frame to an idle socket ({@link #queued}).
   */
  #inRead = false;
  /** A frame of the current read's was already written at once (see {@link #queued}). */
  #readWroteAtOnce = false;
  #needDrain = false;
  #lastReadAt = 0;
  #lastWriteAt = 0;
  #reading = false;
  #writeTimer: TimerHandle | undefined;
  #idleTimer: TimerHandle | undefined;
  #closeTimer: TimerHandle | undefined;
  /** Set while the liveness check waits one turn of the event loop before an idle verdict. */
  #lookAgain: ReturnType<typeof setImmediate> | undefined;
  #reason: CloseReason | undefined;
  #finished = false;
  /** Made when `closed` is first read (an owner that never awaits it pays for no promise). */
  #closed: Promise<CloseReason> | undefined;
  #resolveClosed: ((reason: CloseReason) => void) | undefined;

  // Socket events go to functions shared by every connection (see SOCKET_LISTENERS); the
  // decoder calls a shared function too. The callbacks below are bound once, when first
  // needed (an idle connection that never wrote has only the liveness one): the hot path
  // creates no closures.
  #flushBound: (() => void) | undefined;
  #onWrittenBound: ((err?: Error | null) => void) | undefined;
  #onWriteTimeoutBound: (() => void) | undefined;
  readonly #onLivenessBound: () => void;

  constructor(socket: Duplex, options: StreamConnectionOptions) {
    this.#socket = socket;
    this.kind = options.kind;
    this.acks = options.acks === true;
    this.direction = options.direction;
    this.remoteAddress = options.remoteAddress;
    this.localAddress = options.localAddress;
    this.remoteIdentity = options.remoteIdentity;
    this.#limits = options.limits;
    this.#clock = options.clock ?? systemClock;
    // The transport's logger as is: connection fields are added to the few lines logged
    // (a child logger per connection would cost memory on every idle connection).
    this.#logger = options.logger ?? noopLogger;
    this.#metrics = options.metrics ?? noopMetrics;
    this.#onFinished = options.onFinished;
    this.#decoder = new FrameDecoder({ maxFrameBytes: options.limits.maxFrameBytes });
    this.#reads = options.reads;
    this.#onLivenessBound = this.#onLiveness.bind(this);
    // Reading stays paused (no 'data' listener) until attach().
    (socket as OwnedSocket)[OWNER] = this;
    socket.on('end', StreamConnection.#socketEnd);
    socket.on('error', StreamConnection.#socketError);
    socket.on('close', StreamConnection.#socketClose);
    socket.on('drain', StreamConnection.#socketDrain);
    this.#lastReadAt = this.#lastWriteAt = this.#clock.now();
    this.#armLiveness();
  }

  // The socket listeners, one function each for all connections: `this` is the socket.
  static readonly #socketEnd = function (this: Duplex): void {
    ownerOf(this).#onEnd();
  };
  static readonly #socketError = function (this: Duplex, err: Error): void {
    ownerOf(this).#onError(err);
  };
  static readonly #socketClose = function (this: Duplex): void {
    ownerOf(this).#finish();
  };
  static readonly #socketDrain = function (this: Duplex): void {
    ownerOf(this).#onDrain();
  };
  static readonly #socketData = function (this: Duplex, chunk: Buffer): void {
    ownerOf(this).#onData(chunk);
  };
  /** The decoder's callback (`this` is the connection). */
  static readonly #decoded = function (
    this: StreamConnection,
    chunk: Buffer,
    start: number,
    end: number,
  ): void {
    this.#onFrame(chunk, start, end);
  };

  /** Resolves once, when the socket is gone. */
  get closed(): Promise<CloseReason> {
    if (this.#closed === undefined) {
      if (this.#finished) this.#closed = Promise.resolve(this.#reason as CloseReason);
      else
        this.#closed = new Promise((resolve) => {
          this.#resolveClosed = resolve;
        });
    }
    return this.#closed;
  }

  /** Fields logged with each line about this connection. */
  #logFields(): Record<string, unknown> {
    return {
      peer: this.remoteAddress,
      id: this.remoteIdentity.shortId,
      kind: this.kind,
      direction: this.direction,
    };
  }

  get closeReason(): CloseReason | undefined {
    return this.#finished ? this.#reason : undefined;
  }

  /** True once close() or a failure started: write() refuses new frames. */
  get isClosing(): boolean {
    return this.#reason !== undefined;
  }

  get bufferedBytes(): number {
    return (this.#batch?.bytes ?? 0) + this.#socket.writableLength;
  }

  /** See Connection.room. */
  get room(): number {
    return this.#limits.highWaterMarkBytes - ((this.#batch?.bytes ?? 0) + this.#socket.writableLength);
  }

  get pendingFrames(): number {
    return this.#unreported;
  }

  attach(handler: ConnectionHandler): void {
    if (this.#handler !== undefined) {
      throw new PeerpostError('ERR_INVALID_OPTION', 'attach() may be called only once');
    }
    this.#handler = handler;
    if (this.#finished) {
      handler.onClose?.(this.#reason as CloseReason);
      return;
    }
    this.#reading = true;
    this.#lastReadAt = this.#clock.now();
    if (this.#reads !== undefined) {
      // What was read after the acceptance frame comes first, a tick from now (as a
      // resumed stream's data would), then every read as it happens.
      process.nextTick(StreamConnection.#attachReads, this);
    } else {
      this.#socket.on('data', StreamConnection.#socketData);
    }
    this.#socket.resume(); // connect() may have read the acceptance frame in paused mode
  }

  static #attachReads(connection: StreamConnection): void {
    connection.#reads?.attach((chunk) => connection.#onData(chunk));
  }

  write(body: Uint8Array): boolean {
    if (this.#reason !== undefined) return false;
    if (body.length === 0) {
      throw new PeerpostError('ERR_INVALID_OPTION', 'an empty frame body is reserved for keepalives');
    }
    if (body.length > U32_MAX) {
      throw new PeerpostError('ERR_LENGTH_OVERFLOW', `frame body of ${body.length} bytes exceeds u32`);
    }
    this.#writable().addBody(body);
    return this.#queued(1);
  }

  /**
   * Like write(), but encodes `envelope` (whose encoded size is `size`) with its length
   * prefix straight into this connection's write buffer: one copy of the payload and no
   * buffer per message. Frames written this way in one tick go to the socket as one
   * contiguous region, without a second copy.
   */
  writeEnvelope(envelope: Envelope, size: number): boolean {
    if (this.#reason !== undefined) return false;
    this.#writable().addEnvelope(envelope, size);
    return this.#queued(1);
  }

  /** writeEnvelope() of a plain message with no envelope object: see Connection.writePlain. */
  writePlain(size: number, timestampMs: number, id: string, label: string, data: Uint8Array): boolean {
    if (this.#reason !== undefined) return false;
    this.#writable().addPlain(size, timestampMs, id, label, data);
    return this.#queued(1);
  }

  /** Queues `count` whole frames (prefixes included) by reference: see Connection.writeFrames. */
  writeFrames(frames: Uint8Array, count: number): boolean {
    checkFrames(frames, count);
    if (this.#reason !== undefined) return false;
    this.#writable().addFrames(frames, count);
    return this.#queued(count);
  }

  /** `count` whole frames this process encoded, `frames[start, end)`, by reference: see Connection.writeEncoded. */
  writeEncoded(frames: Buffer, start: number, end: number, count: number): boolean {
    if (this.#reason !== undefined) return false;
    this.#writable().addEncoded(frames, start, end, count);
    return this.#queued(count);
  }

  #writable(): WriteBatch {
    this.#batch ??= new WriteBatch();
    return this.#batch;
  }

  /**
   * Bookkeeping shared by the writes: schedule the flush, report backpressure. The first
   * frame of a tick (or of a read) to an idle socket (nothing in it, no drain awaited)
   * goes to the socket at once: a request or a reply leaves without waiting for the tick
   * or the end of the read. The tick's (or the read's) other frames then go together,
   * behind it, as before: a burst costs at most one write more.
   */
  #queued(frames: number): boolean {
    this.#unreported += frames;
    if (this.#inRead) {
      if (!this.#readWroteAtOnce && this.#idle()) {
        this.#readWroteAtOnce = true;
        this.#writeOut(false);
      }
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      // The write first: the tick's flush (for what else this tick writes) is scheduled after it.
      if (this.#idle()) this.#writeOut(false);
      this.#flushBound ??= this.#flush.bind(this, false);
      process.nextTick(this.#flushBound);
    }
    if ((this.#batch as WriteBatch).bytes + this.#socket.writableLength >= this.#limits.highWaterMarkBytes) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  close(reason?: string): void {
    if (this.#reason !== undefined) return;
    this.#reason = {
      code: 'ERR_CONNECTION_CLOSED',
      message: reason ?? 'closed by the local side',
      initiator: 'local',
    };
    this.#flush(true);
    this.#socket.end();
    // An orderly close flushes and waits for the peer's end of stream, but not for long: a
    // peer that stopped reading must not hold a shutdown for the whole write timeout.
    this.#closeTimer = this.#clock.setTimeout(
      () => {
        this.#closeTimer = undefined;
        this.#socket.destroy();
      },
      Math.min(this.#limits.writeTimeoutMs, CLOSE_GRACE_MS),
    );
  }

  /** Fails the connection with a coded error (counted and logged) and destroys the socket. */
  fail(error: PeerpostError, initiator: 'local' | 'remote' = 'local'): void {
    if (this.#reason === undefined) {
      this.#reason = { code: error.code, message: error.message, initiator, cause: error };
      if (initiator === 'local') {
        this.#metrics.inc('peerpost_errors_total', errorLabels(errorKind(error.code)));
        this.#logger.warn(
          { ...this.#logFields(), code: error.code, err: error.message },
          'connection failed',
        );
      }
    }
    this.#dropQueue();
    this.#socket.destroy();
  }

  /**
   * Hands the queue to the socket as one buffer. While the socket holds half the
   * high-water mark or more, frames stay in our queue (still counted in pendingFrames)
   * and go out when a write completes or on 'drain': the socket always has the next
   * batch behind the one the kernel is taking (no idle gap while this process is
   * scheduled to refill it), and holds at most half the high-water mark beyond it.
   * close() forces a last flush.
   */
  #flush(force = false): void {
    this.#scheduled = false;
    this.#writeOut(force);
  }

  /** The socket holds nothing and no drain is awaited: a frame written now goes out at once. */
  #idle(): boolean {
    return this.#socket.writableLength === 0 && !this.#needDrain;
  }

  /** {@link #flush}'s write, without touching the tick's schedule. */
  #writeOut(force: boolean): void {
    const batch = this.#batch;
    if (batch === undefined || batch.isEmpty || this.#finished || this.#socket.destroyed) return;
    if (!force && this.#socket.writableLength >= this.#limits.highWaterMarkBytes / 2) return;
    // The socket first; the bookkeeping after it (a write's callback never runs before
    // socket.write returns: node's Writable defers it).
    const frames = batch.frames;
    this.#onWrittenBound ??= this.#onWritten.bind(this);
    const accepted = batch.writeTo(this.#socket, this.#onWrittenBound);
    this.#inSocket ??= new Fifo<number>();
    this.#inSocket.push(frames);
    this.#lastWriteAt = this.#clock.now();
    if (!accepted && this.#writeTimer === undefined) {
      this.#armWriteTimer();
    }
    this.#maybeDrain();
  }

  /** A batch reached the operating system (socket write callbacks come in order). */
  #onWritten(err?: Error | null): void {
    const count = this.#inSocket?.shift() ?? 0;
    // A destroyed socket completes its unsent writes (without an error on Node 20): they
    // were not sent and stay counted as pending.
    if (err || this.#socket.destroyed) return;
    this.#unreported -= count;
    this.#handler?.onFlushed?.(count);
    if (this.#reason !== undefined || this.#socket.writableLength === 0) return; // 'drain' follows
    // The socket is still writing and took this batch: progress, so the write timeout
    // starts again; the next batch goes behind the rest, and the writer may fill it.
    if (this.#writeTimer !== undefined) {
      this.#clock.clearTimeout(this.#writeTimer);
      this.#armWriteTimer();
    }
    if (this.#batch !== undefined && !this.#batch.isEmpty && !this.#scheduled) this.#flush();
    this.#maybeDrain();
  }

  #maybeDrain(): void {
    if (!this.#needDrain || this.#reason !== undefined) return;
    if ((this.#batch?.bytes ?? 0) + this.#socket.writableLength >= this.#limits.highWaterMarkBytes) return;
    this.#needDrain = false;
    this.#handler?.onDrain?.();
  }

  #onDrain(): void {
    if (this.#writeTimer !== undefined) {
      this.#clock.clearTimeout(this.#writeTimer);
      this.#writeTimer = undefined;
    }
    if (this.#batch !== undefined && !this.#batch.isEmpty && !this.#scheduled) this.#flush();
    this.#maybeDrain();
  }

  /** The write timeout, from now: one timer, armed while the socket is backed up. */
  #armWriteTimer(): void {
    this.#onWriteTimeoutBound ??= this.#onWriteTimeout.bind(this);
    this.#writeTimer = this.#clock.setTimeout(this.#onWriteTimeoutBound, this.#limits.writeTimeoutMs);
  }

  #onWriteTimeout(): void {
    this.#writeTimer = undefined;
    if (this.#socket.writableLength === 0) return;
    this.fail(
      new PeerpostError(
        'ERR_WRITE_TIMEOUT',
        `${this.bufferedBytes} bytes not accepted by the peer within ${this.#limits.writeTimeoutMs} ms`,
      ),
    );
  }

  /**
   * One read: its frames go to the handler, then what the handler wrote back on this
   * connection meanwhile goes to the socket at once, from inside the read, as a program
   * that answers in its `'data'` listener writes. (On the next tick it would go out no
   * sooner, since the tick queue runs right after this read, but through a tick of its
   * own: on a request/reply connection that was a `process.nextTick` per reply.) Writes
   * to other connections keep their tick. The first frame written back, if it finds the
   * socket idle, does not wait for the end of the read either (see {@link #queued}).
   */
  #onData(chunk: Buffer): void {
    this.#lastReadAt = this.#clock.now();
    this.#inRead = true;
    this.#readWroteAtOnce = false;
    try {
      this.#decoder.pushRanges(chunk, StreamConnection.#decoded, this);
    } catch (err) {
      this.fail(err as PeerpostError);
    } finally {
      this.#inRead = false;
    }
    if (this.#batch !== undefined && !this.#batch.isEmpty && !this.#scheduled) this.#flush();
  }

  #onFrame(chunk: Buffer, start: number, end: number): void {
    const handler = this.#handler;
    if (this.#reason !== undefined || start === end || handler === undefined) return; // empty frame: keepalive
    deliverFrame(handler, chunk, start, end, this.#lastReadAt);
  }

  /** Interval between keepalives: a quarter of the idle timeout. */
  get #keepaliveMs(): number {
    return Math.max(1, Math.floor(this.#limits.idleTimeoutMs / 4));
  }

  #armLiveness(): void {
    const now = this.#clock.now();
    let due = this.#lastWriteAt + this.#keepaliveMs;
    if (this.#reading) due = Math.min(due, this.#lastReadAt + this.#limits.idleTimeoutMs);
    this.#idleTimer = this.#clock.setTimeout(this.#onLivenessBound, Math.max(1, due - now));
  }

  #onLiveness(): void {
    this.#idleTimer = undefined;
    const second = this.#lookAgain !== undefined;
    this.#lookAgain = undefined;
    if (this.#reason !== undefined || this.#finished) return;
    const now = this.#clock.now();
    const silentFor = now - this.#lastReadAt;
    if (this.#reading && silentFor >= this.#limits.idleTimeoutMs) {
      if (!second) {
        // Judge the peer on what it sent, not on when we last looked: when this process
        // was busy (a long handler, GC), timers run before the socket data that came in
        // meanwhile is read. The poll phase of the next turn reads it; then judge.
        this.#lookAgain = setImmediate(this.#onLivenessBound);
        return;
      }
      const where = this.#decoder.hasPartialFrame
        ? 'stalled inside a frame'
        : 'sent nothing, not even a keepalive,';
      this.fail(
        new PeerpostError(
          'ERR_IDLE_TIMEOUT',
          `peer ${where} for ${silentFor} ms (idle timeout ${this.#limits.idleTimeoutMs} ms)`,
        ),
      );
      return;
    }
    if (now - this.#lastWriteAt >= this.#keepaliveMs && !this.#socket.writableNeedDrain) {
      this.#socket.write(KEEPALIVE_FRAME);
      this.#lastWriteAt = now;
      this.#releaseIdle();
    }
    this.#armLiveness();
  }

  #onEnd(): void {
    if (this.#reason === undefined) {
      this.#reason = this.#decoder.hasPartialFrame
        ? {
            code: 'ERR_FRAME_INCOMPLETE',
            message: 'the peer closed the connection inside a frame',
            initiator: 'remote',
          }
        : { code: 'ERR_CONNECTION_CLOSED', message: 'closed by the peer', initiator: 'remote' };
      this.#dropQueue();
    }
  }

  #onError(err: Error): void {
    if (this.#reason !== undefined) return;
    this.#reason = {
      code: 'ERR_CONNECTION_RESET',
      message: `connection error: ${err.message}`,
      initiator: 'remote',
      cause: err,
    };
    this.#dropQueue();
  }

  /** Nothing written for a keepalive interval: give back what only traffic needs. */
  #releaseIdle(): void {
    if ((this.#batch !== undefined && !this.#batch.isEmpty) || this.#scheduled) return;
    this.#batch = undefined;
    this.#flushBound = undefined;
    if (this.#inSocket?.length === 0) {
      this.#inSocket = undefined;
      this.#onWrittenBound = undefined;
    }
  }

  #dropQueue(): void {
    this.#batch?.clear();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    for (const timer of [this.#writeTimer, this.#idleTimer, this.#closeTimer]) {
      if (timer !== undefined) this.#clock.clearTimeout(timer);
    }
    this.#writeTimer = this.#idleTimer = this.#closeTimer = undefined;
    if (this.#lookAgain !== undefined) clearImmediate(this.#lookAgain);
    this.#lookAgain = undefined;
    this.#reason ??= { code: 'ERR_CONNECTION_CLOSED', message: 'the socket closed', initiator: 'remote' };
    this.#dropQueue();
    this.#socket.off('data', StreamConnection.#socketData);
    this.#reads?.detach();
    const reason = this.#reason;
    this.#logger.debug(
      { ...this.#logFields(), code: reason.code, initiator: reason.initiator },
      'connection closed',
    );
    this.#onFinished?.(this);
    this.#resolveClosed?.(reason);
    this.#resolveClosed = undefined;
    this.#handler?.onClose?.(reason);
  }
}

/** Where a socket points to its connection, for the shared socket listeners. */
const OWNER: unique symbol = Symbol('peerpost.StreamConnection');
type OwnedSocket = Duplex & { [OWNER]?: StreamConnection };

function ownerOf(socket: Duplex): StreamConnection {
  return (socket as OwnedSocket)[OWNER] as StreamConnection;
}

/**
 * The `peerpost_errors_total` kind of a connection failure: `ERR_IDLE_TIMEOUT` → `idle_timeout`
 * (`connection_failed` for a code that is not a listed kind; see src/metrics/error-kinds.ts).
 */
export function errorKind(code: ErrorCode): ErrorKind {
  return connectionErrorKind(code);
}

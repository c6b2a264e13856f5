import type { Duplex } from 'node:stream';
import { type ErrorCode, PeerpostError } from '../errors.js';
import { type Metrics, noopMetrics } from '../metrics/types.js';
import { type Clock, systemClock, type TimerHandle } from '../util/clock.js';
import { type Logger, noopLogger } from '../util/logger.js';
import { type Envelope, encodeEnvelopeInto } from '../wire/envelope.js';
import { checkFrames, DEFAULT_MAX_FRAME_BYTES, FRAME_PREFIX_BYTES, FrameDecoder } from '../wire/framing.js';
import type {
  CloseReason,
  Connection,
  ConnectionHandler,
  ConnectionKind,
  RemoteIdentity,
  TransportLimits,
} from './types.js';

const U32_MAX = 0xffff_ffff;
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

/** Defaults of {@link TransportLimits}. */
export const DEFAULT_LIMITS: Readonly<Required<TransportLimits>> = {
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  writeTimeoutMs: 12_000,
  handshakeTimeoutMs: 5_000,
  idleTimeoutMs: 10_000,
  highWaterMarkBytes: 1024 * 1024,
};

/** Validates limits and fills in defaults; throws `ERR_INVALID_OPTION`. */
export function resolveLimits(limits: TransportLimits = {}): Required<TransportLimits> {
  const out = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof TransportLimits)[]) {
    const value = limits[key];
    if (value === undefined) continue;
    const max = key === 'maxFrameBytes' ? U32_MAX : Number.MAX_SAFE_INTEGER;
    if (!Number.isInteger(value) || value <= 0 || value > max) {
      throw new PeerpostError('ERR_INVALID_OPTION', `${key} must be a positive integer, got ${value}`);
    }
    out[key] = value;
  }
  return out;
}

export interface StreamConnectionOptions {
  kind: ConnectionKind;
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
  #handler: ConnectionHandler | undefined;
  /**
   * Entries of this tick's batch: frame bodies, or (where `#framed[i]`) runs of whole
   * frames. Made by the first write (an idle connection has none); let go when idle.
   */
  #queue: Uint8Array[] | undefined;
  #framed: boolean[] | undefined;
  #queueBytes = 0;
  /** Frames in `#queue` (a framed run holds several). */
  #queueFrames = 0;
  /**
   * Where writeEnvelope() encodes frames: appended only, so a region handed to the socket
   * is never written again. Kept across ticks while it has room; let go when idle.
   */
  #slab: Buffer | undefined;
  #slabUsed = 0;
  /**
   * The open run, the last queue entry while it grows: bytes `#runStart .. #runEnd` of
   * `#runArea`. Whole frames that continue it in the same memory (the next frame encoded
   * in `#slab`, or writeFrames() regions that follow each other, like the consecutive
   * frames of a sender's arena or the hub's broadcasts) extend it instead of adding an
   * entry, so they go to the socket as one region without a copy. -1: no open run.
   */
  #runStart = -1;
  #runEnd = 0;
  #runArea: ArrayBufferLike | undefined;
  /** Frames accepted by write() and not yet reported by onFlushed (queued or in the socket). */
  #unreported = 0;
  /** Frame counts of the batches handed to the socket and not yet written, in order (made by the first flush). */
  #inSocket: number[] | undefined;
  #scheduled = false;
  #needDrain = false;
  #lastReadAt = 0;
  #lastWriteAt = 0;
  #reading = false;
  #writeTimer: TimerHandle | undefined;
  #idleTimer: TimerHandle | undefined;
  #closeTimer: TimerHandle | undefined;
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
  readonly #onLivenessBound: () => void;

  constructor(socket: Duplex, options: StreamConnectionOptions) {
    this.#socket = socket;
    this.kind = options.kind;
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
  static readonly #decoded = function (this: StreamConnection, frame: Buffer): void {
    this.#onFrame(frame);
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
    return this.#queueBytes + this.#socket.writableLength;
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
    this.#socket.on('data', StreamConnection.#socketData);
    this.#socket.resume(); // connect() may have read the acceptance frame in paused mode
  }

  write(body: Uint8Array): boolean {
    if (this.#reason !== undefined) return false;
    if (body.byteLength === 0) {
      throw new PeerpostError('ERR_INVALID_OPTION', 'an empty frame body is reserved for keepalives');
    }
    if (body.byteLength > U32_MAX) {
      throw new PeerpostError('ERR_LENGTH_OVERFLOW', `frame body of ${body.byteLength} bytes exceeds u32`);
    }
    this.#closeRun();
    this.#enqueue(body, false);
    return this.#queued(FRAME_PREFIX_BYTES + body.byteLength);
  }

  /**
   * Like write(), but encodes `envelope` (whose encoded size is `size`) with its length
   * prefix straight into this connection's write buffer: one copy of the payload and no
   * buffer per message. Frames written this way in one tick go to the socket as one
   * contiguous region, without a second copy.
   */
  writeEnvelope(envelope: Envelope, size: number): boolean {
    if (this.#reason !== undefined) return false;
    const need = FRAME_PREFIX_BYTES + size;
    let slab = this.#slab;
    let at = this.#slabUsed;
    if (slab === undefined || slab.length - at < need) {
      this.#closeRun();
      slab = this.#slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, need));
      at = this.#slabUsed = 0;
    }
    slab.writeUInt32BE(size, at);
    const end = encodeEnvelopeInto(envelope, slab, at + FRAME_PREFIX_BYTES);
    if (end !== at + need) {
      throw new PeerpostError(
        'ERR_INVALID_OPTION',
        `writeEnvelope: size ${size} does not match the encoding`,
      );
    }
    this.#slabUsed = end;
    this.#extendRun(slab, slab.byteOffset + at, need);
    return this.#queued(need);
  }

  /** Queues `count` whole frames (prefixes included) by reference: see Connection.writeFrames. */
  writeFrames(frames: Uint8Array, count: number): boolean {
    checkFrames(frames, count);
    if (this.#reason !== undefined) return false;
    this.#extendRun(frames, frames.byteOffset, frames.byteLength);
    return this.#queued(frames.byteLength, count);
  }

  #enqueue(entry: Uint8Array, framed: boolean): void {
    const queue = this.#queue;
    if (queue === undefined) {
      this.#queue = [entry];
      this.#framed = [framed];
    } else {
      queue.push(entry);
      (this.#framed as boolean[]).push(framed);
    }
  }

  /** Bookkeeping shared by the writes: schedule the flush, report backpressure. */
  #queued(bytes: number, frames = 1): boolean {
    this.#queueBytes += bytes;
    this.#queueFrames += frames;
    this.#unreported += frames;
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.#flushBound ??= this.#flush.bind(this, false);
      process.nextTick(this.#flushBound);
    }
    if (this.#queueBytes + this.#socket.writableLength >= this.#limits.highWaterMarkBytes) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  /** Adds whole frames at `start` (absolute offset in `bytes.buffer`) to the open run, or opens one. */
  #extendRun(bytes: Uint8Array, start: number, length: number): void {
    if (this.#runStart >= 0 && this.#runArea === bytes.buffer && this.#runEnd === start) {
      this.#runEnd += length;
      return;
    }
    this.#closeRun();
    this.#runArea = bytes.buffer;
    this.#runStart = start;
    this.#runEnd = start + length;
    this.#enqueue(bytes, true); // placeholder: the run's bytes are fixed when it closes
  }

  /** Turns the open run (the last queue entry) into its final view. */
  #closeRun(): void {
    if (this.#runStart < 0) return;
    const queue = this.#queue as Uint8Array[];
    queue[queue.length - 1] = Buffer.from(
      this.#runArea as ArrayBuffer,
      this.#runStart,
      this.#runEnd - this.#runStart,
    );
    this.#runStart = -1;
    this.#runArea = undefined;
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
        this.#metrics.inc('peerpost_errors_total', { kind: errorKind(error.code) });
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
   * Hands the queue to the socket as one buffer. While the socket is backed up, frames
   * stay in our queue (still counted in pendingFrames) and go out on 'drain': the socket
   * holds at most one batch beyond its high-water mark, and frames that never left are
   * known to be unsent when the connection fails. close() forces a last flush.
   */
  #flush(force = false): void {
    this.#scheduled = false;
    const queue = this.#queue;
    const n = queue === undefined ? 0 : queue.length;
    if (n === 0 || this.#finished || this.#socket.destroyed) return;
    if (!force && this.#socket.writableNeedDrain) return;
    this.#lastWriteAt = this.#clock.now();
    this.#closeRun();
    const inSocket = this.#inSocket;
    if (inSocket === undefined) this.#inSocket = [this.#queueFrames];
    else inSocket.push(this.#queueFrames);
    const accepted = this.#writeBatch(queue as Uint8Array[], n);
    (queue as Uint8Array[]).length = 0;
    (this.#framed as boolean[]).length = 0;
    this.#queueBytes = 0;
    this.#queueFrames = 0;
    // A slab with little room left is not worth keeping: the next frame starts a new one.
    if (this.#slab !== undefined && this.#slab.length - this.#slabUsed < MIN_SLAB_ROOM)
      this.#slab = undefined;
    if (!accepted && this.#writeTimer === undefined) {
      this.#writeTimer = this.#clock.setTimeout(() => this.#onWriteTimeout(), this.#limits.writeTimeoutMs);
    }
    this.#maybeDrain();
  }

  /**
   * Small frames are copied with their prefixes into one buffer (measured faster than
   * corked small writes for 64 B frames); bodies of {@link LARGE_BODY_BYTES} or more are
   * passed by reference between corked prefix buffers, so node writes the batch with one
   * writev and no copy (measured ~20% faster for 64 KiB frames). The write callback sits
   * on the batch's last chunk.
   */
  #writeBatch(queue: Uint8Array[], n: number): boolean {
    const socket = this.#socket;
    const framed = this.#framed as boolean[];
    this.#onWrittenBound ??= this.#onWritten.bind(this);
    const onWritten = this.#onWrittenBound;
    if (n === 1 && framed[0]) return socket.write(queue[0] as Uint8Array, onWritten);
    let mixed = false;
    for (let i = 0; i < n && !mixed; i++)
      mixed = framed[i] === true || (queue[i] as Uint8Array).byteLength >= LARGE_BODY_BYTES;
    if (!mixed) return socket.write(fillSmall(queue, 0, n, this.#queueBytes, undefined), onWritten);
    socket.cork();
    let accepted = true;
    let from = 0;
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const entry = queue[i] as Uint8Array;
      const last = i === n - 1;
      if (framed[i]) {
        // Whole frames already encoded in the slab: written as they are.
        if (from < i) socket.write(fillSmall(queue, from, i, bytes, undefined));
        accepted = last ? socket.write(entry, onWritten) : socket.write(entry);
      } else if (entry.byteLength >= LARGE_BODY_BYTES) {
        socket.write(fillSmall(queue, from, i, bytes + FRAME_PREFIX_BYTES, entry));
        accepted = last ? socket.write(entry, onWritten) : socket.write(entry);
      } else {
        bytes += FRAME_PREFIX_BYTES + entry.byteLength;
        continue;
      }
      from = i + 1;
      bytes = 0;
    }
    if (from < n) accepted = socket.write(fillSmall(queue, from, n, bytes, undefined), onWritten);
    socket.uncork();
    return accepted;
  }

  /** A batch reached the operating system (socket write callbacks come in order). */
  #onWritten(err?: Error | null): void {
    const count = this.#inSocket?.shift() ?? 0;
    // A destroyed socket completes its unsent writes (without an error on Node 20): they
    // were not sent and stay counted as pending.
    if (err || this.#socket.destroyed) return;
    this.#unreported -= count;
    this.#handler?.onFlushed?.(count);
  }

  #maybeDrain(): void {
    if (!this.#needDrain || this.#reason !== undefined) return;
    if (this.#queueBytes + this.#socket.writableLength >= this.#limits.highWaterMarkBytes) return;
    this.#needDrain = false;
    this.#handler?.onDrain?.();
  }

  #onDrain(): void {
    if (this.#writeTimer !== undefined) {
      this.#clock.clearTimeout(this.#writeTimer);
      this.#writeTimer = undefined;
    }
    if (this.#queue !== undefined && this.#queue.length > 0 && !this.#scheduled) this.#flush();
    this.#maybeDrain();
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

  #onData(chunk: Buffer): void {
    this.#lastReadAt = this.#clock.now();
    try {
      this.#decoder.push(chunk, StreamConnection.#decoded, this);
    } catch (err) {
      this.fail(err as PeerpostError);
    }
  }

  #onFrame(frame: Buffer): void {
    if (this.#reason !== undefined || frame.length === 0) return; // empty frame: keepalive
    this.#handler?.onFrame(frame, this.#lastReadAt);
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
    if (this.#reason !== undefined || this.#finished) return;
    const now = this.#clock.now();
    const silentFor = now - this.#lastReadAt;
    if (this.#reading && silentFor >= this.#limits.idleTimeoutMs) {
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
    if (this.#queueFrames > 0 || this.#scheduled) return;
    this.#slab = undefined;
    this.#queue = this.#framed = undefined;
    this.#flushBound = undefined;
    if (this.#inSocket?.length === 0) {
      this.#inSocket = undefined;
      this.#onWrittenBound = undefined;
    }
  }

  #dropQueue(): void {
    if (this.#queue !== undefined) this.#queue.length = 0;
    if (this.#framed !== undefined) this.#framed.length = 0;
    this.#queueBytes = 0;
    this.#queueFrames = 0;
    this.#runStart = -1;
    this.#runArea = undefined;
    this.#slab = undefined;
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    for (const timer of [this.#writeTimer, this.#idleTimer, this.#closeTimer]) {
      if (timer !== undefined) this.#clock.clearTimeout(timer);
    }
    this.#writeTimer = this.#idleTimer = this.#closeTimer = undefined;
    this.#reason ??= { code: 'ERR_CONNECTION_CLOSED', message: 'the socket closed', initiator: 'remote' };
    this.#dropQueue();
    this.#socket.off('data', StreamConnection.#socketData);
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

/** Longest an orderly close() waits for the peer to take the last frames and end the stream. */
export const CLOSE_GRACE_MS = 2000;

/** Size of a connection's encode buffer for writeEnvelope() (a larger frame gets its own). */
const SLAB_BYTES = 64 * 1024;
/** A slab with less room than this after a flush is dropped rather than kept. */
const MIN_SLAB_ROOM = 1024;

/** Bodies this large are written by reference instead of being copied into the batch buffer. */
const LARGE_BODY_BYTES = 16 * 1024;

/** Frames `from..to-1` with prefixes in one buffer of `bytes`, plus the prefix of `large` if given. */
function fillSmall(
  queue: Uint8Array[],
  from: number,
  to: number,
  bytes: number,
  large: Uint8Array | undefined,
): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (let i = from; i < to; i++) {
    const body = queue[i] as Uint8Array;
    out.writeUInt32BE(body.byteLength, at);
    out.set(body, at + FRAME_PREFIX_BYTES);
    at += FRAME_PREFIX_BYTES + body.byteLength;
  }
  if (large !== undefined) out.writeUInt32BE(large.byteLength, at);
  return out;
}

/** The `peerpost_errors_total` kind of a connection failure: `ERR_IDLE_TIMEOUT` → `idle_timeout`. */
export function errorKind(code: ErrorCode): string {
  return code.replace(/^ERR_/, '').toLowerCase();
}

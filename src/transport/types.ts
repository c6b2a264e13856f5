import type { Buffer } from 'node:buffer';
import type { ErrorCode } from '../errors.js';
import type { Envelope } from '../wire/envelope.js';

/**
 * The contract every transport implements (mutual TLS, in-memory). Everything above it
 * (direct sender, connection hub, network facade) talks only to these interfaces.
 */

/** Connection kinds, told apart by ALPN. */
export type ConnectionKind = 'direct' | 'subscribe-node' | 'subscribe-proxy';

export const CONNECTION_KINDS: readonly ConnectionKind[] = ['direct', 'subscribe-node', 'subscribe-proxy'];

/** Stable ALPN protocol ids, versioned. */
export const ALPN_BY_KIND: Readonly<Record<ConnectionKind, string>> = {
  direct: 'peerpost/direct/1',
  'subscribe-node': 'peerpost/subscribe-node/1',
  'subscribe-proxy': 'peerpost/subscribe-proxy/1',
};

/**
 * The ALPN ids of connections that speak the acknowledged-delivery protocol (control
 * frames beside the reference envelopes; see docs/acks.md). A dialer that wants acks
 * offers one before the plain id of its kind; a listener that accepts them prefers it, so
 * a peer that does not know it (the reference, an older peerpost) negotiates plain.
 */
export const ACK_ALPN_BY_KIND: Readonly<Record<ConnectionKind, string>> = {
  direct: 'peerpost/direct-ack/1',
  'subscribe-node': 'peerpost/subscribe-node-ack/1',
  'subscribe-proxy': 'peerpost/subscribe-proxy-ack/1',
};

/** The ALPN id of an acknowledged `direct` connection. */
export const ACK_ALPN = ACK_ALPN_BY_KIND.direct;

/** Who is at the other end of a connection, as proven by its handshake. */
export interface RemoteIdentity {
  /** Lowercase hex SHA-256 of the peer certificate DER. */
  readonly certHash: string;
  /** First 4 hex characters of `certHash`, for logs. */
  readonly shortId: string;
  /** Lowercase hex Ed25519 owner keys whose signatures in the certificate verified. */
  readonly ownerKeys: readonly string[];
}

/** The identity a caller requires at an address: a certificate hash or an owner key (hex). */
export type ExpectedIdentity = { readonly certHash: string } | { readonly ownerKey: string };

/** Why a connection closed. */
export interface CloseReason {
  /** `ERR_CONNECTION_CLOSED` for an orderly close; otherwise the failure. */
  readonly code: ErrorCode;
  readonly message: string;
  /** `local`: this side called close() or failed the connection; `remote`: the peer did. */
  readonly initiator: 'local' | 'remote';
  readonly cause?: unknown;
}

/** Callbacks an owner attaches to a connection (one object, set once: no per-frame closures). */
export interface ConnectionHandler {
  /**
   * A whole frame body (without its prefix), in order. Views may alias transport buffers
   * only until the callback returns if `frame` is reused; peerpost transports never reuse
   * them. `readAtMs`, when given, is the transport clock's time when the bytes holding the
   * frame were read (one clock read per chunk instead of one per frame).
   */
  onFrame(frame: Buffer, readAtMs?: number): void;
  /**
   * Optional, used instead of onFrame when present: the frame body is `chunk[start, end)`,
   * so the transport makes no view per frame (the frames of one received chunk share it).
   * peerpost transports never reuse `chunk`. `readAtMs` as for onFrame.
   */
  onFrameAt?(chunk: Buffer, start: number, end: number, readAtMs: number): void;
  /** `count` frames accepted by write() were handed to the socket, in order. Called once per flushed batch. */
  onFlushed?(count: number): void;
  /** The write buffer fell below the high-water mark after write() returned false. */
  onDrain?(): void;
  /** The connection closed; frames accepted but not yet flushed were not sent. Called once. */
  onClose?(reason: CloseReason): void;
}

/**
 * Hands the frame body `chunk[start, end)` to `handler` as the contract says: to
 * onFrameAt when it has it, else to onFrame as a view. The transports' one way to deliver.
 */
export function deliverFrame(
  handler: ConnectionHandler,
  chunk: Buffer,
  start: number,
  end: number,
  readAtMs: number,
): void {
  if (handler.onFrameAt !== undefined) handler.onFrameAt(chunk, start, end, readAtMs);
  else handler.onFrame(chunk.subarray(start, end), readAtMs);
}

export interface Connection {
  readonly kind: ConnectionKind;
  /** `host:port` of the peer (IPv6 hosts in brackets). */
  readonly remoteAddress: string;
  readonly localAddress: string;
  readonly remoteIdentity: RemoteIdentity;
  /**
   * True on a connection that negotiated the acknowledged-delivery protocol (the dialer
   * offered it and the listener accepts it); absent or false otherwise.
   */
  readonly acks?: boolean;
  /**
   * Starts delivering frames and events to `handler`. Frames that arrive before attach
   * are held (reading is paused). Call once.
   */
  attach(handler: ConnectionHandler): void;
  /**
   * Queues one frame body (the transport adds the length prefix). All writes of one tick
   * go to the socket in one write, except that a transport may write the first frame of
   * a tick (or of a read being handled) at once when its socket holds nothing, and the
   * tick's other frames in one write after it (the TLS transport does). Returns false
   * when the buffered bytes are at or above the high-water mark: the frame is still
   * queued, but the caller should wait for `onDrain`. Writing to a closed connection returns false and sends nothing.
   * An empty body is rejected (`ERR_INVALID_OPTION`): a zero-length frame is the
   * protocol's keepalive, sent by the transport and never delivered to `onFrame`.
   * The caller must not modify `body` until `onFlushed` has reported it.
   */
  write(body: Uint8Array): boolean;
  /**
   * Optional fast path with the semantics of `write(encodeEnvelope(envelope))`: the
   * transport encodes the envelope (of encoded size `size`, see `encodedEnvelopeSize`)
   * now, straight into its write buffer, so the payload is copied once and no buffer is
   * allocated per message. The envelope may be changed after the call returns.
   */
  writeEnvelope?(envelope: Envelope, size: number): boolean;
  /**
   * Optional fast path with the semantics of `writeEnvelope` for the plain message that
   * `encodePlainInto` describes (uncompressed, no proxy, no direct receiver; its timestamp
   * a whole number of ms; of encoded size `size`, see `plainEnvelopeSize`), with no
   * envelope object made: the hub's reply lane.
   */
  writePlain?(size: number, timestampMs: number, id: string, label: string, data: Uint8Array): boolean;
  /**
   * Optional fast path with the semantics of `count` calls of write(): `frames` holds
   * `count` whole frames, each with its 4-byte big-endian length prefix, back to back
   * (as a sender stores messages that had to wait). Taken by reference, without a copy:
   * the caller must not modify the bytes until `onFlushed` has reported them. Framing
   * that does not add up (a length running past the end, an empty frame, a different
   * count) is rejected with `ERR_INVALID_OPTION` before anything is queued.
   */
  writeFrames?(frames: Uint8Array, count: number): boolean;
  /**
   * Optional fast path for frames this process encoded itself (with `encodeFrameInto`,
   * e.g. a sender's slab): `writeFrames(frames.subarray(start, end), count)` without the
   * view and without parsing the framing again. Taken by reference like writeFrames; the
   * bytes must be `count` whole non-empty frames (not checked).
   */
  writeEncoded?(frames: Buffer, start: number, end: number, count: number): boolean;
  /** Bytes queued by write() and not yet accepted by the operating system. */
  readonly bufferedBytes: number;
  /**
   * Optional: bytes the connection takes before a write returns false (its high-water mark
   * less what it holds; 0 or less once a write returned false). Lets a caller hand over
   * several waiting frames in one call and stop where writing them one by one would have.
   */
  readonly room?: number;
  /** Frames accepted by write() and not yet reported through onFlushed. */
  readonly pendingFrames: number;
  /** Closes the connection (idempotent). Queued frames are flushed first when possible. */
  close(reason?: string): void;
  /** Resolves once, when the connection is fully closed. Never rejects. */
  readonly closed: Promise<CloseReason>;
  /** The close reason, once closed. */
  readonly closeReason: CloseReason | undefined;
}

export interface ConnectOptions {
  /** Fail with `ERR_IDENTITY_MISMATCH` before any frame is written if the peer is someone else. */
  expectedIdentity?: ExpectedIdentity | undefined;
  signal?: AbortSignal | undefined;
  /** Offer the acknowledged-delivery protocol (see {@link ACK_ALPN_BY_KIND}). @default false */
  acks?: boolean | undefined;
}

/** Limits every transport enforces. */
export interface TransportLimits {
  /** Largest frame body accepted on read; a larger one closes the connection with `ERR_FRAME_TOO_LARGE`. @default 16 MiB */
  maxFrameBytes?: number;
  /** A write that cannot complete for this long fails the connection with `ERR_WRITE_TIMEOUT`. @default 12000 */
  writeTimeoutMs?: number;
  /** Connect + handshake must finish within this time. @default 5000 */
  handshakeTimeoutMs?: number;
  /**
   * A peer from which nothing (no frame, no keepalive) arrives for this long is dropped
   * with `ERR_IDLE_TIMEOUT`; keepalives go out every quarter of it. @default 10000
   */
  idleTimeoutMs?: number;
  /** Buffered bytes at which write() starts returning false. @default 1 MiB */
  highWaterMarkBytes?: number;
}

/** An authenticated inbound connection waiting for admission. */
export interface AdmissionCandidate {
  readonly kind: ConnectionKind;
  readonly remoteAddress: string;
  readonly remoteIdentity: RemoteIdentity;
}

export interface ListenOptions {
  /** Called for every accepted, authenticated connection. */
  onConnection(connection: Connection): void;
  /**
   * Decides, after authentication and before the peer is told it was accepted, whether
   * to take the connection. A refused peer's `connect()` fails with `ERR_CONNECT_REFUSED`
   * (it never writes a frame into a connection that is about to close).
   * @default admit every authenticated connection
   */
  admit?(candidate: AdmissionCandidate): boolean;
  /** Kinds accepted on this listener. @default all */
  kinds?: readonly ConnectionKind[];
  /** Inbound connections beyond this are refused (`max_conn_reached`). @default 1000 */
  maxConnections?: number;
  /** Accept the acknowledged-delivery protocol when a dialer offers it. @default false */
  acks?: boolean;
  signal?: AbortSignal;
}

export interface Listener {
  /** The bound `host:port` (the real port when listening on port 0). */
  readonly address: string;
  /** Number of open inbound connections. */
  readonly connectionCount: number;
  /** Stops accepting and closes every inbound connection; resolves when all sockets are gone. */
  close(): Promise<void>;
}

export interface Transport {
  listen(address: string, options: ListenOptions): Promise<Listener>;
  /**
   * Opens a connection. Resolves only once the listener has authenticated and admitted
   * it, so frames written to it are not lost to a refusal (untrusted certificate, cap,
   * admission): those fail here, with a coded error.
   */
  connect(address: string, kind: ConnectionKind, options?: ConnectOptions): Promise<Connection>;
}

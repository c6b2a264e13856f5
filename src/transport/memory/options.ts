import type { ErrorCode } from '../../errors.js';
import type { Clock } from '../../util/clock.js';
import type { Random } from '../../util/random.js';
import type { RemoteIdentity, TransportLimits } from '../types.js';

/**
 * One-way delay of a link: a fixed number of milliseconds, or a uniform distribution
 * drawn from the network's seeded {@link Random} for every batch sent over the link.
 */
export type LatencySpec = number | { readonly minMs: number; readonly maxMs: number };

/** Conditions on the path from one host to another (one direction). */
export interface LinkOptions {
  /** One-way delay of every batch. @default 0 */
  latency?: LatencySpec;
  /** Bytes per second the link carries; batches queue behind each other. @default Infinity */
  bandwidthBytesPerSec?: number;
  /** Connection attempts over this link are refused with `ERR_CONNECT_REFUSED`. @default false */
  refuse?: boolean;
  /** Probability, per connection attempt, that it is refused with `ERR_CONNECT_REFUSED`. @default 0 */
  refuseRate?: number;
  /**
   * Probability, per batch sent over the link, that the connection is reset inside that
   * batch: the receiver gets the bytes before a random cut point, then `ERR_CONNECTION_RESET`.
   * @default 0
   */
  resetRate?: number;
}

export interface MemoryNetworkOptions {
  /** Time for delivery latency and every timeout. @default a new FakeClock */
  clock?: Clock;
  /** The source of every random decision of the fault plan. Ignored when `random` is given. @default 1 */
  seed?: number;
  /** Overrides the generator built from `seed`. */
  random?: Random;
  /** Conditions of every link without its own {@link MemoryNetwork.setLink} entry. @default {} */
  defaultLink?: LinkOptions;
  /**
   * Bytes a sender may hand over to a connection before the receiver reads them (the
   * socket buffers of both ends together). A receiver that stops reading makes the
   * sender's own buffer grow past its high-water mark once this is full.
   * @default 262144
   */
  socketBufferBytes?: number;
  /** Keep a log of connection-level events in {@link MemoryNetwork.events}. @default false */
  recordEvents?: boolean;
}

/** A node's identity on the memory network: what its peers see as `remoteIdentity`. */
export interface MemoryIdentityInit {
  /** Lowercase hex of 64 characters. @default SHA-256 of `peerpost-memory:<host>` */
  certHash?: string;
  /** Lowercase hex owner keys. @default [] */
  ownerKeys?: readonly string[];
}

export interface MemoryTransportOptions {
  /** The host part of every address of this node; must be unique on the network. @default `node<N>` */
  host?: string;
  identity?: MemoryIdentityInit;
  limits?: TransportLimits;
}

/** A connection-level event in the network log (no per-frame events). */
export interface MemoryEvent {
  /** Clock time in milliseconds. */
  readonly at: number;
  readonly type:
    | 'listen'
    | 'unlisten'
    | 'connect'
    | 'accept'
    | 'reject'
    | 'close'
    | 'deliver'
    | 'partition'
    | 'heal'
    | 'crash'
    | 'restart'
    | 'reset';
  /** Local address (or host) of the subject. */
  readonly from?: string;
  /** Remote address (or host) of the subject. */
  readonly to?: string;
  readonly code?: ErrorCode;
  /** Bytes, for `deliver`. */
  readonly bytes?: number;
}

export interface ResolvedLimits {
  readonly maxFrameBytes: number;
  readonly writeTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly highWaterMarkBytes: number;
}

export type { RemoteIdentity };

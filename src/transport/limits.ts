import { PeerpostError } from '../errors.js';
import { DEFAULT_MAX_FRAME_BYTES, U32_MAX } from '../wire/framing.js';
import type { TransportLimits } from './types.js';

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

/**
 * Longest an orderly close() waits for the peer to take the last frames (and, over TLS,
 * to end the stream): a peer that stopped reading must not hold a shutdown for the whole
 * write timeout. Both transports use it (capped by `writeTimeoutMs`).
 */
export const CLOSE_GRACE_MS = 2000;

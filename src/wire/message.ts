import type { Envelope } from './envelope.js';
import { DEFAULT_MAX_DECOMPRESSED_BYTES, type ZstdCodec, zstd } from './zstd.js';

/** Payloads larger than this many bytes are zstd-compressed when sent (as the reference). */
export const COMPRESSION_THRESHOLD_BYTES = 1000;

export interface CreateEnvelopeInput {
  id: string;
  label: string;
  data: Uint8Array;
  /** Milliseconds since the epoch when delivery starts. */
  nowMs: number | bigint;
  directReceiver?: string | undefined;
  lastSenderIsProxy?: boolean;
}

export interface CompressionOptions {
  /** Compress payloads larger than this. `Infinity` disables compression. @default 1000 */
  compressThresholdBytes?: number;
  /** zstd level. @default 3 */
  level?: number;
  codec?: ZstdCodec;
}

/** Builds an outgoing envelope, compressing `data` when it is over the threshold. */
export function createEnvelope(input: CreateEnvelopeInput, options: CompressionOptions = {}): Envelope {
  const threshold = options.compressThresholdBytes ?? COMPRESSION_THRESHOLD_BYTES;
  const compress = input.data.length > threshold;
  const envelope: Envelope = {
    deliveryStartTimestampMs: typeof input.nowMs === 'bigint' ? input.nowMs : BigInt(Math.trunc(input.nowMs)),
    id: input.id,
    label: input.label,
    compressed: compress,
    data: compress ? (options.codec ?? zstd()).compress(input.data, options.level ?? 3) : input.data,
    lastSenderIsProxy: input.lastSenderIsProxy ?? false,
  };
  if (input.directReceiver !== undefined) envelope.directReceiver = input.directReceiver;
  return envelope;
}

/** The application payload of an envelope: decompressed (within the cap) when `compressed` is set. */
export function payloadOf(
  envelope: Envelope,
  options: { maxDecompressedBytes?: number; codec?: ZstdCodec } = {},
): Uint8Array {
  if (!envelope.compressed) return envelope.data;
  return (options.codec ?? zstd()).decompress(
    envelope.data,
    options.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES,
  );
}

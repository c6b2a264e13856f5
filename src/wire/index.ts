export {
  assertEncodable,
  type DecodedEnvelope,
  decodeEnvelope,
  type EncodeOptions,
  type Envelope,
  type EnvelopeVersion,
  encodedEnvelopeSize,
  encodeEnvelope,
  encodeEnvelopeInto,
  V1_TAG,
} from './envelope.js';
export {
  DEFAULT_MAX_FRAME_BYTES,
  encodeEnvelopeFrame,
  encodeFrame,
  encodeFrames,
  FRAME_PREFIX_BYTES,
  FrameDecoder,
  type FrameDecoderOptions,
} from './framing.js';
export {
  COMPRESSION_THRESHOLD_BYTES,
  type CompressionOptions,
  type CreateEnvelopeInput,
  createEnvelope,
  payloadOf,
} from './message.js';
export {
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  type LoadZstdOptions,
  loadZstd,
  type ZstdCodec,
  zstd,
} from './zstd.js';

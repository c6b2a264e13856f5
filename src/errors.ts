/**
 * Every failure peerpost reports is a {@link PeerpostError} with a stable `code`.
 * Codes are part of the public API: they are never renamed or reused, and each one is
 * documented in docs/errors.md (a test checks that the two lists agree).
 */
export const ERROR_CODES = {
  // wire format
  ERR_TRUNCATED: 'input ended before the message was complete',
  ERR_TRAILING_BYTES: 'bytes left over after a complete message',
  ERR_INVALID_UTF8: 'a string field is not valid UTF-8',
  ERR_INVALID_BOOL: 'a bool byte is neither 0 nor 1',
  ERR_INVALID_OPTION_TAG: 'an Option tag byte is neither 0 nor 1',
  ERR_LENGTH_OVERFLOW: 'a value does not fit the wire format (e.g. a length or timestamp beyond u64)',
  ERR_FRAME_TOO_LARGE: 'a frame length prefix exceeds maxFrameBytes',
  ERR_FRAME_INCOMPLETE: 'a stream ended inside a frame',
  ERR_DECOMPRESSED_TOO_LARGE: 'a compressed payload expands beyond the decompression cap',
  ERR_DECOMPRESS_FAILED: 'a compressed payload is not a valid zstd stream',
  ERR_ZSTD_UNAVAILABLE: 'neither the zstd-napi addon nor node:zlib zstd is available',
  // options and configuration
  ERR_INVALID_OPTION: 'an option or argument has an invalid value',
  ERR_INVALID_CONFIG: 'a configuration file is invalid',
  ERR_INVALID_ADDRESS: 'a socket address is not host:port',
  // transport
  ERR_CONNECT_REFUSED: 'the remote address refused the connection',
  ERR_CONNECT_FAILED: 'the connection could not be established',
  ERR_HANDSHAKE_TIMEOUT: 'the TLS handshake did not finish in time',
  ERR_HANDSHAKE_FAILED: 'the TLS handshake failed',
  ERR_NO_PEER_CERTIFICATE: 'the peer presented no certificate',
  ERR_UNTRUSTED_PEER: 'the peer certificate is not trusted',
  ERR_ALPN_MISMATCH: 'the peer did not negotiate a known connection kind',
  ERR_IDENTITY_MISMATCH: 'the peer at this address is not the expected identity',
  ERR_WRITE_TIMEOUT: 'a write did not complete within the write timeout',
  ERR_IDLE_TIMEOUT: 'nothing was received from the peer within the idle timeout',
  ERR_CONNECTION_RESET: 'the connection was reset',
  ERR_CONNECTION_CLOSED: 'the connection is closed',
  ERR_MAX_CONNECTIONS: 'the inbound connection cap is reached',
  ERR_LISTEN_FAILED: 'the listener could not bind its address',
  ERR_INVALID_CERTIFICATE: 'a certificate or key could not be parsed',
  // lifecycle
  ERR_ABORTED: 'the operation was aborted',
  ERR_CLOSED: 'the object is closed',
  // requests
  ERR_REQUEST_TIMEOUT: 'no reply to a request within its timeout',
  ERR_REQUEST_DROPPED: 'a request reached no target (every outcome was a drop or a skip)',
  ERR_TOO_MANY_REQUESTS: 'the cap on pending requests is reached',
  // control path
  ERR_UNAUTHORIZED: 'a control request without the right token',
  // acknowledged delivery
  ERR_ACK_PROTOCOL: 'a peer broke the acknowledged-delivery protocol (a bad or unexpected control frame)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface PeerpostErrorOptions {
  cause?: unknown;
  /** Byte offset in the input where a decoding error was detected. */
  offset?: number;
}

export class PeerpostError extends Error {
  override readonly name = 'PeerpostError';
  readonly code: ErrorCode;
  readonly offset: number | undefined;

  constructor(code: ErrorCode, message: string, options: PeerpostErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.offset = options.offset;
  }
}

/** True when `err` is a PeerpostError, optionally with the given code. */
export function isPeerpostError(err: unknown, code?: ErrorCode): err is PeerpostError {
  return err instanceof PeerpostError && (code === undefined || err.code === code);
}

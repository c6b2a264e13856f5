import { Buffer } from 'node:buffer';
import { createRequire } from 'node:module';
import * as zlib from 'node:zlib';
import { PeerpostError } from '../errors.js';

/** Default cap on the size of one decompressed payload: 16 MiB. */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 16 * 1024 * 1024;

export interface ZstdCodec {
  /** `napi` (zstd-napi addon, the fast default) or `zlib` (node:zlib, Node >= 22.15). */
  readonly backend: 'napi' | 'zlib';
  compress(data: Uint8Array, level?: number): Buffer;
  /** Throws `ERR_DECOMPRESSED_TOO_LARGE` as soon as the output would pass `maxBytes`. */
  decompress(data: Uint8Array, maxBytes?: number): Buffer;
}

/** The subset of the zstd-napi binding we use. */
interface NapiBinding {
  DCtx: new () => {
    decompress(dst: Uint8Array, src: Uint8Array): number;
    decompressStream(dst: Uint8Array, src: Uint8Array): [number, number, number];
    reset(directive: number): void;
  };
  CCtx: new () => {
    compress(dst: Uint8Array, src: Uint8Array, level: number): number;
  };
  ResetDirective: { sessionOnly: number };
  compressBound(n: number): number;
  getFrameContentSize(frame: Uint8Array): number | null;
  dStreamOutSize(): number;
}

/** The subset of node:zlib used by the fallback (present from Node 22.15). */
export interface ZlibZstd {
  zstdCompressSync?: (data: Uint8Array, options?: { params?: Record<number, number> }) => Buffer;
  zstdDecompressSync?: (data: Uint8Array, options?: { maxOutputLength?: number }) => Buffer;
  constants: Record<string, number>;
}

function tooLarge(maxBytes: number): PeerpostError {
  return new PeerpostError(
    'ERR_DECOMPRESSED_TOO_LARGE',
    `decompressed payload exceeds the cap of ${maxBytes} bytes`,
  );
}

function checkCap(maxBytes: number): void {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new PeerpostError(
      'ERR_INVALID_OPTION',
      `maxDecompressedBytes must be a non-negative integer, got ${maxBytes}`,
    );
  }
}

function napiCodec(binding: NapiBinding): ZstdCodec {
  const cctx = new binding.CCtx();
  const dctx = new binding.DCtx();
  const outChunk = binding.dStreamOutSize();
  return {
    backend: 'napi',
    compress(data, level = 3) {
      const dst = Buffer.allocUnsafe(binding.compressBound(data.byteLength));
      const n = cctx.compress(dst, data, level);
      return dst.subarray(0, n);
    },
    decompress(data, maxBytes = DEFAULT_MAX_DECOMPRESSED_BYTES) {
      checkCap(maxBytes);
      let contentSize: number | null;
      try {
        contentSize = binding.getFrameContentSize(data);
      } catch (cause) {
        throw new PeerpostError('ERR_DECOMPRESS_FAILED', 'payload is not a zstd frame', { cause });
      }
      if (contentSize !== null && contentSize > maxBytes) throw tooLarge(maxBytes);
      // Streaming, chunk by chunk, so that no frame (even one that lies about or omits
      // its content size) can make us allocate more than the cap plus one chunk.
      const chunks: Buffer[] = [];
      let total = 0;
      let input = data;
      try {
        for (;;) {
          // One byte past what we expect, so that output beyond the cap is seen.
          const want = contentSize === null ? outChunk : contentSize + 1;
          const out = Buffer.allocUnsafe(Math.max(1, Math.min(want, maxBytes - total + 1)));
          const [hint, produced, consumed] = dctx.decompressStream(out, input);
          total += produced;
          if (total > maxBytes) throw tooLarge(maxBytes);
          if (produced > 0) chunks.push(out.subarray(0, produced));
          input = input.subarray(consumed);
          if (hint === 0 && input.byteLength === 0) break;
          if (produced === 0 && consumed === 0) {
            throw new PeerpostError('ERR_DECOMPRESS_FAILED', 'zstd frame is truncated');
          }
        }
      } catch (err) {
        dctx.reset(binding.ResetDirective.sessionOnly);
        if (err instanceof PeerpostError) throw err;
        throw new PeerpostError('ERR_DECOMPRESS_FAILED', `zstd: ${(err as Error).message}`, { cause: err });
      }
      return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
    },
  };
}

function zlibCodec(z: ZlibZstd): ZstdCodec {
  const compressSync = z.zstdCompressSync!;
  const decompressSync = z.zstdDecompressSync!;
  const levelParam = z.constants['ZSTD_c_compressionLevel'];
  return {
    backend: 'zlib',
    compress(data, level = 3) {
      return compressSync(data, levelParam === undefined ? {} : { params: { [levelParam]: level } });
    },
    decompress(data, maxBytes = DEFAULT_MAX_DECOMPRESSED_BYTES) {
      checkCap(maxBytes);
      try {
        return decompressSync(data, { maxOutputLength: Math.max(1, maxBytes) });
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) throw tooLarge(maxBytes);
        throw new PeerpostError('ERR_DECOMPRESS_FAILED', `zstd: ${(err as Error).message}`, { cause: err });
      }
    },
  };
}

export interface LoadZstdOptions {
  /** Loads the zstd-napi binding; injectable so tests can simulate a missing addon. */
  loadAddon?: () => unknown;
  /** node:zlib or a stand-in. */
  zlib?: ZlibZstd;
}

const requireCjs = createRequire(import.meta.url);

/**
 * Picks the zstd backend: the zstd-napi addon when it loads, otherwise node:zlib's zstd
 * when the running Node has it, otherwise a codec whose every call throws
 * `ERR_ZSTD_UNAVAILABLE` (uncompressed traffic still works).
 */
export function loadZstd(options: LoadZstdOptions = {}): ZstdCodec {
  const loadAddon = options.loadAddon ?? (() => requireCjs('zstd-napi/binding'));
  let addonError: unknown;
  try {
    return napiCodec(loadAddon() as NapiBinding);
  } catch (err) {
    addonError = err;
  }
  const z = options.zlib ?? (zlib as unknown as ZlibZstd);
  if (typeof z.zstdCompressSync === 'function' && typeof z.zstdDecompressSync === 'function') {
    return zlibCodec(z);
  }
  const unavailable = (): never => {
    throw new PeerpostError(
      'ERR_ZSTD_UNAVAILABLE',
      'zstd is unavailable: the zstd-napi addon did not load and this Node has no node:zlib zstd',
      { cause: addonError },
    );
  };
  return { backend: 'napi', compress: unavailable, decompress: unavailable };
}

let shared: ZstdCodec | undefined;

/** The process-wide codec, loaded on first use. */
export function zstd(): ZstdCodec {
  shared ??= loadZstd();
  return shared;
}

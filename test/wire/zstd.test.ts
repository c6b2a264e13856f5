import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as zlib from 'node:zlib';
import { isPeerpostError } from '../../src/errors.js';
import { loadZstd, type ZlibZstd } from '../../src/wire/zstd.js';
import { positiveVectors } from '../helpers/vectors.js';

const zstdCases = positiveVectors.filter((v) => v.uncompressed_hex !== undefined);
const hasZlibZstd = typeof (zlib as unknown as ZlibZstd).zstdDecompressSync === 'function';
const noAddon = () => {
  throw new Error('simulated: addon did not load');
};

function exercise(codec: ReturnType<typeof loadZstd>) {
  assert.equal(zstdCases.length, 2);
  for (const v of zstdCases) {
    const out = codec.decompress(Buffer.from(v.fields.data, 'hex'));
    assert.equal(out.toString('hex'), v.uncompressed_hex, v.name);
    assert.throws(
      () => codec.decompress(Buffer.from(v.fields.data, 'hex'), 4095),
      (err: unknown) => isPeerpostError(err, 'ERR_DECOMPRESSED_TOO_LARGE'),
    );
  }
  const payload = Buffer.from('peerpost '.repeat(500));
  assert.deepEqual(codec.decompress(codec.compress(payload)), payload);
  assert.throws(
    () => codec.decompress(Buffer.from('not a zstd frame')),
    (err: unknown) => isPeerpostError(err, 'ERR_DECOMPRESS_FAILED'),
  );
}

describe('zstd', () => {
  test('the addon decompresses both reference frames and enforces the cap', () => {
    const codec = loadZstd();
    assert.equal(codec.backend, 'napi');
    exercise(codec);
  });

  test('a small bomb cannot expand past the cap (64 MiB of zeros, 16 MiB cap)', () => {
    const codec = loadZstd();
    const bomb = codec.compress(Buffer.alloc(64 * 1024 * 1024));
    assert.ok(bomb.length < 64 * 1024);
    assert.throws(
      () => codec.decompress(bomb),
      (err: unknown) => isPeerpostError(err, 'ERR_DECOMPRESSED_TOO_LARGE'),
    );
  });

  test('a frame that hides its content size is still capped while streaming', () => {
    const v = zstdCases.find((c) => c.name === 'zstd_compressed_stream_proxy')!;
    const codec = loadZstd();
    assert.throws(
      () => codec.decompress(Buffer.from(v.fields.data, 'hex'), 100),
      (err: unknown) => isPeerpostError(err, 'ERR_DECOMPRESSED_TOO_LARGE'),
    );
  });

  test('falls back to node:zlib zstd when the addon cannot load', {
    skip: !hasZlibZstd && 'this Node has no zlib zstd',
  }, () => {
    const codec = loadZstd({ loadAddon: noAddon });
    assert.equal(codec.backend, 'zlib');
    exercise(codec);
  });

  test('fallback selection uses zlib zstd functions when present (simulated zlib)', () => {
    let decompressCalls = 0;
    const fakeZlib: ZlibZstd = {
      constants: {},
      zstdCompressSync: (d) => Buffer.from(d),
      zstdDecompressSync: (d, o) => {
        decompressCalls++;
        if ((o?.maxOutputLength ?? Infinity) < d.byteLength) throw new RangeError('too large');
        return Buffer.from(d);
      },
    };
    const codec = loadZstd({ loadAddon: noAddon, zlib: fakeZlib });
    assert.equal(codec.backend, 'zlib');
    assert.equal(codec.decompress(Buffer.from('abc')).toString(), 'abc');
    assert.throws(
      () => codec.decompress(Buffer.from('abcdef'), 2),
      (err: unknown) => isPeerpostError(err, 'ERR_DECOMPRESSED_TOO_LARGE'),
    );
    assert.equal(decompressCalls, 2);
  });

  test('without addon and without zlib zstd every call is ERR_ZSTD_UNAVAILABLE', () => {
    const codec = loadZstd({ loadAddon: noAddon, zlib: { constants: {} } });
    assert.throws(
      () => codec.compress(Buffer.from('x')),
      (err: unknown) => isPeerpostError(err, 'ERR_ZSTD_UNAVAILABLE'),
    );
    assert.throws(
      () => codec.decompress(Buffer.from('x')),
      (err: unknown) => isPeerpostError(err, 'ERR_ZSTD_UNAVAILABLE'),
    );
  });
});

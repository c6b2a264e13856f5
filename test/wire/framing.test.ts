import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isPeerpostError } from '../../src/errors.js';
import { encodeFrame, encodeFrames, FrameDecoder } from '../../src/wire/framing.js';
import { negativeVectors, positiveVectors } from '../helpers/vectors.js';

function collect(decoder: FrameDecoder, chunks: Uint8Array[]): string[] {
  const out: string[] = [];
  for (const c of chunks) decoder.push(c, (f) => out.push(Buffer.from(f).toString('hex')));
  return out;
}

describe('framing', () => {
  test('frames every positive vector exactly as the reference', () => {
    for (const v of positiveVectors) {
      assert.equal(encodeFrame(Buffer.from(v.v1_hex, 'hex')).toString('hex'), v.v1_framed_hex, v.name);
    }
  });

  test('decodes a stream fed one byte at a time', () => {
    const bodies = positiveVectors.slice(0, 8).map((v) => Buffer.from(v.v1_hex, 'hex'));
    const stream = encodeFrames(bodies);
    const chunks = [...stream].map((b) => Uint8Array.of(b));
    const d = new FrameDecoder();
    assert.deepEqual(
      collect(d, chunks),
      bodies.map((b) => b.toString('hex')),
    );
    d.end();
  });

  test('frames in any chunking arrive whole and in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 50 }),
        (bodies, cuts) => {
          const stream = encodeFrames(bodies);
          const chunks: Uint8Array[] = [];
          let pos = 0;
          let i = 0;
          while (pos < stream.length) {
            const n = cuts[i++ % cuts.length]!;
            chunks.push(stream.subarray(pos, pos + n));
            pos += n;
          }
          const d = new FrameDecoder();
          assert.deepEqual(
            collect(d, chunks),
            bodies.map((b) => Buffer.from(b).toString('hex')),
          );
          d.end();
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a frame inside one chunk is passed without a copy', () => {
    const stream = encodeFrames([Buffer.from('hello'), Buffer.from('world')]);
    const d = new FrameDecoder();
    const frames: Buffer[] = [];
    d.push(stream, (f) => frames.push(f));
    assert.equal(frames.length, 2);
    assert.equal(frames[0]!.buffer, stream.buffer);
  });

  test('a prefix above maxFrameBytes is rejected before allocating', () => {
    const d = new FrameDecoder({ maxFrameBytes: 1024 });
    const prefix = Buffer.from('ffffffff', 'hex');
    assert.throws(
      () => d.push(prefix, () => assert.fail('no frame')),
      (err: unknown) => isPeerpostError(err, 'ERR_FRAME_TOO_LARGE') && err.offset === 0,
    );
    // poisoned: further input keeps failing
    assert.throws(
      () => d.push(Buffer.from('00'), () => {}),
      (err: unknown) => isPeerpostError(err, 'ERR_FRAME_TOO_LARGE'),
    );
  });

  test('a split prefix above the limit is rejected too', () => {
    const d = new FrameDecoder({ maxFrameBytes: 10 });
    d.push(Buffer.from('0000', 'hex'), () => {});
    assert.throws(
      () => d.push(Buffer.from('00ff', 'hex'), () => {}),
      (err: unknown) => isPeerpostError(err, 'ERR_FRAME_TOO_LARGE'),
    );
  });

  test('the default limit is 16 MiB', () => {
    const d = new FrameDecoder();
    assert.equal(d.maxFrameBytes, 16 * 1024 * 1024);
  });

  test('frame_length_prefix_exceeds_bytes: no frame, then ERR_FRAME_INCOMPLETE at end of stream', () => {
    const v = negativeVectors.find((x) => x.name === 'frame_length_prefix_exceeds_bytes')!;
    const d = new FrameDecoder();
    assert.deepEqual(collect(d, [Buffer.from(v.hex, 'hex')]), []);
    assert.throws(
      () => d.end(),
      (err: unknown) => isPeerpostError(err, 'ERR_FRAME_INCOMPLETE'),
    );
  });

  test('a stream ending inside a prefix is incomplete', () => {
    const d = new FrameDecoder();
    d.push(Buffer.from('0000', 'hex'), () => {});
    assert.throws(
      () => d.end(),
      (err: unknown) => isPeerpostError(err, 'ERR_FRAME_INCOMPLETE'),
    );
  });

  test('zero-length frames are delivered', () => {
    const d = new FrameDecoder();
    assert.deepEqual(
      collect(d, [Buffer.from('00000000', 'hex'), Buffer.from('000000', 'hex'), Buffer.from('00', 'hex')]),
      ['', ''],
    );
  });

  test('invalid maxFrameBytes is a coded error', () => {
    assert.throws(
      () => new FrameDecoder({ maxFrameBytes: -1 }),
      (err: unknown) => isPeerpostError(err, 'ERR_INVALID_OPTION'),
    );
  });
});

test('pushRanges reports each frame as a range of its chunk, assembles split frames, and agrees with push', () => {
  const bodies = [
    Buffer.from('abc'),
    Buffer.alloc(0),
    Buffer.from('defgh'),
    Buffer.alloc(300, 7),
    Buffer.from('z'),
  ];
  const stream = encodeFrames(bodies);
  for (const cut of [1, 2, 3, 5, 7, 11, 64, stream.length]) {
    const ranges = new FrameDecoder();
    const views = new FrameDecoder();
    const viaRanges: Buffer[] = [];
    const viaPush: Buffer[] = [];
    for (let at = 0; at < stream.length; at += cut) {
      const chunk = stream.subarray(at, Math.min(stream.length, at + cut));
      ranges.pushRanges(chunk, (buf, start, end) => {
        if (end - start > 0 && end - start < 300 && cut === stream.length)
          assert.equal(buf, chunk, 'a range of the chunk itself');
        viaRanges.push(Buffer.from(buf.subarray(start, end)));
      });
      views.push(chunk, (frame) => viaPush.push(Buffer.from(frame)));
    }
    assert.deepEqual(viaRanges, bodies, `chunks of ${cut}`);
    assert.deepEqual(viaPush, bodies, `chunks of ${cut}`);
  }
});

// Reader.asciiAt reads whole 32-bit words of the input's ArrayBuffer (inputs of 1 KiB or
// more; shorter ones byte by byte): it must answer what a byte-by-byte check answers for
// every alignment of the input and of the range, and a high bit in any byte of the range
// (and only there) must make it false.
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import fc from 'fast-check';
import { Reader } from '../../src/wire/reader.js';

const byteByByte = (buf: Buffer, start: number, end: number) => {
  for (let i = start; i < end; i++) if ((buf[i] as number) >= 0x80) return false;
  return true;
};

test('asciiAt answers as a byte-by-byte check, at every offset and alignment', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 7 }), // the input's byteOffset in its ArrayBuffer
      // Input length: short (checked byte by byte) or long enough for the word reads.
      fc.oneof(fc.integer({ min: 0, max: 80 }), fc.integer({ min: 1024, max: 1104 })),
      fc.integer({ min: 0, max: 7 }), // bytes after the input in the ArrayBuffer
      fc.nat(),
      fc.nat(),
      fc.option(fc.nat(), { nil: undefined }), // where to put a byte with the high bit
      fc.integer({ min: 0x80, max: 0xff }),
      (offset, length, after, a, b, high, highByte) => {
        const area = new ArrayBuffer(offset + length + after);
        // Bytes outside the input have the high bit: reading them would show.
        new Uint8Array(area).fill(0xff);
        const buf = Buffer.from(area, offset, length);
        buf.fill(0x41);
        if (high !== undefined && length > 0) buf[high % length] = highByte;
        const start = length === 0 ? 0 : a % (length + 1);
        const end = start + (length === 0 ? 0 : b % (length - start + 1));
        const r = new Reader();
        r.reset(buf, start, end);
        assert.equal(
          r.asciiAt(start, end),
          byteByByte(buf, start, end),
          `${offset}/${length} [${start}, ${end})`,
        );
        // A second range of the same input (its words are kept between calls).
        assert.equal(r.asciiAt(0, length), byteByByte(buf, 0, length));
      },
    ),
    { numRuns: 3000 },
  );
});

test('asciiAt follows a new input after reset', () => {
  const r = new Reader();
  // Long enough for the word reads (a view per input).
  const ascii = Buffer.from('abcdefghijklmnopqrstuvwxyz0123456789'.repeat(32), 'latin1');
  const other = Buffer.from(ascii);
  other[20] = 0xc3;
  r.reset(ascii, 0, ascii.length);
  assert.equal(r.asciiAt(1, 30), true);
  r.reset(other, 0, other.length);
  assert.equal(r.asciiAt(1, 30), false);
  assert.equal(r.asciiAt(21, 36), true);
  assert.equal(r.asciiAt(21, 1100), true);
  assert.equal(r.asciiAt(0, 1100), false);
  r.release();
  r.reset(ascii, 0, ascii.length);
  assert.equal(r.asciiAt(1, 30), true);
});

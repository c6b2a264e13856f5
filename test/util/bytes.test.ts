import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { copyInto } from '../../src/util/bytes.js';

test('copyInto copies as TypedArray.prototype.set does, into a Buffer or a Uint8Array, at the offset given', () => {
  for (const make of [(n: number) => Buffer.alloc(n, 0xee), (n: number) => new Uint8Array(n).fill(0xee)]) {
    const dst = make(10);
    copyInto(dst, Buffer.from([1, 2, 3]), 4);
    assert.deepEqual([...dst], [0xee, 0xee, 0xee, 0xee, 1, 2, 3, 0xee, 0xee, 0xee]);
    copyInto(dst, new Uint8Array([9]), 0);
    copyInto(dst, new Uint8Array(0), 10);
    assert.deepEqual([...dst], [9, 0xee, 0xee, 0xee, 1, 2, 3, 0xee, 0xee, 0xee]);
    // A view of a larger buffer: its bytes, not its buffer's.
    copyInto(dst, Buffer.from([5, 6, 7, 8]).subarray(1, 3), 8);
    assert.deepEqual([...dst.subarray(7)], [0xee, 6, 7]);
    // What does not fit throws, and writes nothing.
    assert.throws(() => copyInto(dst, new Uint8Array(3), 8), RangeError);
    assert.deepEqual([...dst.subarray(7)], [0xee, 6, 7]);
  }
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameReader, frameBatch } from '../../bench/systems/frames.js';

describe('bench baselines: frameBatch', () => {
  for (const size of [0, 64, 1024, 70_000]) {
    it(`writes ${size} B frames with big-endian length prefixes that FrameReader reads back`, () => {
      const payload = Buffer.alloc(size);
      for (let i = 0; i < size; i++) payload[i] = (i * 7) & 0xff;
      const batch = frameBatch(payload, 3);
      assert.equal(batch.length, 3 * (4 + size));
      assert.equal(batch.readUInt32BE(0), size);
      assert.equal(batch.readUInt32BE(4 + size), size);
      const frames: Buffer[] = [];
      const reader = new FrameReader((frame) => frames.push(Buffer.from(frame)));
      // Split mid-prefix and mid-body, as a socket may deliver it.
      reader.push(batch.subarray(0, 2));
      reader.push(batch.subarray(2, 7));
      reader.push(batch.subarray(7));
      assert.equal(frames.length, 3);
      for (const f of frames) assert.deepEqual(f, payload);
    });
  }
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameReader, frameBatch } from '../../bench/systems/frames.js';
import { BatchPump, type Sink } from '../../bench/systems/pump.js';

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

describe('bench baselines: BatchPump', () => {
  /** A sink that takes every write, keeps a copy of what it got, and reports each write done on the next turn (as a socket's callback comes). */
  function recordingSink(reportDone: boolean) {
    const bytes: Buffer[] = [];
    const written: Buffer[] = [];
    const sink: Sink = {
      write(buf, done) {
        bytes.push(Buffer.from(buf));
        written.push(buf);
        if (reportDone && done) setImmediate(done);
        return true;
      },
      onceDrain: (cb) => setImmediate(cb),
    };
    return { sink, bytes, written };
  }

  async function run(pump: BatchPump, count: number, payload: Buffer, batches: Buffer[]): Promise<void> {
    const before = batches.length;
    const perBatch = Math.floor(pump.maxBatchBytes / (4 + payload.length));
    pump.start(count, payload);
    while (batches.length - before < Math.ceil(count / perBatch)) await new Promise((r) => setImmediate(r));
  }

  function framesOf(batches: Buffer[]): Buffer[] {
    const frames: Buffer[] = [];
    const reader = new FrameReader((frame) => frames.push(Buffer.from(frame)));
    for (const b of batches) reader.push(b);
    return frames;
  }

  it('fills a batch buffer again once its write is done, with the payload of the current start', async () => {
    const { sink, bytes, written } = recordingSink(true);
    const pump = new BatchPump(sink, 4 * (4 + 1000)); // 4 frames of 1,000 B per batch
    const a = Buffer.alloc(1000, 0xaa);
    const b = Buffer.alloc(1000, 0xbb);
    await run(pump, 10, a, written); // batches of 4, 4, 2
    await new Promise((r) => setImmediate(r)); // the last writes' done callbacks
    await run(pump, 10, b, written);
    assert.equal(written.length, 6);
    // The second start's batches went into buffers of the first (the same memory).
    assert.ok(
      pump.allocated < written.length,
      `allocated ${pump.allocated} buffers for ${written.length} batches`,
    );
    const reused = written.slice(3).filter((w) => written.slice(0, 3).some((v) => v.buffer === w.buffer));
    assert.ok(reused.length > 0);
    const frames = framesOf(bytes);
    assert.equal(frames.length, 20);
    for (const f of frames.slice(0, 10)) assert.deepEqual(f, a);
    for (const f of frames.slice(10)) assert.deepEqual(f, b);
    // The last batch of a start is a part of a full batch's buffer.
    assert.equal(written[2]!.length, 2 * 1004);
  });

  it('allocates a buffer per batch when the sink never reports a write done', async () => {
    const { sink, bytes, written } = recordingSink(false);
    const pump = new BatchPump(sink, 4 * (4 + 64));
    const payload = Buffer.alloc(64, 7);
    await run(pump, 12, payload, written);
    assert.equal(pump.allocated, 3);
    assert.equal(new Set(written.map((w) => w.buffer)).size, 3);
    const frames = framesOf(bytes);
    assert.equal(frames.length, 12);
    for (const f of frames) assert.deepEqual(f, payload);
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPeerpostError } from '../../src/errors.js';
import { decodeEnvelope, encodeEnvelope } from '../../src/wire/envelope.js';
import { createEnvelope, payloadOf } from '../../src/wire/message.js';

test('payloads of 1000 bytes stay plain, 1001 bytes are compressed, and both come back', () => {
  for (const [size, compressed] of [
    [1000, false],
    [1001, true],
  ] as const) {
    const data = Buffer.alloc(size, 'a');
    const env = createEnvelope({ id: 'm1', label: 'L', data, nowMs: 5 });
    assert.equal(env.compressed, compressed);
    assert.equal(env.deliveryStartTimestampMs, 5n);
    if (compressed) assert.ok(env.data.byteLength < size);
    const decoded = decodeEnvelope(encodeEnvelope(env)).envelope;
    assert.deepEqual(Buffer.from(payloadOf(decoded)), data);
  }
});

test('payloadOf enforces the decompression cap', () => {
  const env = createEnvelope({ id: 'm', label: 'L', data: Buffer.alloc(100_000), nowMs: 0 });
  assert.throws(
    () => payloadOf(env, { maxDecompressedBytes: 50_000 }),
    (err: unknown) => isPeerpostError(err, 'ERR_DECOMPRESSED_TOO_LARGE'),
  );
});

test('a threshold of Infinity disables compression', () => {
  const env = createEnvelope(
    { id: 'm', label: 'L', data: Buffer.alloc(5000), nowMs: 0 },
    { compressThresholdBytes: Infinity },
  );
  assert.equal(env.compressed, false);
});

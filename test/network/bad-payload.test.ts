import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createNetwork } from '../../src/network/network.js';
import { MemoryNetwork } from '../../src/transport/memory/network.js';
import type { CloseReason, Connection } from '../../src/transport/types.js';
import { FakeClock } from '../../src/util/fake-clock.js';
import { type Envelope, encodeEnvelope } from '../../src/wire/envelope.js';
import { zstd } from '../../src/wire/zstd.js';

function envelope(id: string, compressed: boolean, data: Uint8Array): Envelope {
  return { deliveryStartTimestampMs: 1n, id, label: 'X', compressed, data, lastSenderIsProxy: false };
}

/** A raw client connection to `address` that records its close. */
async function raw(memory: MemoryNetwork, host: string, address: string) {
  const connection: Connection = await memory.transport({ host }).connect(address, 'direct');
  const closes: CloseReason[] = [];
  connection.attach({ onFrame: () => {}, onClose: (r) => void closes.push(r) });
  return { connection, closes };
}

test('a payload that does not decompress (garbage, or a zstd bomb past the cap) closes its connection only', async () => {
  const clock = new FakeClock();
  const memory = new MemoryNetwork({ clock });
  const b = await createNetwork({
    nodeId: 'b',
    transport: memory.transport({ host: 'b' }),
    listen: 'b:0',
    clock,
    limits: { maxDecompressedBytes: 1024 * 1024 },
  });
  const got: string[] = [];
  b.onMessage((m) => got.push(m.id));
  const good = await raw(memory, 'good', b.address);
  const garbage = await raw(memory, 'garbage', b.address);
  const bomb = await raw(memory, 'bomb', b.address);
  await clock.tick(10);

  // Garbage after a good message on the same connection: the good one is delivered, the
  // rest of that connection is not read.
  garbage.connection.write(encodeEnvelope(envelope('g-ok', false, new Uint8Array(4))));
  garbage.connection.write(encodeEnvelope(envelope('g-bad', true, new Uint8Array([1, 2, 3, 4]))));
  garbage.connection.write(encodeEnvelope(envelope('g-after', false, new Uint8Array(4))));
  // 8 MiB of zeros compress to a few hundred bytes; the cap is 1 MiB.
  const packed = zstd().compress(new Uint8Array(8 * 1024 * 1024));
  assert.ok(packed.length < 2048, `a small bomb: ${packed.length} B`);
  bomb.connection.write(encodeEnvelope(envelope('bomb-1', true, packed)));
  bomb.connection.write(encodeEnvelope(envelope('bomb-2', true, packed)));
  good.connection.write(encodeEnvelope(envelope('good-1', false, new Uint8Array(4))));
  await clock.tick(100);

  assert.equal(garbage.closes.length, 1, 'the garbage connection was closed');
  assert.equal(bomb.closes.length, 1, 'the bomb connection was closed');
  assert.equal(good.closes.length, 0, 'the good connection stays');
  assert.deepEqual(got.sort(), ['g-ok', 'good-1']);
  assert.equal(
    b.stats().incoming.undecodable,
    2,
    'one bomb decompressed, not two: the connection was closed after it',
  );
  good.connection.write(encodeEnvelope(envelope('good-2', false, new Uint8Array(4))));
  await clock.tick(10);
  assert.ok(got.includes('good-2'));

  good.connection.close();
  const closing = b.close();
  await clock.tick(10_000);
  await closing;
  await memory.close();
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLOSE_GRACE_MS } from '../../src/transport/limits.js';
import { settle } from '../../src/util/fake-clock.js';
import { encodeEnvelope } from '../../src/wire/envelope.js';
import { envelope, recordingTicket, setupHub } from './helpers.js';

const KIB64 = 64 * 1024;

async function stalledSetup(limits: { queueBytesPerConnection?: number; queueBytesTotal?: number }) {
  const s = await setupHub({
    limits: { subscriberQueueCapacity: 1000, replyQueueCapacity: 1000, ...limits },
    hubTransportLimits: { highWaterMarkBytes: 8 * 1024 },
    socketBufferBytes: 16 * 1024,
  });
  const big = (id: string) => envelope(s.clock, id, { data: Buffer.alloc(KIB64, 1) });
  return { s, big };
}

test('a subscriber that stops reading holds at most queueBytesPerConnection in the hub, whatever the frame count allows', async () => {
  const { s, big } = await stalledSetup({ queueBytesPerConnection: 256 * 1024 });
  const slow = await s.connect('slow', 'subscribe-node');
  s.network.pauseReading(slow.connection);
  for (let i = 0; i < 50; i++) {
    s.hub.broadcast(big(`m${i}`));
    await settle(1);
  }
  const stats = s.hub.stats();
  const c = stats.connections.find((x) => x.remoteAddress === slow.connection.localAddress)!;
  assert.ok(c.queueBytes <= 256 * 1024, `${c.queueBytes} bytes queued`);
  assert.ok(
    c.queueDepth >= 3 && c.queueDepth <= 4,
    `${c.queueDepth} frames (a 1000-frame ring would take all 50)`,
  );
  assert.ok(c.drops >= 40, `${c.drops} dropped`);
  assert.equal(stats.queueBytes, c.queueBytes);
  // The memory comes back when the connection goes.
  slow.connection.close();
  await s.clock.tick(CLOSE_GRACE_MS);
  await settle(5);
  assert.equal(s.hub.stats().queueBytes, 0);
  await s.hub.close();
  await s.network.close();
});

test('queueBytesTotal bounds all connections together; replies too are refused past it', async () => {
  const { s, big } = await stalledSetup({
    queueBytesPerConnection: 1024 * 1024,
    queueBytesTotal: 400 * 1024,
  });
  const subs = [await s.connect('s1', 'subscribe-node'), await s.connect('s2', 'subscribe-node')];
  for (const sub of subs) s.network.pauseReading(sub.connection);
  const client = await s.connect('client');
  client.connection.write(encodeEnvelope(envelope(s.clock, 'hello')));
  await settle();
  s.network.pauseReading(client.connection);
  for (let i = 0; i < 20; i++) {
    s.hub.broadcast(big(`m${i}`));
    await settle(1);
  }
  const total = s.hub.stats().queueBytes;
  assert.ok(total <= 400 * 1024, `${total} bytes held in all`);
  assert.ok(total > 256 * 1024, 'the budget was used');
  const settled: string[] = [];
  const replyTo = s.sink.messages[0]!.from.address;
  const results: string[] = [];
  for (let i = 0; i < 10; i++) {
    results.push(s.hub.sendToAddress(replyTo, big(`r${i}`), recordingTicket(settled, `r${i}`)));
    await settle(1);
  }
  assert.ok(results.includes('queue_full'), `replies past the budget are refused: ${results}`);
  assert.ok(s.hub.stats().queueBytes <= 400 * 1024);
  const closing = s.hub.close();
  await s.clock.tick(CLOSE_GRACE_MS);
  await closing;
  assert.equal(s.hub.stats().queueBytes, 0, 'nothing held after close');
  await s.network.close();
});

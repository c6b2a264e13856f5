import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addr, peer } from '../../src/sender/receiver.js';
import { CountingMetrics, env, Harness, SUBSCRIBER } from './harness.js';

test('rule 7: replies on the sender connection go to the incoming queue; an undecodable one closes it', async () => {
  const metrics = new CountingMetrics();
  const h = new Harness({ sender: { metrics } });
  const a = await h.node('a', { reply: true });
  h.setTopology({ A: [a.address] });
  h.sender.send(peer('A'), env('e1'));
  await h.clock.tick(10);
  assert.equal(h.incoming.length, 1);
  const reply = h.incoming[0]!;
  assert.equal(reply.envelope.id, 'e1');
  assert.equal(reply.from.direction, 'outbound');
  assert.equal(reply.from.address, a.address);
  assert.equal(reply.from.peerId, 'A', 'an identity the topology does not name: the peer we dialed');
  a.connections[0]!.write(Buffer.from('not an envelope'));
  await h.clock.tick(10);
  assert.equal(metrics.error('fail_deser_msg'), 1);
  assert.equal(h.sender.stats().senders.length, 0, 'the connection closed and the sender stopped');
  await h.close();
});

test('rule 8: broadcast and both modes stamp directReceiver; a mode change applies to the next message', async () => {
  const h = new Harness({ config: { directSendMode: 'broadcast' } });
  const a = await h.node('a');
  h.setTopology({ A: [a.address] });
  h.sender.send(peer('A'), env('b1'));
  assert.equal(h.hub.broadcasts.length, 1);
  assert.equal(h.hub.broadcasts[0]!.directReceiver, 'A');
  assert.deepEqual(h.outcomesOf('b1'), [`${SUBSCRIBER}:written`]);
  assert.equal(h.outcomes[0]!.mode, 'broadcast');
  h.config.set({ directSendMode: 'both' });
  h.sender.send(peer('A'), env('b2'));
  h.config.set({ directSendMode: 'direct' });
  h.sender.send(peer('A'), env('b3'));
  h.hub.broadcastResult = 'no_subscriber';
  h.config.set({ directSendMode: 'broadcast' });
  h.sender.send(peer('A'), env('b4'));
  await h.clock.tick(10);
  assert.deepEqual(a.received, ['b2', 'b3']);
  assert.deepEqual(h.outcomesOf('b2').sort(), [`${a.address}:written`, `${SUBSCRIBER}:written`].sort());
  assert.deepEqual(h.outcomesOf('b3'), [`${a.address}:written`]);
  assert.deepEqual(h.outcomesOf('b4'), ['broadcast:dropped:no_subscriber']);
  assert.deepEqual(
    h.hub.broadcasts.map((e) => e.id),
    ['b1', 'b2'],
  );
  await h.close();
});

test('rule 8: an invalid config update is refused and the previous one kept', async () => {
  const h = new Harness();
  h.config.set({ directSendMode: 'sideways' as 'direct' });
  h.sender.send(peer('A'), env('v1'));
  assert.equal(h.hub.broadcasts.length, 0);
  assert.ok(h.logs.some((l) => l.level === 'error'));
  await h.close();
});

test('rule 9: addr(...) goes to the hub reply path, dropped:no_connection without one', async () => {
  const h = new Harness();
  h.hub.connected.add('c:1');
  h.sender.send(addr('c:1'), env('r1'));
  h.sender.send(addr('c:2'), env('r2'));
  assert.deepEqual(
    h.hub.toAddress.map((x) => `${x.address}/${x.envelope.id}`),
    ['c:1/r1'],
  );
  assert.deepEqual(h.outcomesOf('r1'), ['c:1:written']);
  assert.deepEqual(h.outcomesOf('r2'), ['c:2:dropped:no_connection']);
  assert.equal(h.attempts.length, 0, 'no outbound connection for address receivers');
  await h.close();
});

test('rule 10: addr(our own address) is skipped', async () => {
  const h = new Harness({ config: { selfAddress: 'self:9' } });
  h.hub.connected.add('self:9');
  h.sender.send(addr('self:9'), env('s1'));
  assert.deepEqual(h.outcomesOf('s1'), ['self:9:skipped:self']);
  await h.close();
});

test('rule 12: per-address order holds through connecting, backpressure and a connection restart', async () => {
  const h = new Harness({ config: { peerQueueCapacity: 5000 } });
  const a = await h.node('a');
  const b = await h.node('b');
  h.setTopology({ A: [a.address], B: [b.address] });
  const sent: string[] = [];
  const big = Buffer.alloc(900, 7);
  for (let i = 0; i < 600; i++) {
    const id = `o${i}`;
    sent.push(id);
    h.sender.send(peer(i % 3 === 0 ? 'B' : 'A'), env(id, 'test', big));
    if (i % 50 === 0) await h.clock.tick(1);
  }
  await h.clock.tick(100);
  assert.deepEqual(
    a.received,
    sent.filter((_, i) => i % 3 !== 0),
  );
  assert.deepEqual(
    b.received,
    sent.filter((_, i) => i % 3 === 0),
  );
  // Queued (not yet written) messages survive a connection loss and keep their order.
  h.net.pauseReading(a.connections[0]!);
  const more: string[] = [];
  for (let i = 0; i < 2000; i++) {
    more.push(`p${i}`);
    h.sender.send(peer('A'), env(`p${i}`, 'test', big));
  }
  await h.clock.tick(1);
  const queued = h.sender.stats().senders.find((s) => s.address === a.address)!;
  assert.ok(queued.queueDepth > 0, 'backpressure holds messages in the queue');
  h.net.reset(a.connections[0]!);
  await h.clock.tick(500);
  const after = a.received.filter((id) => id.startsWith('p'));
  const lost = h.outcomes
    .filter((o) => o.messageId.startsWith('p') && o.outcome.kind === 'dropped')
    .map((o) => o.messageId);
  assert.ok(lost.length > 0 && lost.every((id) => h.outcomesOf(id)[0]!.endsWith('connection_lost')));
  // Written frames still in the paused socket buffer die with the reset (they were `written`);
  // the queued rest moves to the restarted sender: everything after the lost range arrives, in order.
  const index = (id: string) => Number(id.slice(1));
  const lastLost = Math.max(...lost.map(index));
  assert.ok(
    after.every((id, i) => i === 0 || index(id) > index(after[i - 1]!)),
    'in order',
  );
  assert.deepEqual(
    after.filter((id) => index(id) > lastLost),
    more.filter((id) => index(id) > lastLost),
  );
  assert.ok(after.length > 0 && index(after[0]!) > lastLost);
  for (const id of more) assert.equal(h.outcomesOf(id).length, 1);
  h.checkInvariant();
  await h.close();
});

test('rule 13: shutdown drops queued messages as dropped:shutdown and leaves no timer', async () => {
  const h = new Harness();
  h.setTopology({ A: ['dead:1'] });
  h.sender.send(peer('A'), env('x1'));
  h.sender.send(peer('Z'), env('x2'));
  await h.clock.tick(150);
  await h.close();
  assert.deepEqual(h.outcomesOf('x1'), ['dead:1:dropped:shutdown']);
  assert.deepEqual(h.outcomesOf('x2'), ['-:dropped:shutdown']);
  h.sender.send(peer('A'), env('x3'));
  assert.deepEqual(h.outcomesOf('x3'), ['-:dropped:shutdown'], 'send after close still gets an outcome');
});

test('rule 13: close({ drainTimeoutMs }) lets queued messages flush first', async () => {
  const h = new Harness();
  const a = await h.node('a');
  h.net.setLink('self', 'a', { latency: 200 });
  h.setTopology({ A: [a.address] });
  h.sender.send(peer('A'), env('d1'));
  h.sender.send(peer('A'), env('d2'));
  await h.close(5000);
  assert.deepEqual(h.outcomesOf('d1'), [`${a.address}:written`]);
  assert.deepEqual(h.outcomesOf('d2'), [`${a.address}:written`]);
});

test('rule 13: aborting the signal closes the sender', async () => {
  const ac = new AbortController();
  const h = new Harness({ sender: { signal: ac.signal } });
  h.setTopology({ A: ['dead:1'] });
  h.sender.send(peer('A'), env('y1'));
  ac.abort();
  await h.clock.tick(10);
  assert.deepEqual(h.outcomesOf('y1'), ['dead:1:dropped:shutdown']);
  await h.close();
});

test('an envelope the hub cannot encode ends as dropped:encode_failed, and send() does not throw', async () => {
  const h = new Harness();
  h.hub.connected.add('c:1');
  const bad = { ...env('bad'), deliveryStartTimestampMs: -1n };
  h.hub.sendToAddress = () => {
    throw new Error('cannot encode');
  };
  h.sender.send(addr('c:1'), bad);
  assert.deepEqual(h.outcomesOf('bad'), ['c:1:dropped:encode_failed']);
  assert.equal(h.sender.stats().counters.inFlight, 0);
  await h.close();
});

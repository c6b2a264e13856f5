import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPeerpostError } from '../../src/errors.js';
import { ConnectionHub } from '../../src/hub/hub.js';
import type { Topology } from '../../src/topology/types.js';
import { settle } from '../../src/util/fake-clock.js';
import { ObservableValue } from '../../src/util/observable.js';
import { encodeEnvelope } from '../../src/wire/envelope.js';
import { CollectingSink, envelope, recordingTicket, setupHub } from './helpers.js';

test('inbound direct frames reach the sink; a reply by address goes only to that connection', async () => {
  const s = await setupHub();
  const a = await s.connect('a');
  const b = await s.connect('b');
  a.connection.write(encodeEnvelope(envelope(s.clock, 'from-a')));
  b.connection.write(encodeEnvelope(envelope(s.clock, 'from-b')));
  await settle();
  assert.deepEqual(
    s.sink.messages.map((m) => [m.envelope.id, m.from.address, m.from.direction, m.from.peerId]),
    [
      ['from-a', a.connection.localAddress, 'inbound', undefined],
      ['from-b', b.connection.localAddress, 'inbound', undefined],
    ],
  );
  assert.equal(s.sink.messages[0]?.from.identity.certHash, s.transports.get('a')?.identity.certHash);

  const replyTo = s.sink.messages[1]?.from.address as string;
  const settled: string[] = [];
  const ticket = (id: string) => recordingTicket(settled, id);
  assert.equal(s.hub.sendToAddress(replyTo, envelope(s.clock, 'reply-b'), ticket('reply-b')), 'pending');
  assert.equal(s.hub.sendToAddress('nowhere:1', envelope(s.clock, 'lost'), ticket('lost')), 'no_connection');
  assert.deepEqual(settled, [], 'written only once flushed');
  await settle();
  assert.deepEqual(b.ids, ['reply-b']);
  assert.deepEqual(settled, ['reply-b:written']);
  assert.deepEqual(a.ids, []);
  // Sent bytes of a reply are counted by the ticket's owner (the sender's accounting), not twice.
  assert.equal(s.metrics.counter('peerpost_sent_bytes_total', { label: 'Test', mode: 'direct' }), 0);

  // Once b's connection is gone, its address has no connection.
  b.connection.close();
  await settle();
  assert.equal(s.hub.sendToAddress(replyTo, envelope(s.clock, 'late'), ticket('late')), 'no_connection');
  assert.deepEqual(settled, ['reply-b:written']);
  await s.hub.close();
  await s.network.close();
});

test('inbound peers are identified by pinned cert hash or owner key, and re-identified on topology change', async () => {
  const s = await setupHub();
  const alice = await s.connect('alice');
  const bob = await s.connect('bob', 'direct', { ownerKeys: ['ab'.repeat(32)] });
  const carol = await s.connect('carol');
  const aliceHash = s.transports.get('alice')?.identity.certHash as string;
  const topology: Topology = new Map([
    ['alice', [{ address: 'alice:9000', expectedIdentity: { certHash: aliceHash.toUpperCase() } }]],
    ['bob', [{ address: 'bob:9000', expectedIdentity: { ownerKey: 'AB'.repeat(32) } }]],
    // Carol pins nothing: an inbound connection from her cannot be told apart.
    ['carol', [{ address: 'carol:9000' }]],
  ]);
  s.topology.set(topology);
  for (const c of [alice, bob, carol])
    c.connection.write(encodeEnvelope(envelope(s.clock, c.connection.localAddress)));
  await settle();
  assert.deepEqual(
    s.sink.messages.map((m) => m.from.peerId),
    ['alice', 'bob', undefined],
  );

  // Alice's pin moves to another peer id; bob disappears.
  s.topology.set(new Map([['alice-2', [{ address: 'x:1', expectedIdentity: { certHash: aliceHash } }]]]));
  alice.connection.write(encodeEnvelope(envelope(s.clock, 'again-a')));
  bob.connection.write(encodeEnvelope(envelope(s.clock, 'again-b')));
  await settle();
  assert.deepEqual(
    s.sink.messages.slice(3).map((m) => [m.envelope.id, m.from.peerId]),
    [
      ['again-a', 'alice-2'],
      ['again-b', undefined],
    ],
  );
  // Messages already handed out keep the source they arrived with.
  assert.equal(s.sink.messages[0]?.from.peerId, 'alice');
  assert.deepEqual(
    s.hub.stats().connections.map((c) => c.peerId),
    ['alice-2', undefined, undefined],
  );
  await s.hub.close();
  await s.network.close();
});

test('a frame that does not decode closes only its connection and is counted', async () => {
  const s = await setupHub();
  const bad = await s.connect('bad');
  const good = await s.connect('good');
  bad.connection.write(Buffer.from('definitely not an envelope'));
  bad.connection.write(encodeEnvelope(envelope(s.clock, 'after-garbage')));
  good.connection.write(encodeEnvelope(envelope(s.clock, 'ok-1')));
  await settle();
  assert.equal(bad.closes.length, 1);
  assert.equal(bad.closes[0]?.initiator, 'remote');
  assert.equal(good.closes.length, 0);
  assert.equal(s.metrics.error('fail_deser_msg'), 1);
  good.connection.write(encodeEnvelope(envelope(s.clock, 'ok-2')));
  await settle();
  assert.deepEqual(
    s.sink.messages.map((m) => m.envelope.id),
    ['ok-1', 'ok-2'],
  );
  assert.deepEqual(s.hub.stats().inbound, { direct: 1, 'subscribe-node': 0, 'subscribe-proxy': 0 });
  await s.hub.close();
  await s.network.close();
});

test('inbound connections past the cap are refused and counted as max_conn_reached', async () => {
  const s = await setupHub({ limits: { maxInboundConnections: 2 } });
  const first = await s.connect('n1');
  await s.connect('n2', 'subscribe-node');
  // Refused at admission: the peer's connect() fails, it never holds a connection to write into.
  await assert.rejects(s.connect('n3'), (err: unknown) => isPeerpostError(err, 'ERR_CONNECT_REFUSED'));
  await settle();
  assert.equal(s.metrics.error('max_conn_reached'), 1);
  const stats = s.hub.stats();
  assert.equal(stats.refused, 1);
  assert.deepEqual(stats.inbound, { direct: 1, 'subscribe-node': 1, 'subscribe-proxy': 0 });
  assert.equal(s.metrics.gauges.get('peerpost_connections{direction=inbound,kind=direct}'), 1);
  // A freed slot is usable again.
  first.connection.close();
  await settle();
  const fourth = await s.connect('n4');
  await settle();
  assert.equal(fourth.closes.length, 0);
  assert.equal(s.hub.stats().inbound.direct, 1);
  await s.hub.close();
  await s.network.close();
});

test('incoming phases: transfer time from the sender timestamp, skew clamped or rejected', async () => {
  const s = await setupHub({ limits: { clockSkewToleranceMs: 1000, maxTransferMs: 60_000 } });
  const c = await s.connect('c');
  const now = s.clock.now();
  const send = (id: string, start: number | bigint) =>
    c.connection.write(encodeEnvelope(envelope(s.clock, id, { deliveryStartTimestampMs: BigInt(start) })));
  send('late-250ms', now - 250);
  send('ahead-within-tolerance', now + 500);
  send('ahead-beyond-tolerance', now + 5000);
  send('absurdly-old', now - 120_000);
  send('u64-max', (1n << 64n) - 1n);
  await settle();
  assert.equal(s.sink.messages.length, 5, 'skewed messages are still delivered');
  const transfer = { phase: 'IncomingTransfer', label: 'Test', mode: 'direct' };
  const buffer = { phase: 'IncomingBuffer', label: 'Test', mode: 'direct' };
  assert.deepEqual(s.metrics.observed('peerpost_phase_duration_seconds', transfer), [0.25, 0]);
  assert.equal(s.metrics.error('in_transfer_skew'), 3);
  assert.equal(s.metrics.counter('peerpost_phase_started_total', transfer), 5);
  assert.equal(s.metrics.counter('peerpost_phase_finished_total', transfer), 5);
  assert.equal(s.metrics.counter('peerpost_phase_started_total', buffer), 5);
  assert.equal(s.metrics.counter('peerpost_phase_finished_total', buffer), 5);
  assert.equal(s.metrics.observed('peerpost_phase_duration_seconds', buffer).length, 5);
  const bytes = s.sink.messages.reduce((n, m) => n + encodeEnvelope(m.envelope).length + 4, 0);
  assert.equal(s.metrics.counter('peerpost_received_bytes_total', { label: 'Test', mode: 'direct' }), bytes);
  assert.equal(s.sink.messages[0]?.receivedAtMs, now);
  await s.hub.close();
  await s.network.close();
});

test('close() stops the listener, closes every connection and leaves no timers', async () => {
  const s = await setupHub();
  const clients = [
    await s.connect('a'),
    await s.connect('b', 'subscribe-node'),
    await s.connect('c', 'subscribe-proxy'),
  ];
  const other = s.network.transport({ host: 'sub-target' });
  const otherHub = new ConnectionHub({
    transport: other,
    listenAddress: 'sub-target:0',
    incoming: new CollectingSink(),
    topology: new ObservableValue<Topology>(new Map()),
    clock: s.clock,
  });
  const { address: otherAddress } = await otherHub.start();
  const subscription = s.hub.subscribeTo(otherAddress);
  const failing = s.hub.subscribeTo('nobody:1');
  await settle();
  assert.equal(subscription.state.kind, 'connected');
  assert.equal(failing.state.kind, 'backoff');
  assert.ok(s.clock.pendingTimers > 0);

  await Promise.all([s.hub.close(), s.hub.close()]);
  await settle();
  for (const c of clients) assert.equal(c.closes.length, 1);
  assert.equal(subscription.state.kind, 'closed');
  assert.equal(failing.state.kind, 'closed');
  assert.equal(s.hub.stats().connections.length, 0);
  assert.equal(s.hub.stats().subscriptions.length, 0);
  assert.equal(s.hub.stats().state, 'closed');
  await otherHub.close();
  await settle();
  assert.equal(s.network.openConnections, 0);
  assert.equal(s.clock.pendingTimers, 0);
  await assert.rejects(s.transports.get('a')!.connect(s.address, 'direct'), (err) =>
    isPeerpostError(err, 'ERR_CONNECT_REFUSED'),
  );
  await assert.rejects(s.hub.start(), (err) => isPeerpostError(err, 'ERR_CLOSED'));
  assert.throws(
    () => s.hub.subscribeTo(otherAddress),
    (err) => isPeerpostError(err, 'ERR_CLOSED'),
  );
  await s.network.close();
});

test('invalid limits are rejected with ERR_INVALID_OPTION naming the option', () => {
  assert.throws(
    () =>
      new ConnectionHub({
        transport: { listen: async () => assert.fail(), connect: async () => assert.fail() },
        listenAddress: 'x:0',
        incoming: new CollectingSink(),
        topology: new ObservableValue<Topology>(new Map()),
        limits: { subscriberQueueCapacity: 0 },
      }),
    (err) => isPeerpostError(err, 'ERR_INVALID_OPTION') && /subscriberQueueCapacity/.test(err.message),
  );
});

test('start() is idempotent while listening', async () => {
  const s = await setupHub();
  assert.deepEqual(await s.hub.start(), { address: s.address });
  assert.equal(s.hub.stats().state, 'listening');
  await s.hub.close();
  await s.network.close();
});

test('a reply by address is written only when flushed; one its connection never flushed ends connection_lost', async () => {
  const s = await setupHub();
  const a = await s.connect('a');
  a.connection.write(encodeEnvelope(envelope(s.clock, 'from-a')));
  await settle();
  const replyTo = s.sink.messages[0]?.from.address as string;
  const settled: string[] = [];
  const ticket = (id: string) => recordingTicket(settled, id);
  // Handed to the connection; the connection is reset in the same tick, before its flush.
  assert.equal(s.hub.sendToAddress(replyTo, envelope(s.clock, 'r1'), ticket('r1')), 'pending');
  s.network.reset(a.connection);
  await settle();
  assert.deepEqual(a.ids, [], 'the peer never got it');
  assert.deepEqual(settled, ['r1:connection_lost']);
  await s.hub.close();
  await s.network.close();
});

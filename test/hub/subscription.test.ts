import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectionHub } from '../../src/hub/hub.js';
import type { Subscription } from '../../src/hub/subscription.js';
import { fibonacciDelay } from '../../src/sender/backoff.js';
import type { Topology } from '../../src/topology/types.js';
import { MemoryNetwork } from '../../src/transport/memory/index.js';
import type { Connection } from '../../src/transport/types.js';
import { FakeClock, settle } from '../../src/util/fake-clock.js';
import { ObservableValue } from '../../src/util/observable.js';
import { CollectingSink, envelope, RecordingMetrics } from './helpers.js';

/** Reads the state without the narrowing an earlier assertion leaves on it. */
function stateOf(subscription: Subscription): string {
  return subscription.state.kind;
}

function node(network: MemoryNetwork, clock: FakeClock, host: string, topology = new Map() as Topology) {
  const sink = new CollectingSink();
  const metrics = new RecordingMetrics();
  const topo = new ObservableValue<Topology>(topology);
  const transport = network.transport({ host });
  const hub = new ConnectionHub({
    transport,
    listenAddress: `${host}:7000`,
    incoming: sink,
    topology: topo,
    clock,
    metrics,
    random: () => 0.5,
    knownLabels: ['Test'],
  });
  return { hub, sink, metrics, topo, transport };
}

/** Publisher `a` and subscriber `b` on one in-memory network, both listening. */
async function twoHubs(bTopology?: Topology) {
  const clock = new FakeClock();
  const network = new MemoryNetwork({ clock });
  const a = node(network, clock, 'a');
  const b = node(network, clock, 'b', bTopology);
  await a.hub.start();
  await b.hub.start();
  return { clock, network, a, b };
}

test('subscriptions retry on the shared Fibonacci schedule, capped', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((attempt) => fibonacciDelay(attempt - 1, 100, 1000)),
    [100, 100, 200, 300, 500, 800, 1000, 1000, 1000, 1000],
  );
});

test('a subscription feeds broadcasts into the sink and follows the topology for the peer id', async () => {
  const { clock, network, a, b } = await twoHubs(new Map([['node-a', [{ address: 'a:7000' }]]]));
  const subscription = b.hub.subscribeTo('a:7000');
  await settle();
  assert.equal(stateOf(subscription), 'connected');
  assert.equal(a.hub.stats().inbound['subscribe-node'], 1);
  assert.equal(a.hub.broadcast(envelope(clock, 'hello')), 'written');
  await settle();
  assert.deepEqual(
    b.sink.messages.map((m) => [m.envelope.id, m.from.peerId, m.from.address, m.from.direction]),
    [['hello', 'node-a', 'a:7000', 'outbound']],
  );
  assert.equal(
    b.metrics.counter('peerpost_phase_finished_total', {
      phase: 'IncomingBuffer',
      label: 'Test',
      mode: 'broadcast',
    }),
    1,
  );
  assert.equal(b.metrics.gauges.get('peerpost_connections{direction=outbound,kind=subscribe-node}'), 1);
  // The peer is renamed: later broadcasts carry the new id.
  b.topo.set(new Map([['node-a2', [{ address: 'a:7000' }]]]));
  a.hub.broadcast(envelope(clock, 'again'));
  await settle();
  assert.equal(b.sink.messages[1]?.from.peerId, 'node-a2');
  assert.deepEqual(b.hub.stats().subscriptions, [
    {
      address: 'a:7000',
      kind: 'subscribe-node',
      state: 'connected',
      peerId: 'node-a2',
      connects: 1,
      received: 2,
    },
  ]);
  await subscription.close();
  assert.equal(b.metrics.gauges.get('peerpost_connections{direction=outbound,kind=subscribe-node}'), 0);
  await settle();
  assert.equal(a.hub.stats().inbound['subscribe-node'], 0);
  await Promise.all([a.hub.close(), b.hub.close()]);
  assert.equal(clock.pendingTimers, 0);
  assert.equal(network.openConnections, 0);
  await network.close();
});

test('a subscription reconnects with backoff after the publisher restarts', async () => {
  const { clock, network, a, b } = await twoHubs();
  const subscription = b.hub.subscribeTo('a:7000', 'subscribe-proxy');
  await settle();
  assert.equal(stateOf(subscription), 'connected');

  network.crash('a');
  await a.hub.close();
  await settle();
  assert.equal(stateOf(subscription), 'backoff');
  // Attempts at +100, +100, +200, +300 ms fail while a is down (jitter is 0 with random 0.5).
  await clock.tick(100);
  await clock.tick(100);
  assert.equal(stateOf(subscription), 'backoff');
  network.restart('a');
  // A new hub on the restarted host, same transport and address.
  const restarted = new ConnectionHub({
    transport: a.transport,
    listenAddress: 'a:7000',
    incoming: new CollectingSink(),
    topology: new ObservableValue<Topology>(new Map()),
    clock,
  });
  await restarted.start();
  await clock.tick(199);
  assert.equal(stateOf(subscription), 'backoff', 'the third retry waits 200 ms');
  await clock.tick(1);
  assert.equal(stateOf(subscription), 'connected');
  assert.equal(subscription.stats().connects, 2);
  restarted.broadcast(envelope(clock, 'after-restart'));
  await settle();
  assert.deepEqual(
    b.sink.messages.map((m) => m.envelope.id),
    ['after-restart'],
  );
  await Promise.all([restarted.close(), b.hub.close()]);
  assert.equal(stateOf(subscription), 'closed');
  assert.equal(clock.pendingTimers, 0);
  await network.close();
});

test('a subscription with a pinned identity refuses an impostor and closes cleanly while backing off', async () => {
  const { clock, network, a, b } = await twoHubs();
  const subscription = b.hub.subscribeTo('a:7000', 'subscribe-node', {
    expectedIdentity: { certHash: '00'.repeat(32) },
  });
  await settle();
  assert.equal(stateOf(subscription), 'backoff');
  assert.equal(a.hub.stats().inbound['subscribe-node'], 0);
  await clock.tick(100);
  assert.equal(stateOf(subscription), 'backoff');
  assert.ok(clock.pendingTimers > 0);
  await subscription.close();
  assert.equal(stateOf(subscription), 'closed');
  assert.equal(b.hub.stats().subscriptions.length, 0);
  await Promise.all([a.hub.close(), b.hub.close()]);
  assert.equal(clock.pendingTimers, 0);
  await network.close();
});

test('a broadcast frame that does not decode closes the subscription connection, which reconnects', async () => {
  const clock = new FakeClock();
  const network = new MemoryNetwork({ clock });
  const b = node(network, clock, 'b');
  await b.hub.start();
  const publisher = network.transport({ host: 'p' });
  const accepted: Connection[] = [];
  const listener = await publisher.listen('p:1', { onConnection: (c) => accepted.push(c) });
  const subscription = b.hub.subscribeTo('p:1');
  await settle();
  assert.equal(accepted.length, 1);
  accepted[0]!.attach({ onFrame() {} });
  accepted[0]!.write(Buffer.from('garbage'));
  await settle();
  assert.equal(b.metrics.error('fail_deser_msg'), 1);
  assert.equal(stateOf(subscription), 'backoff');
  await clock.tick(100);
  assert.equal(stateOf(subscription), 'connected');
  assert.equal(accepted.length, 2);
  await b.hub.close();
  await listener.close();
  assert.equal(clock.pendingTimers, 0);
  await network.close();
});

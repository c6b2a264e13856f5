import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateCredentials } from '../../src/identity/credentials.js';
import { createNetwork, type Network, type NetworkMessage } from '../../src/network/network.js';
import { formatOutcome, type OutcomeEvent } from '../../src/sender/outcome.js';
import { MemoryNetwork } from '../../src/transport/memory/network.js';
import type { MemoryTransport } from '../../src/transport/memory/transport.js';
import { FakeClock } from '../../src/util/fake-clock.js';
import { enc, startNode, until } from './helpers.js';

/**
 * Issue 17 item 9: a topology can name a peer by identity alone (a client on an ephemeral
 * port), and a message from one identity carries the same `from.peerId` whichever path it
 * came by: a connection the peer opened to us, a reply on the connection our sender
 * opened, or our subscription to it.
 */

interface Node {
  network: Network;
  transport: MemoryTransport;
  received: NetworkMessage[];
  outcomes: OutcomeEvent[];
}

async function setup(): Promise<{
  clock: FakeClock;
  memory: MemoryNetwork;
  node: (id: string) => Promise<Node>;
}> {
  const clock = new FakeClock();
  const memory = new MemoryNetwork({ clock });
  const node = async (id: string): Promise<Node> => {
    const transport = memory.transport({ host: id });
    const network = await createNetwork({ nodeId: id, transport, listen: `${id}:0`, clock });
    const n: Node = { network, transport, received: [], outcomes: [] };
    network.onMessage((m) => n.received.push(m));
    network.onOutcome((o) => n.outcomes.push(o));
    return n;
  };
  return { clock, memory, node };
}

async function closeAll(clock: FakeClock, memory: MemoryNetwork, ...nodes: Node[]): Promise<void> {
  const closing = Promise.all(nodes.map((n) => n.network.close()));
  await clock.tick(10_000);
  await closing;
  await memory.close();
}

const sources = (n: Node, label: string) =>
  n.received.filter((m) => m.label === label).map((m) => [m.from.direction, m.from.peerId]);

test('a client known to the server by identity alone gets its peer id; messages to it wait as unresolved', async () => {
  const { clock, memory, node } = await setup();
  const server = await node('server');
  const client = await node('client');
  server.network.updateTopology({ client: [{ certHash: client.transport.identity.certHash }] });
  client.network.updateTopology({ server: [server.network.address] });
  assert.deepEqual(server.network.topology.get('client'), [], 'a peer of the topology, with no address');

  server.network.onMessage((m) => {
    if (m.label === 'Ask') m.reply('Answer', enc('42'));
  });
  client.network.send('server', 'Ask', enc('?'));
  await clock.tick(50);
  const ask = server.received.find((m) => m.label === 'Ask');
  assert.ok(ask, 'the server got the question');
  assert.equal(ask.from.peerId, 'client', 'identified by its certificate, from an ephemeral port');
  assert.equal(ask.from.direction, 'inbound');
  assert.notEqual(ask.from.address, client.network.address, 'the remote port is not the listening one');
  assert.deepEqual(sources(client, 'Answer'), [['outbound', 'server']]);

  // No address: a message to the client waits in the unresolved queue until it expires.
  const id = server.network.send('client', 'Push', enc('x'));
  await clock.tick(10);
  assert.equal(server.network.stats().sender.unresolvedDepth, 1);
  await clock.tick(31_000);
  assert.deepEqual(
    server.outcomes.filter((o) => o.messageId === id).map((o) => formatOutcome(o.outcome)),
    ['dropped:unresolved_expired'],
  );
  await closeAll(clock, memory, server, client);
});

test('one identity, one peer id: inbound, a reply on our sender connection, and our subscription', async () => {
  const { clock, memory, node } = await setup();
  const a = await node('a');
  const b = await node('b');
  // a lists b's address unpinned, and names b's identity without an address: the address
  // is enough to dial b, the identity recognises b when b dials a.
  a.network.updateTopology({
    b: [b.network.address, { certHash: b.transport.identity.certHash }],
  });
  b.network.updateTopology({ a: [a.network.address] });
  b.network.onMessage((m) => {
    if (m.label === 'Ask') m.reply('Answer', enc('!'));
  });
  a.network.subscribe('b');
  await clock.tick(100);

  b.network.send('a', 'Hello', enc('1')); // inbound at a
  a.network.send('b', 'Ask', enc('2')); // b answers on a's sender connection
  b.network.broadcast('News', enc('3')); // on a's subscription to b
  await clock.tick(100);

  assert.deepEqual(sources(a, 'Hello'), [['inbound', 'b']]);
  assert.deepEqual(sources(a, 'Answer'), [['outbound', 'b']]);
  assert.deepEqual(sources(a, 'News'), [['outbound', 'b']]);
  await closeAll(clock, memory, a, b);
});

test('an unpinned address identifies the peer we dialed, on our sender connection and our subscription alike', async () => {
  const { clock, memory, node } = await setup();
  const a = await node('a');
  const b = await node('b');
  a.network.updateTopology({ b: [b.network.address] });
  b.network.onMessage((m) => {
    if (m.label === 'Ask') m.reply('Answer', enc('!'));
  });
  a.network.subscribe('b');
  await clock.tick(100);
  a.network.send('b', 'Ask', enc('?'));
  b.network.broadcast('News', enc('n'));
  await clock.tick(100);
  assert.deepEqual(sources(a, 'Answer'), [['outbound', 'b']]);
  assert.deepEqual(sources(a, 'News'), [['outbound', 'b']]);
  // The answer can be answered: it goes back to b's sender, by peer id.
  const answer = a.received.find((m) => m.label === 'Answer')!;
  answer.reply('Thanks', enc('t'));
  await clock.tick(50);
  assert.deepEqual(
    b.received.filter((m) => m.label === 'Thanks').map((m) => m.from.direction),
    ['inbound'],
  );
  await closeAll(clock, memory, a, b);
});

test('the identity the topology names wins over the address we dialed, and follows topology changes', async () => {
  const { clock, memory, node } = await setup();
  const a = await node('a');
  const b = await node('b');
  a.network.updateTopology({ b: [b.network.address] });
  b.network.onMessage((m) => {
    if (m.label === 'Ask') m.reply('Answer', enc('!'));
  });
  a.network.send('b', 'Ask', enc('1'));
  await clock.tick(50);
  // Now b's identity is named as `b-node` too (first in topology order): b's answers on
  // the same open connection say so, as would b's own connections to a.
  a.network.updateTopology({
    'b-node': [{ certHash: b.transport.identity.certHash }],
    b: [b.network.address],
  });
  a.network.send('b', 'Ask', enc('2'));
  b.network.updateTopology({ a: [a.network.address] });
  b.network.send('a', 'Hello', enc('3'));
  await clock.tick(50);
  assert.deepEqual(sources(a, 'Answer'), [
    ['outbound', 'b'],
    ['outbound', 'b-node'],
  ]);
  assert.deepEqual(sources(a, 'Hello'), [['inbound', 'b-node']]);
  await closeAll(clock, memory, a, b);
});

test('an identity named by owner key identifies every certificate that owner signed', async () => {
  const clock = new FakeClock();
  const memory = new MemoryNetwork({ clock });
  const owner = 'ab'.repeat(32);
  const server = await createNetwork({
    nodeId: 'server',
    transport: memory.transport({ host: 'server' }),
    listen: 'server:0',
    clock,
    topology: { fleet: [{ ownerKey: owner }] },
  });
  const froms: (string | undefined)[] = [];
  server.onMessage((m) => froms.push(m.from.peerId));
  const clients: Network[] = [];
  for (const host of ['c1', 'c2']) {
    const transport = memory.transport({ host, identity: { ownerKeys: [owner] } });
    const c = await createNetwork({ nodeId: host, transport, listen: `${host}:0`, clock });
    c.updateTopology({ server: [server.address] });
    c.send('server', 'Hi', enc(host));
    clients.push(c);
  }
  const stranger = await createNetwork({
    nodeId: 'x',
    transport: memory.transport({ host: 'x' }),
    listen: 'x:0',
    clock,
    topology: { server: [server.address] },
  });
  stranger.send('server', 'Hi', enc('x'));
  await clock.tick(50);
  assert.deepEqual(froms, ['fleet', 'fleet', undefined]);
  const closing = Promise.all([server, stranger, ...clients].map((n) => n.close()));
  await clock.tick(10_000);
  await closing;
  await memory.close();
});

test('identities survive a round trip through network.topology and updateTopology', async () => {
  const { clock, memory, node } = await setup();
  const a = await node('a');
  const hash = 'cd'.repeat(32);
  a.network.updateTopology({ c: [{ certHash: hash }], d: ['d:1', { ownerKey: 'ef'.repeat(32) }] });
  const before = a.network.topology;
  assert.deepEqual(before.identities?.get('c'), [{ certHash: hash }]);
  a.network.updateTopology(before);
  assert.deepEqual(a.network.topology.identities, before.identities);
  assert.deepEqual([...a.network.topology], [...before]);
  assert.throws(
    () => a.network.updateTopology({ e: [{} as { certHash: string }] }),
    /invalid option `topology\.e\.0`: give an address, a certHash or an ownerKey/,
  );
  await closeAll(clock, memory, a);
});

test('TLS: a client on an ephemeral port, named by its certificate hash only', async () => {
  const [serverCreds, clientCreds] = await Promise.all([
    generateCredentials({ commonName: 'server' }),
    generateCredentials({ commonName: 'client' }),
  ]);
  const server = await startNode('server', serverCreds);
  const client = await startNode('client', clientCreds, {
    topology: { server: [{ address: server.network.address, certHash: server.certHash }] },
  });
  server.network.updateTopology({ client: [{ certHash: client.certHash }] });
  server.network.onMessage((m) => {
    if (m.label === 'Ask') m.reply('Answer', enc('ok'));
  });
  client.network.send('server', 'Ask', enc('?'));
  await until(() => client.received.some((m) => m.label === 'Answer'), 'the answer');
  const ask = server.received.find((m) => m.label === 'Ask')!;
  assert.equal(ask.from.peerId, 'client');
  assert.equal(ask.from.direction, 'inbound');
  assert.equal(client.received.find((m) => m.label === 'Answer')!.from.peerId, 'server');
  await Promise.all([server.network.close(), client.network.close()]);
});

test('broadcast mode reaches a client known by identity alone over its subscription', async () => {
  const { clock, memory, node } = await setup();
  const server = await node('server');
  const client = await node('client');
  server.network.updateTopology({ client: [{ certHash: client.transport.identity.certHash }] });
  server.network.updateConfig({ directSendMode: 'broadcast' });
  client.network.updateTopology({ server: [server.network.address] });
  client.network.subscribe('server');
  await clock.tick(100);
  const id = server.network.send('client', 'Push', enc('p'));
  await clock.tick(50);
  assert.deepEqual(
    server.outcomes.filter((o) => o.messageId === id).map((o) => formatOutcome(o.outcome)),
    ['written'],
  );
  assert.deepEqual(sources(client, 'Push'), [['outbound', 'server']]);
  await closeAll(clock, memory, server, client);
});

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { DEFAULT_LIMITS } from '../../src/config/schema.js';
import { DEFAULT_HUB_LIMITS } from '../../src/hub/options.js';
import type { Credentials } from '../../src/identity/credentials.js';
import { createNetwork } from '../../src/network/network.js';
import { formatOutcome, type OutcomeEvent } from '../../src/sender/outcome.js';
import { MemoryNetwork } from '../../src/transport/memory/network.js';
import { ALPN_BY_KIND } from '../../src/transport/types.js';
import { FakeClock } from '../../src/util/fake-clock.js';
import { ClientEnd } from '../hub/helpers.js';
import {
  assertBalanced,
  CountingMetrics,
  closeAll,
  enc,
  makeCredentials,
  outcomesByAddress,
  outcomesOf,
  startNode,
  type TestNode,
  topologyOf,
  until,
} from './helpers.js';

const LIMITS = {
  writeTimeoutMs: 2000,
  idleTimeoutMs: 2000,
  backoff: { initialMs: 50, deadlineMs: 500, jitter: 0 },
};
const MAX_CONN = { kind: 'max_conn_reached' } as const;

function receivedOf(node: TestNode, ids: readonly string[]): string[] {
  const wanted = new Set(ids);
  return node.received.filter((m) => wanted.has(m.id)).map((m) => m.id);
}

describe('inbound connection cap (mutual TLS on 127.0.0.1)', () => {
  const nodes: (TestNode | undefined)[] = [];
  after(() => closeAll(nodes));

  test('connections past maxInboundConnections are refused and counted; admitted peers keep working', async () => {
    const creds = (await makeCredentials(7)) as Credentials[];
    const metrics = new CountingMetrics();
    const s = await startNode('s', creds[0]!, {
      metrics,
      limits: { ...LIMITS, maxInboundConnections: 3 },
    });
    nodes.push(s);
    const peers: TestNode[] = [];
    for (let i = 1; i <= 6; i++) {
      const p = await startNode(`p${i}`, creds[i]!, { limits: LIMITS });
      nodes.push(p);
      p.network.updateTopology(topologyOf([s]));
      peers.push(p);
    }
    const admitted = peers.slice(0, 3);
    const refused = peers.slice(3);
    const first = admitted.map((p) => p.network.send('s', 'Hello', enc(p.id)));
    await until(() => receivedOf(s, first).length === 3, 'the first three peers admitted');
    assert.equal(s.network.stats().hub.inbound.direct, 3);

    const sent = new Map(
      refused.map((p) => [
        p,
        Array.from({ length: 5 }, (_, i) => p.network.send('s', 'Over', enc(`${p.id}-${i}`))),
      ]),
    );
    for (const [p, ids] of sent) {
      await until(() => outcomesOf(p, ids).size === ids.length, `${p.id}: an outcome for every message`);
    }
    await until(() => metrics.get('peerpost_errors_total', MAX_CONN) >= 3, 'refusals counted');
    for (const [p, ids] of sent) {
      for (const o of outcomesOf(p, ids).values()) {
        assert.ok(
          // refused at admission: connect() fails, so nothing is reported as written
          o === 'dropped:connect_failed',
          `${p.id}: ${o}`,
        );
      }
      assertBalanced(p, 0);
    }
    assert.equal(s.received.filter((m) => m.label === 'Over').length, 0, 'a refused peer got a message in');
    assert.equal(s.network.stats().hub.inbound.direct, 3);

    const more = admitted.flatMap((p) =>
      Array.from({ length: 10 }, (_, i) => p.network.send('s', 'More', enc(`${i}`))),
    );
    await until(() => receivedOf(s, more).length === more.length, 'admitted peers keep working');
    for (const p of admitted) assertBalanced(p, 0);
  });
});

describe('slow-subscriber isolation (mutual TLS on 127.0.0.1)', () => {
  const nodes: (TestNode | undefined)[] = [];
  let stalled: TLSSocket | undefined;
  after(async () => {
    stalled?.destroy();
    await closeAll(nodes);
  });

  test('a subscriber that stops reading loses broadcasts; the others get every one; broadcast never blocks', async () => {
    const creds = (await makeCredentials(5)) as Credentials[];
    const metrics = new CountingMetrics();
    const pub = await startNode('pub', creds[0]!, {
      metrics,
      limits: { ...LIMITS, subscriberQueueCapacity: 8 },
      compressThresholdBytes: 10_000_000,
    });
    nodes.push(pub);
    const subs: TestNode[] = [];
    for (let i = 1; i <= 3; i++) {
      const n = await startNode(`s${i}`, creds[i]!, { limits: LIMITS });
      nodes.push(n);
      n.network.updateTopology(topologyOf([pub]));
      n.network.subscribe('pub');
      subs.push(n);
    }
    // A raw subscriber that completes the handshake and then never reads.
    const [host, port] = pub.network.address.split(':') as [string, string];
    stalled = tlsConnect({
      host,
      port: Number(port),
      key: creds[4]!.keyPem,
      cert: creds[4]!.certPem,
      ALPNProtocols: [ALPN_BY_KIND['subscribe-node']],
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
    });
    stalled.on('error', () => {});
    await new Promise<void>((resolve) => stalled!.once('secureConnect', () => resolve()));
    stalled.pause();
    await until(() => pub.network.stats().hub.inbound['subscribe-node'] === 4, 'four subscribers');

    const payload = Buffer.alloc(64 * 1024, 7);
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) {
      // broadcast() is synchronous: it returns whatever the stalled subscriber does.
      ids.push(pub.network.broadcast('Big', payload));
      // The healthy subscribers keep up (they run in this process, so the test paces the
      // publisher by them); the stalled one falls behind.
      if (i % 10 === 9) {
        await until(
          () => subs.every((n) => receivedOf(n, ids).length === ids.length),
          'healthy subscribers keep up',
        );
      }
    }
    for (const n of subs) assert.deepEqual(receivedOf(n, ids), ids, `${n.id}: every broadcast, in order`);
    const { certificateHash } = await import('../../src/identity/credentials.js');
    const stalledId = certificateHash(creds[4]!.certPem).slice(0, 4);
    const conns = pub.network.stats().hub.connections.filter((c) => c.kind === 'subscribe-node');
    const healthy = subs.map((n) => n.certHash.slice(0, 4));
    const healthyConns = conns.filter((c) => healthy.includes(c.shortId));
    assert.equal(healthyConns.length, 3);
    for (const c of healthyConns) assert.equal(c.drops, 0);
    const lagged = metrics.get('peerpost_errors_total', { kind: 'subscriber_lagged' });
    // The transport's 1 MiB, 8 queued frames and the loopback socket buffers (a few MiB) hold
    // part of the 300 frames of 64 KiB (~19 MiB); the rest is dropped.
    assert.ok(lagged >= 100, `drops for the stalled subscriber counted: ${lagged}`);
    const slow = conns.find((c) => c.shortId === stalledId);
    assert.ok(slow !== undefined, 'the stalled subscriber is still connected');
    assert.equal(slow.drops, lagged, "the drops are all the stalled one's");
    // One outcome per subscriber connection: each healthy one has every broadcast
    // `written` (flushed to its socket); the stalled one has `written` for the first ones
    // (the socket buffers took them), `dropped:queue_full` for each one it lost, and
    // nothing yet for those its queues still hold.
    const outcomes = outcomesByAddress(pub, ids);
    const stalledSaw = new Map<string, number>();
    for (const id of ids) {
      const at = outcomes.get(id)!;
      for (const c of healthyConns)
        assert.equal(at.get(c.remoteAddress), 'written', `${id} at ${c.remoteAddress}`);
      const stalledOutcome: string = at.get(slow.remoteAddress) ?? 'none yet';
      stalledSaw.set(stalledOutcome, (stalledSaw.get(stalledOutcome) ?? 0) + 1);
      assert.equal(at.size, stalledOutcome === 'none yet' ? 3 : 4, `${id}: outcomes at ${[...at.keys()]}`);
    }
    assert.deepEqual(
      [...stalledSaw.keys()].sort(),
      ['dropped:queue_full', 'none yet', 'written'],
      `the stalled subscriber's outcomes: ${[...stalledSaw]}`,
    );
    assert.equal(stalledSaw.get('dropped:queue_full'), lagged);
  });
});

describe('slowSubscriberDisconnectAfterDrops through createNetwork (memory transport, FakeClock)', () => {
  test('the limit is accepted, defaults to the hub default, and rejects a negative value', async () => {
    assert.equal(DEFAULT_LIMITS.slowSubscriberDisconnectAfterDrops, 0);
    assert.equal(
      DEFAULT_LIMITS.slowSubscriberDisconnectAfterDrops,
      DEFAULT_HUB_LIMITS.slowSubscriberDisconnectAfterDrops,
    );
    const memory = new MemoryNetwork({ clock: new FakeClock() });
    await assert.rejects(
      createNetwork({
        nodeId: 'n',
        transport: memory.transport({ host: 'n' }),
        listen: 'n:0',
        limits: { slowSubscriberDisconnectAfterDrops: -1 },
      }),
      (err: Error & { code?: string }) =>
        err.code === 'ERR_INVALID_OPTION' && /limits\.slowSubscriberDisconnectAfterDrops/.test(err.message),
    );
    await memory.close();
  });

  test('a subscriber that never reads is disconnected after that many drops in a row; the others keep receiving', async () => {
    const clock = new FakeClock();
    // Small socket buffers and write high-water mark: a stalled reader backs up after a few frames.
    const memory = new MemoryNetwork({ clock, socketBufferBytes: 16 * 1024 });
    const metrics = new CountingMetrics();
    const pub = await createNetwork({
      nodeId: 'pub',
      transport: memory.transport({ host: 'pub', limits: { highWaterMarkBytes: 8 * 1024 } }),
      listen: 'pub:0',
      clock,
      metrics,
      compressThresholdBytes: 10_000_000,
      limits: { subscriberQueueCapacity: 4, slowSubscriberDisconnectAfterDrops: 3 },
    });
    const outcomes: OutcomeEvent[] = [];
    pub.onOutcome((o) => outcomes.push(o));
    const fast = await createNetwork({
      nodeId: 'fast',
      transport: memory.transport({ host: 'fast' }),
      listen: 'fast:0',
      clock,
    });
    const atFast: string[] = [];
    fast.onMessage((m) => atFast.push(m.id));
    fast.updateTopology({ pub: [pub.address] });
    fast.subscribe('pub');
    // A raw subscriber that never reads.
    const slow = new ClientEnd(
      await memory.transport({ host: 'slow' }).connect(pub.address, 'subscribe-node'),
    );
    memory.pauseReading(slow.connection);
    await clock.tick(100);
    assert.equal(pub.stats().hub.inbound['subscribe-node'], 2, 'two subscribers');

    const slowAddress = slow.connection.localAddress;
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      ids.push(pub.broadcast('Big', new Uint8Array(2048).fill(i)));
      await clock.tick(1);
    }
    await clock.tick(10);
    assert.deepEqual(atFast, ids, 'the healthy subscriber got every broadcast, in order');

    const atSlow = outcomes.filter((o) => o.address === slowAddress);
    const dropped = atSlow.filter((o) => formatOutcome(o.outcome) === 'dropped:queue_full');
    assert.equal(dropped.length, 3, 'exactly the threshold of drops, then out of routing');
    // Every broadcast after the third drop skipped the slow subscriber: no outcome of its own there.
    const lastDrop = ids.indexOf(dropped.at(-1)!.messageId);
    for (const id of ids.slice(lastDrop + 1)) {
      assert.equal(
        atSlow.some((o) => o.messageId === id),
        false,
        `${id} was routed to the disconnected subscriber`,
      );
    }
    assert.equal(metrics.get('peerpost_errors_total', { kind: 'subscriber_too_slow' }), 1);
    assert.equal(metrics.get('peerpost_errors_total', { kind: 'subscriber_lagged' }), 3);
    assert.equal(pub.stats().hub.inbound['subscribe-node'], 1, 'only the healthy subscriber is left');

    // It never reads again: the transport's write timeout ends its graceful close.
    await clock.tick(13_000);
    assert.equal(slow.closes.length, 1, 'the slow subscriber was disconnected');

    const closing = Promise.all([pub.close(), fast.close()]);
    await clock.tick(60_000);
    await closing;
    await memory.close();
  });
});

/**
 * Issue 15.2: every queue that holds data for or from a peer is bounded in bytes as well
 * as in messages, and all of them together by the node's budget (`limits.nodeQueueBytes`);
 * past a bound, drops with a named reason, and the bytes come back when the queues drain
 * or their connections close. A peer "that never reads" is a partition: the connection
 * stays open and nothing moves, so the writer's buffers fill and its queues grow.
 */
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import { describe, test } from 'node:test';
import type { Gap } from '../../src/network/gaps.js';
import type { Network } from '../../src/network/network.js';
import type { NetworkLimits } from '../../src/network/options.js';
import { formatOutcome } from '../../src/sender/outcome.js';
import { addr } from '../../src/sender/receiver.js';
import { type MemoryNodes, memoryNodes } from './memory-nodes.js';

const KIB = 1024;
/** Random, so that compression cannot shrink it (and compression is off anyway). */
const payload = (bytes: number) => randomFillSync(new Uint8Array(bytes));

async function nodes(ids: readonly string[], limits: (id: string) => NetworkLimits): Promise<MemoryNodes> {
  return memoryNodes(
    ids,
    (id) => ({
      limits: limits(id),
      compressThresholdBytes: 1e9,
      transportLimits: { highWaterMarkBytes: 16 * KIB },
    }),
    { socketBufferBytes: 32 * KIB },
  );
}

function outcomesOf(net: Network): Map<string, number> {
  const counts = new Map<string, number>();
  net.onOutcome((o) => {
    const k = formatOutcome(o.outcome);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  });
  return counts;
}

/** Connects `from` to each of `to` (so that the queues fill behind an open connection), then cuts them off. */
async function stalled(n: MemoryNodes, from: Network, to: readonly Network[]): Promise<void> {
  from.updateTopology(Object.fromEntries(to.map((t) => [t.nodeId, [t.address]])));
  for (const t of to) {
    const up = from.waitForPeer(t.nodeId);
    await n.clock.tick(50);
    await up;
  }
  n.memory.partition(
    [from.nodeId],
    to.map((t) => t.nodeId),
  );
}

/** Ticks the clock `ms` in small steps (the memory transport moves bytes on it). */
async function run(n: MemoryNodes, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 10) await n.clock.tick(10);
}

describe('peer sender queues: bounded in bytes', () => {
  test('a peer that never reads: its queue holds at most peerQueueBytes (plus one message), then dropped:queue_full; writable() says so', async () => {
    const n = await nodes(['a', 'b'], () => ({ peerQueueCapacity: 100_000, peerQueueBytes: 256 * KIB }));
    const [a, b] = n.nets as [Network, Network];
    const outcomes = outcomesOf(a);
    await stalled(n, a, [b]);
    const data = payload(16 * KIB);
    let firstUnwritable = -1;
    for (let i = 0; i < 200; i++) {
      a.send('b', 'Big', data);
      if (firstUnwritable < 0 && !a.writable('b')) firstUnwritable = i;
      await n.clock.tick(1);
    }
    const s = a.stats().sender.senders.find((x) => x.peerId === 'b')!;
    const frame = 16 * KIB + 200; // payload + envelope and prefix, roughly
    assert.ok(s.queueBytes <= 256 * KIB + frame, `${s.queueBytes} bytes queued`);
    assert.ok(s.queueBytes >= 256 * KIB, `the queue filled up to its byte bound: ${s.queueBytes}`);
    assert.ok(s.queueDepth < 20, `${s.queueDepth} messages (the count bound would take all 200)`);
    const full = outcomes.get('dropped:queue_full') ?? 0;
    assert.ok(full >= 150, `dropped:queue_full ${full}`);
    // writable() turned false once the queue was full by bytes, and stayed so.
    assert.ok(firstUnwritable >= 0 && firstUnwritable < 40, `first unwritable at ${firstUnwritable}`);
    assert.equal(a.writable('b'), false);
    assert.equal(a.stats().queueBytes, s.queueBytes, "the node's budget counts the queue");
    // ready() waits until the queue drained to half its bytes: the peer reads again.
    let ready = false;
    const waiting = a.ready('b').then(() => {
      ready = true;
    });
    await run(n, 100);
    assert.equal(ready, false, 'still full while the peer does not read');
    n.memory.heal();
    for (let i = 0; i < 200 && !ready; i++) await n.clock.tick(5);
    await waiting;
    assert.equal(a.writable('b'), true);
    await run(n, 500);
    assert.equal(a.stats().sender.queueBytes, 0, 'drained');
    assert.equal(a.stats().queueBytes, 0);
    assert.equal(b.stats().incoming.delivered, outcomes.get('written'));
    await n.close();
  });

  test('the unresolved queue is bounded in bytes: past unresolvedQueueBytes the oldest ends as unresolved_overflow', async () => {
    const n = await nodes(['a'], () => ({ unresolvedQueueBytes: 128 * KIB }));
    const [a] = n.nets as [Network];
    const outcomes = outcomesOf(a);
    const data = payload(16 * KIB);
    for (let i = 0; i < 40; i++) a.send('nobody', 'Big', data);
    const stats = a.stats().sender;
    const frame = 16 * KIB + 200;
    assert.ok(stats.unresolvedBytes <= 128 * KIB + frame, `${stats.unresolvedBytes} bytes waiting`);
    assert.ok(stats.unresolvedBytes >= 128 * KIB, `${stats.unresolvedBytes} bytes waiting`);
    assert.ok(stats.unresolvedDepth >= 7 && stats.unresolvedDepth <= 8, `${stats.unresolvedDepth} waiting`);
    assert.equal(outcomes.get('dropped:unresolved_overflow'), 40 - stats.unresolvedDepth);
    assert.equal(a.stats().queueBytes, stats.unresolvedBytes);
    assert.equal(a.writable('nobody'), false, 'full by bytes: not writable');
    const closing = a.close();
    await n.clock.tick(10_000);
    await closing;
    assert.equal(outcomes.get('dropped:shutdown'), stats.unresolvedDepth);
    assert.equal(a.stats().queueBytes, 0);
    await n.close();
  });
});

describe("the node's byte budget (limits.nodeQueueBytes)", () => {
  test('peers that never read: their queues together stop at the budget, then dropped:node_queue_full; back to 0 after close', async () => {
    const n = await nodes(['a', 'b', 'c', 'd'], () => ({ nodeQueueBytes: 512 * KIB }));
    const [a, b, c, d] = n.nets as [Network, Network, Network, Network];
    const outcomes = outcomesOf(a);
    await stalled(n, a, [b, c]);
    const data = payload(32 * KIB);
    for (let i = 0; i < 40; i++) {
      a.send('b', 'Big', data);
      a.send('c', 'Big', data);
      await n.clock.tick(1);
    }
    const held = a.stats().queueBytes;
    assert.ok(held >= 512 * KIB && held <= 512 * KIB + 33 * KIB, `${held} bytes held by the node`);
    assert.equal(held, a.stats().sender.queueBytes, 'all of it in the peer sender queues');
    const overBudget = outcomes.get('dropped:node_queue_full') ?? 0;
    assert.ok(overBudget >= 40, `dropped:node_queue_full ${overBudget}`);
    assert.equal(outcomes.get('dropped:queue_full'), undefined, 'no per-queue bound was reached');
    // The budget is the node's: a peer with an empty queue is not writable either.
    a.updateTopology({ b: [b.address], c: [c.address], d: [d.address] });
    assert.equal(a.writable('d'), false);
    assert.equal(a.writable('b'), false);
    const closing = a.close();
    await n.clock.tick(10_000);
    await closing;
    assert.equal(a.stats().queueBytes, 0, 'every byte given back');
    assert.equal(a.stats().sender.queueBytes, 0);
    const accepted = [...outcomes.values()].reduce((x, y) => x + y, 0);
    assert.equal(accepted, 80, 'one outcome per message and target');
    await n.close();
  });

  test('large replies to a peer that never reads: the hub queue stops at the budget (node_queue_full); back to 0 when the connection closes', async () => {
    const n = await nodes(['a', 'b'], (id) => (id === 'a' ? { nodeQueueBytes: 512 * KIB } : {}));
    const [a, b] = n.nets as [Network, Network];
    const outcomes = outcomesOf(a);
    let from = '';
    a.onMessage((m) => {
      from = m.from.address;
    });
    b.updateTopology({ a: [a.address] });
    b.send('a', 'Hello', payload(10));
    await run(n, 50);
    assert.notEqual(from, '', 'a got the request');
    n.memory.partition(['a'], ['b']);
    const data = payload(64 * KIB);
    for (let i = 0; i < 30; i++) {
      a.send(addr(from), 'Reply', data);
      await n.clock.tick(1);
    }
    const hub = a.stats().hub;
    assert.ok(hub.queueBytes <= 512 * KIB, `${hub.queueBytes} bytes held by the hub`);
    assert.ok(hub.queueBytes >= 384 * KIB, `${hub.queueBytes} bytes: the budget was used`);
    assert.equal(a.stats().queueBytes, hub.queueBytes);
    assert.ok((outcomes.get('dropped:node_queue_full') ?? 0) >= 20, JSON.stringify([...outcomes]));
    // The peer's connection goes (idle timeout across the partition): the memory comes back.
    await run(n, 12_000);
    assert.equal(a.stats().hub.queueBytes, 0);
    assert.equal(a.stats().queueBytes, 0);
    assert.equal(
      [...outcomes.values()].reduce((x, y) => x + y, 0),
      30,
      'every reply has its outcome',
    );
    await n.close();
  });
});

describe('the incoming queue: bounded in bytes', () => {
  for (const [name, limits] of [
    ['incomingQueueBytes', { incomingQueueBytes: 256 * KIB }],
    ['nodeQueueBytes', { nodeQueueBytes: 256 * KIB }],
  ] as const) {
    test(`a for-await reader that lags: the buffer stops at ${name}, the oldest dropped as reader_overflow`, async () => {
      const n = await nodes(['a', 'b'], (id) => (id === 'b' ? limits : {}));
      const [a, b] = n.nets as [Network, Network];
      const gaps: Gap[] = [];
      b.onGap((g) => gaps.push(g));
      a.updateTopology({ b: [b.address] });
      const data = payload(16 * KIB);
      const ids: string[] = [];
      for (let i = 0; i < 50; i++) {
        ids.push(a.send('b', 'Big', data));
        await n.clock.tick(2);
      }
      await run(n, 200);
      const incoming = b.stats().incoming;
      assert.equal(incoming.delivered, 50);
      // The incoming bound is strict; the node's budget takes one message while it has room.
      const bound = 256 * KIB + (name === 'nodeQueueBytes' ? 16 * KIB + 100 : 0);
      assert.ok(incoming.bufferedBytes <= bound, `${incoming.bufferedBytes} bytes buffered`);
      assert.ok(incoming.bufferedBytes >= 240 * KIB, `${incoming.bufferedBytes} bytes buffered`);
      assert.ok(incoming.buffered >= 14 && incoming.buffered <= 16, `${incoming.buffered} buffered`);
      assert.equal(incoming.droppedSlowReader, 50 - incoming.buffered);
      assert.equal(gaps.length, incoming.droppedSlowReader);
      assert.deepEqual(
        gaps.map((g) => (g.kind === 'reader_overflow' ? g.messageId : '')),
        ids.slice(0, incoming.droppedSlowReader),
        'the oldest went first',
      );
      assert.equal(b.stats().queueBytes, incoming.bufferedBytes);
      // A reader catches up: it gets the newest messages, and the bytes come back.
      const got: string[] = [];
      for await (const m of b.messages()) {
        got.push(m.id);
        if (got.length === incoming.buffered) break;
      }
      assert.deepEqual(got, ids.slice(incoming.droppedSlowReader));
      assert.equal(b.stats().incoming.bufferedBytes, 0);
      assert.equal(b.stats().queueBytes, 0);
      await n.close();
    });
  }
});

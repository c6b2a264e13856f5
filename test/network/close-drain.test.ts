import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { Network } from '../../src/network/network.js';
import type { OutcomeEvent } from '../../src/sender/outcome.js';
import { formatOutcome } from '../../src/sender/outcome.js';
import type { MemoryNetwork } from '../../src/transport/memory/network.js';
import type { FakeClock } from '../../src/util/fake-clock.js';
import { memoryNodes } from './memory-nodes.js';

/**
 * Network.close() drains the hub's queues (replies by address, broadcasts) together with
 * the direct senders, within `drainTimeoutMs`, and only then closes the connections: a
 * publisher on a slow link closes without losing what it had accepted, or, with no
 * drain time, reports each undelivered copy as `dropped:shutdown`.
 */

/** Incompressible, so each copy really is 4 KiB on the wire. */
const KIB4 = new Uint8Array(randomBytes(4096));

interface Pair {
  clock: FakeClock;
  memory: MemoryNetwork;
  a: Network;
  b: Network;
  outcomesAtA: OutcomeEvent[];
  atB: string[];
  requests: string[];
  replies: string[];
  broadcasts: string[];
}

/**
 * a publishes; b subscribes to it and sends it requests, which a answers; the link from a
 * to b carries 16 KiB/s, so a's answers and broadcasts wait in a's queues.
 */
async function pair(): Promise<Pair> {
  // Small socket buffers and write high-water mark: most of what a sends waits in its queues.
  const { clock, memory, nets } = await memoryNodes(
    ['a', 'b'],
    (id) => (id === 'a' ? { transportLimits: { highWaterMarkBytes: 8 * 1024 } } : {}),
    { socketBufferBytes: 16 * 1024 },
  );
  const [a, b] = nets as [Network, Network];
  const outcomesAtA: OutcomeEvent[] = [];
  a.onOutcome((o) => outcomesAtA.push(o));
  const atB: string[] = [];
  b.onMessage((m) => atB.push(m.id));
  const replies: string[] = [];
  a.onMessage((m) => replies.push(m.reply('Answer', KIB4)));
  b.updateTopology({ a: [a.address] });
  b.subscribe('a');
  await clock.tick(100);
  assert.equal(a.stats().hub.inbound['subscribe-node'], 1, "b's subscription at a");
  memory.setLink('a', 'b', { bandwidthBytesPerSec: 16 * 1024 }, false);
  const requests = Array.from({ length: 5 }, () => b.send('a', 'Ask', new Uint8Array(8)));
  await clock.tick(10);
  assert.equal(replies.length, 5, 'a answered every request');
  const broadcasts = Array.from({ length: 20 }, () => a.broadcast('News', KIB4));
  await clock.tick(1);
  return { clock, memory, a, b, outcomesAtA, atB, requests, replies, broadcasts };
}

/** The one outcome per id at a (fails on a second one). */
function outcomes(p: Pair, ids: readonly string[]): Map<string, string> {
  const wanted = new Set(ids);
  const out = new Map<string, string>();
  for (const o of p.outcomesAtA) {
    if (!wanted.has(o.messageId)) continue;
    assert.equal(out.has(o.messageId), false, `two outcomes for ${o.messageId}`);
    out.set(o.messageId, formatOutcome(o.outcome));
  }
  return out;
}

async function closeBoth(p: Pair): Promise<void> {
  const closing = Promise.all([p.b.close(), p.memory.close()]);
  await p.clock.tick(60_000);
  await closing;
}

test('close({ drainTimeoutMs }) flushes the replies and broadcasts the hub holds before closing', async () => {
  const p = await pair();
  const both = [...p.replies, ...p.broadcasts];
  // ~100 KiB at 16 KiB/s: most of it is still in a's queues when close() starts.
  assert.ok(outcomes(p, both).size < both.length / 2, 'most are still queued at close');
  let closed = false;
  const closing = p.a.close({ drainTimeoutMs: 30_000 }).then(() => {
    closed = true;
  });
  await p.clock.tick(1_000);
  assert.equal(closed, false, 'close() waits for the queues to drain');
  for (let i = 0; i < 30 && !closed; i++) await p.clock.tick(1_000);
  await closing;
  const got = outcomes(p, both);
  assert.deepEqual(new Set(got.values()), new Set(['written']), JSON.stringify([...got]));
  assert.equal(got.size, both.length);
  await p.clock.tick(100);
  for (const id of both) assert.ok(p.atB.includes(id), `b got ${id}`);
  await closeBoth(p);
});

test('close() with no drain time reports what the hub still holds as dropped:shutdown', async () => {
  const p = await pair();
  const both = [...p.replies, ...p.broadcasts];
  const closing = p.a.close();
  await p.clock.tick(60_000);
  await closing;
  const got = outcomes(p, both);
  assert.equal(got.size, both.length, 'one outcome each');
  const kinds = new Set(got.values());
  assert.ok(kinds.has('dropped:shutdown'), `some ended as shutdown: ${[...kinds]}`);
  for (const k of kinds) assert.ok(k === 'written' || k === 'dropped:shutdown', k);
  // Nothing reported dropped arrived.
  for (const [id, outcome] of got) {
    if (outcome !== 'written') assert.equal(p.atB.includes(id), false, `${id} was ${outcome} but arrived`);
  }
  await closeBoth(p);
});

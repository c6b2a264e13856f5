import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isPeerpostError } from '../../src/errors.js';
import type { Network } from '../../src/network/network.js';
import type { NetworkLimits } from '../../src/network/options.js';
import { formatOutcome } from '../../src/sender/outcome.js';
import { memoryNodes } from './memory-nodes.js';

// Backpressure for broadcasts: broadcastWritable() / broadcastReady() let a publisher go
// as fast as its subscribers take, dropping nothing, the way writable() / ready() do for
// one peer. Judged by what the subscribers' applications got, not by the publisher's counts.

const N = 5_000;
const payload = new Uint8Array(256).fill(7);

/**
 * Publisher p (subscriber queues of 100 frames, or as given), subscribers s1 and s2
 * pinned to it.
 */
async function nodes(publisherLimits: NetworkLimits = { subscriberQueueCapacity: 100 }) {
  const made = await memoryNodes(
    ['p', 's1', 's2'],
    (id) => ({
      ...(id === 'p' ? { limits: publisherLimits } : {}),
      transportLimits: { highWaterMarkBytes: 8 * 1024 },
    }),
    { socketBufferBytes: 16 * 1024 },
  );
  const [p, s1, s2] = made.nets as [Network, Network, Network];
  const got = new Map<Network, number[]>([
    [s1, []],
    [s2, []],
  ]);
  for (const [s, seqs] of got) {
    s.updateTopology({ p: [p.address] });
    s.onMessage((m) => seqs.push(m.broadcastSeq ?? -1));
    s.subscribe('p');
  }
  const outcomes = new Map<string, number>();
  p.onOutcome((o) => {
    const k = formatOutcome(o.outcome);
    outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  });
  await made.clock.tick(100);
  assert.equal(p.stats().hub.inbound['subscribe-node'], 2);
  // The in-memory transport moves bytes on the virtual clock: keep it ticking.
  let running = true;
  const ticking = (async () => {
    while (running) await made.clock.tick(1);
  })();
  const stopTicking = async () => {
    running = false;
    await ticking;
  };
  return { ...made, p, s1, s2, got, outcomes, stopTicking };
}

/** Broadcasts while writable (the queues fill: nothing moves without the clock); then it must not be. */
function fill(p: Network): void {
  for (let i = 0; i < 10 * N && p.broadcastWritable(); i++) p.broadcast('News', payload);
  assert.equal(p.broadcastWritable(), false, 'the subscriber queues filled up');
}

describe('broadcast backpressure: broadcastWritable() / broadcastReady()', () => {
  test('a tight broadcast() loop overruns the subscriber queues: copies end as dropped:queue_full', async () => {
    const n = await nodes();
    for (let i = 0; i < N; i++) n.p.broadcast('News', payload);
    for (let i = 0; i < 100; i++) await n.clock.tick(10);
    assert.ok((n.outcomes.get('dropped:queue_full') ?? 0) > N, JSON.stringify([...n.outcomes]));
    assert.ok(n.got.get(n.s1)!.length < N);
    await n.stopTicking();
    await n.close();
  });

  test('the same loop waiting on broadcastReady(): every subscriber gets every broadcast, in order', async () => {
    const n = await nodes();
    // s2 reads at a quarter of the pace s1 can: the loop goes at the slower one's.
    n.memory.setLink('p', 's2', { bandwidthBytesPerSec: 256 * 1024 }, false);
    let waits = 0;
    for (let i = 0; i < N; i++) {
      if (!n.p.broadcastWritable()) {
        waits++;
        await n.p.broadcastReady();
      }
      n.p.broadcast('News', payload);
    }
    for (let i = 0; i < 500 && n.got.get(n.s2)!.length < N; i++) await n.clock.tick(10);
    assert.ok(waits > 0, 'the loop had to wait');
    const inOrder = Array.from({ length: N }, (_, k) => k);
    assert.deepEqual(n.got.get(n.s1), inOrder);
    assert.deepEqual(n.got.get(n.s2), inOrder);
    assert.deepEqual([...n.outcomes], [['written', 2 * N]]);
    await n.stopTicking();
    await n.close();
  });

  test('a spent node byte budget holds the loop too (queues of a million frames): zero drops', async () => {
    const n = await nodes({ subscriberQueueCapacity: 1_000_000, nodeQueueBytes: 64 * 1024 });
    let waits = 0;
    let mostQueued = 0;
    for (let i = 0; i < N; i++) {
      if (!n.p.broadcastWritable()) {
        waits++;
        mostQueued = Math.max(mostQueued, n.p.stats().queueBytes);
        await n.p.broadcastReady();
      }
      n.p.broadcast('News', payload);
    }
    for (let i = 0; i < 500 && n.got.get(n.s2)!.length < N; i++) await n.clock.tick(10);
    assert.ok(waits > 0, 'the loop had to wait');
    // It waited on the budget (the queues' million frames never filled): close to 64 KiB.
    assert.ok(mostQueued > 60 * 1024 && mostQueued <= 64 * 1024, `queued at most ${mostQueued} bytes`);
    assert.deepEqual([...n.outcomes], [['written', 2 * N]]);
    assert.equal(n.got.get(n.s1)!.length, N);
    assert.equal(n.got.get(n.s2)!.length, N);
    await n.stopTicking();
    await n.close();
  });

  test('a full subscriber queue: not writable, abort rejects, the subscribers leaving end the wait', async () => {
    const n = await nodes();
    await n.stopTicking(); // nothing moves: the queues fill
    fill(n.p);
    assert.equal(n.outcomes.get('dropped:queue_full') ?? 0, 0, 'filled without a drop');
    const ctl = new AbortController();
    const aborted = n.p.broadcastReady({ signal: ctl.signal }).catch((e: unknown) => e);
    ctl.abort();
    assert.ok(isPeerpostError(await aborted, 'ERR_ABORTED'));
    let resolved = false;
    const waiting = n.p.broadcastReady().then(() => {
      resolved = true;
    });
    await new Promise((r) => setImmediate(r)); // a turn, with the virtual clock standing
    assert.equal(resolved, false);
    // Both subscribers leave: nothing to wait for any more.
    const leaving = Promise.all([n.s1.close(), n.s2.close()]);
    for (let i = 0; i < 100 && !resolved; i++) await n.clock.tick(100);
    await waiting;
    assert.equal(n.p.stats().hub.inbound['subscribe-node'], 0);
    assert.equal(n.p.broadcastWritable(), true);
    await leaving;
    await n.close();
  });

  test('close() rejects a waiting broadcastReady() with ERR_CLOSED', async () => {
    const n = await nodes();
    await n.stopTicking();
    fill(n.p);
    const closed = n.p.broadcastReady().catch((e: unknown) => e);
    const closing = n.p.close();
    assert.ok(isPeerpostError(await closed, 'ERR_CLOSED'));
    await n.clock.tick(10_000);
    await closing;
    await n.close();
  });
});

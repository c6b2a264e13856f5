import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isPeerpostError } from '../../src/errors.js';
import { createNetwork, type Network } from '../../src/network/network.js';
import { formatOutcome } from '../../src/sender/outcome.js';
import { MemoryNetwork } from '../../src/transport/memory/network.js';
import { FakeClock } from '../../src/util/fake-clock.js';

/** a and b on the in-memory transport; a's peer queues hold 100 messages. */
async function pair() {
  const clock = new FakeClock();
  const memory = new MemoryNetwork({ clock, socketBufferBytes: 64 * 1024 });
  const make = (id: string) =>
    createNetwork({
      nodeId: id,
      transport: memory.transport({ host: id, limits: { highWaterMarkBytes: 16 * 1024 } }),
      listen: `${id}:0`,
      clock,
      limits: { peerQueueCapacity: 100 },
    });
  const a = await make('a');
  const b = await make('b');
  a.updateTopology({ b: [b.address] });
  const outcomes = new Map<string, number>();
  a.onOutcome((o) => {
    const k = formatOutcome(o.outcome);
    outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  });
  let delivered = 0;
  b.onMessage(() => {
    delivered++;
  });
  // The in-memory transport moves bytes on the virtual clock: keep it ticking.
  let running = true;
  const ticking = (async () => {
    while (running) await clock.tick(1);
  })();
  const close = async (...nets: Network[]) => {
    running = false;
    await ticking;
    const closing = Promise.all(nets.map((n) => n.close()));
    await clock.tick(10_000);
    await closing;
    await memory.close();
  };
  return { clock, a, b, outcomes, delivered: () => delivered, close };
}

const N = 20_000;
const payload = new Uint8Array(64).fill(1);

describe('backpressure: writable() / ready() / sendAsync()', () => {
  test('a tight send() loop overruns the peer queue: messages end as dropped:queue_full', async () => {
    const p = await pair();
    for (let i = 0; i < N; i++) p.a.send('b', 'Load', payload);
    await p.clock.tick(1_000);
    assert.ok((p.outcomes.get('dropped:queue_full') ?? 0) > N / 2, JSON.stringify([...p.outcomes]));
    await p.close(p.a, p.b);
  });

  test('the same loop waiting on ready() when not writable: zero drops, all delivered in order', async () => {
    const p = await pair();
    let waits = 0;
    for (let i = 0; i < N; i++) {
      if (!p.a.writable('b')) {
        waits++;
        await p.a.ready('b');
      }
      p.a.send('b', 'Load', payload);
    }
    for (let i = 0; i < 100 && p.delivered() < N; i++) await p.clock.tick(10);
    assert.ok(waits > 0, 'the loop had to wait');
    assert.deepEqual([...p.outcomes], [['written', N]]);
    assert.equal(p.delivered(), N);
    await p.close(p.a, p.b);
  });

  test('sendAsync() waits for room; ready() rejects on abort and on close', async () => {
    const p = await pair();
    for (let i = 0; i < N / 4; i++) await p.a.sendAsync('b', 'Load', payload);
    for (let i = 0; i < 100 && p.delivered() < N / 4; i++) await p.clock.tick(10);
    assert.deepEqual([...p.outcomes], [['written', N / 4]]);
    // Fill the queue without waiting, then wait with a signal that aborts.
    while (p.a.writable('b')) p.a.send('b', 'Load', payload);
    const ctl = new AbortController();
    const aborted = p.a.ready('b', { signal: ctl.signal }).catch((e: unknown) => e);
    ctl.abort();
    assert.ok(isPeerpostError(await aborted, 'ERR_ABORTED'));
    // A peer that never answers: its queue stays full until the network closes.
    p.a.updateTopology({ b: [p.b.address], c: ['gone:1'] });
    while (p.a.writable('c')) p.a.send('c', 'Load', payload);
    const closed = p.a.ready('c').catch((e: unknown) => e);
    const closing = p.a.close();
    assert.ok(isPeerpostError(await closed, 'ERR_CLOSED'));
    await p.close(p.a, p.b);
    await closing;
  });
});

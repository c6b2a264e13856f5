import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HubResult, OutcomeTicket } from '../../src/hub/port.js';
import type { Topology } from '../../src/topology/types.js';
import { CLOSE_GRACE_MS } from '../../src/transport/limits.js';
import { settle } from '../../src/util/fake-clock.js';
import { encodeEnvelope } from '../../src/wire/envelope.js';
import { envelope, setupHub } from './helpers.js';

test('broadcast reaches every subscriber once, and no direct connection', async () => {
  const s = await setupHub();
  assert.equal(s.hub.broadcast(envelope(s.clock, 'nobody-listens')), 'no_subscriber');
  const subs = [
    await s.connect('s1', 'subscribe-node'),
    await s.connect('s2', 'subscribe-node'),
    await s.connect('s3', 'subscribe-proxy'),
  ];
  const direct = await s.connect('d');
  for (let i = 0; i < 5; i++) assert.equal(s.hub.broadcast(envelope(s.clock, `b${i}`)), 'written');
  await settle();
  for (const sub of subs) assert.deepEqual(sub.ids, ['b0', 'b1', 'b2', 'b3', 'b4']);
  assert.deepEqual(direct.ids, []);
  // The same bytes for everyone.
  assert.ok(subs.every((sub) => sub.frames[2]?.equals(subs[0]?.frames[2] as Buffer)));
  const frameBytes = encodeEnvelope(envelope(s.clock, 'b0')).length + 4;
  assert.equal(
    s.metrics.counter('peerpost_sent_bytes_total', { label: 'Test', mode: 'broadcast' }),
    frameBytes * 5 * 3,
  );
  await s.hub.close();
  await s.network.close();
});

test('directReceiver: only the subscriber connections of that peer forward the message', async () => {
  const s = await setupHub();
  const alice = await s.connect('alice', 'subscribe-node');
  const bob1 = await s.connect('bob', 'subscribe-node', { ownerKeys: ['cd'.repeat(32)] });
  const bob2 = await s.connect('bob', 'subscribe-proxy');
  const anon = await s.connect('anon', 'subscribe-node');
  const topology: Topology = new Map([
    [
      'alice',
      [{ address: 'alice:1', expectedIdentity: { certHash: s.transports.get('alice')!.identity.certHash } }],
    ],
    ['bob', [{ address: 'bob:1', expectedIdentity: { ownerKey: 'cd'.repeat(32) } }]],
  ]);
  s.topology.set(topology);

  assert.equal(s.hub.broadcast(envelope(s.clock, 'for-bob', { directReceiver: 'bob' })), 'written');
  assert.equal(s.hub.broadcast(envelope(s.clock, 'for-carol', { directReceiver: 'carol' })), 'no_subscriber');
  assert.equal(s.hub.broadcast(envelope(s.clock, 'for-all')), 'written');
  await settle();
  assert.deepEqual(alice.ids, ['for-all']);
  assert.deepEqual(bob1.ids, ['for-bob', 'for-all']);
  assert.deepEqual(bob2.ids, ['for-bob', 'for-all']);
  assert.deepEqual(anon.ids, ['for-all']);
  assert.equal(bob1.envelopes[0]?.directReceiver, 'bob');

  // The topology moves bob's pin to "robert": "bob" now has no subscriber.
  s.topology.set(
    new Map([['robert', [{ address: 'bob:1', expectedIdentity: { ownerKey: 'cd'.repeat(32) } }]]]),
  );
  assert.equal(s.hub.broadcast(envelope(s.clock, 'bob-again', { directReceiver: 'bob' })), 'no_subscriber');
  assert.equal(s.hub.broadcast(envelope(s.clock, 'for-robert', { directReceiver: 'robert' })), 'written');
  await settle();
  assert.deepEqual(bob1.ids, ['for-bob', 'for-all', 'for-robert']);
  assert.deepEqual(alice.ids, ['for-all']);
  await s.hub.close();
  await s.network.close();
});

/** A hub whose transport buffer fills after a few 2 KiB frames, so a stalled reader backs up fast. */
async function slowSetup(limits: { slowSubscriberDisconnectAfterDrops?: number } = {}) {
  const s = await setupHub({
    limits: { subscriberQueueCapacity: 4, ...limits },
    hubTransportLimits: { highWaterMarkBytes: 8 * 1024 },
    socketBufferBytes: 16 * 1024,
  });
  const fast = [await s.connect('fast1', 'subscribe-node'), await s.connect('fast2', 'subscribe-node')];
  const slow = await s.connect('slow', 'subscribe-node');
  s.network.pauseReading(slow.connection);
  const big = (i: number) => envelope(s.clock, `m${i}`, { data: Buffer.alloc(2048, i) });
  return { s, fast, slow, big };
}

test('a stalled subscriber loses broadcasts (counted per connection) without slowing the others', async () => {
  const { s, fast, slow, big } = await slowSetup();
  const results: HubResult[] = [];
  for (let i = 0; i < 40; i++) {
    results.push(s.hub.broadcast(big(i)));
    await settle(1);
  }
  assert.ok(results.every((r) => r === 'written'));
  const expected = Array.from({ length: 40 }, (_, i) => `m${i}`);
  for (const f of fast) assert.deepEqual(f.ids, expected);
  const stats = s.hub.stats();
  const slowStats = stats.connections.find((c) => c.remoteAddress === slow.connection.localAddress);
  assert.ok(slowStats !== undefined);
  assert.equal(slowStats.queueDepth, 4);
  assert.ok(slowStats.drops > 0, 'the stalled subscriber dropped broadcasts');
  assert.equal(stats.subscriberDrops, slowStats.drops);
  assert.equal(s.metrics.error('subscriber_lagged'), slowStats.drops);
  for (const c of stats.connections.filter((x) => x !== slowStats)) assert.equal(c.drops, 0);
  assert.equal(stats.subscriberQueueDepth, 4);

  // When it reads again it gets what was kept, in order; the dropped ones are gone.
  s.network.resumeReading(slow.connection);
  for (let i = 0; i < 10; i++) await settle();
  assert.equal(slow.ids.length, 40 - slowStats.drops);
  assert.deepEqual(slow.ids, expected.slice(0, slow.ids.length));
  assert.equal(s.hub.stats().subscriberQueueDepth, 0);
  assert.equal(s.hub.broadcast(big(99)), 'written');
  await settle();
  assert.equal(slow.ids.at(-1), 'm99');
  await s.hub.close();
  await s.network.close();
});

test('queue_full when every target subscriber is full', async () => {
  const { s, slow, big } = await slowSetup();
  s.topology.set(
    new Map([
      [
        'slowpoke',
        [{ address: 'x:1', expectedIdentity: { certHash: s.transports.get('slow')!.identity.certHash } }],
      ],
    ]),
  );
  const results: HubResult[] = [];
  for (let i = 0; i < 40; i++) {
    results.push(s.hub.broadcast(big(i)));
    await settle(1);
  }
  for (let i = 0; i < 40; i++) results.push(s.hub.broadcast({ ...big(i), directReceiver: 'slowpoke' }));
  assert.equal(results.at(-1), 'queue_full');
  assert.equal(slow.closes.length, 0, 'without a threshold the subscriber stays connected');
  // A graceful close flushes what it can; a peer that never reads is cut off after the
  // transport's close grace (CLOSE_GRACE_MS, not the 12 s write timeout).
  let closed = false;
  const closing = s.hub.close().then(() => {
    closed = true;
  });
  await s.clock.tick(CLOSE_GRACE_MS - 1);
  assert.equal(closed, false);
  await s.clock.tick(1);
  await closing;
  assert.equal(closed, true);
  assert.equal(slow.closes.length, 1);
  assert.equal(s.clock.pendingTimers, 0);
  await s.network.close();
});

test('a subscriber past the drop threshold is disconnected; the others keep receiving', async () => {
  const { s, fast, slow, big } = await slowSetup({ slowSubscriberDisconnectAfterDrops: 3 });
  for (let i = 0; i < 40; i++) {
    s.hub.broadcast(big(i));
    await settle(1);
  }
  await settle();
  assert.equal(s.metrics.error('subscriber_too_slow'), 1);
  assert.equal(s.metrics.error('subscriber_lagged'), 3, 'no drops are counted once it is out of routing');
  const stats = s.hub.stats();
  assert.equal(stats.inbound['subscribe-node'], 2);
  assert.equal(stats.closing, 1);
  assert.equal(stats.subscriberQueueDepth, 0);
  for (const f of fast) assert.equal(f.ids.length, 40);
  // It never reads again, so the transport's write timeout ends its graceful close.
  await s.clock.tick(13_000);
  assert.equal(slow.closes.length, 1);
  assert.equal(s.hub.stats().closing, 0);
  assert.equal(s.hub.stats().connections.length, 2);
  await s.hub.close();
  await s.network.close();
});

test('a subscriber that sends a frame is disconnected (subscriptions are one-way)', async () => {
  const s = await setupHub();
  const rude = await s.connect('rude', 'subscribe-node');
  const polite = await s.connect('polite', 'subscribe-node');
  rude.connection.write(encodeEnvelope(envelope(s.clock, 'hello?')));
  await settle();
  assert.equal(rude.closes.length, 1);
  assert.equal(polite.closes.length, 0);
  assert.equal(s.sink.messages.length, 0);
  assert.equal(s.hub.broadcast(envelope(s.clock, 'x')), 'written');
  await settle();
  assert.deepEqual(polite.ids, ['x']);
  await s.hub.close();
  await s.network.close();
});

/** Per subscriber address, what each broadcast's ticket was told, in order. */
class TicketLedger {
  readonly byAddress = new Map<string, string[]>();
  ticket(id: string): OutcomeTicket {
    const note = (address: string, what: string): void => {
      const list = this.byAddress.get(address) ?? [];
      this.byAddress.set(address, list);
      list.push(`${id}:${what}`);
    };
    return {
      taken: (address) => note(address, 'taken'),
      settle: (result, address) => note(address, result),
      refused: (address) => note(address, 'refused'),
    };
  }
  /** The final word per message at `address`: `written`, `refused`, `shutdown`..., or `taken` (still held). */
  finals(address: string): Map<string, string> {
    const out = new Map<string, string>();
    for (const entry of this.byAddress.get(address) ?? []) {
      const [id, what] = entry.split(':') as [string, string];
      const before = out.get(id);
      // Exactly one settle after one taken; refused alone.
      if (what === 'taken' || what === 'refused') assert.equal(before, undefined, `${entry} after ${before}`);
      else assert.equal(before, 'taken', `${entry} settled without being taken (or twice)`);
      out.set(id, what);
    }
    return out;
  }
}

test('a broadcast reports one outcome per subscriber connection: written on flush, refused when full, shutdown when the hub closes without drain time', async () => {
  const { s, fast, slow, big } = await slowSetup();
  const ledger = new TicketLedger();
  const ids: string[] = [];
  for (let i = 0; i < 40; i++) {
    ids.push(`m${i}`);
    assert.equal(s.hub.broadcast(big(i), ledger.ticket(`m${i}`)), 'written');
    await settle(1);
  }
  for (const f of fast) {
    const finals = ledger.finals(f.connection.localAddress);
    assert.deepEqual([...finals.keys()], ids);
    assert.deepEqual(new Set(finals.values()), new Set(['written']));
  }
  const slowAddress = slow.connection.localAddress;
  const before = ledger.finals(slowAddress);
  assert.equal(before.size, 40, 'every broadcast is accounted for at the stalled subscriber');
  const count = (finals: Map<string, string>, what: string) =>
    [...finals.values()].filter((v) => v === what).length;
  const drops = s.hub.stats().connections.find((c) => c.remoteAddress === slowAddress)!.drops;
  assert.equal(count(before, 'refused'), drops);
  const held = count(before, 'taken');
  assert.ok(held >= 4, `the ring (4) and the transport hold some: ${held}`);
  assert.equal(count(before, 'written') + held + drops, 40);

  // No drain time: the connections close at once (a peer that never reads is cut off
  // after the transport's close grace).
  const closing = s.hub.close();
  await s.clock.tick(CLOSE_GRACE_MS);
  await closing;
  const after = ledger.finals(slowAddress);
  assert.equal(count(after, 'shutdown'), held, 'what the stalled subscriber held ends as shutdown');
  assert.equal(count(after, 'taken'), 0);
  await s.network.close();
});

test('close() drains the subscriber queues for up to drainTimeoutMs before it closes them', async () => {
  const { s, fast, slow, big } = await slowSetup();
  const ledger = new TicketLedger();
  // Few enough that the stalled subscriber loses none, enough to fill its socket buffer
  // (16 KiB): the rest wait in its transport (8 KiB) and ring (4 frames).
  for (let i = 0; i < 14; i++) {
    s.hub.broadcast(big(i), ledger.ticket(`m${i}`));
    await settle(1);
  }
  const slowAddress = slow.connection.localAddress;
  const held = [...ledger.finals(slowAddress).values()];
  assert.ok(held.includes('taken'), `the stalled subscriber holds some: ${held}`);
  assert.ok(!held.includes('refused'), `and lost none: ${held}`);
  const start = s.clock.now();
  const closed = s.hub.close({ drainTimeoutMs: 5_000 });
  let done = false;
  void closed.then(() => {
    done = true;
  });
  await s.clock.tick(1_000);
  assert.equal(done, false, 'close() waits while a subscriber still holds broadcasts');
  assert.equal(s.hub.broadcast(big(99), ledger.ticket('m99')), 'no_subscriber', 'nothing new is routed');
  s.network.resumeReading(slow.connection);
  await s.clock.tick(100);
  await closed;
  assert.ok(s.clock.now() - start < 5_000, 'close() returned once drained, before its deadline');
  await settle(5); // the last frames flushed are still on their way to the reader
  const expected = Array.from({ length: 14 }, (_, i) => `m${i}`);
  assert.deepEqual(slow.ids, expected);
  for (const end of [...fast, slow]) {
    const finals = ledger.finals(end.connection.localAddress);
    assert.deepEqual([...finals.keys()], expected);
    assert.deepEqual(new Set(finals.values()), new Set(['written']), `${end.connection.localAddress}`);
  }
  await s.network.close();
});

test('close() gives up draining at drainTimeoutMs: the rest ends as shutdown', async () => {
  const { s, slow, big } = await slowSetup();
  const ledger = new TicketLedger();
  for (let i = 0; i < 14; i++) {
    s.hub.broadcast(big(i), ledger.ticket(`m${i}`));
    await settle(1);
  }
  const closed = s.hub.close({ drainTimeoutMs: 2_000 });
  await s.clock.tick(2_000 + CLOSE_GRACE_MS);
  await closed;
  const finals = ledger.finals(slow.connection.localAddress);
  assert.ok([...finals.values()].includes('shutdown'));
  // In order: what reached the socket, then what the hub and transport still held.
  const order = [...finals.values()].join(' ');
  assert.match(order, /^(written )+(shutdown ?)+$/, order);
  assert.ok(![...finals.values()].includes('taken'), 'nothing left unsettled');
  await s.network.close();
});

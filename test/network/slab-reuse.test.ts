// A peer sender encodes its messages into slabs, and a slab goes back to the node's pool
// once nothing framed there is queued or unflushed (src/sender/peer-sender.ts, #settle).
// These tests send bursts with idle time between them, some to a peer with two addresses
// (whose messages are records that other senders' queues may hold: their slab is let go,
// never reused), and check every byte that arrives against what was sent under that id.
// With acknowledged delivery a slab goes back once every message framed there was
// acknowledged (src/sender/ack-stream.ts).
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { type TestContext, test } from 'node:test';
import { type Credentials, certificateHash } from '../../src/identity/credentials.js';
import { createNetwork, type Network } from '../../src/network/network.js';
import type { OutcomeEvent } from '../../src/sender/outcome.js';
import { FakeClock } from '../../src/util/fake-clock.js';
import { makeCredentials, memoryNodes, sleep, until } from './helpers.js';

/** A payload that names its round and index in every byte range. */
function payloadOf(round: number, i: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let k = 0; k < size; k++) out[k] = (round * 31 + i * 7 + k) & 0xff;
  return out;
}

/**
 * A sender node `s` and a receiver node `r` over mutual TLS on 127.0.0.1, `s` knowing
 * `r` (default limits: the transport's 1 MiB high-water mark, a peer queue of 100
 * messages); closed after the test.
 */
async function tlsPair(
  t: TestContext,
  senderOptions: {
    compressThresholdBytes?: number;
    acks?: { enabled: boolean; windowBytes?: number };
    clock?: FakeClock;
  } = {},
) {
  const [senderCreds, receiverCreds] = await makeCredentials(2);
  const receiverHash = certificateHash((receiverCreds as Credentials).certPem);
  const receiver = await createNetwork({
    nodeId: 'r',
    credentials: receiverCreds as Credentials,
    listen: '127.0.0.1:0',
    trust: { certHashes: [certificateHash((senderCreds as Credentials).certPem)] },
  });
  const sender = await createNetwork({
    nodeId: 's',
    credentials: senderCreds as Credentials,
    trust: { certHashes: [receiverHash] },
    topology: { r: [{ address: receiver.address, certHash: receiverHash }] },
    ...senderOptions,
  });
  t.after(() => Promise.all([sender.close(), receiver.close()]));
  return { sender, receiver };
}

/**
 * Sends `n` messages from `sender` to `r` (payload `payloadAt(i)`, waiting for room when
 * not writable), waits for all of them at `receiver`, checks every byte against what was
 * sent under that id, and returns how many buffers of 16 KiB or more (frames of their
 * own) the sender's frame slabs allocated meanwhile.
 */
async function sendCountingLargeBuffers(
  sender: Network,
  receiver: Network,
  n: number,
  payloadAt: (i: number) => Uint8Array,
): Promise<number> {
  const sent = new Map<string, Uint8Array>();
  const arrived: { id: string; data: Uint8Array }[] = [];
  receiver.onMessage((m) => arrived.push({ id: m.id, data: Uint8Array.from(m.data) }));
  const allocUnsafe = Buffer.allocUnsafe;
  let large = 0;
  Buffer.allocUnsafe = (size: number) => {
    if (size >= 16 * 1024 && new Error().stack?.includes('FrameSlab.reserve') === true) large++;
    return allocUnsafe(size);
  };
  try {
    for (let i = 0; i < n; i++) {
      if (!sender.writable('r')) await sender.ready('r');
      const data = payloadAt(i);
      sent.set(sender.send('r', 'L', data), data);
    }
    await until(() => arrived.length === n, 'every message to arrive', 60_000);
  } finally {
    Buffer.allocUnsafe = allocUnsafe;
  }
  for (const { id, data } of arrived)
    assert.deepEqual(data, sent.get(id), `the bytes of ${id} changed on the way`);
  return large;
}

test('bursts separated by idle time arrive byte for byte, to one-address and two-address peers', async () => {
  const { clock, nets, memory, close } = await memoryNodes(['a', 'b', 'c1', 'c2', 'd']);
  const d = nets.get('d') as Network;
  const a = nets.get('a') as Network;
  const b = nets.get('b') as Network;
  const c1 = nets.get('c1') as Network;
  const c2 = nets.get('c2') as Network;
  // c2 is slow: messages to c wait in its queue, frames stored by c1's sender among them,
  // while c1's sender goes idle between slices.
  memory.setLink('a', 'c2', { bandwidthBytesPerSec: 400_000 });
  a.updateTopology({ b: [b.address], c: [c1.address, c2.address], d: [d.address] });
  const sent = new Map<string, Uint8Array>();
  const arrived: { net: string; id: string; data: Uint8Array }[] = [];
  for (const [name, net] of [
    ['b', b],
    ['c1', c1],
    ['c2', c2],
    ['d', d],
  ] as const) {
    net.onMessage((m) => arrived.push({ net: name, id: m.id, data: Uint8Array.from(m.data) }));
  }
  const outcomes: OutcomeEvent[] = [];
  let expected = 0;
  for (let round = 0; round < 12; round++) {
    // Halfway, someone starts listening to outcomes: plain messages then report one by one.
    if (round === 6) a.onOutcome((e) => outcomes.push(e));
    const burst = 40 + round * 23;
    for (let i = 0; i < burst; i++) {
      // Up to ~6 KiB: a slab holds a handful of frames, so senders change slabs often.
      const size = 20 + ((i * 997 + round * 131) % 6000);
      const data = payloadOf(round, i, size);
      // Odd rounds go to c only: c1's sender backs up too and stores frames in its slab.
      const toC = round % 2 === 1 || i % 5 === 0;
      // b and d take turns: their senders take slabs from the node's pool one after the other.
      const id = a.send(toC ? 'c' : i % 2 === 0 ? 'b' : 'd', `R${round % 3}`, data);
      sent.set(id, data);
      expected += toC ? 2 : 1;
      // Slices: flushes (and an idle slab) come between sends.
      if (i % 16 === 15) await clock.tick(1);
    }
    // Idle: what went to b is flushed before the next burst (its slab is started over).
    await clock.tick(20);
  }
  for (let t = 0; t < 2000 && arrived.length < expected; t++) await clock.tick(5);
  assert.equal(arrived.length, expected, 'not everything arrived');
  for (const { net, id, data } of arrived) {
    const want = sent.get(id);
    assert.ok(want !== undefined, `${net} got an unknown id ${id}`);
    assert.deepEqual(data, want, `${net}: the bytes of ${id} changed on the way`);
  }
  const perId = new Map<string, number>();
  for (const { id } of arrived) perId.set(id, (perId.get(id) ?? 0) + 1);
  for (const [id, n] of perId) assert.ok(n <= 2, `${id} arrived ${n} times`);
  // Outcomes heard one by one from round 6 on name real messages, each written.
  assert.ok(outcomes.length > 0);
  for (const e of outcomes) {
    assert.ok(sent.has(e.messageId), `outcome for unknown id ${e.messageId}`);
    assert.equal(e.outcome.kind, 'written');
  }
  await close();
});

test('over TLS, where written frames are held by reference until flushed: bursts with idle time between arrive byte for byte', async (t) => {
  // No outcome listener: the sender's messages are plain (numbers in runs, frames in its slab).
  const { sender, receiver } = await tlsPair(t);
  const sent = new Map<string, Uint8Array>();
  const arrived: { id: string; data: Uint8Array }[] = [];
  receiver.onMessage((m) => arrived.push({ id: m.id, data: Uint8Array.from(m.data) }));
  for (let round = 0; round < 8; round++) {
    // About 2 MiB a round: past the transport's high-water mark, so part waits in the queue.
    for (let i = 0; i < 3000; i++) {
      if (!sender.writable('r')) await sender.ready('r');
      const data = payloadOf(round, i, 40 + ((i * 131 + round) % 1200));
      sent.set(sender.send('r', `R${round % 2}`, data), data);
    }
    await until(() => arrived.length === sent.size, `round ${round} to arrive`);
    await sleep(5); // idle: the slab is started over
  }
  assert.equal(arrived.length, sent.size);
  for (const { id, data } of arrived)
    assert.deepEqual(data, sent.get(id), `the bytes of ${id} changed on the way`);
});

test('over TLS, a backed-up sender keeps taking its slabs from the pool: the frame buffers it allocates do not grow with what it sends', async (t) => {
  // Default limits: the transport's 1 MiB high-water mark, then a peer queue of 100 messages.
  const { sender, receiver } = await tlsPair(t);
  let received = 0;
  receiver.onMessage(() => received++);
  const allocUnsafe = Buffer.allocUnsafe;
  let slabs = 0;
  Buffer.allocUnsafe = (size: number) => {
    // A sender's slab (frames of 16 KiB and more get buffers of their own, and other code
    // allocates 64 KiB buffers too).
    if (size === 64 * 1024 && new Error().stack?.includes('FrameSlab.reserve') === true) slabs++;
    return allocUnsafe(size);
  };
  const total = 24 * 1024; // 24 MiB of ~1 KiB messages: 384 slabs' worth
  try {
    const data = new Uint8Array(1000);
    for (let i = 0; i < total; i++) {
      if (!sender.writable('r')) await sender.ready('r');
      sender.send('r', 'L', data);
    }
    await until(() => received === total, 'every message to arrive', 60_000);
  } finally {
    Buffer.allocUnsafe = allocUnsafe;
  }
  // In flight: at most the 1 MiB high-water mark plus the queue, ~20 slabs, in use again
  // and again. With a pool too small for the swing between backpressure and drain (4
  // slabs) this was well over 100.
  assert.ok(slabs <= 48, `${slabs} slabs allocated for ${total} messages`);
});

test('over TLS, large frames get pooled buffers of their own, taken again once flushed: every byte arrives, and allocations do not grow with what is sent', async (t) => {
  // No compression: frames as large as the payloads.
  const { sender, receiver } = await tlsPair(t, { compressThresholdBytes: Number.MAX_SAFE_INTEGER });
  // Sizes around the 16 KiB threshold and the size steps, small ones between, and one
  // past the pooled maximum: ~900 frames, ~40 MiB.
  const sizes = [16_300, 70_000, 300, 65_536, 16_400, 33_000, 1_000, 130_000, 49_200, 2_000_000];
  const large = await sendCountingLargeBuffers(sender, receiver, 900, (i) =>
    payloadOf(i % 7, i, sizes[i % sizes.length] as number),
  );
  // 720 frames of 16 KiB to 1 MiB and 90 larger ones (never pooled) went out: ~140 buffers
  // allocated in all, where a buffer per large frame was ~630.
  assert.ok(large <= 300, `${large} large frame buffers allocated for 900 messages`);
});

test('over TLS, the pool holds what a backed-up sender of 64 KiB messages has in flight, and follows updateConfig', async (t) => {
  const MiB = 1024 * 1024;
  const { sender, receiver } = await tlsPair(t, { compressThresholdBytes: Number.MAX_SAFE_INTEGER });
  // Default limits: a 16 MiB peer queue (by bytes; 100 messages) and the transport's 1 MiB.
  assert.equal(sender.stats().sender.pool.maxBytes, 17 * MiB);
  const total = 1500; // ~96 MiB
  const large = await sendCountingLargeBuffers(sender, receiver, total, (i) =>
    payloadOf(i % 13, i, 64 * 1024),
  );
  // In flight: up to 100 queued (6.4 MiB) plus the 1 MiB high-water mark, ~115 buffers of
  // 80 KiB, in use again and again. With a 4 MiB pool (51 of them) every swing between
  // backpressure and drain let part of them go to the GC (389 allocated; 116 now).
  assert.ok(large <= 200, `${large} frame buffers allocated for ${total} messages of 64 KiB`);
  const kept = sender.stats().sender.pool.bytes;
  assert.ok(kept > 4 * MiB && kept <= 17 * MiB, `${kept} bytes kept`);
  // Acks on: one window more. A smaller queue bound: the pool lets go of what is beyond.
  sender.updateConfig({ acks: { enabled: true } });
  assert.equal(sender.stats().sender.pool.maxBytes, 25 * MiB);
  sender.updateConfig({ acks: { enabled: false }, limits: { peerQueueBytes: 2 * MiB } });
  assert.equal(sender.stats().sender.pool.maxBytes, 4 * MiB, 'never less than 4 MiB');
  assert.ok(sender.stats().sender.pool.bytes <= 4 * MiB);
});

test('over TLS, the pool gives back what a burst left in it once the node has been quiet for 30 s', async (t) => {
  const MiB = 1024 * 1024;
  // The sender's timers on a clock of the test's (nothing else of this test waits on it).
  const clock = new FakeClock();
  const { sender, receiver } = await tlsPair(t, { compressThresholdBytes: Number.MAX_SAFE_INTEGER, clock });
  // ~12 MiB of 64 KiB messages: up to 100 of them framed while they wait.
  await sendCountingLargeBuffers(sender, receiver, 200, (i) => payloadOf(1, i, 64 * 1024));
  const kept = sender.stats().sender.pool.bytes;
  assert.ok(kept > 4 * MiB, `${kept} bytes kept after the burst`);
  clock.advance(29_000);
  assert.equal(sender.stats().sender.pool.bytes, kept, 'kept: quiet for less than 30 s');
  clock.advance(32_000);
  assert.ok(
    sender.stats().sender.pool.bytes <= 4 * MiB,
    `${sender.stats().sender.pool.bytes} bytes kept when quiet`,
  );
});

test('over TLS, a sender that goes idle after every message writes them all from one pooled slab', async (t) => {
  // One message at a time, each flushed (and the sender idle) before the next: plain
  // sends, requests (watched, each answered) and sends heard by an outcome listener.
  // A slab taken back from the pool is the same buffer in a new use; a message counted
  // in the old use kept the new one from going back, and every other message allocated
  // a new 64 KiB slab (1,005 for 2,000 requests).
  const { sender, receiver } = await tlsPair(t);
  let received = 0;
  receiver.onMessage((m) => {
    received++;
    if (m.label === 'Ping') m.reply('Pong', m.data);
  });
  const allocUnsafe = Buffer.allocUnsafe;
  let slabs = 0;
  Buffer.allocUnsafe = (size: number) => {
    if (size === 64 * 1024 && new Error().stack?.includes('FrameSlab.reserve') === true) slabs++;
    return allocUnsafe(size);
  };
  const data = new Uint8Array(64);
  try {
    for (let i = 0; i < 100; i++) {
      const before = received;
      sender.send('r', 'L', data);
      await until(() => received > before, 'the message to arrive');
    }
    for (let i = 0; i < 100; i++) await sender.request('r', 'Ping', data);
    let outcomes = 0;
    sender.onOutcome(() => outcomes++);
    for (let i = 0; i < 100; i++) {
      sender.send('r', 'L', data);
      await until(() => outcomes > i, 'the outcome');
    }
  } finally {
    Buffer.allocUnsafe = allocUnsafe;
  }
  assert.ok(slabs <= 3, `${slabs} slabs allocated for 300 messages sent one at a time`);
});

test('over TLS with acks, a slab goes back to the pool once its messages are acknowledged: every byte arrives once, and allocations do not grow with what is sent', async (t) => {
  // A 2 MiB ack window: at most ~3 MiB (window and transport) framed and not yet acknowledged.
  const { sender, receiver } = await tlsPair(t, { acks: { enabled: true, windowBytes: 2 * 1024 * 1024 } });
  const sent = new Map<string, Uint8Array>();
  const arrived: { id: string; data: Uint8Array }[] = [];
  receiver.onMessage((m) => arrived.push({ id: m.id, data: Uint8Array.from(m.data) }));
  const allocUnsafe = Buffer.allocUnsafe;
  let slabs = 0;
  Buffer.allocUnsafe = (size: number) => {
    if (size === 64 * 1024 && new Error().stack?.includes('FrameSlab.reserve') === true) slabs++;
    return allocUnsafe(size);
  };
  const total = 24 * 1024; // ~24 MiB of ~1 KiB messages: ~400 slabs' worth
  try {
    for (let i = 0; i < total; i++) {
      if (!sender.writable('r')) await sender.ready('r');
      const data = payloadOf(i % 11, i, 900 + (i % 200));
      sent.set(sender.send('r', 'L', data), data);
    }
    // (No outcome listener: messages that wait in the queue are plain too, numbers in runs.)
    await until(
      () => sender.stats().outcomes['delivered'] === total,
      'every message to be acknowledged',
      60_000,
    );
  } finally {
    Buffer.allocUnsafe = allocUnsafe;
  }
  assert.equal(arrived.length, total, 'each message reached the application once');
  for (const { id, data } of arrived)
    assert.deepEqual(data, sent.get(id), `the bytes of ${id} changed on the way`);
  // A slab given back while a frame there was still to be written would have changed bytes
  // above. ~3 MiB in flight is ~50 slabs (35 measured); one never given back makes a new
  // slab per ~60 messages (258 measured before slabs went back from acks).
  assert.ok(slabs <= 80, `${slabs} slabs allocated for ${total} acknowledged messages`);
});

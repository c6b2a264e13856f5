// `send()`'s fast lane (src/sender/direct-sender.ts `sendPlain`): a plain message to a
// connected peer whose sender has nothing waiting is encoded and written at once, with no
// envelope or record made. These tests mix it with the general path (sends with options,
// a backed-up connection, a peer not yet connected) over mutual TLS and check what the
// receiver got, in order and byte for byte, against what was sent, and the sender's counts
// and metrics against those messages' frames.
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { type TestContext, test } from 'node:test';
import { type Credentials, certificateHash } from '../../src/identity/credentials.js';
import { createPrometheusMetrics } from '../../src/metrics/prometheus.js';
import { createNetwork } from '../../src/network/network.js';
import { peer } from '../../src/sender/receiver.js';
import { type Clock, systemClock } from '../../src/util/clock.js';
import { plainEnvelopeSize } from '../../src/wire/envelope.js';
import { FRAME_PREFIX_BYTES } from '../../src/wire/framing.js';
import { makeCredentials, outcomeRows, spyOnLane, sumOf, until } from './helpers.js';

async function tlsPair(t: TestContext, acks = false, clock?: Clock) {
  const [senderCreds, receiverCreds] = (await makeCredentials(2)) as [Credentials, Credentials];
  const receiverHash = certificateHash(receiverCreds.certPem);
  const metrics = createPrometheusMetrics();
  const receiver = await createNetwork({
    nodeId: 'r',
    credentials: receiverCreds,
    listen: '127.0.0.1:0',
    trust: { certHashes: [certificateHash(senderCreds.certPem)] },
  });
  const sender = await createNetwork({
    nodeId: 's',
    credentials: senderCreds,
    trust: { certHashes: [receiverHash] },
    topology: { r: [{ address: receiver.address, certHash: receiverHash }] },
    knownLabels: ['Known'],
    metrics,
    ...(acks ? { acks: { enabled: true } } : {}),
    ...(clock === undefined ? {} : { clock }),
    // No compression: the bytes counted are then those of the frames sent.
    compressThresholdBytes: Number.MAX_SAFE_INTEGER,
  });
  t.after(() => Promise.all([sender.close(), receiver.close()]));
  return { sender, receiver, metrics };
}

test('plain sends mixed with the general path arrive in send order, byte for byte, each counted once', async (t) => {
  const { sender, receiver, metrics } = await tlsPair(t);
  const lane = spyOnLane(t);
  const arrived: { id: string; label: string; data: Buffer }[] = [];
  receiver.onMessage((m) => arrived.push({ id: m.id, label: m.label, data: Buffer.from(m.data) }));
  const sent: { id: string; label: string; data: Uint8Array }[] = [];
  let frameBytes = 0;
  const send = (label: string, data: Uint8Array, withOptions: boolean) => {
    const id = withOptions
      ? sender.send('r', label, data, { deadlineMs: 60_000 })
      : sender.send('r', label, data);
    sent.push({ id, label, data });
    frameBytes += FRAME_PREFIX_BYTES + plainEnvelopeSize(id, label, data.length);
  };
  // The first message finds no connection: it waits (the general path) while the sender connects.
  send('Known', Buffer.from('first'), false);
  const sizes = [64, 1024, 20_000, 7, 0];
  for (let i = 0; i < 4000; i++) {
    if (!sender.writable('r')) await sender.ready('r');
    const size = sizes[i % sizes.length] as number;
    const data = Buffer.alloc(size);
    for (let k = 0; k < size; k++) data[k] = (i * 13 + k) & 0xff;
    send(i % 3 === 0 ? 'Other' : 'Known', data, i % 10 === 0);
    // Now and then a turn of the event loop, so that both a connected, idle sender (the
    // lane) and a backed-up one (the general path) are met.
    if (i % 50 === 49) await new Promise((r) => setImmediate(r));
  }
  await until(() => arrived.length === sent.length, 'every message arrived', 30_000);

  assert.deepEqual(
    arrived.map((a) => a.id),
    sent.map((s) => s.id),
    'arrival order is send order',
  );
  for (let i = 0; i < sent.length; i++) {
    const s = sent[i] as (typeof sent)[number];
    const a = arrived[i] as (typeof arrived)[number];
    assert.equal(a.label, s.label, `label of ${s.id}`);
    assert.ok(a.data.equals(s.data), `payload of ${s.id}`);
  }
  assert.ok(lane.taken > 1000, `the fast lane took ${lane.taken} messages`);
  // Sends with options never ask the lane; a backed-up sender refuses it.
  assert.ok(lane.refused > 0, 'a backed-up sender sent no message to the general path');

  await until(() => sender.stats().outcomes['written'] === sent.length, 'every outcome is known');
  assert.deepEqual(sender.stats().outcomes, { written: sent.length });
  const direct = { mode: 'direct' };
  for (const phase of ['OutgoingBuffer', 'OutgoingTransfer']) {
    for (const metric of ['peerpost_phase_started_total', 'peerpost_phase_finished_total']) {
      assert.equal(await sumOf(metrics, metric, { ...direct, phase }), sent.length, `${metric} ${phase}`);
    }
  }
  const known = sent.filter((s) => s.label === 'Known').length;
  assert.equal(
    await sumOf(metrics, 'peerpost_phase_started_total', {
      ...direct,
      phase: 'OutgoingBuffer',
      label: 'Known',
    }),
    known,
  );
  assert.equal(
    await sumOf(metrics, 'peerpost_phase_started_total', {
      ...direct,
      phase: 'OutgoingBuffer',
      label: 'other',
    }),
    sent.length - known,
  );
  assert.equal(
    await sumOf(metrics, 'peerpost_phase_duration_seconds_count', { ...direct, phase: 'OutgoingBuffer' }),
    sent.length,
  );
  assert.equal(await sumOf(metrics, 'peerpost_sent_bytes_total', direct), frameBytes);
});

test("each message carries its send time in whole ms, as the general path's: up to 2^53 - 1 ms through the lane, past it through the general path", async (t) => {
  // The sender's clock stands still at `at` (its timers are the system's): every message
  // sent is stamped with that time, whichever path it takes.
  const lane = spyOnLane(t);
  for (const at of [2 ** 40 + 0.75, Number.MAX_SAFE_INTEGER, 2 ** 60]) {
    const clock: Clock = { ...systemClock, now: () => at };
    const { sender, receiver } = await tlsPair(t, false, clock);
    const before = lane.taken;
    const stamps: bigint[] = [];
    receiver.onMessage((m) => void stamps.push(m.envelope.deliveryStartTimestampMs));
    sender.send('r', 'Known', Buffer.from('first')); // waits for the connection
    await until(() => stamps.length === 1, 'the first message arrived');
    for (let i = 0; i < 20; i++)
      sender.send('r', 'Known', Buffer.from([i]), i % 2 === 0 ? {} : { deadlineMs: 60_000 });
    await until(() => stamps.length === 21, 'every message arrived');
    const expected = BigInt(Math.trunc(at));
    assert.deepEqual(stamps, Array(21).fill(expected), `stamps at ${at}`);
    const taken = lane.taken - before;
    if (at <= Number.MAX_SAFE_INTEGER) assert.ok(taken >= 10, `the lane took ${taken} at ${at}`);
    else assert.equal(taken, 0, 'past 2^53 - 1 ms the lane takes nothing');
  }
});

test('with outcomes heard one by one, each message of the lane gets one outcome, naming it, its label and address', async (t) => {
  const { sender, receiver } = await tlsPair(t);
  const lane = spyOnLane(t);
  const arrived: string[] = [];
  receiver.onMessage((m) => void arrived.push(m.id));
  const outcomes = outcomeRows(sender);
  const sent: { id: string; label: string }[] = [];
  // Messages sent with onOutcome and onSettled: what each heard.
  const heard = new Map<string, { outcomes: string[]; settled: string[][] }>();
  for (let i = 0; i < 300; i++) {
    if (!sender.writable('r')) await sender.ready('r');
    const label = i % 2 === 0 ? 'Known' : 'Other';
    // Every third with an id of the caller's (non-ASCII now and then), every fifth to
    // `peer('r')` (a reply's receiver), every seventh watched: the lane takes those too.
    const to = i % 5 === 0 ? peer('r') : 'r';
    const data = Buffer.alloc(64, i);
    let id: string;
    if (i % 7 === 0) {
      const h = { outcomes: [] as string[], settled: [] as string[][] };
      id = sender.send(to, label, data, {
        onOutcome: (o) => h.outcomes.push(`${o.messageId} ${o.outcome.kind}`),
        onSettled: (all) => h.settled.push(all.map((o) => `${o.messageId} ${o.outcome.kind}`)),
      });
      heard.set(id, h);
    } else if (i % 3 === 0) {
      id = sender.send(to, label, data, { id: `mine-${i}${i % 9 === 0 ? '-ü' : ''}` });
    } else {
      id = sender.send(to, label, data);
    }
    sent.push({ id, label });
    if (i % 20 === 19) await new Promise((r) => setImmediate(r));
  }
  await until(
    () =>
      arrived.length === sent.length &&
      outcomes.length === sent.length &&
      [...heard.values()].every((h) => h.settled.length > 0),
    'every message and outcome',
  ).catch((err) => assert.fail(`${err}: ${arrived.length} arrived, ${outcomes.length} outcomes`));
  for (const [id, h] of heard) {
    assert.deepEqual(h, { outcomes: [`${id} written`], settled: [[`${id} written`]] }, `what ${id} heard`);
  }
  assert.ok(lane.taken > 100, `the fast lane took ${lane.taken} messages`);
  assert.deepEqual(
    arrived,
    sent.map((s) => s.id),
  );
  assert.deepEqual(
    [...outcomes].sort((a, b) => a.id.localeCompare(b.id)),
    sent
      .map((s) => ({ id: s.id, label: s.label, receiver: 'r', address: receiver.address, kind: 'written' }))
      .sort((a, b) => a.id.localeCompare(b.id)),
  );
});

test('request() takes the fast lane and its reply resolves it; a request to a node gone away rejects as dropped', async (t) => {
  const { sender, receiver } = await tlsPair(t);
  const lane = spyOnLane(t);
  receiver.onMessage((m) => {
    if (m.label === 'Ping') m.reply('Pong', Buffer.concat([Buffer.from('re:'), Buffer.from(m.data)]));
  });
  // The first request connects (the general path); the others find the sender ready.
  for (let i = 0; i < 20; i++) {
    const reply = await sender.request('r', 'Ping', Buffer.from(`q${i}`), { timeoutMs: 10_000 });
    assert.equal(Buffer.from(reply.data).toString(), `re:q${i}`);
    assert.equal(reply.label, 'Pong');
  }
  assert.ok(lane.taken >= 15, `the fast lane took ${lane.taken} of 20 requests`);
  // The receiver goes away: the request is dropped (its sender cannot connect) and
  // rejects with that, not with its timeout.
  await receiver.close();
  const started = Date.now();
  const err = await sender.request('r', 'Ping', Buffer.from('late'), { timeoutMs: 30_000 }).then(
    () => assert.fail('a request to a closed node resolved'),
    (e: unknown) => e,
  );
  assert.equal((err as { code?: string }).code, 'ERR_REQUEST_DROPPED', String(err));
  assert.ok(Date.now() - started < 30_000, 'rejected before its timeout');
});

test('with acks, messages of the lane wait in the stream without records and each ends delivered, counted once', async (t) => {
  const { sender, receiver, metrics } = await tlsPair(t, true);
  const lane = spyOnLane(t);
  const arrived: { id: string; data: Buffer }[] = [];
  receiver.onMessage((m) => arrived.push({ id: m.id, data: Buffer.from(m.data) }));
  const delivered: string[] = [];
  sender.onOutcome((o) => delivered.push(`${o.messageId} ${o.outcome.kind}`));
  const sent: string[] = [];
  let frameBytes = 0;
  const sizes = [64, 1024, 9000, 0];
  for (let i = 0; i < 3000; i++) {
    if (!sender.writable('r')) await sender.ready('r');
    const data = Buffer.alloc(sizes[i % sizes.length] as number, i);
    const label = i % 3 === 0 ? 'Other' : 'Known';
    const id =
      i % 10 === 0 ? sender.send('r', label, data, { deadlineMs: 60_000 }) : sender.send('r', label, data);
    sent.push(id);
    frameBytes += FRAME_PREFIX_BYTES + plainEnvelopeSize(id, label, data.length);
    if (i % 50 === 49) await new Promise((r) => setImmediate(r));
  }
  await until(() => delivered.length === sent.length, 'every outcome', 30_000).catch((err) =>
    assert.fail(`${err}: ${delivered.length} outcomes of ${sent.length}`),
  );
  assert.ok(lane.taken > 1000, `the fast lane took ${lane.taken} messages`);
  assert.deepEqual(
    arrived.map((a) => a.id),
    sent,
    'each message reached the application once, in send order',
  );
  for (let i = 0; i < sent.length; i++) {
    const a = arrived[i] as (typeof arrived)[number];
    assert.ok(a.data.equals(Buffer.alloc(sizes[i % sizes.length] as number, i)), `payload of ${sent[i]}`);
  }
  // Outcomes come when acks come: in send order, each `delivered`, naming the message.
  assert.deepEqual(
    delivered,
    sent.map((id) => `${id} delivered`),
  );
  assert.deepEqual(sender.stats().outcomes, { delivered: sent.length });
  const direct = { mode: 'direct' };
  for (const phase of ['OutgoingBuffer', 'OutgoingTransfer']) {
    for (const metric of ['peerpost_phase_started_total', 'peerpost_phase_finished_total']) {
      assert.equal(await sumOf(metrics, metric, { ...direct, phase }), sent.length, `${metric} ${phase}`);
    }
  }
  assert.equal(await sumOf(metrics, 'peerpost_sent_bytes_total', direct), frameBytes);
  assert.equal(await sumOf(metrics, 'peerpost_outcomes_total', { outcome: 'delivered' }), sent.length);
  assert.equal(await sumOf(metrics, 'peerpost_ack_latency_seconds_count', {}), sent.length);
  assert.equal(sender.stats().sender.senders[0]?.unacked, 0, 'nothing waits for an ack');
});

test('with acks and nobody hearing outcomes one by one, each ack counts what it covers once (records among them), and a listener added later hears each later one once', async (t) => {
  const { sender, receiver, metrics } = await tlsPair(t, true);
  const lane = spyOnLane(t);
  const arrived: string[] = [];
  receiver.onMessage((m) => arrived.push(m.id));
  const sent: string[] = [];
  const sendSome = async (n: number) => {
    for (let i = 0; i < n; i++) {
      if (!sender.writable('r')) await sender.ready('r');
      const k = sent.length;
      const data = Buffer.alloc(k % 2 === 0 ? 64 : 1024, k);
      // Every tenth with a deadline: a record among the lane's entries of the stream.
      sent.push(
        k % 10 === 0
          ? sender.send('r', 'Known', data, { deadlineMs: 60_000 })
          : sender.send('r', 'Known', data),
      );
      if (i % 50 === 49) await new Promise((r) => setImmediate(r));
    }
  };
  await sendSome(3000);
  // What the receiving application got is the oracle; the sender's counts must match it.
  await until(() => arrived.length === sent.length, 'every message at the receiver', 30_000);
  await until(() => (sender.stats().outcomes.delivered ?? 0) === sent.length, 'every ack', 30_000).catch(
    (err) => assert.fail(`${err}: ${JSON.stringify(sender.stats().outcomes)} for ${sent.length} sent`),
  );
  assert.ok(lane.taken > 1000, `the fast lane took ${lane.taken} messages`);
  assert.deepEqual(arrived, sent, 'each message reached the application once, in send order');
  assert.deepEqual(sender.stats().outcomes, { delivered: sent.length });
  assert.equal(await sumOf(metrics, 'peerpost_outcomes_total', { outcome: 'delivered' }), sent.length);
  assert.equal(await sumOf(metrics, 'peerpost_ack_latency_seconds_count', {}), sent.length);
  assert.equal(sender.stats().sender.senders[0]?.unacked, 0, 'nothing waits for an ack');

  // From now on someone listens: the later messages' outcomes are told one by one, once each.
  const heard: string[] = [];
  sender.onOutcome((o) => heard.push(`${o.messageId} ${o.outcome.kind}`));
  const before = sent.length;
  await sendSome(1000);
  await until(() => heard.length === sent.length - before, 'every later outcome', 30_000);
  assert.deepEqual(
    heard,
    sent.slice(before).map((id) => `${id} delivered`),
  );
  assert.deepEqual(arrived, sent);
  assert.deepEqual(sender.stats().outcomes, { delivered: sent.length });
});

// The reply lane (src/sender/direct-sender.ts `replyPlain`): a plain reply on a connection
// the peer opened to us is encoded at once into that connection's write batch, with one
// object per reply (its outcome's subject and ticket) and no envelope. These tests mix it
// with the general path (replies sent with options, a reply connection backed up past its
// high-water mark) and check what the requester got, in order and byte for byte, against
// what was sent, each reply's one outcome, and the responder's metrics against the
// replies' frames; and that a reply whose connection goes before its flush ends as
// `dropped:connection_lost`, once.
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { type Credentials, certificateHash } from '../../src/identity/credentials.js';
import { createPrometheusMetrics } from '../../src/metrics/prometheus.js';
import { createNetwork, type Network } from '../../src/network/network.js';
import { addr } from '../../src/sender/receiver.js';
import { plainEnvelopeSize } from '../../src/wire/envelope.js';
import { FRAME_PREFIX_BYTES } from '../../src/wire/framing.js';
import { makeCredentials, memoryNodes, outcomeRows, spyOnLane, sumOf, until } from './helpers.js';

/** The payload of reply `k` of round `round`: its bytes tell which it is. */
function payload(round: number, k: number, size: number): Buffer {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (round * 31 + k * 7 + i) & 0xff;
  return data;
}

test('replies through the lane and the general path arrive in order, byte for byte, each with one outcome, counted once', async (t) => {
  const [requesterCreds, responderCreds] = (await makeCredentials(2)) as [Credentials, Credentials];
  const responderHash = certificateHash(responderCreds.certPem);
  const metrics = createPrometheusMetrics();
  const responder = await createNetwork({
    nodeId: 'r',
    credentials: responderCreds,
    listen: '127.0.0.1:0',
    trust: { certHashes: [certificateHash(requesterCreds.certPem)] },
    knownLabels: ['Pong'],
    metrics,
    // No compression: the bytes counted are then those of the frames sent.
    compressThresholdBytes: Number.MAX_SAFE_INTEGER,
  });
  const requester = await createNetwork({
    nodeId: 'q',
    credentials: requesterCreds,
    trust: { certHashes: [responderHash] },
    topology: { r: [{ address: responder.address, certHash: responderHash }] },
  });
  t.after(() => Promise.all([requester.close(), responder.close()]));
  const lane = spyOnLane(t, 'replyPlain');

  const outcomes = outcomeRows(responder);
  const sent: { id: string; label: string; data: Buffer; to: string }[] = [];
  let frameBytes = 0;
  responder.onMessage((m) => {
    // A request's payload: its round, how many replies it wants, and whether they are large.
    const [round = 0, count = 0, large = 0] = m.data;
    for (let k = 0; k < count; k++) {
      const size = large === 1 ? 30_000 : ([64, 1024, 7, 0, 300][k % 5] as number);
      const data = payload(round, k, size);
      const label = k % 3 === 2 ? 'Other' : 'Pong';
      // Every fourth with an option: the general path, on the same connection.
      const id =
        k % 4 === 3
          ? responder.send(addr(m.from.address), label, data, { deadlineMs: 60_000 })
          : m.reply(label, data);
      sent.push({ id, label, data, to: m.from.address });
      frameBytes += FRAME_PREFIX_BYTES + plainEnvelopeSize(id, label, data.length);
    }
  });
  const got: { id: string; label: string; data: Buffer }[] = [];
  requester.onMessage((m) => void got.push({ id: m.id, label: m.label, data: Buffer.from(m.data) }));

  for (let round = 0; round < 60; round++) {
    const count = 1 + ((round * 7) % 60);
    // Every fifth round's replies are large: 60 of 30 KB pass the high-water mark (1 MiB),
    // so the replies after it wait in the connection's queue (the general path).
    const large = round % 5 === 4;
    const before = sent.length;
    requester.send('r', 'Ping', Uint8Array.of(round, large ? 60 : count, large ? 1 : 0));
    await until(
      () => sent.length > before && got.length === sent.length,
      `the replies of round ${round}`,
      30_000,
    );
  }

  assert.deepEqual(
    got.map((g) => g.id),
    sent.map((s) => s.id),
    'arrival order is send order',
  );
  for (let i = 0; i < sent.length; i++) {
    const s = sent[i] as (typeof sent)[number];
    const g = got[i] as (typeof got)[number];
    assert.equal(g.label, s.label, `label of ${s.id}`);
    assert.ok(g.data.equals(s.data), `payload of ${s.id}`);
  }
  assert.ok(lane.taken > 500, `the reply lane took ${lane.taken} replies`);
  assert.ok(lane.refused > 0, 'a backed-up reply connection sent no reply to the general path');

  await until(() => outcomes.length === sent.length, 'every outcome is known');
  assert.deepEqual(
    [...outcomes].sort((a, b) => a.id.localeCompare(b.id)),
    sent
      .map((s) => ({ id: s.id, label: s.label, receiver: s.to, address: s.to, kind: 'written' }))
      .sort((a, b) => a.id.localeCompare(b.id)),
    'one outcome per reply, naming it, its label and address',
  );
  assert.deepEqual(responder.stats().outcomes, { written: sent.length });
  const c = responder.stats().sender.counters;
  assert.equal(c.accepted, sent.length);
  assert.equal(c.written, sent.length);

  const direct = { mode: 'direct' };
  for (const phase of ['OutgoingBuffer', 'OutgoingTransfer']) {
    for (const metric of ['peerpost_phase_started_total', 'peerpost_phase_finished_total']) {
      assert.equal(await sumOf(metrics, metric, { ...direct, phase }), sent.length, `${metric} ${phase}`);
    }
  }
  assert.equal(
    await sumOf(metrics, 'peerpost_phase_started_total', {
      ...direct,
      phase: 'OutgoingBuffer',
      label: 'Pong',
    }),
    sent.filter((s) => s.label === 'Pong').length,
  );
  assert.equal(
    await sumOf(metrics, 'peerpost_phase_duration_seconds_count', { ...direct, phase: 'OutgoingBuffer' }),
    sent.length,
  );
  assert.equal(await sumOf(metrics, 'peerpost_sent_bytes_total', direct), frameBytes);
  assert.equal(await sumOf(metrics, 'peerpost_outcomes_total', { outcome: 'written' }), sent.length);
});

test('replies the lane wrote end as dropped:connection_lost, once each, when their connection goes before the flush', async (t) => {
  const nodes = await memoryNodes(['a', 'b']);
  t.after(() => nodes.close());
  const a = nodes.nets.get('a') as Network;
  const b = nodes.nets.get('b') as Network;
  a.updateTopology({ b: [b.address] });
  const lane = spyOnLane(t, 'replyPlain');
  const outcomes: string[] = [];
  b.onOutcome((o) =>
    outcomes.push(
      `${o.messageId} ${o.outcome.kind}:${'reason' in o.outcome ? o.outcome.reason : ''}@${o.address}`,
    ),
  );
  const replies: string[] = [];
  let from = '';
  b.onMessage((m) => {
    from = m.from.address;
    for (let k = 0; k < 3; k++) replies.push(m.reply('Pong', Uint8Array.of(k)));
    // a's process dies while the replies are in b's write batch.
    nodes.memory.crash('a');
    // Its connection is gone now: a reply sent after goes nowhere.
    replies.push(m.reply('Pong', Uint8Array.of(3)));
  });
  const got: string[] = [];
  a.onMessage((m) => void got.push(m.id));
  a.send('b', 'Ping', Uint8Array.of(1));
  for (let i = 0; i < 50 && outcomes.length < 4; i++) await nodes.clock.tick(20);

  assert.equal(replies.length, 4, 'b got the message and replied');
  assert.equal(lane.taken, 3, 'the lane took the replies written before the crash');
  assert.deepEqual(outcomes, [
    ...replies.slice(0, 3).map((id) => `${id} dropped:connection_lost@${from}`),
    `${replies[3]} dropped:no_connection@${from}`,
  ]);
  assert.deepEqual(got, [], 'no reply reached a');
  const c = b.stats().sender.counters;
  assert.equal(c.accepted, 4);
  assert.equal(c.dropped, 4);
  assert.equal(c.written, 0);
});

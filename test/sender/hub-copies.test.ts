// A message the hub hands to several connections (a broadcast's copy per subscriber): the
// sender counts the copies taken once per message, not once per copy (HubTicket.commit in
// src/sender/direct-sender.ts). What that must keep: every copy counted as accepted and
// handed off as soon as the send returns, a watch that settles only when the last copy
// has its outcome, and counters that balance. The copies are settled here by the test's
// hub, after the send, as a connection settles them when it flushes or closes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OutcomeTicket } from '../../src/hub/port.js';
import { createPrometheusMetrics } from '../../src/metrics/prometheus.js';
import { formatOutcome } from '../../src/sender/outcome.js';
import { env, Harness } from './harness.js';

const SUBSCRIBERS = ['s:1', 's:2', 's:3'];

/** A harness whose hub hands every broadcast to three connections and keeps their tickets. */
function threeSubscribers(options: ConstructorParameters<typeof Harness>[0] = {}) {
  const h = new Harness(options);
  const tickets: OutcomeTicket[] = [];
  h.hub.broadcast = (_envelope, ticket) => {
    if (ticket === undefined) throw new Error('the sender always hands a ticket');
    for (const s of SUBSCRIBERS) ticket.taken(s);
    tickets.push(ticket);
    return 'written';
  };
  return { h, tickets };
}

test('copies taken by several connections are counted when the send returns, and the watch waits for the last one', async () => {
  const { h, tickets } = threeSubscribers({ sender: { onOutcome: undefined } });
  const settled: string[] = [];
  h.sender.watch('b1', (id) => settled.push(id));
  h.sender.broadcast(env('b1'));
  let c = h.sender.stats().counters;
  assert.equal(c.accepted, 3);
  assert.equal(c.inFlight, 3);
  assert.equal(c.bufferStarted, 3);
  assert.equal(c.bufferFinished, 3, 'taken: handed to the connection');
  assert.equal(c.transferStarted, 3);
  assert.equal(c.transferFinished, 0);

  const ticket = tickets[0] as OutcomeTicket;
  ticket.settle('written', 's:1');
  ticket.settle('connection_lost', 's:2');
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual(settled, [], 'one copy still has no outcome');
  ticket.settle('written', 's:3');
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual(settled, ['b1'], 'settled once, after the last copy');
  c = h.sender.stats().counters;
  assert.equal(c.written, 2);
  assert.equal(c.dropped, 1);
  assert.equal(c.inFlight, 0);
  assert.equal(c.transferFinished, 3);
  const closing = h.sender.close({ drainTimeoutMs: 0 });
  await h.clock.tick(100);
  await closing;
});

test('a copy settled while the send is still handing out copies is counted after its acceptance', async () => {
  // The hub settles the second copy inside the call (its connection closed while the frame
  // was handed over): the outcomes heard, and the counters, are those of copies one by one.
  const heard: string[] = [];
  const h: Harness = new Harness({
    sender: {
      onOutcome: (e) => {
        // What the counters say as each outcome is heard: every copy so far handed off.
        const c = h.sender.stats().counters;
        heard.push(
          `${e.address}:${formatOutcome(e.outcome)} in transfer ${c.transferStarted - c.transferFinished}`,
        );
      },
    },
  });
  h.hub.broadcast = (_envelope, ticket) => {
    if (ticket === undefined) throw new Error('the sender always hands a ticket');
    ticket.taken('s:1');
    ticket.taken('s:2');
    ticket.settle('connection_lost', 's:2');
    ticket.taken('s:3');
    ticket.refused('s:4');
    return 'written';
  };
  h.sender.broadcast(env('b2'));
  const c = h.sender.stats().counters;
  assert.equal(c.accepted, 4);
  assert.equal(c.dropped, 2);
  assert.equal(c.inFlight, 2);
  assert.equal(c.bufferStarted - c.bufferFinished, 0);
  assert.equal(c.transferStarted - c.transferFinished, 2, 's:1 and s:3 are being written');
  assert.deepEqual(heard, [
    's:2:dropped:connection_lost in transfer 1',
    's:4:dropped:queue_full in transfer 2',
  ]);
});

test('with metrics, the copies of a broadcast count in the phase series as one each', async () => {
  const metrics = createPrometheusMetrics();
  const { h, tickets } = threeSubscribers({ sender: { metrics } });
  h.sender.broadcast(env('b3', 'news'));
  h.sender.broadcast(env('b4', 'news'));
  for (const t of tickets) for (const s of SUBSCRIBERS) t.settle('written', s);
  await Promise.resolve();
  const text = await metrics.metricsText();
  const value = (series: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    assert.ok(line !== undefined, `${series} in ${text}`);
    return Number(line.split(' ')[1]);
  };
  // A label the sender was not told to know is counted as `other`.
  const labels = (phase: string) => `{phase="${phase}",label="other",mode="broadcast"}`;
  assert.equal(value(`peerpost_phase_started_total${labels('OutgoingBuffer')}`), 6);
  assert.equal(value(`peerpost_phase_finished_total${labels('OutgoingBuffer')}`), 6);
  assert.equal(value(`peerpost_phase_duration_seconds_count${labels('OutgoingBuffer')}`), 6);
  assert.equal(value(`peerpost_phase_started_total${labels('OutgoingTransfer')}`), 6);
  assert.equal(value(`peerpost_phase_finished_total${labels('OutgoingTransfer')}`), 6);
  assert.equal(value('peerpost_outcomes_total{outcome="written",reason=""}'), 6);
  assert.equal(h.sender.stats().counters.written, 6);
});

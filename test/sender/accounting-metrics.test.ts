// The sender's accounting counts hand-offs as runs (src/sender/accounting.ts, #tally):
// what it exposes must be what counting each message on its own exposes. The oracle is a
// second registry fed message by message with the plain `inc()` / `observe()` calls of the
// Metrics interface, from the test's own clock readings; random operation sequences
// (seeded, so every run checks the same cases) are compared at the end of every task.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPrometheusMetrics } from '../../src/metrics/prometheus.js';
import type { Labels, Metrics } from '../../src/metrics/types.js';
import { Accounting, type OutcomeSubject } from '../../src/sender/accounting.js';
import { FakeClock } from '../../src/util/fake-clock.js';

const phase = (p: string, label: string): Labels => ({ phase: p, label, mode: 'direct' });

/** The per-message calls the accounting made before it counted runs. */
class Oracle {
  constructor(
    readonly m: Metrics,
    readonly clock: FakeClock,
    readonly epochMs: number,
  ) {}
  accepted(label: string): void {
    this.m.inc('peerpost_phase_started_total', phase('OutgoingBuffer', label));
  }
  bufferEnded(label: string, enqueuedAtMs: number): void {
    this.m.inc('peerpost_phase_finished_total', phase('OutgoingBuffer', label));
    const ms = Math.max(0, this.clock.now() - this.epochMs - enqueuedAtMs);
    this.m.observe('peerpost_phase_duration_seconds', ms / 1000, phase('OutgoingBuffer', label));
  }
  handedOff(label: string, enqueuedAtMs: number): void {
    this.bufferEnded(label, enqueuedAtMs);
    this.m.inc('peerpost_phase_started_total', phase('OutgoingTransfer', label));
  }
  writtenAtOnce(label: string): void {
    this.m.inc('peerpost_phase_started_total', phase('OutgoingBuffer', label));
    this.m.inc('peerpost_phase_finished_total', phase('OutgoingBuffer', label));
    this.m.observe('peerpost_phase_duration_seconds', 0, phase('OutgoingBuffer', label));
    this.m.inc('peerpost_phase_started_total', phase('OutgoingTransfer', label));
  }
  flushed(label: string, count: number, bytes: number): void {
    this.m.inc('peerpost_phase_finished_total', phase('OutgoingTransfer', label), count);
    this.m.inc('peerpost_sent_bytes_total', { label, mode: 'direct' }, bytes);
    this.m.inc('peerpost_outcomes_total', { outcome: 'written', reason: '' }, count);
  }
  dropped(label: string, enqueuedAtMs: number): void {
    this.bufferEnded(label, enqueuedAtMs);
    this.m.inc('peerpost_outcomes_total', { outcome: 'dropped', reason: 'queue_full' });
  }
}

async function scenario(seed: number, steps: number): Promise<number> {
  let s = seed;
  const next = (n: number) => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return (s >>> 12) % n;
  };
  const clock = new FakeClock(1_700_000_000_000 + seed);
  const metrics = createPrometheusMetrics();
  const reference = createPrometheusMetrics();
  const acc = new Accounting(clock, metrics, undefined);
  const oracle = new Oracle(reference, clock, acc.epochMs);
  const queued: OutcomeSubject[] = [];
  /** Hand-offs not yet flushed, by label. */
  const inTransfer = new Map<string, number>();
  let ids = 0;
  /** Targets accepted beyond one per message (a message's further copies). */
  let extraCopies = 0;
  let checks = 0;
  for (let step = 0; step < steps; step++) {
    const label = ['chat', 'chat', 'chat', 'status'][next(4)] as string;
    const op = next(100);
    if (op < 35) {
      acc.acceptHandedOff(`m${ids++}`, label, 'direct');
      oracle.writtenAtOnce(label);
      inTransfer.set(label, (inTransfer.get(label) ?? 0) + 1);
    } else if (op < 42) {
      // The copies of one message the hub's connections took (HubTicket): each accepted as
      // it was taken, the rest counted for all at once.
      const copies = 1 + next(4);
      const subject: OutcomeSubject = {
        id: `m${ids++}`,
        label,
        receiver: 'p',
        metricLabel: label,
        enqueuedAtMs: Math.max(0, clock.now() - acc.epochMs - next(3)),
      };
      for (let k = 0; k < copies; k++) acc.acceptTaken();
      acc.handOffTaken(subject, 'direct', copies);
      extraCopies += copies - 1;
      for (let k = 0; k < copies; k++) {
        oracle.accepted(label);
        oracle.handedOff(label, subject.enqueuedAtMs);
      }
      inTransfer.set(label, (inTransfer.get(label) ?? 0) + copies);
    } else if (op < 60) {
      const subject: OutcomeSubject = {
        id: `m${ids++}`,
        label,
        receiver: 'p',
        metricLabel: label,
        enqueuedAtMs: clock.now() - acc.epochMs,
      };
      acc.accept(subject, 'direct');
      oracle.accepted(label);
      queued.push(subject);
    } else if (op < 70 && queued.length > 0) {
      // A write of the oldest few queued messages, as PeerSender.#writeRun hands off records.
      for (let k = 1 + next(5); k > 0 && queued.length > 0; k--) {
        const subject = queued.shift() as OutcomeSubject;
        acc.handOff(subject, 'direct');
        oracle.handedOff(subject.metricLabel, subject.enqueuedAtMs);
        inTransfer.set(subject.metricLabel, (inTransfer.get(subject.metricLabel) ?? 0) + 1);
      }
    } else if (op < 80 && queued.length > 0) {
      // A write of the oldest queued messages of one label, as PeerSender.#writeRun hands
      // off the plain messages of one run: together, their waits read from a ring.
      const first = queued[0] as OutcomeSubject;
      let n = 1;
      const most = 1 + next(8);
      while (n < most && n < queued.length && queued[n]?.metricLabel === first.metricLabel) n++;
      const batch = queued.splice(0, n);
      const from = next(3);
      const waits = { enqueuedAtMs: (i: number) => (batch[i - from] as OutcomeSubject).enqueuedAtMs };
      acc.handOffMany(first.metricLabel, 'direct', n, waits, from);
      for (const subject of batch) oracle.handedOff(subject.metricLabel, subject.enqueuedAtMs);
      inTransfer.set(first.metricLabel, (inTransfer.get(first.metricLabel) ?? 0) + n);
    } else if (op < 88 && queued.length > 0) {
      const subject = queued.shift() as OutcomeSubject;
      acc.dropQueued(subject, 'p:1', 'direct', 'queue_full');
      oracle.dropped(subject.metricLabel, subject.enqueuedAtMs);
    } else if (op < 90) {
      const count = inTransfer.get(label) ?? 0;
      if (count > 0) {
        acc.flushedMany({ metricLabel: label }, 'direct', count, count * 100);
        oracle.flushed(label, count, count * 100);
        inTransfer.delete(label);
      }
    } else if (op < 94) {
      // Targets flushed one by one, each told with its own outcome (a hub connection's
      // copies, or messages someone hears outcomes of): counted as a run of written targets.
      const count = Math.min(inTransfer.get(label) ?? 0, 1 + next(4));
      for (let k = 0; k < count; k++) {
        const bytes = 90 + next(20);
        const subject: OutcomeSubject = {
          id: `f${k}`,
          label,
          receiver: 'p',
          metricLabel: label,
          enqueuedAtMs: 0,
        };
        acc.flushed(subject, 'p:1', 'direct', bytes);
        oracle.flushed(label, 1, bytes);
      }
      if (count > 0) inTransfer.set(label, (inTransfer.get(label) as number) - count);
    } else if (op < 98) {
      clock.advance(next(3));
    } else {
      // The end of a task: a scrape may come now.
      await Promise.resolve();
      assert.equal(await metrics.metricsText(), await reference.metricsText(), `seed ${seed}, step ${step}`);
      checks++;
    }
  }
  await Promise.resolve();
  assert.equal(await metrics.metricsText(), await reference.metricsText(), `seed ${seed}, at the end`);
  assert.equal(acc.counters.accepted, ids + extraCopies);
  // The counters the sender's stats report balance with what is still queued and in transfer.
  const c = acc.counters;
  assert.equal(c.bufferStarted - c.bufferFinished, queued.length, `seed ${seed}: OutgoingBuffer`);
  let transferring = 0;
  for (const n of inTransfer.values()) transferring += n;
  assert.equal(c.transferStarted - c.transferFinished, transferring, `seed ${seed}: OutgoingTransfer`);
  return checks + 1;
}

test('hand-offs counted as runs expose what counting each message exposes', async () => {
  let checks = 0;
  for (let seed = 1; seed <= 30; seed++) checks += await scenario(seed, 400);
  assert.ok(checks > 100, `${checks} comparisons`);
});

test('a run is reported before any other update of its series, in the order of the updates one by one', async () => {
  const clock = new FakeClock();
  const metrics = createPrometheusMetrics();
  const acc = new Accounting(clock, metrics, undefined);
  // Written at once, then flushed in the same task (as a flush in process.nextTick is).
  for (let i = 0; i < 5; i++) acc.acceptHandedOff(`m${i}`, 'chat', 'direct');
  acc.flushedMany({ metricLabel: 'chat' }, 'direct', 5, 500);
  const text = await metrics.metricsText();
  const started = text.indexOf('peerpost_phase_started_total{phase="OutgoingTransfer"');
  assert.match(text, /peerpost_phase_started_total\{phase="OutgoingTransfer",label="chat",mode="direct"\} 5/);
  assert.match(
    text,
    /peerpost_phase_finished_total\{phase="OutgoingTransfer",label="chat",mode="direct"\} 5/,
  );
  assert.match(
    text,
    /peerpost_phase_duration_seconds_count\{phase="OutgoingBuffer",label="chat",mode="direct"\} 5/,
  );
  // The buffer series came first, as when every message was counted on its own.
  assert.ok(text.indexOf('peerpost_phase_started_total{phase="OutgoingBuffer"') < started);
});

test('written targets counted as a run are reported before another outcome is, as one by one', async () => {
  const clock = new FakeClock();
  const metrics = createPrometheusMetrics();
  const acc = new Accounting(clock, metrics, undefined);
  const subject = (id: string): OutcomeSubject => ({
    id,
    label: 'chat',
    receiver: 'p',
    metricLabel: 'chat',
    enqueuedAtMs: 0,
  });
  acc.acceptHandedOff('m1', 'chat', 'direct');
  acc.acceptHandedOff('m2', 'chat', 'direct');
  acc.flushed(subject('m1'), 'p:1', 'direct', 100);
  // In the same task: the first drop, then another written target (a new run).
  acc.dropNow(subject('m3'), 'p:1', 'direct', 'queue_full');
  acc.flushed(subject('m2'), 'p:1', 'direct', 120);
  await Promise.resolve();
  const text = await metrics.metricsText();
  const written = text.indexOf('peerpost_outcomes_total{outcome="written"');
  const dropped = text.indexOf('peerpost_outcomes_total{outcome="dropped"');
  assert.ok(written >= 0 && dropped >= 0, text);
  assert.ok(written < dropped, 'written was counted first, so it is shown first');
  assert.match(text, /peerpost_outcomes_total\{outcome="written",reason=""\} 2/);
  assert.match(text, /peerpost_sent_bytes_total\{label="chat",mode="direct"\} 220/);
  assert.match(
    text,
    /peerpost_phase_finished_total\{phase="OutgoingTransfer",label="chat",mode="direct"\} 2/,
  );
});

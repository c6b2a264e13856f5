import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { printReport } from '../../src/cli/commands/demo.js';
import { formatReport } from '../../src/demo/format.js';
import { checkBalance, percentile } from '../../src/demo/report.js';
import { buildReport } from '../../src/demo/summary.js';
import { Tracker } from '../../src/demo/tracker.js';
import type { OutcomeEvent } from '../../src/sender/outcome.js';

function written(id: string, mode: 'direct' | 'broadcast' = 'direct'): OutcomeEvent {
  return {
    messageId: id,
    label: 'Note',
    receiver: 'b',
    address: '127.0.0.1:1',
    mode,
    outcome: { kind: 'written' },
  };
}

function dropped(id: string): OutcomeEvent {
  return {
    messageId: id,
    label: 'Note',
    receiver: 'b',
    address: '127.0.0.1:1',
    mode: 'direct',
    outcome: { kind: 'dropped', reason: 'queue_full' },
  };
}

const direct = (id: string) => ({
  id,
  phase: 0,
  segment: 's',
  kind: 'direct' as const,
  from: 'a',
  to: 'b',
  expected: ['b'],
});

function report(tracker: Tracker, deduplicated = 0) {
  return buildReport({
    options: { nodes: 2, seed: 1, messages: 10 },
    tracker,
    tempDir: '/tmp/x',
    seconds: 1,
    deduplicated,
    subscriberQueueDrops: 0,
    inFlightAfterClose: 0,
    runProblems: [],
    sendModes: [],
    move: null,
    restart: null,
  });
}

function sink() {
  const io = { out: '', err: '' };
  return {
    io,
    streams: {
      stdout: { write: (s: string) => (io.out += s) },
      stderr: { write: (s: string) => (io.err += s) },
    },
  };
}

describe('demo accounting', () => {
  test('a balanced run: written copies = delivered + deduplicated, exit 0', () => {
    const t = new Tracker(1);
    t.register(direct('m1'));
    t.outcome(written('m1'));
    t.delivered('b', 'm1', 3);
    // send mode both: two copies written, one delivered, one deduplicated
    t.register(direct('m2'));
    t.outcome(written('m2'));
    t.outcome(written('m2', 'broadcast'));
    t.delivered('b', 'm2', 5);
    // dropped with a reason: nothing expected
    t.register(direct('m3'));
    t.outcome(dropped('m3'));
    // a broadcast to two subscribers: one written copy per subscriber connection
    t.register({
      id: 'b1',
      phase: 0,
      segment: 's',
      kind: 'broadcast',
      from: 'a',
      to: undefined,
      expected: ['b', 'c'],
    });
    t.outcome(written('b1', 'broadcast'));
    t.delivered('b', 'b1', 1);
    assert.equal(t.unsettled, 0, 'each written copy arrived');
    t.outcome(written('b1', 'broadcast'));
    assert.equal(t.unsettled, 1, 'a second copy written: it must arrive too');
    t.delivered('c', 'b1', 2);
    assert.equal(t.unsettled, 0);
    assert.equal(t.expectedDuplicates, 1);
    const r = report(t, 1);
    assert.deepEqual(r.problems, []);
    assert.equal(r.ok, true);
    assert.equal(r.copiesWritten, 5);
    assert.equal(r.delivered, 4);
    assert.deepEqual(r.dropped, { queue_full: 1 });
    const { io, streams } = sink();
    assert.equal(printReport(r, false, streams), 0);
    assert.match(io.out, /balance OK/);
    assert.match(io.out, /copies written\s+5 = delivered 4 \+ deduplicated 1 \+ lost after write 0/);
  });

  test('a written message that never arrives is unbalanced: exit 1 naming it', () => {
    const t = new Tracker(1);
    t.register(direct('m1'));
    t.outcome(written('m1'));
    t.register(direct('m2'));
    assert.equal(t.unsettled, 2);
    const r = report(t);
    assert.equal(r.ok, false);
    assert.equal(r.lostAfterWrite, 1);
    assert.ok(r.problems.includes('1 written copies never reached the application'));
    assert.ok(r.problems.includes('1 messages have no outcome'));
    const table = sink();
    assert.equal(printReport(r, false, table.streams), 1);
    assert.match(table.io.out, /\nNOT BALANCED:\n/);
    assert.match(table.io.out, /^ {2}- 1 written copies never reached the application$/m);
    const json = sink();
    assert.equal(printReport(r, true, json.streams), 1);
    assert.equal(JSON.parse(json.io.out).ok, false);
    assert.match(json.io.err, /NOT BALANCED/);
  });

  test('double deliveries, deliveries without a write, wrong dedup count and leftovers are problems', () => {
    const t = new Tracker(1);
    t.register(direct('m1'));
    t.outcome(written('m1'));
    t.delivered('b', 'm1', 1);
    t.delivered('b', 'm1', 1);
    t.register(direct('m2'));
    t.outcome(dropped('m2'));
    t.delivered('b', 'm2', 1);
    t.delivered('c', 'm1', 1);
    t.delivered('b', 'nobody-sent-this', 1);
    t.outcome(written('never-registered'));
    const b = checkBalance({
      messages: t.messages.values(),
      deduplicated: 2,
      inFlightAfterClose: 3,
      unknownDeliveries: t.unknownDeliveries,
      unexpectedDeliveries: t.unexpectedDeliveries,
      orphanOutcomes: t.orphanOutcomes,
      subscriberQueueDrops: 0,
      runProblems: ['timed out'],
    });
    assert.equal(b.ok, false);
    assert.deepEqual(b.problems, [
      'timed out',
      'the senders still hold 3 targets after close',
      '1 extra deliveries of a message already delivered',
      '1 deliveries of messages no target was written for',
      'the receivers dropped 2 duplicate copies, 0 expected (second copies in send mode both)',
      '1 deliveries of unknown messages',
      '1 deliveries at a node the message was not for',
      '1 outcomes of unknown messages',
    ]);
  });

  test('outcomes reported before the message is registered (a reply) are kept', () => {
    const t = new Tracker(1);
    t.outcome(written('r1'));
    assert.equal(t.orphanOutcomes, 1);
    const m = t.register({
      id: 'r1',
      phase: 0,
      segment: 's',
      kind: 'reply',
      from: 'b',
      to: 'a',
      expected: ['a'],
    });
    assert.equal(t.orphanOutcomes, 0);
    assert.equal(m.writtenDirect, 1);
    assert.equal(m.settled, false);
    t.delivered('a', 'r1', 2);
    assert.equal(m.settled, true);
  });

  test('a later written outcome unsettles a message until it is delivered; pairs are counted for flow control', () => {
    const t = new Tracker(1);
    t.register(direct('m1'));
    assert.equal(t.pending('a', 'b'), 1);
    t.outcome({ ...written('m1', 'broadcast'), outcome: { kind: 'dropped', reason: 'no_subscriber' } });
    assert.equal(t.unsettled, 0);
    assert.equal(t.pending('a', 'b'), 0);
    t.outcome(written('m1'));
    assert.equal(t.unsettled, 1);
    assert.equal(t.pending('a', 'b'), 1);
    t.delivered('b', 'm1', 1);
    assert.equal(t.unsettled, 0);
    assert.equal(t.pending('a', 'b'), 0);
  });

  test('percentiles are nearest-rank', () => {
    assert.equal(percentile([], 50), 0);
    assert.equal(percentile([5, 1, 3], 50), 3);
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
    assert.equal(percentile(hundred, 50), 50);
    assert.equal(percentile(hundred, 99), 99);
    assert.equal(percentile(hundred, 100), 100);
  });

  test('the table shows every phase and the totals', () => {
    const t = new Tracker(6);
    const text = formatReport(report(t));
    for (const name of [
      'direct',
      'request-reply',
      'broadcast',
      'send-mode',
      'topology',
      'restart',
      'total',
    ]) {
      assert.match(text, new RegExp(`^\\d? ?${name}\\b`, 'm'));
    }
  });
});

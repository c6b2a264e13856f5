import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { noopMetrics } from '../../src/metrics/types.js';
import { Accounting, type OutcomeSubject } from '../../src/sender/accounting.js';
import { type AckEntry, AckStream } from '../../src/sender/ack-stream.js';
import type { OutgoingMessage } from '../../src/sender/message.js';
import type { OutcomeEvent, UnacknowledgedDetail } from '../../src/sender/outcome.js';
import { MessageRun, SlabUse } from '../../src/sender/peer-queue.js';
import { systemClock } from '../../src/util/clock.js';
import type { SlabPool } from '../../src/wire/frame-slab.js';

/** An accounting that records what the stream tells it (the stream's view, checked against what was pushed). */
function recorder() {
  const events: string[] = [];
  let unacked = 0;
  let unackedBytes = 0;
  const accounting = {
    epochMs: 0,
    unackedChanged(n: number, bytes: number) {
      unacked += n;
      unackedBytes += bytes;
    },
    delivered(msg: OutcomeSubject, _address: string, latencyMs: number) {
      events.push(`delivered ${(msg as unknown as Rec).name} after ${latencyMs}`);
    },
    unacknowledged(msg: OutcomeSubject, _address: string, detail: UnacknowledgedDetail) {
      events.push(`unacknowledged ${(msg as unknown as Rec).name} ${detail}`);
    },
  };
  return {
    accounting: accounting as unknown as Accounting,
    events,
    unacked: () => unacked,
    unackedBytes: () => unackedBytes,
  };
}

interface Rec {
  name: string;
}
const rec = (name: string) => ({ name }) as unknown as OutgoingMessage;

test('ack stream: acks settle entries in order, skip holes, and positions never shift under a reader', () => {
  const r = recorder();
  const s = new AckStream(() => 0.5);
  assert.match(s.id, /^[0-9a-f]{32}$/);
  for (let i = 1; i <= 6; i++) s.push(rec(`m${i}`), i * 10, 100 + i, i * 1000, i, r.accounting);
  assert.equal(s.count, 6);
  assert.equal(r.unacked(), 6);
  assert.equal(s.head, 0);
  assert.equal(s.tail, 6);
  assert.equal(s.indexAfter(30), 3);
  assert.equal(s.seqAt(3), 40);
  assert.equal(s.frameAt(3), 4000);
  assert.equal(s.sizeAt(3), 4);

  // m2 ends early (a hole); an ack up to 30 delivers m1 and m3 only.
  s.endAt(1, r.accounting, 'a:1', 'deadline');
  assert.equal(s.msgAt(1), undefined);
  assert.equal(s.ackUpTo(30, r.accounting, 'a:1', 200), 2);
  assert.deepEqual(r.events, [
    'unacknowledged m2 deadline',
    'delivered m1 after 99',
    'delivered m3 after 97',
  ]);
  // Positions are those of before: m4 is still at 3.
  assert.equal(s.head, 3);
  assert.equal(s.tail, 6);
  assert.equal((s.msgAt(3) as unknown as Rec).name, 'm4');
  assert.equal(s.indexAfter(40), 4);
  assert.equal(s.indexAfter(5), 3, 'from the head on');
  assert.equal(s.count, 3);
  assert.equal(r.unacked(), 3);
  assert.equal(s.bytes, r.unackedBytes());

  // An ack below the head changes nothing; one past the end empties the stream.
  assert.equal(s.ackUpTo(30, r.accounting, 'a:1', 200), 0);
  assert.equal(s.ackUpTo(1000, r.accounting, 'a:1', 300), 3);
  assert.equal(s.count, 0);
  assert.equal(s.bytes, 0);
  assert.equal(r.unacked(), 0);
  assert.equal(s.head, s.tail);

  // Positions outside [head, tail) hold nothing, even where the ring wraps around.
  const full = new AckStream(() => 0.5);
  for (let i = 1; i <= 8; i++) full.push(rec(`f${i}`), i, 0, 0, 1, r.accounting);
  assert.equal(full.msgAt(-1), undefined);
  assert.equal(full.msgAt(8), undefined);
  full.endAt(-1, r.accounting, 'a:1', 'deadline');
  assert.equal(full.count, 8, 'nothing ended outside the stream');
});

test('ack stream: thousands of entries through a wrapping, growing ring keep their numbers; abandon ends the rest once', () => {
  const r = recorder();
  const s = new AckStream(() => 0.25);
  let seq = 0;
  let acked = 0;
  const delivered: number[] = [];
  const accounting = {
    ...(r.accounting as unknown as object),
    delivered(msg: OutcomeSubject) {
      delivered.push(Number((msg as unknown as Rec).name));
    },
  } as unknown as Accounting;
  for (let round = 0; round < 50; round++) {
    const burst = 1 + ((round * 37) % 300);
    for (let i = 0; i < burst; i++) {
      seq++;
      s.push(rec(String(seq)), seq, seq, seq * 2, 10, accounting);
    }
    // Every entry's numbers are where they were put.
    for (let p = s.head; p < s.tail; p++) {
      const n = s.seqAt(p);
      assert.equal(s.frameAt(p), n * 2);
      assert.equal(Number((s.msgAt(p) as unknown as Rec).name), n);
    }
    acked = Math.min(seq, acked + Math.floor(burst * 0.8));
    s.ackUpTo(acked, accounting, 'a:1', seq);
  }
  assert.deepEqual(
    delivered,
    Array.from({ length: acked }, (_, i) => i + 1),
  );
  const left = seq - acked;
  assert.ok(left > 0);
  assert.equal(s.count, left);
  s.end(accounting, 'a:1', 'shutdown');
  s.end(accounting, 'a:1', 'shutdown');
  assert.equal(
    r.events.filter((e) => e.startsWith('unacknowledged')).length,
    left,
    'each left entry ends once',
  );
  assert.equal(s.count, 0);
  assert.equal(s.head, 0);
  assert.equal(s.tail, 0);
});

test('ack stream: an outcome listener that abandons the stream during an ack does not end the acknowledged entry twice', () => {
  const r = recorder();
  const s = new AckStream(() => 0.5);
  const ends: string[] = [];
  const accounting = {
    ...(r.accounting as unknown as object),
    delivered(msg: OutcomeSubject) {
      ends.push(`delivered ${(msg as unknown as Rec).name}`);
      // The application closes the node from its listener: the stream is abandoned.
      s.abandon(accounting, 'a:1', 'shutdown');
    },
    unacknowledged(msg: OutcomeSubject) {
      ends.push(`unacknowledged ${(msg as unknown as Rec).name}`);
    },
  } as unknown as Accounting;
  for (let i = 1; i <= 3; i++) s.push(rec(`m${i}`), i, 0, 0, 1, accounting);
  s.ackUpTo(2, accounting, 'a:1', 0);
  assert.deepEqual(ends, ['delivered m1', 'unacknowledged m2', 'unacknowledged m3']);
  assert.equal(s.count, 0);
  assert.equal(s.tail, 0);
});

test('ack stream: with nobody hearing outcomes one by one, an ack counts lane runs in one go, settles each buffer once its messages are acked, and tells records one by one', () => {
  const given: Buffer[] = [];
  const slabs = { give: (buf: Buffer) => given.push(buf) } as unknown as SlabPool;
  const heard: OutcomeEvent[] = [];
  const accounting = new Accounting(systemClock, noopMetrics, (e) => heard.push(e));
  accounting.listening = false;
  const s = new AckStream(() => 0.5, slabs);
  const bufA = Buffer.alloc(64);
  const bufB = Buffer.alloc(64);
  const useA = new SlabUse(bufA);
  const useB = new SlabUse(bufB);
  const runOf = (buf: Buffer, use: SlabUse) => new MessageRun(buf, use, 'L', 'p', 'p', 'L', ['a:1']);
  const runA = runOf(bufA, useA);
  const runB = runOf(bufB, useB);
  // seq 1-3 in A, 4-5 in B, 6 a record, 7 in B: every entry accepted and written (handed off).
  const entries: AckEntry[] = [runA, runA, runA, runB, runB, rec('r6'), runB];
  for (let i = 0; i < entries.length; i++) {
    accounting.acceptHandedOff(`m${i + 1}`, 'L', 'direct');
    s.push(entries[i] as AckEntry, i + 1, accounting.epochMs, i * 10, 8, accounting);
  }
  useA.pending = 3;
  useB.pending = 3;
  assert.equal(accounting.inFlight, 7);
  assert.equal(accounting.wantsIds, false);

  // Up to 4: A's three and B's first; A goes back to the pool, B still has two pending.
  assert.equal(s.ackUpTo(4, accounting, 'a:1', accounting.epochMs + 5), 4);
  assert.equal(accounting.counters.delivered, 4);
  assert.deepEqual(
    [...accounting.outcomeCounts].map(([o, n]) => [o.kind, n]),
    [['delivered', 4]],
  );
  assert.deepEqual(given, [bufA]);
  assert.equal(useB.pending, 2);
  assert.equal(s.count, 3);
  assert.equal(s.bytes, 3 * 12);
  assert.equal(accounting.unackedMessages, 3);
  assert.equal(s.head, 4);

  // Up to 7, past the record: counted entries before it, then one by one from it on.
  let idle = 0;
  accounting.whenIdle(() => idle++);
  assert.equal(s.ackUpTo(7, accounting, 'a:1', accounting.epochMs + 9), 3);
  assert.equal(accounting.counters.delivered, 7);
  assert.equal(accounting.inFlight, 0);
  assert.equal(useB.pending, 0);
  assert.deepEqual(given, [bufA, bufB]);
  assert.equal(s.count, 0);
  assert.equal(s.bytes, 0);
  assert.equal(s.tail, 0);
  assert.equal(accounting.unackedMessages, 0);
  assert.equal(idle, 1, 'idle is told once, when the last one is delivered');
  assert.deepEqual(heard, [], 'nobody listens: no event is made');
});

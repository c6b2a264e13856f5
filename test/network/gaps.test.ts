import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  BroadcastIdReader,
  BroadcastSequences,
  broadcastSeqOf,
  MAX_TRACKED_PUBLISHERS,
} from '../../src/network/gaps.js';
import type { Gap, Network } from '../../src/network/network.js';
import { formatOutcome } from '../../src/sender/outcome.js';
import { memoryNodes } from './memory-nodes.js';

test('broadcast ids carry a per-publisher sequence; other ids do not parse as one', () => {
  assert.deepEqual(broadcastSeqOf('a-0123abcd-b:1z'), { publisher: 'a-0123abcd-', seq: 71 });
  for (const id of ['a-0123abcd-1z', 'a-0123abcd-b:', 'a-0123abcd-b:1z~r~b-1-2', 'b:1']) {
    assert.equal(broadcastSeqOf(id), undefined, id);
  }
});

test('a subscriber learns how many broadcasts it missed: the same number the publisher reported dropped for it', async () => {
  const m = await memoryNodes(
    ['a', 'b'],
    (id) =>
      id === 'a'
        ? { transportLimits: { highWaterMarkBytes: 4 * 1024 }, limits: { subscriberQueueCapacity: 4 } }
        : {},
    { socketBufferBytes: 8 * 1024 },
  );
  const { clock, memory } = m;
  const [a, b] = m.nets as [Network, Network];
  b.updateTopology({ a: [a.address] });
  b.subscribe('a');
  await clock.tick(100);
  const dropsForB: string[] = [];
  a.onOutcome((o) => {
    if (o.mode === 'broadcast' && formatOutcome(o.outcome) === 'dropped:queue_full')
      dropsForB.push(o.messageId);
  });
  const gaps: Gap[] = [];
  b.onGap((g) => gaps.push(g));
  const seqs: number[] = [];
  b.onMessage((m) => seqs.push(m.broadcastSeq ?? -1));
  memory.setLink('a', 'b', { bandwidthBytesPerSec: 64 * 1024 }, false);
  const payload = new Uint8Array(randomBytes(4096));
  const ids = Array.from({ length: 60 }, () => a.broadcast('News', payload));
  await clock.tick(10_000);
  assert.ok(dropsForB.length > 10, `the publisher dropped some for b: ${dropsForB.length}`);
  assert.equal(seqs.length, ids.length - dropsForB.length, 'b got the rest');
  assert.deepEqual(
    seqs,
    [...seqs].sort((x, y) => x - y),
    'in order',
  );
  const missed = gaps.reduce((n, g) => n + (g.kind === 'broadcast' ? g.missed : 0), 0);
  // Drops at the end of the run leave no later broadcast to reveal them: send one more.
  a.broadcast('News', new Uint8Array(1));
  await clock.tick(1_000);
  const missedAfter = gaps.reduce((n, g) => n + (g.kind === 'broadcast' ? g.missed : 0), 0);
  assert.equal(missedAfter, dropsForB.length, `gaps ${JSON.stringify(gaps)}`);
  assert.ok(missed <= missedAfter);
  for (const g of gaps) {
    assert.equal(g.kind, 'broadcast');
    if (g.kind === 'broadcast') {
      assert.equal(g.publisher, broadcastSeqOf(ids[0]!)?.publisher);
      for (let s = g.from; s <= g.to; s++)
        assert.ok(dropsForB.includes(ids[s]!), `seq ${s} was reported dropped`);
    }
  }
  assert.equal(b.stats().incoming.delivered, seqs.length);
  await m.close();
});

test('a for-await reader that falls behind is told which messages it lost', async () => {
  const nodes = await memoryNodes(['a', 'b'], (id) => (id === 'b' ? { incomingCapacity: 3 } : {}));
  const { clock } = nodes;
  const [a, b] = nodes.nets as [Network, Network];
  a.updateTopology({ b: [b.address] });
  const gaps: Gap[] = [];
  b.onGap((g) => gaps.push(g));
  const ids = Array.from({ length: 5 }, () => a.send('b', 'Note', new Uint8Array(1)));
  await clock.tick(100);
  assert.deepEqual(gaps, [
    { kind: 'reader_overflow', messageId: ids[0], droppedTotal: 1 },
    { kind: 'reader_overflow', messageId: ids[1], droppedTotal: 2 },
  ]);
  const read: string[] = [];
  for await (const m of b.messages()) {
    read.push(m.id);
    if (read.length === 3) break;
  }
  assert.deepEqual(read, ids.slice(2));
  await nodes.close();
});

test('BroadcastIdReader reads what broadcastSeqOf does, id after id, whatever came before; from the bytes of a received ASCII id too', () => {
  const parts = fc.constantFrom(
    'š', // U+0161: its latin1 truncation is 'a', which a head's bytes must not alias
    'a',
    'a-0123abcd-',
    'a-x-',
    'node-9-',
    'b:',
    '-b:',
    'b',
    ':',
    '-',
    'zz',
    '1z',
    '0',
    'Z',
    '~r~',
    'é',
    '12345678901',
  );
  fc.assert(
    fc.property(
      fc.array(
        fc.array(parts, { maxLength: 6 }).map((p) => p.join('')),
        { maxLength: 30 },
      ),
      (ids) => {
        const reader = new BroadcastIdReader();
        const fromBytes = new BroadcastIdReader();
        for (const id of ids) {
          const expected = broadcastSeqOf(id);
          assert.equal(reader.read(id), expected !== undefined, id);
          // As the decoder hands it over: an ASCII id's bytes inside a larger chunk.
          const ascii = [...id].every((c) => c.charCodeAt(0) < 0x80);
          const chunk = Buffer.from(`xx${id}yy`, 'latin1');
          const source = ascii ? { id, idBytes: chunk, idStart: 2, idEnd: 2 + id.length } : { id };
          assert.equal(fromBytes.readSource(source), expected !== undefined, id);
          if (expected !== undefined) {
            assert.equal(reader.publisher, expected.publisher, id);
            assert.equal(reader.seq, expected.seq, id);
            assert.equal(fromBytes.publisher, expected.publisher, id);
            assert.equal(fromBytes.seq, expected.seq, id);
          }
        }
      },
    ),
    { numRuns: 2000 },
  );
  // The previous publisher's head followed by something else than digits: the last mark decides.
  const reader = new BroadcastIdReader();
  assert.ok(reader.read('a-x-b:1'));
  assert.ok(reader.read('a-x-b:zz-b:12'));
  assert.deepEqual([reader.publisher, reader.seq], ['a-x-b:zz-', 38]);
  // A head with a character beyond latin1 never matches an ASCII id's bytes.
  const bytes = new BroadcastIdReader();
  assert.ok(bytes.readSource({ id: 'š-b:1' }));
  const id = 'a-b:2';
  assert.ok(bytes.readSource({ id, idBytes: Buffer.from(id), idStart: 0, idEnd: id.length }));
  assert.deepEqual([bytes.publisher, bytes.seq], ['a-', 2]);
  // An id without `-b:` in its bytes (a reply's, here) is no broadcast: no string is made.
  const plain = 'a-1~r~c-2';
  const source = {
    get id(): string {
      throw new Error('the id string was made');
    },
    idBytes: Buffer.from(`x${plain}`),
    idStart: 1,
    idEnd: 1 + plain.length,
  };
  assert.equal(bytes.readSource(source), false);
  assert.equal(new BroadcastIdReader().readSource(source), false);
});

test('BroadcastSequences: gaps of one publisher and of interleaved ones, duplicates open none', () => {
  const s = new BroadcastSequences();
  assert.equal(s.seen('p-', 0), undefined);
  assert.equal(s.seen('p-', 1), undefined);
  assert.deepEqual(s.seen('p-', 5), { from: 2, to: 4 });
  assert.equal(s.seen('p-', 3), undefined); // back: none, and the last stays 5
  assert.deepEqual(s.seen('p-', 7), { from: 6, to: 6 });
  assert.equal(s.seen('q-', 10), undefined);
  assert.deepEqual(s.seen('p-', 9), { from: 8, to: 8 });
  assert.deepEqual(s.seen('q-', 12), { from: 11, to: 11 });
  assert.equal(s.size, 2);
});

test('BroadcastSequences reports what a plain map of last sequence numbers says, for interleaved publishers', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom('p-', 'q-', 'r-'), fc.integer({ min: 0, max: 40 })), {
        maxLength: 200,
      }),
      (events) => {
        const s = new BroadcastSequences();
        const model = new Map<string, number>();
        for (const [publisher, seq] of events) {
          const last = model.get(publisher);
          const expected =
            last === undefined || seq <= last + 1 ? undefined : { from: last + 1, to: seq - 1 };
          model.set(publisher, last === undefined ? seq : Math.max(last, seq));
          assert.deepEqual(s.seen(publisher, seq), expected);
        }
        assert.equal(s.size, model.size);
      },
    ),
    { numRuns: 500 },
  );
});

test('BroadcastSequences forgets the publisher heard from least recently, never the one just heard', () => {
  const s = new BroadcastSequences();
  for (let i = 0; i < MAX_TRACKED_PUBLISHERS; i++) s.seen(`p${i}-`, 0);
  assert.deepEqual(s.seen('p0-', 5), { from: 1, to: 4 }); // p0 is the most recent now
  assert.equal(s.seen('new-', 0), undefined); // full: p1, the least recent, is forgotten
  assert.equal(s.size, MAX_TRACKED_PUBLISHERS);
  assert.equal(s.seen('p1-', 9), undefined, 'forgotten: starts anew, no gap');
  assert.deepEqual(s.seen('p0-', 8), { from: 6, to: 7 }, 'p0 kept, at 5');
});

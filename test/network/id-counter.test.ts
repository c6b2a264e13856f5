import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdCounter } from '../../src/network/id-counter.js';
import {
  type Envelope,
  encodableSize,
  encodedEnvelopeSize,
  encodeEnvelope,
  encodeEnvelopeInto,
  V1_TAG,
} from '../../src/wire/envelope.js';

test('ids are exactly prefix + n.toString(36), across every carry, for ASCII and other prefixes', () => {
  for (const prefix of ['node-1-00c0ffee-', 'x', '', 'nœud-é-', `${'p'.repeat(300)}-`]) {
    const ids = new IdCounter(prefix);
    // 0 .. 36^3 + 2 passes through "z", "10", "zz", "100", "zzz", "1000".
    for (let n = 0; n <= 36 ** 3 + 2; n++) {
      const id = ids.next();
      if (id !== prefix + n.toString(36)) assert.fail(`${JSON.stringify(prefix)} #${n}: ${id}`);
    }
  }
});

test('ids are flat strings that stay unchanged as later ids are made', () => {
  const ids = new IdCounter('a-b-');
  const first = ids.next();
  const kept = Array.from({ length: 100 }, () => ids.next());
  assert.equal(first, 'a-b-0');
  assert.deepEqual(
    kept,
    Array.from({ length: 100 }, (_, i) => `a-b-${(i + 1).toString(36)}`),
  );
});

test('non-ASCII and control-character prefixes also give exactly prefix + n.toString(36)', () => {
  for (const prefix of ['🙂-', 'tab\t-', '\u0000-', 'é']) {
    const ids = new IdCounter(prefix);
    for (let n = 0; n <= 36 * 36 + 40; n++) assert.equal(ids.next(), prefix + n.toString(36));
  }
});

/** The bincode encoding of a V1 envelope, built field by field with Buffer (no codec code). */
function referenceV1(e: Envelope): Buffer {
  const u64 = (n: number | bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    return b;
  };
  const str = (s: string) => Buffer.concat([u64(Buffer.byteLength(s)), Buffer.from(s, 'utf8')]);
  return Buffer.concat([
    u64(e.deliveryStartTimestampMs),
    str(e.id),
    str(e.label),
    Buffer.of(e.compressed ? 1 : 0),
    u64(e.data.length),
    Buffer.from(e.data),
    Buffer.of(e.lastSenderIsProxy ? 1 : 0),
    e.directReceiver === undefined ? Buffer.of(0) : Buffer.concat([Buffer.of(1), str(e.directReceiver)]),
    Buffer.from(V1_TAG),
  ]);
}

test('ids from interleaved counters size and encode to exactly the reference bytes, sized at once or later', () => {
  const counters = ['node-1-00c0ffee-', 'node-1-00c0ffee-b:', 'nœud-é-', '', 'x'].map(
    (p) => new IdCounter(p),
  );
  const envelopeOf = (id: string, i: number): Envelope => ({
    deliveryStartTimestampMs: 1_700_000_000_000n + BigInt(i),
    id,
    label: i % 3 === 0 ? 'MsgType::Block' : 'Vote',
    compressed: false,
    data: Buffer.alloc(i % 70, i),
    lastSenderIsProxy: false,
    directReceiver: i % 5 === 0 ? 'peer-é' : undefined,
  });
  const queued: Envelope[] = [];
  const out = Buffer.alloc(512);
  for (let i = 0; i < 3000; i++) {
    // Mostly the latest id (sized and encoded at once), sometimes another counter's,
    // and a queue of envelopes encoded long after their ids were made.
    const counter = counters[i % 7 === 0 ? i % counters.length : 0]!;
    const envelope = envelopeOf(counter.next(), i);
    const expected = referenceV1(envelope);
    assert.equal(encodableSize(envelope), expected.length);
    assert.equal(encodedEnvelopeSize(envelope), expected.length);
    const end = encodeEnvelopeInto(envelope, out, 3);
    assert.deepEqual(out.subarray(3, end), expected, `#${i} ${envelope.id}`);
    queued.push(envelope);
  }
  // Encoded later: none of them is the latest id any more.
  for (const envelope of queued) {
    const expected = referenceV1(envelope);
    assert.equal(encodedEnvelopeSize(envelope), expected.length);
    assert.deepEqual(encodeEnvelope(envelope), expected, envelope.id);
  }
  // An equal string made elsewhere (not the counter's object) encodes the same way.
  const ids = new IdCounter('copy-');
  const made = ids.next();
  const copy = ['co', 'py-0'].join('');
  assert.equal(copy, made);
  assert.deepEqual(encodeEnvelope(envelopeOf(copy, 1)), referenceV1(envelopeOf(made, 1)));
});

import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isPeerpostError } from '../../src/errors.js';
import { IdCounter } from '../../src/network/id-counter.js';
import {
  decodeEnvelope,
  decodeEnvelopeAt,
  type Envelope,
  encodedEnvelopeIdAt,
  encodeEnvelope,
  encodePlainInto,
  lastDecodedVersion,
  plainEnvelopeSize,
} from '../../src/wire/envelope.js';
import { encodeEnvelopeFrame } from '../../src/wire/framing.js';
import { negativeVectors, type PositiveVector, positiveVectors } from '../helpers/vectors.js';

/** The coded error `fn` throws. */
function decodeErrorOf(fn: () => unknown): { code: string; offset: unknown; message: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(isPeerpostError(err), String(err));
    return { code: err.code, offset: err.offset, message: err.message };
  }
  return assert.fail('expected a coded error');
}

function fieldsOf(v: PositiveVector): Envelope {
  const f = v.fields;
  const env: Envelope = {
    deliveryStartTimestampMs: BigInt(f.delivery_start_timestamp_ms),
    id: f.id,
    label: f.label,
    compressed: f.compressed,
    data: Buffer.from(f.data, 'hex'),
    lastSenderIsProxy: f.last_sender_is_proxy,
  };
  if (f.direct_receiver !== null) env.directReceiver = f.direct_receiver;
  return env;
}

/** Comparable form: data as hex, and an absent directReceiver the same as an undefined one. */
/** The fields, read by name (a received envelope's id is an accessor, which a spread would miss). */
function plain(env: Envelope) {
  const out: Record<string, unknown> = {
    deliveryStartTimestampMs: env.deliveryStartTimestampMs,
    id: env.id,
    label: env.label,
    compressed: env.compressed,
    data: Buffer.from(env.data).toString('hex'),
    lastSenderIsProxy: env.lastSenderIsProxy,
  };
  if (env.directReceiver !== undefined) out['directReceiver'] = env.directReceiver;
  return out;
}

describe('envelope vectors', () => {
  test('there are 20 positive and 14 negative vectors', () => {
    assert.equal(positiveVectors.length, 20);
    assert.equal(negativeVectors.length, 14);
  });

  for (const v of positiveVectors) {
    test(`positive ${v.name}`, () => {
      const env = fieldsOf(v);
      assert.equal(encodeEnvelope(env).toString('hex'), v.v1_hex, 'v1 bytes');
      assert.equal(encodeEnvelope(env, { version: 0 }).toString('hex'), v.v0_hex, 'v0 bytes');
      assert.equal(encodeEnvelopeFrame(env).toString('hex'), v.v1_framed_hex, 'framed v1 bytes');

      const d1 = decodeEnvelope(Buffer.from(v.v1_hex, 'hex'));
      assert.equal(d1.version, 1);
      assert.deepEqual(plain(d1.envelope), plain(env));

      const d0 = decodeEnvelope(Buffer.from(v.v0_hex, 'hex'));
      assert.equal(d0.version, 0);
      const { directReceiver: _, ...v0Fields } = env;
      assert.deepEqual(plain(d0.envelope), plain(v0Fields));
    });
  }

  test('interleaved with hundreds of other labels and receivers, every vector still encodes and decodes exactly', () => {
    // The encoder keeps the bytes of recent labels and receivers, the decoder the strings
    // of recent labels and id prefixes: alternation, collisions and a cache that fills up
    // and starts over must never change a byte or a decoded field.
    for (let round = 0; round < 3; round++) {
      for (const [i, v] of positiveVectors.entries()) {
        const env = fieldsOf(v);
        assert.equal(encodeEnvelope(env).toString('hex'), v.v1_hex, `${v.name}, round ${round}`);
        assert.deepEqual(plain(decodeEnvelope(Buffer.from(v.v1_hex, 'hex')).envelope), plain(env), v.name);
        for (let k = 0; k < 20; k++) {
          const other: Envelope = {
            ...env,
            id: `node-${round}-${i}-${k}`,
            label: `label-${round}-${i}-${k}`,
            directReceiver: `peer-${i}-${k}`,
          };
          assert.deepEqual(plain(decodeEnvelope(encodeEnvelope(other)).envelope), plain(other));
        }
      }
    }
  });

  test('decodeEnvelopeAt decodes a range of a larger buffer, with offsets relative to it', () => {
    const v = positiveVectors[0]!;
    const body = Buffer.from(v.v1_hex, 'hex');
    const chunk = Buffer.concat([Buffer.from([9, 9, 9]), body, Buffer.from([8, 8])]);
    assert.deepEqual(plain(decodeEnvelopeAt(chunk, 3, 3 + body.length)), plain(fieldsOf(v)));
    assert.equal(lastDecodedVersion(), 1);
    const v0 = Buffer.concat([Buffer.from([7]), Buffer.from(v.v0_hex, 'hex')]);
    const { directReceiver: _, ...v0Fields } = fieldsOf(v);
    assert.deepEqual(plain(decodeEnvelopeAt(v0, 1, v0.length)), plain(v0Fields));
    assert.equal(lastDecodedVersion(), 0);
    // A truncated range fails with the offset inside the message, not inside the chunk.
    const whole = decodeErrorOf(() => decodeEnvelope(body.subarray(0, 12)));
    const ranged = decodeErrorOf(() => decodeEnvelopeAt(chunk, 3, 15));
    assert.equal(ranged.code, whole.code);
    assert.equal(ranged.offset, whole.offset);
    assert.equal(ranged.message, whole.message);
  });

  test('a received ASCII id is read when asked for; any other id is checked and decoded at once', () => {
    const env: Envelope = {
      deliveryStartTimestampMs: 5n,
      id: 'node-k3j9-1z',
      label: 'L',
      compressed: false,
      data: Buffer.from('abc'),
      lastSenderIsProxy: false,
    };
    const body = encodeEnvelope(env);
    const chunk = Buffer.concat([Buffer.from([1, 2]), body]);
    const received = decodeEnvelopeAt(chunk, 2, chunk.length);
    assert.equal(received.id, 'node-k3j9-1z');
    assert.equal(received.id, 'node-k3j9-1z', 'read twice, the same');
    received.id = 'other';
    assert.equal(received.id, 'other');
    // decodeEnvelope's envelope has every field its own: a spread or JSON copy keeps the id.
    assert.equal({ ...decodeEnvelope(body).envelope }.id, 'node-k3j9-1z');
    const utf8 = encodeEnvelope({ ...env, id: 'nœud-1' });
    assert.equal(decodeEnvelopeAt(utf8, 0, utf8.length).id, 'nœud-1');
    // Not UTF-8: the decode fails, at the id, as for every string field.
    const bad = Buffer.from(body);
    bad[16] = 0xff; // the id's first byte (after the u64 timestamp and the u64 length)
    const error = decodeErrorOf(() => decodeEnvelopeAt(bad, 0, bad.length));
    assert.equal(error.code, 'ERR_INVALID_UTF8');
    assert.equal(error.offset, 16);
  });

  test('u64 max timestamp is exact', () => {
    const v = positiveVectors.find((x) => x.name === 'timestamp_2p64_minus_1')!;
    const { envelope } = decodeEnvelope(Buffer.from(v.v1_hex, 'hex'));
    assert.equal(envelope.deliveryStartTimestampMs, 18446744073709551615n);
  });

  test('v0 bytes that end with the v1 tag decode as the v0 message they are', () => {
    const v = positiveVectors.find((x) => x.name === 'v0_ambiguous_tag_suffix')!;
    const v0 = Buffer.from(v.v0_hex, 'hex');
    assert.equal(v0.subarray(-8).toString('hex'), '61636b6e636b0001');
    const d = decodeEnvelope(v0);
    assert.equal(d.version, 0);
    assert.equal(d.envelope.lastSenderIsProxy, true);
    assert.equal(Buffer.from(d.envelope.data).toString('hex'), v.fields.data);
  });

  const expected: Record<string, string> = {
    truncated_v1_in_data: 'ERR_TRUNCATED',
    truncated_v1_in_direct_receiver: 'ERR_TRAILING_BYTES',
    truncated_v1_in_tag: 'ERR_TRAILING_BYTES',
    empty_input: 'ERR_TRUNCATED',
    data_length_exceeds_remaining: 'ERR_TRUNCATED',
    id_length_2p63: 'ERR_TRUNCATED',
    data_length_2p63: 'ERR_TRUNCATED',
    label_invalid_utf8_ff: 'ERR_INVALID_UTF8',
    label_invalid_utf8_surrogate: 'ERR_INVALID_UTF8',
    label_invalid_utf8_overlong: 'ERR_INVALID_UTF8',
    compressed_bool_2: 'ERR_INVALID_BOOL',
    direct_receiver_option_tag_2: 'ERR_INVALID_OPTION_TAG',
    v0_bytes_as_v1: 'ACCEPTED_AS_V0',
  };

  for (const v of negativeVectors.filter((n) => n.layer === 'bincode')) {
    test(`negative ${v.name}`, () => {
      const want = expected[v.name];
      assert.ok(want, `an expectation exists for ${v.name}`);
      const bytes = Buffer.from(v.hex, 'hex');
      if (want === 'ACCEPTED_AS_V0') {
        assert.equal(decodeEnvelope(bytes).version, 0);
        return;
      }
      assert.throws(
        () => decodeEnvelope(bytes),
        (err: unknown) => isPeerpostError(err) && err.code === want,
      );
    });
  }

  test('a 2^63 length fails fast, without allocating', () => {
    const v = negativeVectors.find((x) => x.name === 'id_length_2p63')!;
    const bytes = Buffer.from(v.hex, 'hex');
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 10_000; i++) {
      assert.throws(() => decodeEnvelope(bytes));
    }
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024);
  });

  test('data is a view of the input, not a copy', () => {
    const v = positiveVectors.find((x) => x.name === 'data_len_1000')!;
    const bytes = Buffer.from(v.v1_hex, 'hex');
    const { envelope } = decodeEnvelope(bytes);
    assert.equal(envelope.data.buffer, bytes.buffer);
  });
});

describe('envelope properties', () => {
  const envelopeArb = fc.record(
    {
      deliveryStartTimestampMs: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      id: fc.string({ unit: 'binary' }),
      label: fc.string({ unit: 'binary', maxLength: 64 }),
      compressed: fc.boolean(),
      data: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 1000, maxLength: 70_000 })),
      lastSenderIsProxy: fc.boolean(),
      directReceiver: fc.option(fc.string({ unit: 'binary' }), { nil: undefined }),
    },
    { requiredKeys: ['deliveryStartTimestampMs', 'id', 'label', 'compressed', 'data', 'lastSenderIsProxy'] },
  );

  test('random envelopes round-trip exactly through v1 and v0', () => {
    fc.assert(
      fc.property(envelopeArb, (env) => {
        const d1 = decodeEnvelope(encodeEnvelope(env));
        assert.equal(d1.version, 1);
        assert.deepEqual(plain(d1.envelope), plain(env));
        const d0 = decodeEnvelope(encodeEnvelope(env, { version: 0 }));
        const { directReceiver: _, ...v0 } = env;
        assert.deepEqual(plain(d0.envelope), plain(v0));
      }),
      { numRuns: 300 },
    );
  });

  test("a plain message's encoding (no envelope object) is the envelope's, byte for byte, and sized exactly", () => {
    const counter = new IdCounter('node-1-00c0ffee-');
    fc.assert(
      fc.property(
        // Timestamps in whole ms, the range the plain encoder takes (0 to 2^53 - 1), with
        // the edges of its u32 halves.
        fc.oneof(fc.maxSafeNat(), fc.constantFrom(0, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER)),
        // Ids from the id counter (its ASCII shortcut) and any other string.
        fc.oneof(fc.constant(undefined), fc.string({ unit: 'binary' })),
        fc.string({ unit: 'binary', maxLength: 80 }),
        fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 1000, maxLength: 20_000 })),
        fc.nat({ max: 100 }),
        (ts, givenId, label, data, offset) => {
          const id = givenId ?? counter.next();
          const env: Envelope = {
            deliveryStartTimestampMs: BigInt(ts),
            id,
            label,
            compressed: false,
            data,
            lastSenderIsProxy: false,
          };
          const expected = encodeEnvelope(env);
          const size = plainEnvelopeSize(id, label, data.length);
          assert.equal(size, expected.length);
          const buf = Buffer.alloc(offset + size + 3, 0xee);
          assert.equal(encodePlainInto(buf, offset, ts, id, label, data), offset + size);
          assert.deepEqual(buf.subarray(offset, offset + size), expected);
          assert.ok(
            buf.subarray(0, offset).every((b) => b === 0xee),
            'nothing written before the offset',
          );
          assert.ok(
            buf.subarray(offset + size).every((b) => b === 0xee),
            'nothing written after the message',
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a plain message with a timestamp that is not a whole number of ms from 0 to 2^53 - 1 is a coded error', () => {
    const buf = Buffer.alloc(200);
    for (const ts of [-1, 2 ** 53, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.equal(
        decodeErrorOf(() => encodePlainInto(buf, 0, ts, 'id', 'L', new Uint8Array(1))).code,
        'ERR_LENGTH_OVERFLOW',
      );
    }
  });

  test('strings with NUL and astral characters survive', () => {
    const env: Envelope = {
      deliveryStartTimestampMs: 1n,
      id: 'a\u0000b',
      label: '🦀\u{10ffff}',
      compressed: false,
      data: new Uint8Array(),
      lastSenderIsProxy: false,
      directReceiver: '\u0000',
    };
    assert.deepEqual(plain(decodeEnvelope(encodeEnvelope(env)).envelope), plain(env));
  });

  test('a V1 message with bytes between its last field and its tag does not decode', () => {
    const ascii = fc.string({ unit: fc.constantFrom(...'abcxyz-019'), maxLength: 30 });
    fc.assert(
      fc.property(
        ascii,
        ascii,
        fc.uint8Array({ maxLength: 100 }),
        fc.uint8Array({ minLength: 1, maxLength: 3 }),
        (id, label, data, extra) => {
          const body = encodeEnvelope({
            deliveryStartTimestampMs: 1_700_000_000_000n,
            id,
            label,
            compressed: false,
            data,
            lastSenderIsProxy: false,
          });
          assert.equal(decodeEnvelope(body).envelope.id, id);
          const tagAt = body.length - 8;
          const padded = Buffer.concat([body.subarray(0, tagAt), extra, body.subarray(tagAt)]);
          const error = decodeErrorOf(() => decodeEnvelopeAt(padded, 0, padded.length));
          assert.equal(error.code, 'ERR_TRAILING_BYTES');
        },
      ),
      { numRuns: 300 },
    );
  });

  test('any bytes either decode or throw a coded error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeEnvelope(bytes);
        } catch (err) {
          assert.ok(isPeerpostError(err), String(err));
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('a timestamp beyond u64 or negative is rejected', () => {
    for (const ts of [-1n, 1n << 64n]) {
      assert.throws(
        () =>
          encodeEnvelope({
            deliveryStartTimestampMs: ts,
            id: '',
            label: '',
            compressed: false,
            data: new Uint8Array(),
            lastSenderIsProxy: false,
          }),
        (err: unknown) => isPeerpostError(err, 'ERR_LENGTH_OVERFLOW'),
      );
    }
  });
});

test('encodedEnvelopeIdAt reads the id of an envelope the encoder wrote, at any offset, in both versions', () => {
  for (const id of ['a-0-1', 'ünï-çødé-1', '鍵-3', '']) {
    for (const version of [0, 1] as const) {
      const body = encodeEnvelope(
        {
          deliveryStartTimestampMs: 1n,
          id,
          label: 'L',
          compressed: false,
          data: Buffer.from('xyz'),
          lastSenderIsProxy: false,
        },
        { version },
      );
      const buf = Buffer.concat([Buffer.alloc(7, 0xee), body]);
      assert.equal(encodedEnvelopeIdAt(buf, 7), id);
    }
  }
});

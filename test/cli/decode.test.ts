import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { main } from '../../src/cli/main.js';
import { negativeVectors, positiveVectors } from '../helpers/vectors.js';

async function run(args: string[], input: string | Buffer) {
  let out = '';
  let err = '';
  const code = await main(args, {
    stdin: Readable.from([Buffer.from(input)]),
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: {},
  });
  return { code, out, err };
}

describe('peerpost decode', () => {
  test('decodes every positive vector from one framed hex stream', async () => {
    const hex = positiveVectors.map((v) => v.v1_framed_hex).join('\n');
    const { code, out, err } = await run(['decode', '--hex'], hex);
    assert.equal(err, '');
    assert.equal(code, 0);
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, positiveVectors.length);
    lines.forEach((line, i) => {
      const v = positiveVectors[i]!;
      assert.equal(line.version, 1);
      assert.equal(line.deliveryStartTimestampMs, v.fields.delivery_start_timestamp_ms);
      assert.equal(line.id, v.fields.id);
      assert.equal(line.label, v.fields.label);
      assert.equal(line.data, v.fields.data);
      assert.equal(line.directReceiver, v.fields.direct_receiver);
    });
  });

  test('reads binary input and --raw single envelopes', async () => {
    const v = positiveVectors.find((x) => x.name === 'direct_receiver_some_peer42')!;
    const framed = await run(['decode'], Buffer.from(v.v1_framed_hex, 'hex'));
    assert.equal(JSON.parse(framed.out).directReceiver, 'peer-42');
    const raw = await run(['decode', '--raw', '--hex'], v.v0_hex);
    assert.equal(JSON.parse(raw.out).version, 0);
  });

  test('--decompress prints the payload of compressed messages', async () => {
    const v = positiveVectors.find((x) => x.name === 'zstd_compressed_bulk')!;
    const { out } = await run(['decode', '--hex', '--decompress'], v.v1_framed_hex);
    assert.equal(JSON.parse(out).payload, v.uncompressed_hex);
  });

  test('an incomplete frame is a coded error with its byte offset and exit 1', async () => {
    const v = negativeVectors.find((x) => x.name === 'frame_length_prefix_exceeds_bytes')!;
    const { code, err } = await run(['decode', '--hex'], v.hex);
    assert.equal(code, 1);
    assert.match(err, /ERR_FRAME_INCOMPLETE at byte 82/);
  });

  test('a bad envelope inside the second frame reports the stream offset', async () => {
    const good = positiveVectors[0]!.v1_framed_hex;
    const bad = negativeVectors.find((x) => x.name === 'label_invalid_utf8_ff')!;
    const framed = bad.len.toString(16).padStart(8, '0') + bad.hex;
    const { code, out, err } = await run(['decode', '--hex'], good + framed);
    assert.equal(code, 1);
    assert.equal(out.trim().split('\n').length, 1);
    const m = /ERR_INVALID_UTF8 at byte (\d+)/.exec(err);
    assert.ok(m, err);
    // frame 1 is 47 bytes; the label bytes start after prefix(4) + ts(8) + idlen(8) + id + labellen(8)
    assert.ok(Number(m[1]) > 47 + 4);
  });

  test('bad hex is reported, not thrown', async () => {
    const { code, err } = await run(['decode', '--hex'], 'xyz');
    assert.equal(code, 1);
    assert.match(err, /ERR_INVALID_OPTION/);
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPeerpostError } from '../../src/errors.js';
import {
  ACK_ACK,
  ACK_OPEN,
  ACK_OPENED,
  ACK_SEQ,
  decodeControlFrame,
  isControlFrame,
  openedFrame,
  openFrame,
  seqFrame,
} from '../../src/wire/ack-frames.js';
import { encodeEnvelopeFrame } from '../../src/wire/framing.js';
import { createEnvelope } from '../../src/wire/message.js';

const body = (frame: Buffer) => frame.subarray(4);
const decode = (frame: Buffer) => decodeControlFrame(body(frame), 0, frame.length - 4);

test('control frames round-trip and carry their length prefix', () => {
  const id = '0123456789abcdef0123456789abcdef';
  assert.deepEqual(decode(openFrame(id)), { type: ACK_OPEN, streamId: id });
  assert.deepEqual(decode(openedFrame(true, 2 ** 40 + 7)), {
    type: ACK_OPENED,
    known: true,
    seq: 2 ** 40 + 7,
  });
  assert.deepEqual(decode(openedFrame(false, 0)), { type: ACK_OPENED, known: false, seq: 0 });
  assert.deepEqual(decode(seqFrame(ACK_SEQ, 1)), { type: ACK_SEQ, seq: 1 });
  assert.deepEqual(decode(seqFrame(ACK_ACK, Number.MAX_SAFE_INTEGER)), {
    type: ACK_ACK,
    seq: Number.MAX_SAFE_INTEGER,
  });
  for (const f of [openFrame(id), openedFrame(true, 1), seqFrame(ACK_ACK, 1)]) {
    assert.equal(f.readUInt32BE(0), f.length - 4);
    assert.ok(isControlFrame(body(f), 0, f.length - 4));
  }
});

test('a reference envelope is never taken for a control frame', () => {
  const frame = encodeEnvelopeFrame(
    createEnvelope({ id: 'm', label: 'x', data: new Uint8Array(3), nowMs: Date.now() }),
  );
  assert.equal(isControlFrame(frame, 4, frame.length), false);
  assert.equal(isControlFrame(Buffer.alloc(20, 0xff), 0, 8), false, 'shorter than a control frame');
});

test('every field is checked before use: unknown type, wrong length, out-of-range values', () => {
  const fails = (frame: Buffer, what: RegExp) =>
    assert.throws(
      () => decodeControlFrame(frame, 0, frame.length),
      (err: unknown) => isPeerpostError(err, 'ERR_ACK_PROTOCOL') && what.test((err as Error).message),
    );
  const unknown = body(seqFrame(ACK_ACK, 1));
  unknown[8] = 9;
  fails(Buffer.from(unknown), /unknown control frame type 9/);
  const zero = Buffer.from(body(seqFrame(ACK_ACK, 1)));
  zero[8] = 0;
  fails(zero, /unknown control frame type 0/);
  fails(Buffer.concat([body(seqFrame(ACK_SEQ, 1)), Buffer.alloc(1)]), /of 18 bytes, expected 17/);
  const big = Buffer.from(body(seqFrame(ACK_SEQ, 1)));
  big.writeUInt32LE(2 ** 21, 13);
  fails(big, /2\^53/);
  const known = Buffer.from(body(openedFrame(true, 1)));
  known[9] = 2;
  fails(known, /known byte/);
  assert.throws(() => seqFrame(ACK_SEQ, -1), /bad sequence number/);
  assert.throws(() => openFrame('abc'), /16 bytes/);
});

/**
 * The receiving side of acknowledged delivery, driven frame by frame from a raw connection
 * (no peerpost sender): OPEN is answered with what the node already has of the stream,
 * retransmissions are acknowledged but not delivered twice, one ACK covers a batch of
 * frames, a forgotten stream is reported as unknown, and a broken control frame closes
 * that connection only.
 */
import assert from 'node:assert/strict';
import type { Buffer } from 'node:buffer';
import { test } from 'node:test';
import type { Network } from '../../src/network/network.js';
import type { Connection } from '../../src/transport/types.js';
import {
  ACK_ACK,
  ACK_OPENED,
  ACK_SEQ,
  type ControlFrame,
  decodeControlFrame,
  isControlFrame,
  openFrame,
  seqFrame,
} from '../../src/wire/ack-frames.js';
import { encodeEnvelopeFrame } from '../../src/wire/framing.js';
import { createEnvelope } from '../../src/wire/message.js';
import { memoryNodes } from '../network/memory-nodes.js';

const STREAM = '00112233445566778899aabbccddeeff';

/** A raw acked connection from host `x` to `b`, recording the control frames it gets back. */
async function raw(nodes: Awaited<ReturnType<typeof memoryNodes>>, b: Network, acks = true) {
  const transport = nodes.memory.transport({ host: `x${Math.random().toString(36).slice(2, 6)}` });
  const connection: Connection = await transport.connect(b.address, 'direct', { acks });
  const controls: ControlFrame[] = [];
  connection.attach({
    onFrame(frame: Buffer) {
      if (isControlFrame(frame, 0, frame.length)) controls.push(decodeControlFrame(frame, 0, frame.length));
    },
  });
  const message = (n: number) =>
    encodeEnvelopeFrame(createEnvelope({ id: `m${n}`, label: 'Put', data: new Uint8Array(8), nowMs: 1 }));
  return { connection, controls, message };
}

test('retransmitted frames are acknowledged again and delivered once; one ACK per batch', async () => {
  const nodes = await memoryNodes(['b']);
  const b = nodes.nets[0]!;
  const got: string[] = [];
  b.onMessage((m) => got.push(m.id));

  const first = await raw(nodes, b);
  assert.equal(first.connection.acks, true, 'acks negotiated');
  first.connection.writeFrames!(openFrame(STREAM), 1);
  first.connection.writeFrames!(seqFrame(ACK_SEQ, 1), 1);
  for (let n = 1; n <= 3; n++) first.connection.writeFrames!(first.message(n), 1);
  await nodes.clock.tick(10);
  assert.deepEqual(first.controls, [
    { type: ACK_OPENED, known: false, seq: 0 },
    { type: ACK_ACK, seq: 3 },
  ]);
  first.connection.close('gone');
  await nodes.clock.tick(10);

  // The sender lost the ACK: it opens the stream again and resends from 2.
  const second = await raw(nodes, b);
  second.connection.writeFrames!(openFrame(STREAM), 1);
  await nodes.clock.tick(10);
  assert.deepEqual(second.controls, [{ type: ACK_OPENED, known: true, seq: 3 }]);
  second.connection.writeFrames!(seqFrame(ACK_SEQ, 2), 1);
  for (let n = 2; n <= 5; n++) second.connection.writeFrames!(second.message(n), 1);
  await nodes.clock.tick(10);
  assert.deepEqual(second.controls.slice(1), [{ type: ACK_ACK, seq: 5 }]);
  assert.deepEqual(got, ['m1', 'm2', 'm3', 'm4', 'm5']);
  assert.equal(b.stats().hub.ackDuplicates, 2);
  assert.equal(b.stats().hub.ackStreams, 1);
  second.connection.close('done');
  await nodes.close();
});

test('a node that forgot the stream says so; broken control frames close only that connection', async () => {
  const nodes = await memoryNodes(['b'], () => ({ acks: { streams: 1 } }));
  const b = nodes.nets[0]!;
  const got: string[] = [];
  b.onMessage((m) => got.push(m.id));

  const one = await raw(nodes, b);
  one.connection.writeFrames!(openFrame(STREAM), 1);
  one.connection.writeFrames!(seqFrame(ACK_SEQ, 7), 1);
  one.connection.writeFrames!(one.message(7), 1);
  await nodes.clock.tick(10);
  // A second stream pushes the first one out (streams: 1).
  const other = await raw(nodes, b);
  other.connection.writeFrames!(openFrame('ff'.repeat(16)), 1);
  await nodes.clock.tick(10);
  const again = await raw(nodes, b);
  again.connection.writeFrames!(openFrame(STREAM), 1);
  await nodes.clock.tick(10);
  assert.deepEqual(again.controls, [{ type: ACK_OPENED, known: false, seq: 0 }]);

  // A message frame before OPEN, an ACK from the sender's side, a truncated control frame:
  // each closes its own connection, and the others keep working.
  const early = await raw(nodes, b);
  early.connection.writeFrames!(early.message(1), 1);
  const wrongWay = await raw(nodes, b);
  wrongWay.connection.writeFrames!(openFrame('aa'.repeat(16)), 1);
  wrongWay.connection.writeFrames!(seqFrame(ACK_ACK, 1), 1);
  const truncated = await raw(nodes, b);
  const bad = seqFrame(ACK_SEQ, 1);
  bad.writeUInt32BE(bad.length - 5, 0);
  truncated.connection.writeFrames!(bad.subarray(0, bad.length - 1), 1);
  await nodes.clock.tick(100);
  for (const c of [early, wrongWay, truncated]) {
    assert.equal(c.connection.closeReason?.initiator, 'remote', 'closed by b');
  }
  again.connection.writeFrames!(seqFrame(ACK_SEQ, 1), 1);
  again.connection.writeFrames!(again.message(8), 1);
  await nodes.clock.tick(10);
  assert.deepEqual(got, ['m7', 'm8']);
  assert.equal(again.connection.closeReason, undefined);
  for (const c of [one, other, again]) c.connection.close('done');
  await nodes.close();
});

test('a dialer that does not offer acks gets a plain direct connection', async () => {
  const nodes = await memoryNodes(['b']);
  const b = nodes.nets[0]!;
  const got: string[] = [];
  b.onMessage((m) => got.push(m.id));
  const plain = await raw(nodes, b, false);
  assert.equal(plain.connection.acks, false);
  plain.connection.writeFrames!(plain.message(1), 1);
  await nodes.clock.tick(10);
  assert.deepEqual(got, ['m1']);
  assert.deepEqual(plain.controls, []);
  plain.connection.close('done');
  await nodes.close();
});

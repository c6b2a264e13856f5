/**
 * The receiving side over real mutual TLS, for a node whose application reads with
 * `for await` (no listener): received messages wait in the incoming queue as views of the
 * socket chunks they were read from, and must come out intact, in order, within the
 * queue's bounds, and with its byte count back to zero once read.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { certificateHash, generateCredentials } from '../../src/identity/credentials.js';
import { createNetwork, type Network, type NetworkMessage } from '../../src/network/network.js';
import { until } from './helpers.js';

/** A payload whose every byte names message `i`, so that a mix-up or an overwrite shows. */
function payload(i: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let j = 0; j < size; j++) out[j] = (i * 31 + j) & 0xff;
  return out;
}

function intact(data: Uint8Array, i: number, size: number): boolean {
  if (data.byteLength !== size) return false;
  for (let j = 0; j < size; j++) if (data[j] !== ((i * 31 + j) & 0xff)) return false;
  return true;
}

const open: Network[] = [];
after(async () => {
  await Promise.all(open.map((n) => n.close()));
});

/** `a` with `b` in its topology; `b` (no listener) with the options given. */
async function pair(incomingCapacity?: number): Promise<{ a: Network; b: Network }> {
  const [ca, cb] = await Promise.all([generateCredentials(), generateCredentials()]);
  const b = await createNetwork({
    nodeId: 'b',
    credentials: cb,
    listen: '127.0.0.1:0',
    trust: { certHashes: [certificateHash(ca.certPem)] },
    compressThresholdBytes: 1e9,
    ...(incomingCapacity === undefined ? {} : { incomingCapacity }),
  });
  open.push(b);
  const a = await createNetwork({
    nodeId: 'a',
    credentials: ca,
    listen: '127.0.0.1:0',
    trust: { certHashes: [certificateHash(cb.certPem)] },
    compressThresholdBytes: 1e9,
    topology: { b: [{ address: b.address, certHash: certificateHash(cb.certPem) }] },
  });
  open.push(a);
  return { a, b };
}

async function sendAll(a: Network, count: number, size: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    if (!a.writable('b')) await a.ready('b');
    ids.push(a.send('b', 'Receive', payload(i, size)));
  }
  return ids;
}

describe('receive path: messages waiting for a for-await reader', () => {
  test('1 KiB messages that waited in the queue come out intact and in order; the queue empties to 0 bytes', async () => {
    const { a, b } = await pair();
    const count = 600;
    const size = 1024;
    const ids = await sendAll(a, count, size);
    await until(() => b.stats().incoming.buffered === count, 'b buffered every message');
    assert.ok(
      b.stats().incoming.bufferedBytes >= count * size,
      `${b.stats().incoming.bufferedBytes} bytes counted`,
    );
    const got: NetworkMessage[] = [];
    for await (const m of b.messages()) {
      got.push(m);
      if (got.length === count) break;
    }
    assert.deepEqual(
      got.map((m) => m.id),
      ids,
    );
    got.forEach((m, i) => {
      assert.ok(intact(m.data, i, size), `message ${i} intact`);
      assert.equal(m.label, 'Receive');
      assert.equal(m.envelope.data.byteLength, size);
    });
    assert.equal(b.stats().incoming.buffered, 0);
    assert.equal(b.stats().incoming.bufferedBytes, 0);
    assert.equal(b.stats().incoming.droppedSlowReader, 0);
  });

  test('messages of many sizes (split across chunks and not) are delivered whole, in order', async () => {
    const { a, b } = await pair();
    const sizes = [1, 63, 64, 1000, 4096, 16_000, 16_384, 20_000, 70_000, 5, 2048];
    const ids: string[] = [];
    for (let i = 0; i < sizes.length * 4; i++) {
      if (!a.writable('b')) await a.ready('b');
      ids.push(a.send('b', 'Receive', payload(i, sizes[i % sizes.length]!)));
    }
    let i = 0;
    for await (const m of b.messages()) {
      assert.equal(m.id, ids[i]);
      assert.ok(intact(m.data, i, sizes[i % sizes.length]!), `message ${i} (${m.data.byteLength} B) intact`);
      if (++i === ids.length) break;
    }
    assert.equal(b.stats().incoming.bufferedBytes, 0);
  });

  test('the queue keeps its bound: the newest `incomingCapacity` wait, intact, the older ones are dropped and counted', async () => {
    const { a, b } = await pair(100);
    const count = 350;
    const size = 1024;
    const ids = await sendAll(a, count, size);
    await until(
      () => b.stats().incoming.buffered + b.stats().incoming.droppedSlowReader === count,
      'b received every message',
    );
    assert.equal(b.stats().incoming.buffered, 100);
    assert.equal(b.stats().incoming.droppedSlowReader, count - 100);
    const got: NetworkMessage[] = [];
    for await (const m of b.messages()) {
      got.push(m);
      if (got.length === 100) break;
    }
    assert.deepEqual(
      got.map((m) => m.id),
      ids.slice(count - 100),
    );
    for (const [k, m] of got.entries()) {
      assert.ok(intact(m.data, count - 100 + k, size), `message ${count - 100 + k} intact`);
    }
    assert.equal(b.stats().incoming.bufferedBytes, 0);
  });
});

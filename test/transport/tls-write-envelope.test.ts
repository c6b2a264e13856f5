import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Credentials, generateCredentials } from '../../src/identity/credentials.js';
import { TlsTransport } from '../../src/transport/tls/tls-transport.js';
import { systemClock } from '../../src/util/clock.js';
import { decodeEnvelope, encodedEnvelopeSize, encodeEnvelope } from '../../src/wire/envelope.js';
import { envelopeOf, framesOf } from './fixtures.js';
import { Collector, startServer } from './tls-helpers.js';

// writeEnvelope(): frames encoded straight into the connection's buffer must be the same
// bytes as write(encodeEnvelope(...)), in order with plain writes, counted by onFlushed,
// and copied at once (the caller may reuse its buffers right after the call).
// writeFrames(): runs of already framed messages, taken by reference, count as one frame each.
let serverCreds: Credentials;
let clientCreds: Credentials;
before(async () => {
  [serverCreds, clientCreds] = await Promise.all([generateCredentials(), generateCredentials()]);
});

describe('StreamConnection.writeEnvelope and writeFrames', () => {
  let s: Awaited<ReturnType<typeof startServer>>;
  let client: TlsTransport;
  before(async () => {
    s = await startServer({ credentials: serverCreds });
    client = new TlsTransport({ credentials: clientCreds });
  });
  after(async () => {
    await client.close();
    await s.transport.close();
  });

  it('interleaves with write() in order, across slab boundaries and with frames larger than a slab', async () => {
    const conn = await client.connect(s.listener.address, 'direct');
    const mine = new Collector(conn);
    const server = await s.next();
    assert.ok(conn.writeEnvelope, 'the TLS connection has the fast path');
    const sizes = [0, 64, 1000, 70_000, 64, 20_000, 5, 200_000, 64];
    assert.ok(conn.writeFrames, 'and the framed-run fast path');
    const sent: Buffer[] = [];
    let run: Buffer[] = [];
    const writeRun = () => {
      if (run.length > 0) conn.writeFrames!(framesOf(run), run.length);
      run = [];
    };
    for (let round = 0; round < 40; round++) {
      for (const [k, size] of sizes.entries()) {
        const i = round * sizes.length + k;
        const e = envelopeOf(i, size);
        const bytes = encodeEnvelope(e);
        sent.push(bytes);
        if (i % 5 === 3 || i % 5 === 4) {
          // Runs of one or two framed messages, between the other kinds of write.
          run.push(bytes);
          if (i % 5 === 4) writeRun();
          continue;
        }
        writeRun();
        if (i % 5 === 1) conn.write(bytes);
        else conn.writeEnvelope!(e, encodedEnvelopeSize(e));
        // The caller reuses its buffers at once: what was written must not change.
        (e.data as Buffer).fill(0xee);
        e.id = 'changed';
      }
      writeRun();
      if (round % 7 === 0) await new Promise((r) => setImmediate(r));
    }
    await server.waitFrames(sent.length);
    assert.equal(server.frames.length, sent.length);
    for (let i = 0; i < sent.length; i++) {
      assert.ok(server.frames[i]!.equals(sent[i]!), `frame ${i} intact`);
      assert.equal(decodeEnvelope(server.frames[i]!).envelope.id, `m-${i}`);
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(mine.flushed, sent.length, 'onFlushed counts every frame once');
    assert.equal(conn.pendingFrames, 0);
    conn.close();
  });

  it('writeFrames rejects framing that does not add up, and queues nothing', async () => {
    const conn = await client.connect(s.listener.address, 'direct');
    new Collector(conn);
    const server = await s.next();
    const good = framesOf([Buffer.from('hello')]);
    const bad: [Buffer, number][] = [
      [good, 2], // fewer frames than claimed
      [Buffer.concat([good, good]), 1], // more
      [good.subarray(0, good.length - 1), 1], // the length runs past the end
      [Buffer.from([0, 0, 0, 0]), 1], // an empty frame is a keepalive, not a message
      [Buffer.concat([good, Buffer.from([0, 0])]), 1], // a partial prefix left over
      [Buffer.alloc(0), 0],
    ];
    for (const [bytes, count] of bad) {
      assert.throws(
        () => conn.writeFrames!(bytes, count),
        (err: { code?: string }) => err.code === 'ERR_INVALID_OPTION',
      );
    }
    assert.equal(conn.pendingFrames, 0, 'nothing was queued');
    assert.equal(conn.writeFrames!(Buffer.concat([good, good]), 2), true);
    await server.waitFrames(2);
    assert.deepEqual(
      server.frames.map((f) => f.toString()),
      ['hello', 'hello'],
    );
    conn.close();
  });

  it('passes the time the frame was read, from the transport clock, with each frame', async () => {
    // A clock whose time stands still: every frame must carry exactly its reading.
    const clock = { ...systemClock, now: () => 1_234_567 };
    const still = await startServer({ credentials: serverCreds, clock });
    try {
      const conn = await client.connect(still.listener.address, 'direct');
      new Collector(conn);
      const server = await still.next();
      for (let i = 0; i < 3; i++) conn.write(encodeEnvelope(envelopeOf(i, 10)));
      await server.waitFrames(3);
      assert.deepEqual(server.readAt, [1_234_567, 1_234_567, 1_234_567]);
      conn.close();
    } finally {
      await still.transport.close();
    }
  });

  it('writeFrames regions that continue each other are merged, and still counted one by one', async () => {
    const conn = await client.connect(s.listener.address, 'direct');
    const mine = new Collector(conn);
    const server = await s.next();
    // Ten frames back to back in one buffer, handed over one at a time (as the hub does
    // with consecutive broadcasts), with a writeEnvelope in the middle breaking the run.
    const bodies = Array.from({ length: 10 }, (_, i) => encodeEnvelope(envelopeOf(100 + i, 30 + i)));
    const area = framesOf(bodies);
    let at = 0;
    const expected: Buffer[] = [];
    for (const [i, b] of bodies.entries()) {
      conn.writeFrames!(area.subarray(at, at + 4 + b.length), 1);
      expected.push(b);
      at += 4 + b.length;
      if (i === 4) {
        const e = envelopeOf(999, 8);
        conn.writeEnvelope!(e, encodedEnvelopeSize(e));
        expected.push(encodeEnvelope(e));
      }
    }
    assert.equal(conn.pendingFrames, 11);
    await server.waitFrames(11);
    assert.deepEqual(
      server.frames.map((f) => f.toString('hex')),
      expected.map((f) => f.toString('hex')),
    );
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(mine.flushed, 11);
    conn.close();
  });
});

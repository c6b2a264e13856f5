import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Credentials, generateCredentials } from '../../src/identity/credentials.js';
import { TlsTransport } from '../../src/transport/tls/tls-transport.js';
import { systemClock } from '../../src/util/clock.js';
import { encodedEnvelopeSize, encodeEnvelope } from '../../src/wire/envelope.js';
import { envelopeOf, framesOf } from './fixtures.js';
import { Collector, startServer } from './tls-helpers.js';

// What the TLS connection adds to the fast paths the conformance suite checks on both
// transports (bytes, order, onFlushed, envelope reuse, backpressure, bad framing): the
// time a frame was read comes with it, and writeFrames regions that continue each other
// are merged into one run and still counted one by one.
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

import assert from 'node:assert/strict';
import { before, describe, it, type TestContext } from 'node:test';
import { type Credentials, generateCredentials } from '../../src/identity/credentials.js';
import type { TlsTransportOptions } from '../../src/transport/tls/tls-transport.js';
import type { CloseReason } from '../../src/transport/types.js';
import { FakeClock } from '../../src/util/fake-clock.js';
import type { Envelope } from '../../src/wire/envelope.js';
import { encodedEnvelopeSize } from '../../src/wire/envelope.js';
import { framesOf } from './fixtures.js';
import { connectedPair } from './tls-helpers.js';

// An idle connection gives back what only traffic needs (write queues, bound callbacks,
// the encode slab) at its keepalive, and makes them again on the next write; `closed`
// is made when first read, also after the connection closed.
const IDLE = 400;

let serverCreds: Credentials;
let clientCreds: Credentials;
before(async () => {
  [serverCreds, clientCreds] = await Promise.all([generateCredentials(), generateCredentials()]);
});

function envelope(text: string): Envelope {
  return {
    deliveryStartTimestampMs: 1n,
    id: 'id',
    label: text,
    compressed: false,
    data: new Uint8Array(1),
    lastSenderIsProxy: false,
  };
}

/** A client connection to a fresh server, both closed after the test; options go to both transports. */
function connected(t: TestContext, options: Partial<TlsTransportOptions> = {}) {
  return connectedPair(t, { server: serverCreds, client: clientCreds }, options);
}

describe('TLS connection after an idle period', () => {
  it('writes of every kind work again after the keepalive released the write state', async (t) => {
    const clock = new FakeClock();
    const { conn, c, server } = await connected(t, { idleTimeoutMs: IDLE, clock });
    const sendRound = async (round: number, expected: number): Promise<void> => {
      assert.equal(conn.write(Buffer.from(`w${round}`)), true);
      const env = envelope(`e${round}`);
      assert.equal(conn.writeEnvelope?.(env, encodedEnvelopeSize(env)), true);
      assert.equal(conn.writeFrames?.(framesOf([Buffer.from(`f${round}.`)]), 1), true);
      await server.waitFrames(expected);
    };
    await sendRound(1, 3);
    while (c.flushed < 3) await new Promise((resolve) => setImmediate(resolve));
    // Two keepalive intervals with nothing to send: the write state is let go.
    clock.advance(IDLE / 4);
    clock.advance(IDLE / 4);
    await sendRound(2, 6);
    while (c.flushed < 6) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(conn.pendingFrames, 0);
    const texts = server.frames.map((f) => f.toString('latin1'));
    assert.equal(texts[0], 'w1');
    assert.equal(texts[2], 'f1.');
    assert.ok(texts[1]?.includes('e1'), 'the envelope frame of round 1');
    assert.equal(texts[3], 'w2');
    assert.ok(texts[4]?.includes('e2'), 'the envelope frame of round 2');
    assert.equal(texts[5], 'f2.');
    assert.equal(c.reason, undefined);
  });

  it('`closed` read only after the close resolves with the close reason', async (t) => {
    const { conn, c, server } = await connected(t);
    server.connection.close('done here');
    while (c.reason === undefined) await new Promise((resolve) => setImmediate(resolve));
    const reason: CloseReason = await conn.closed;
    assert.equal(reason, c.reason);
    assert.equal(reason.initiator, 'remote');
    assert.equal(conn.closed, conn.closed, 'one promise');
    assert.equal((await server.connection.closed).initiator, 'local');
  });
});

import assert from 'node:assert/strict';
import { before, describe, it, type TestContext } from 'node:test';
import { type Credentials, generateCredentials } from '../../src/identity/credentials.js';
import type { StreamConnection } from '../../src/transport/stream-connection.js';
import type { TlsTransportOptions } from '../../src/transport/tls/tls-transport.js';
import { encodedEnvelopeSize, encodeEnvelope } from '../../src/wire/envelope.js';
import { envelopeOf, framesOf } from './fixtures.js';
import { connectedPair } from './tls-helpers.js';

// Write batching of a TLS connection under bursts (issue 16): ticks of mixed writes
// (writeEnvelope, write, writeFrames; 64 B and 70 KB frames) well past the high-water
// mark arrive whole and in order, with backpressure, drain and onFlushed counting every frame.
let serverCreds: Credentials;
let clientCreds: Credentials;
before(async () => {
  [serverCreds, clientCreds] = await Promise.all([generateCredentials(), generateCredentials()]);
});

async function connected(t: TestContext, options: Partial<TlsTransportOptions> = {}) {
  const pair = await connectedPair(t, { server: serverCreds, client: clientCreds }, options);
  return { ...pair, conn: pair.conn as StreamConnection };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('TLS write bursts', () => {
  it('bursts past the high-water mark arrive whole and in order; backpressure, drain and onFlushed hold', async (t) => {
    const { conn, c, server } = await connected(t, { highWaterMarkBytes: 256 * 1024 });
    const expected: Buffer[] = [];
    let refused = 0;
    let i = 0;
    for (let round = 0; round < 6; round++) {
      // One tick: envelopes of mixed sizes, bodies and runs of frames, far past the mark.
      for (let k = 0; k < 400; k++, i++) {
        const size = k % 50 === 0 ? 70_000 : 64 + (k % 13);
        const env = envelopeOf(i, size);
        const body = encodeEnvelope(env);
        let ok: boolean;
        if (k % 3 === 0) ok = conn.writeEnvelope(env, encodedEnvelopeSize(env));
        else if (k % 3 === 1) ok = conn.write(body);
        else ok = conn.writeFrames(framesOf([body]), 1);
        if (!ok) refused++;
        expected.push(body);
      }
      await turn();
    }
    assert.ok(refused > 0, 'write() said false past the mark');
    await server.waitFrames(expected.length);
    while (c.flushed < expected.length) await turn();
    assert.equal(server.frames.length, expected.length);
    for (const [n, body] of expected.entries()) assert.deepEqual(server.frames[n], body, `frame ${n}`);
    assert.equal(c.flushed, expected.length);
    assert.equal(conn.pendingFrames, 0);
    assert.ok(c.drains > 0, 'onDrain after the burst');
    assert.equal(c.reason, undefined);
  });
});

/**
 * Acknowledged delivery (issue 20) over real mutual TLS on 127.0.0.1: the ALPN
 * negotiation of `peerpost/direct-ack/1` and its fallback to `peerpost/direct/1`.
 *
 * - both sides default, the sender with acks on: every outcome is `delivered`, and the
 *   receiving application got every message exactly once, in order;
 * - a receiver with `acks.accept: false` (an older peerpost): the connection is plain,
 *   every outcome is `written`, and every message arrives;
 * - a raw node:tls server that knows only `peerpost/direct/1` (the reference's
 *   behaviour): the acked sender still connects and sends plain reference envelopes,
 *   with no control frame on the wire.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { createServer, type TLSSocket } from 'node:tls';
import { certificateHash, generateCredentials } from '../../src/identity/credentials.js';
import { createNetwork, type Network } from '../../src/network/network.js';
import { formatOutcome, type OutcomeEvent } from '../../src/sender/outcome.js';
import { isControlFrame } from '../../src/wire/ack-frames.js';
import { decodeEnvelope } from '../../src/wire/envelope.js';

const N = 500;
const [senderCreds, receiverCreds] = await Promise.all([generateCredentials(), generateCredentials()]);
const senderHash = certificateHash(senderCreds.certPem);
const receiverHash = certificateHash(receiverCreds.certPem);

const open: Network[] = [];
after(async () => {
  await Promise.all(open.map((n) => n.close()));
});

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function tally(outcomes: Iterable<OutcomeEvent>): Record<string, number> {
  const t: Record<string, number> = {};
  for (const o of outcomes) {
    const k = formatOutcome(o.outcome);
    t[k] = (t[k] ?? 0) + 1;
  }
  return t;
}

/** The acked sender (this test's subject), pinned to the receiver's certificate at `address`. */
async function ackedSender(address: string): Promise<{ net: Network; outcomes: Map<string, OutcomeEvent> }> {
  const net = await createNetwork({
    nodeId: 'sender',
    credentials: senderCreds,
    trust: { certHashes: [receiverHash] },
    topology: { receiver: [{ address, certHash: receiverHash }] },
    acks: { enabled: true },
  });
  open.push(net);
  const outcomes = new Map<string, OutcomeEvent>();
  net.onOutcome((o) => {
    assert.equal(outcomes.has(o.messageId), false, `two outcomes for ${o.messageId}`);
    outcomes.set(o.messageId, o);
  });
  return { net, outcomes };
}

/** Sends N messages of 64 B with the backpressure loop (never a queue_full drop). */
async function sendAll(net: Network): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < N; i++) {
    if (!net.writable('receiver')) await net.ready('receiver');
    ids.push(net.send('receiver', 'Put', Buffer.alloc(64, i & 0xff)));
  }
  return ids;
}

async function receiverNode(acks?: { accept: boolean }): Promise<{ net: Network; got: string[] }> {
  const net = await createNetwork({
    nodeId: 'receiver',
    credentials: receiverCreds,
    trust: { certHashes: [senderHash] },
    ...(acks === undefined ? {} : { acks }),
  });
  open.push(net);
  const got: string[] = [];
  net.onMessage((m) => got.push(m.id));
  return { net, got };
}

test('TLS, both sides default, sender acks on: every outcome is delivered, each message reached the application once', async () => {
  const receiver = await receiverNode();
  const { net, outcomes } = await ackedSender(receiver.net.address);
  const ids = await sendAll(net);
  await until(() => outcomes.size === N, `${N} outcomes (have ${outcomes.size})`);
  assert.deepEqual(tally(outcomes.values()), { delivered: N });
  // What `delivered` claims, the receiving application saw (and saw once, in order).
  assert.deepEqual(receiver.got, ids);
  assert.equal(net.stats().sender.counters.retransmits, 0, 'nothing was lost, so nothing was resent');
  await net.close();
  await receiver.net.close();
});

test('TLS, receiver with acks.accept false: the connection is plain, outcomes are written, every message arrives', async () => {
  const receiver = await receiverNode({ accept: false });
  const { net, outcomes } = await ackedSender(receiver.net.address);
  const ids = await sendAll(net);
  await until(() => outcomes.size === N, `${N} outcomes (have ${outcomes.size})`);
  assert.deepEqual(tally(outcomes.values()), { written: N });
  await until(() => receiver.got.length === N, `${N} received (have ${receiver.got.length})`);
  assert.deepEqual(receiver.got, ids);
  await net.close();
  await receiver.net.close();
});

test('TLS, a raw server that knows only peerpost/direct/1 (the reference): the acked sender connects and sends plain envelopes', async () => {
  const received: string[] = [];
  let alpn: string | false | null = null;
  let controlFrames = 0;
  const sockets = new Set<TLSSocket>();
  const server = createServer(
    {
      key: receiverCreds.keyPem,
      cert: receiverCreds.certPem,
      minVersion: 'TLSv1.3',
      requestCert: true,
      rejectUnauthorized: false,
      ALPNProtocols: ['peerpost/direct/1'],
    },
    (socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.once('close', () => sockets.delete(socket));
      alpn = socket.alpnProtocol;
      // The listener's acceptance signal: a zero-length frame.
      socket.write(Buffer.alloc(4));
      let buffered = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        while (buffered.length >= 4) {
          const size = buffered.readUInt32BE(0);
          if (buffered.length < 4 + size) break;
          const body = buffered.subarray(4, 4 + size);
          buffered = buffered.subarray(4 + size);
          if (size === 0) continue; // keepalive
          if (isControlFrame(body, 0, body.length)) controlFrames++;
          else received.push(decodeEnvelope(body).envelope.id);
        }
      });
    },
  );
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const { net, outcomes } = await ackedSender(`127.0.0.1:${port}`);
    const ids = await sendAll(net);
    await until(() => outcomes.size === N, `${N} outcomes (have ${outcomes.size})`);
    await until(() => received.length === N, `${N} frames at the raw server (have ${received.length})`);
    assert.equal(alpn, 'peerpost/direct/1', 'the server chose the plain protocol');
    assert.deepEqual(tally(outcomes.values()), { written: N });
    assert.deepEqual(received, ids, 'reference envelopes, in order');
    assert.equal(controlFrames, 0, 'no acknowledged-delivery control frame on a plain connection');
    await net.close();
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

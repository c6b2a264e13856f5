import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectionHub } from '../../src/hub/hub.js';
import { generateCredentials, identityOfCredentials } from '../../src/identity/credentials.js';
import { generateOwnerKey } from '../../src/identity/owner-keys.js';
import type { Topology } from '../../src/topology/types.js';
import { TlsTransport } from '../../src/transport/tls/tls-transport.js';
import { systemClock } from '../../src/util/clock.js';
import { ObservableValue } from '../../src/util/observable.js';
import { encodeEnvelope } from '../../src/wire/envelope.js';
import { ClientEnd, CollectingSink, envelope, recordingTicket } from './helpers.js';

/** Polls (real time, real sockets) until `check` holds, failing after `ms`. */
async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('over mutual TLS on 127.0.0.1: identification, reply by address, directReceiver broadcast, clean close', async () => {
  const owner = generateOwnerKey();
  const [hubCreds, aliceCreds, bobCreds] = await Promise.all([
    generateCredentials(),
    generateCredentials(),
    generateCredentials({ ownerKeys: [owner] }),
  ]);
  const aliceHash = identityOfCredentials(aliceCreds).certHash;
  const bobOwner = identityOfCredentials(bobCreds).ownerKeys[0] as string;
  const topology: Topology = new Map([
    ['alice', [{ address: '127.0.0.1:1', expectedIdentity: { certHash: aliceHash } }]],
    ['bob', [{ address: '127.0.0.1:2', expectedIdentity: { ownerKey: bobOwner } }]],
  ]);
  const hubTransport = new TlsTransport({ credentials: hubCreds });
  const sink = new CollectingSink();
  const hub = new ConnectionHub({
    transport: hubTransport,
    listenAddress: '127.0.0.1:0',
    incoming: sink,
    topology: new ObservableValue(topology),
  });
  const { address } = await hub.start();
  assert.match(address, /^127\.0\.0\.1:\d+$/);

  const aliceTransport = new TlsTransport({ credentials: aliceCreds });
  const bobTransport = new TlsTransport({ credentials: bobCreds });
  // Bob subscribes through his own hub, pinning the publisher's certificate.
  const bobSink = new CollectingSink();
  const bobHub = new ConnectionHub({
    transport: bobTransport,
    listenAddress: '127.0.0.1:0',
    incoming: bobSink,
    topology: new ObservableValue<Topology>(new Map()),
  });
  await bobHub.start();
  const subscription = bobHub.subscribeTo(address, 'subscribe-node', {
    expectedIdentity: { certHash: identityOfCredentials(hubCreds).certHash },
  });
  const alice = new ClientEnd(await aliceTransport.connect(address, 'direct'));
  const aliceSub = new ClientEnd(await aliceTransport.connect(address, 'subscribe-node'));
  await until(() => hub.stats().inbound['subscribe-node'] === 2, 'two subscribers');

  alice.connection.write(encodeEnvelope(envelope(systemClock, 'ping')));
  await until(() => sink.messages.length === 1, 'the ping');
  const ping = sink.messages[0]!;
  assert.equal(ping.from.peerId, 'alice');
  assert.equal(ping.from.address, alice.connection.localAddress);
  const pong: string[] = [];
  const ticket = recordingTicket(pong, 'pong', true);
  assert.equal(hub.sendToAddress(ping.from.address, envelope(systemClock, 'pong'), ticket), 'pending');
  await until(() => alice.frames.length === 1, 'the pong');
  await until(() => pong.length === 2, 'the pong outcome');
  assert.deepEqual(pong, [`pong:taken@${ping.from.address}`, 'pong:written']);
  assert.deepEqual(alice.ids, ['pong']);

  const forBob = envelope(systemClock, 'for-bob', { directReceiver: 'bob' });
  assert.equal(hub.broadcast(forBob), 'written');
  assert.equal(hub.broadcast(envelope(systemClock, 'for-all')), 'written');
  await until(() => bobSink.messages.length === 2 && aliceSub.frames.length === 1, 'the broadcasts');
  assert.deepEqual(
    bobSink.messages.map((m) => [m.envelope.id, m.from.direction]),
    [
      ['for-bob', 'outbound'],
      ['for-all', 'outbound'],
    ],
  );
  assert.deepEqual(aliceSub.ids, ['for-all']);

  await Promise.all([hub.close(), bobHub.close()]);
  assert.equal(subscription.state.kind, 'closed');
  await until(() => alice.closes.length === 1 && aliceSub.closes.length === 1, 'client ends closed');
  await Promise.all([hubTransport.close(), aliceTransport.close(), bobTransport.close()]);
});

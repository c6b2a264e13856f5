// One publisher and three subscribers over mutual TLS: every subscriber receives each
// broadcast once; with directSendMode 'broadcast' a message for one peer travels the
// broadcast path and only that peer's connection forwards it.
import { certificateHash, createNetwork, generateCredentials, type Network } from '../src/index.js';

const publisher = await createNetwork({ nodeId: 'publisher', credentials: await generateCredentials() });
const names = ['s1', 's2', 's3'];
const subscribers: Network[] = [];
const hashes: string[] = [];
const got = new Map<string, string[]>(names.map((n) => [n, []]));
for (const name of names) {
  const credentials = await generateCredentials();
  hashes.push(certificateHash(credentials.certPem));
  const node = await createNetwork({
    nodeId: name,
    credentials,
    topology: { publisher: [publisher.address] },
  });
  node.onMessage((m) => got.get(name)!.push(`${m.label}:${Buffer.from(m.data)}`));
  node.subscribe('publisher');
  subscribers.push(node);
}

// Wait until the publisher sees all three subscriptions.
while (publisher.stats().hub.inbound['subscribe-node'] < names.length)
  await new Promise((r) => setTimeout(r, 10));

publisher.broadcast('News', Buffer.from('hello, all'));

// Tell the publisher who s2 is (its address and pinned certificate): that is how the hub
// recognises s2's subscriber connection. Then send to s2 through the broadcast path.
publisher.updateTopology({ s2: [{ address: subscribers[1]!.address, certHash: hashes[1]! }] });
publisher.updateConfig({ directSendMode: 'broadcast' });
publisher.send('s2', 'Private', Buffer.from('only for s2'));

const deadline = Date.now() + 5000;
while (got.get('s2')!.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
await new Promise((r) => setTimeout(r, 100));
for (const [name, messages] of got) console.log(`${name}: ${messages.join(', ')}`);

await Promise.all([publisher.close(), ...subscribers.map((s) => s.close())]);

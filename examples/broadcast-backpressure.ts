// A publisher that broadcasts as fast as its subscribers take, dropping nothing: before
// each broadcast it asks broadcastWritable(), and when a subscriber's queue is full it
// waits on broadcastReady(). Without the wait, a tight loop would outrun the subscribers
// and their full queues would drop broadcasts (dropped:queue_full).
//
//   npx tsx examples/broadcast-backpressure.ts [messages]      (default 100,000)
import {
  certificateHash,
  createNetwork,
  formatOutcome,
  generateCredentials,
  type Network,
} from '../src/index.js';

const total = Number(process.argv[2] ?? 100_000);
const payload = new Uint8Array(256).fill(1);

const publisherCredentials = await generateCredentials();
const subscriberCredentials = await generateCredentials();
const publisher = await createNetwork({
  nodeId: 'publisher',
  credentials: publisherCredentials,
  trust: { certHashes: [certificateHash(subscriberCredentials.certPem)] },
});
const outcomes = new Map<string, number>();
publisher.onOutcome((o) => {
  const k = formatOutcome(o.outcome);
  outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
});

const names = ['s1', 's2', 's3'];
const received = new Map<string, number>(names.map((n) => [n, 0]));
const subscribers: Network[] = [];
for (const name of names) {
  const node = await createNetwork({
    nodeId: name,
    credentials: subscriberCredentials,
    topology: {
      publisher: [{ address: publisher.address, certHash: certificateHash(publisherCredentials.certPem) }],
    },
  });
  node.onMessage(() => received.set(name, (received.get(name) ?? 0) + 1));
  node.subscribe('publisher');
  subscribers.push(node);
}
await publisher.waitForSubscribers(names.length, { signal: AbortSignal.timeout(5_000) });

let waits = 0;
for (let i = 0; i < total; i++) {
  if (!publisher.broadcastWritable()) {
    waits++;
    await publisher.broadcastReady();
  }
  publisher.broadcast('Tick', payload);
}

const deadline = Date.now() + 60_000;
while ([...received.values()].some((n) => n < total) && Date.now() < deadline)
  await new Promise((r) => setTimeout(r, 10));
const got = names.map((n) => `${n} ${received.get(n)}`).join(', ');
console.log(`sent ${total}, received ${got}, waited for room ${waits} times`);
console.log(`outcomes: ${[...outcomes].map(([k, v]) => `${k} ${v}`).join(', ')}`);

await Promise.all([publisher.close(), ...subscribers.map((s) => s.close())]);

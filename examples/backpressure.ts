// Backpressure: one node sends a million small messages to another as fast as the link
// takes them, with zero drops. `send()` never blocks and never waits; when a peer's
// queue is full it drops (`dropped:queue_full`). So the loop asks `writable()` (cheap)
// and, only when the answer is no, waits for `ready()`.
//
//   npx tsx examples/backpressure.ts [count]
import { certificateHash, createNetwork, formatOutcome, generateCredentials } from '../src/index.js';

const count = Number(process.argv[2] ?? 1_000_000);
const [aCreds, bCreds] = await Promise.all([generateCredentials(), generateCredentials()]);
const receiver = await createNetwork({
  nodeId: 'receiver',
  credentials: bCreds,
  trust: { certHashes: [certificateHash(aCreds.certPem)] },
});
const sender = await createNetwork({
  nodeId: 'sender',
  credentials: aCreds,
  trust: { certHashes: [certificateHash(bCreds.certPem)] },
  topology: { receiver: [{ address: receiver.address, certHash: certificateHash(bCreds.certPem) }] },
});

let delivered = 0;
const allThere = new Promise<void>((resolve) => {
  receiver.onMessage(() => {
    if (++delivered === count) resolve();
  });
});
const outcomes = new Map<string, number>();
sender.onOutcome((o) => {
  const key = formatOutcome(o.outcome);
  outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
});

const payload = Buffer.alloc(64, 1);
const started = performance.now();
let waits = 0;
for (let i = 0; i < count; i++) {
  if (!sender.writable('receiver')) {
    waits++;
    await sender.ready('receiver');
  }
  sender.send('receiver', 'Load', payload);
}
await allThere;
const seconds = (performance.now() - started) / 1000;
console.log(`sent ${count}, delivered ${delivered}, waited for room ${waits} times`);
console.log(`outcomes: ${[...outcomes].map(([k, v]) => `${k} ${v}`).join(', ')}`);
console.log(`${Math.round(count / seconds)} msg/s`);

await Promise.all([sender.close(), receiver.close()]);

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { messageIdOf, type OutgoingMessage } from '../../src/sender/message.js';
import { PeerSender, type PeerSenderInit } from '../../src/sender/peer-sender.js';
import { addr, peer } from '../../src/sender/receiver.js';
import type { PeerAddress } from '../../src/topology/types.js';
import { env, Harness, type PeerNode } from './harness.js';

/** Records messages a sender was given by relocation (not by send()), for the order check. */
const adopted = new Map<string, Set<string>>();
class RecordingSender extends PeerSender {
  constructor(init: PeerSenderInit) {
    super(init);
  }
  override adopt(msgs: readonly OutgoingMessage[]): OutgoingMessage[] {
    const key = `${this.peerId}|${this.address}`;
    let set = adopted.get(key);
    if (set === undefined) {
      set = new Set();
      adopted.set(key, set);
    }
    for (const m of msgs) set.add(messageIdOf(m));
    return super.adopt(msgs);
  }
}

type Action =
  | { t: 'send'; peer: number; n: number }
  | { t: 'addr'; a: number }
  | { t: 'topology'; masks: number[] }
  | { t: 'config'; mode: 'direct' | 'broadcast' | 'both'; capacity: number; unresolved: number }
  | { t: 'reset'; node: number }
  | { t: 'crash'; node: number }
  | { t: 'tick'; ms: number };

const PEERS = 3;
const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant('send' as const),
      peer: fc.nat(PEERS),
      n: fc.integer({ min: 1, max: 6 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('addr' as const), a: fc.nat(2) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('topology' as const),
      masks: fc.array(fc.nat(31), { minLength: PEERS, maxLength: PEERS }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('config' as const),
      mode: fc.constantFrom('direct' as const, 'broadcast' as const, 'both' as const),
      capacity: fc.integer({ min: 1, max: 8 }),
      unresolved: fc.integer({ min: 1, max: 8 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('reset' as const), node: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('crash' as const), node: fc.nat(2) }) },
  {
    weight: 3,
    arbitrary: fc.record({ t: fc.constant('tick' as const), ms: fc.constantFrom(0, 1, 50, 150, 1000, 6000) }),
  },
);

async function run(actions: Action[], drain: boolean): Promise<void> {
  adopted.clear();
  const h = new Harness({ sender: { createSender: (init) => new RecordingSender(init) } });
  const nodes: PeerNode[] = [];
  for (let i = 0; i < 3; i++) nodes.push(await h.node(`n${i}`));
  const pool: PeerAddress[] = [
    ...nodes.map((n) => ({ address: n.address })),
    { address: 'dead:1' },
    { address: nodes[0]!.address.replace('n0', 'n0'), expectedIdentity: { certHash: nodes[1]!.certHash } },
  ];
  h.hub.connected.add('c:1');
  let seq = 0;
  const down = new Set<string>();
  for (const a of actions) {
    switch (a.t) {
      case 'send':
        for (let i = 0; i < a.n; i++) h.sender.send(peer(`P${a.peer}`), env(`${++seq}`));
        break;
      case 'addr':
        h.sender.send(addr(`c:${a.a + 1}`), env(`${++seq}`));
        break;
      case 'topology': {
        const map = new Map<string, PeerAddress[]>();
        a.masks.forEach((mask, p) => {
          const addrs = pool.filter((_, i) => mask & (1 << i));
          // The pinned entry shares n0's address: keep only one of the two.
          if (mask & 1 && mask & 16) addrs.pop();
          if (addrs.length > 0) map.set(`P${p}`, addrs);
        });
        h.topology.set(map);
        break;
      }
      case 'config':
        h.config.set({
          directSendMode: a.mode,
          peerQueueCapacity: a.capacity,
          unresolvedCapacity: a.unresolved,
        });
        break;
      case 'reset': {
        const conn = nodes[a.node]!.connections.at(-1);
        if (conn !== undefined) h.net.reset(conn);
        break;
      }
      case 'crash': {
        const host = `n${a.node}`;
        if (down.has(host)) {
          h.net.restart(host);
          down.delete(host);
        } else {
          h.net.crash(host);
          down.add(host);
        }
        break;
      }
      case 'tick':
        await h.clock.tick(a.ms);
        break;
    }
    h.checkInvariant();
  }
  // Per-(peer, address) order: what send() handed to an address is written there in send order.
  const lastSeq = new Map<string, number>();
  for (const o of h.outcomes) {
    if (o.outcome.kind !== 'written' || o.mode !== 'direct' || o.address === undefined) continue;
    const key = `${o.receiver}|${o.address}`;
    if (adopted.get(key)?.has(o.messageId)) continue;
    const s = Number(o.messageId);
    assert.ok(s > (lastSeq.get(key) ?? 0), `order at ${key}: ${o.messageId} after ${lastSeq.get(key)}`);
    lastSeq.set(key, s);
  }
  for (const host of down) h.net.restart(host);
  await h.close(drain ? 2000 : 0);
  // Exactly one outcome per target, and nothing left in flight.
  const c = h.sender.stats().counters;
  assert.equal(c.inFlight, 0);
  assert.equal(h.outcomes.length, c.accepted);
}

test('model: random sends, topology/config changes, faults and time keep every invariant', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 40 }), fc.boolean(), (actions, drain) =>
      run(actions, drain),
    ),
    { numRuns: Number(process.env.PROP_RUNS ?? 200), seed: Number(process.env.PROP_SEED ?? 20261125) },
  );
});

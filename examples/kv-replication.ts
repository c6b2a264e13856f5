// Key-value replication with acknowledged delivery (docs/acks.md): a leader sends every
// put to two replicas with `acks: { enabled: true }`. Each put's outcome says whether
// the replica's application really got it (`delivered`) or whether that cannot be known
// (`dropped:unacknowledged`, with a detail). Replica r2 crashes mid-stream (its network
// is closed abruptly, bytes in flight and all) and restarts on the same address with a
// fresh node: the leader learns from the outcomes exactly which puts r2 may have missed,
// sends exactly those again, and in the end both replicas hold the leader's state.
//
// A replica's store survives its crash (as a file would); its node's memory of the
// stream does not, so the leader cannot know which of the puts in flight at the crash
// got through. Puts carry a version per key, and a replica keeps the newest, so a put
// sent again is harmless even if it did arrive.
//
//   npx tsx examples/kv-replication.ts
import {
  type Credentials,
  certificateHash,
  createNetwork,
  formatOutcome,
  generateCredentials,
  type Network,
  type Outcome,
} from '../src/index.js';

const PUTS = 300;
const KEYS = 100;
const BATCH = 25;
/** r2 crashes right after the leader sent it this many puts (two batches in flight). */
const CRASH_AFTER = 150;

interface Put {
  readonly n: number;
  readonly key: string;
  readonly value: string;
  readonly version: number;
}
type Store = Map<string, { value: string; version: number }>;

const [leaderCreds, r1Creds, r2Creds] = await Promise.all([
  generateCredentials(),
  generateCredentials(),
  generateCredentials(),
]);
const leaderHash = certificateHash(leaderCreds.certPem);

/** A replica node: applies each put to `store` (newest version per key wins). */
async function replica(
  name: string,
  creds: Credentials,
  store: Store,
  listen = '127.0.0.1:0',
): Promise<{ net: Network; crash: () => Promise<void> }> {
  const crash = new AbortController();
  const net = await createNetwork({
    nodeId: name,
    listen,
    credentials: creds,
    trust: { certHashes: [leaderHash] },
    signal: crash.signal,
  });
  net.onMessage((msg) => {
    const put = JSON.parse(Buffer.from(msg.data).toString()) as Put;
    const have = store.get(put.key);
    if (have === undefined || have.version < put.version)
      store.set(put.key, { value: put.value, version: put.version });
  });
  // Abrupt: no drain, the connections go with whatever they carried.
  return {
    net,
    crash: () => {
      crash.abort();
      return net.close(); // the close the abort started
    },
  };
}

const stores: Record<string, Store> = { r1: new Map(), r2: new Map() };
const r1 = await replica('r1', r1Creds, stores.r1!);
let r2 = await replica('r2', r2Creds, stores.r2!);
const r2Address = r2.net.address;

const leader = await createNetwork({
  nodeId: 'leader',
  credentials: leaderCreds,
  trust: { certHashes: [certificateHash(r1Creds.certPem), certificateHash(r2Creds.certPem)] },
  topology: {
    r1: [{ address: r1.net.address, certHash: certificateHash(r1Creds.certPem) }],
    r2: [{ address: r2Address, certHash: certificateHash(r2Creds.certPem) }],
  },
  acks: { enabled: true },
});

const state: Store = new Map();
/** Puts waiting for their outcome, by message id. */
const pending = new Map<string, { replica: string; put: Put }>();
const delivered: Record<string, number> = { r1: 0, r2: 0 };
/** Puts a replica may not have, with why (from the outcome). */
const missed: Record<string, { put: Put; why: string }[]> = { r1: [], r2: [] };
let settled: (() => void) | undefined;

const describe = (o: Outcome): string =>
  o.kind === 'dropped' && o.detail !== undefined ? `${formatOutcome(o)} (${o.detail})` : formatOutcome(o);

leader.onOutcome((e) => {
  const p = pending.get(e.messageId);
  if (p === undefined) return;
  pending.delete(e.messageId);
  if (e.outcome.kind === 'delivered') delivered[p.replica]!++;
  else missed[p.replica]!.push({ put: p.put, why: describe(e.outcome) });
  if (pending.size === 0) settled?.();
});

const allSettled = (): Promise<void> =>
  pending.size === 0 ? Promise.resolve() : new Promise((resolve) => (settled = resolve));

/** Sends `put` to one replica, waiting for room in its queue first (never a queue_full drop). */
async function replicate(replicaName: string, put: Put): Promise<void> {
  if (!leader.writable(replicaName)) await leader.ready(replicaName);
  // The id is known before the send: an outcome can come during send() itself.
  const id = leader.newMessageId();
  pending.set(id, { replica: replicaName, put });
  leader.send(replicaName, 'Put', Buffer.from(JSON.stringify(put)), { id });
}

let version = 0;
for (let n = 1; n <= PUTS; n++) {
  const put: Put = { n, key: `k${n % KEYS}`, value: `v${n}`, version: ++version };
  state.set(put.key, { value: put.value, version: put.version });
  await replicate('r1', put);
  await replicate('r2', put);
  if (n % BATCH !== 0) continue;
  if (n === CRASH_AFTER) {
    // The last puts are written to r2's connection, not yet read: r2 crashes now.
    await r2.crash();
    console.log(`r2 crashed after put ${n}; restarting it on ${r2Address}`);
    r2 = await replica('r2', r2Creds, stores.r2!, r2Address);
    leader.reconnect('r2'); // it is back: no need to wait for the backoff delay
  }
  await new Promise((resolve) => setTimeout(resolve, 5));
}
await allSettled();

const ranges = (ns: number[]): string => {
  const out: string[] = [];
  for (let i = 0; i < ns.length; i++) {
    let j = i;
    while (j + 1 < ns.length && ns[j + 1] === ns[j]! + 1) j++;
    out.push(i === j ? `${ns[i]}` : `${ns[i]}-${ns[j]}`);
    i = j;
  }
  return out.join(', ');
};

console.log(`leader sent ${PUTS} puts over ${KEYS} keys to r1 and r2 (acknowledged delivery)`);
for (const name of ['r1', 'r2']) {
  const m = missed[name]!;
  const whys = [...new Set(m.map((x) => x.why))].join(', ');
  console.log(
    `${name}: ${delivered[name]} delivered, ${m.length} not acknowledged${m.length > 0 ? ` [${whys}]: puts ${ranges(m.map((x) => x.put.n))}` : ''}`,
  );
}

// Exactly the puts a replica may have missed go again (the replica keeps the newest version).
for (const name of ['r1', 'r2']) {
  const again = missed[name]!.splice(0);
  if (again.length === 0) continue;
  const before = delivered[name]!;
  for (const { put } of again) await replicate(name, put);
  await allSettled();
  console.log(
    `re-sent ${again.length} puts to ${name}: ${delivered[name]! - before} delivered, ${missed[name]!.length} not acknowledged`,
  );
}

const same = (store: Store): boolean =>
  store.size === state.size && [...state].every(([k, v]) => store.get(k)?.value === v.value);
for (const name of ['r1', 'r2'])
  console.log(
    `${name} matches the leader: ${same(stores[name]!) ? 'yes' : 'NO'} (${stores[name]!.size} keys)`,
  );

await Promise.all([leader.close(), r1.net.close(), r2.net.close()]);

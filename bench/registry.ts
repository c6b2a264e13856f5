/**
 * Membership on etcd (issue 19), measured against a real one-member etcd (Debian's
 * etcd-server, started on free loopback ports by the test helper):
 *
 * 1. Registration -> in use: from the start of a node's registration to its entry in
 *    another node's table, and to the delivery of a message the other node had queued
 *    for it (unresolved) before it registered. 50 trials.
 * 2. Removal after a clean close (the lease is revoked): from `close()` to the entry
 *    leaving the other node's table. Same 50 trials.
 * 3. Removal after a crash: a node in a child process SIGKILLed; from the kill to the
 *    entry leaving the other node's table, bounded by the lease TTL (2 s here). 10 trials.
 * 4. 1,000 registered peers on one node: heap after the first listing (GC'd, against the
 *    same registry on an empty prefix) and CPU time of the initial list + table build.
 * 5. Churn of 10 registrations/s (and 10 removals/s) for 30 s, written by another process,
 *    at that 1,000-peer node: its CPU% (user + system over wall time), against 10 s idle.
 *
 * `npm run bench:registry` (node --expose-gc); writes bench/results/registry-<date>.json.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { certificateHash, generateCredentials } from '../src/identity/credentials.js';
import { createNetwork, type Network } from '../src/network/network.js';
import type { TopologyInput } from '../src/network/options.js';
import { type EtcdRegistry, type RegistryNetwork, startEtcdRegistry } from '../src/registry/etcd.js';
import { startEtcd } from '../test/registry/etcd-server.js';
import { machine, median, percentile } from './lib.js';

const TRIALS = Number(process.env['TRIALS'] ?? 50);
const CRASH_TRIALS = Number(process.env['CRASH_TRIALS'] ?? 10);
const CRASH_TTL_SECONDS = 2;
const PEERS = 1000;
const CHURN_RATE = 10;
const CHURN_SECONDS = Number(process.env['CHURN_SECONDS'] ?? 30);
const IDLE_SECONDS = 10;

const gc = (globalThis as { gc?: () => void }).gc;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
const stats = (xs: number[]) => ({
  n: xs.length,
  min: round(Math.min(...xs)),
  p50: round(median(xs)),
  p90: round(percentile(xs, 90)),
  p99: round(percentile(xs, 99)),
  max: round(Math.max(...xs)),
});

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc?.();
  return process.memoryUsage().heapUsed;
}

/** A network whose table changes can be waited for (`when(predicate)`). */
class Watched implements RegistryNetwork {
  readonly #waiters: { check: () => boolean; resolve: (t: number) => void }[] = [];
  updates = 0;
  constructor(readonly network: Network) {}
  get nodeId() {
    return this.network.nodeId;
  }
  get address() {
    return this.network.address;
  }
  updateTopology(topology: TopologyInput): void {
    this.network.updateTopology(topology);
    this.updates++;
    const now = performance.now();
    for (const w of [...this.#waiters]) {
      if (w.check()) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(now);
      }
    }
  }
  /** Resolves with the time of the first table change after which `check()` holds. */
  when(check: () => boolean, timeoutMs = 30_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for a table change')), timeoutMs);
      this.#waiters.push({
        check,
        resolve: (t) => {
          clearTimeout(timer);
          resolve(t);
        },
      });
    });
  }
}

const started = Date.now();
const etcd = await startEtcd();
const admin = new Etcd3({ hosts: [etcd.endpoint] });
const results: Record<string, unknown> = {};
try {
  const [obsCredentials, xCredentials] = await Promise.all([
    generateCredentials({ commonName: 'obs' }),
    generateCredentials({ commonName: 'x' }),
  ]);
  const xHash = certificateHash(xCredentials.certPem);

  // ---- 1 and 2: registration -> in use, removal after a clean close ----
  const prefix = '/bench/latency/';
  const obsNetwork = await createNetwork({
    nodeId: 'obs',
    credentials: obsCredentials,
    listen: '127.0.0.1:0',
    knownLabels: ['probe'],
  });
  const obs = new Watched(obsNetwork);
  const obsRegistry = await startEtcdRegistry({ network: obs, endpoints: [etcd.endpoint], prefix });
  const toTable: number[] = [];
  const toDelivery: number[] = [];
  const removedAfterClose: number[] = [];
  for (let i = 0; i < TRIALS; i++) {
    const id = `x${i}`;
    const x = await createNetwork({
      nodeId: id,
      credentials: xCredentials,
      listen: '127.0.0.1:0',
      knownLabels: ['probe'],
    });
    const delivered = new Promise<number>((resolve) =>
      x.onMessage((m) => {
        if (m.label === 'probe') resolve(performance.now());
      }),
    );
    obsNetwork.send(id, 'probe', new Uint8Array(16)); // unknown yet: waits unresolved
    const inTable = obs.when(() => obsNetwork.topology.has(id));
    const t0 = performance.now();
    const registry = await startEtcdRegistry({
      network: x,
      endpoints: [etcd.endpoint],
      prefix,
      leaseTtlSeconds: 10,
      identity: { certHash: xHash },
    });
    toTable.push((await inTable) - t0);
    toDelivery.push((await delivered) - t0);
    const gone = obs.when(() => !obsNetwork.topology.has(id));
    const t1 = performance.now();
    await registry.close();
    removedAfterClose.push((await gone) - t1);
    await x.close({ drainTimeoutMs: 0 });
  }
  results['registrationToTableMs'] = stats(toTable);
  results['registrationToDeliveryMs'] = stats(toDelivery);
  results['removalAfterCloseMs'] = stats(removedAfterClose);
  console.log('registration -> in table (ms)', results['registrationToTableMs']);
  console.log('registration -> queued message delivered (ms)', results['registrationToDeliveryMs']);
  console.log('removal after close (ms)', results['removalAfterCloseMs']);

  // ---- 3: removal after a crash (SIGKILL), bounded by the lease TTL ----
  const child = fileURLToPath(new URL('../test/registry/registered-node.ts', import.meta.url));
  const removedAfterCrash: number[] = [];
  for (let i = 0; i < CRASH_TRIALS; i++) {
    const id = `crash${i}`;
    const inTable = obs.when(() => obsNetwork.topology.has(id), 60_000);
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', child, etcd.endpoint, prefix, id, String(CRASH_TTL_SECONDS)],
      {
        stdio: ['ignore', 'ignore', process.env['BENCH_DEBUG'] ? 'inherit' : 'ignore'],
      },
    );
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    try {
      await inTable;
      // The lease has been renewed at least once, as in a node that ran for a while.
      await sleep(CRASH_TTL_SECONDS * 1000);
      const gone = obs.when(() => !obsNetwork.topology.has(id));
      const t0 = performance.now();
      proc.kill('SIGKILL');
      await exited;
      removedAfterCrash.push((await gone) - t0);
    } finally {
      proc.kill('SIGKILL');
    }
  }
  results['removalAfterCrashMs'] = { ...stats(removedAfterCrash), leaseTtlSeconds: CRASH_TTL_SECONDS };
  console.log('removal after SIGKILL (ms)', results['removalAfterCrashMs']);
  await obsRegistry.close();
  await obsNetwork.close({ drainTimeoutMs: 0 });

  // ---- 4: 1,000 registered peers on one node ----
  const bigPrefix = '/bench/big/';
  for (let i = 0; i < PEERS; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, PEERS - i) }, (_, j) =>
        admin.put(`${bigPrefix}peer-${String(i + j).padStart(4, '0')}`).value(
          JSON.stringify({
            v: 1,
            addresses: [{ address: `10.0.${(i + j) >> 8}.${(i + j) & 255}:7000`, certHash: xHash }],
          }),
        ),
      ),
    );
  }
  const big = new Watched(
    await createNetwork({ nodeId: 'big', credentials: obsCredentials, listen: '127.0.0.1:0' }),
  );
  const measureStart = async (p: string, expected: number) => {
    await sleep(300); // sockets and timers of what ran before are gone
    const heap0 = heapAfterGc();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const registry = await startEtcdRegistry({ network: big, endpoints: [etcd.endpoint], prefix: p });
    if (big.network.topology.size < expected) await big.when(() => big.network.topology.size >= expected);
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const heap = heapAfterGc() - heap0;
    return { registry, wallMs, cpuMs: (cpu.user + cpu.system) / 1000, heapBytes: heap };
  };
  // The first run warms up (code compiled, client loaded); the second is the one reported.
  await (await measureStart('/bench/empty/', 1)).registry.close();
  const empty = await measureStart('/bench/empty/', 1);
  await empty.registry.close();
  const full = await measureStart(bigPrefix, PEERS + 1);
  const heapDelta = full.heapBytes - empty.heapBytes;
  results['peers1000'] = {
    entries: big.network.topology.size,
    initialListWallMs: round(full.wallMs),
    initialListCpuMs: round(full.cpuMs),
    emptyPrefixWallMs: round(empty.wallMs),
    emptyPrefixCpuMs: round(empty.cpuMs),
    heapWith1000Bytes: full.heapBytes,
    heapEmptyBytes: empty.heapBytes,
    heapPer1000PeersBytes: heapDelta,
    heapPerPeerBytes: Math.round(heapDelta / PEERS),
    gc: gc !== undefined,
  };
  console.log('1,000 peers', results['peers1000']);

  // ---- 5: churn at the 1,000-peer node ----
  const registry: EtcdRegistry = full.registry;
  const cpuWindow = async (seconds: number, during?: Promise<unknown>) => {
    const cpu0 = process.cpuUsage();
    const updates0 = big.updates;
    const t0 = performance.now();
    if (during === undefined) await sleep(seconds * 1000);
    else await during;
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return {
      seconds: round(wall / 1000),
      cpuPercent: round(((cpu.user + cpu.system) / 1000 / wall) * 100, 2),
      tableUpdates: big.updates - updates0,
    };
  };
  const idle = await cpuWindow(IDLE_SECONDS);
  const churner = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      fileURLToPath(new URL('./registry-churn.ts', import.meta.url)),
      etcd.endpoint,
      bigPrefix,
      String(CHURN_RATE),
      String(CHURN_SECONDS),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let churnOut = '';
  churner.stdout.on('data', (c: Buffer) => {
    churnOut += c.toString();
  });
  // The child's own start-up (tsx, etcd client) is not in the window: wait for its first write.
  await big.when(() => [...big.network.topology.keys()].some((k) => k.startsWith('churn-')), 60_000);
  const churnExit = new Promise<void>((resolve) => churner.once('exit', () => resolve()));
  const churn = await cpuWindow(CHURN_SECONDS, churnExit);
  await sleep(500);
  const registrations = Number(/done (\d+)/.exec(churnOut)?.[1] ?? 0);
  const listed = await admin.getAll().prefix(bigPrefix).keys();
  results['churn'] = {
    rate: CHURN_RATE,
    registrations,
    idle,
    churn,
    tableMatchesEtcd:
      listed.length === registry.entries().size &&
      listed.every((k) => registry.entries().has(k.slice(bigPrefix.length))),
    entriesAfter: registry.entries().size,
  };
  console.log('churn', results['churn']);
  await registry.close();
  await big.network.close({ drainTimeoutMs: 0 });
} finally {
  admin.close();
  await etcd.remove();
}

const file = `bench/results/registry-${new Date().toISOString().slice(0, 10)}.json`;
mkdirSync('bench/results', { recursive: true });
writeFileSync(
  file,
  `${JSON.stringify({ date: new Date().toISOString(), machine: machine(), durationMs: Date.now() - started, ...results }, null, 2)}\n`,
);
console.log(`wrote ${file}`);

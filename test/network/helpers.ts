import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { type Credentials, certificateHash, generateCredentials } from '../../src/identity/credentials.js';
import type { PrometheusMetrics } from '../../src/metrics/prometheus.js';
import type { Labels, MetricName, Metrics } from '../../src/metrics/types.js';
import { createNetwork, type Network, type NetworkMessage } from '../../src/network/network.js';
import type { NetworkOptions } from '../../src/network/options.js';
import { DirectSender } from '../../src/sender/direct-sender.js';
import { formatOutcome, type OutcomeEvent } from '../../src/sender/outcome.js';
import type { SenderStats } from '../../src/sender/stats.js';
import { MemoryNetwork } from '../../src/transport/memory/network.js';
import { FakeClock } from '../../src/util/fake-clock.js';
import { RecordingLogger } from '../transport/tls-helpers.js';

export interface TestNode {
  id: string;
  credentials: Credentials;
  certHash: string;
  network: Network;
  received: NetworkMessage[];
  outcomes: OutcomeEvent[];
}

export async function makeCredentials(n: number): Promise<Credentials[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => generateCredentials({ commonName: `node-${i}` })));
}

/** Starts a node on 127.0.0.1:0 over real mutual TLS, recording what it receives and every outcome. */
export async function startNode(
  id: string,
  credentials: Credentials,
  options: Partial<NetworkOptions> = {},
): Promise<TestNode> {
  const network = await createNetwork({ nodeId: id, credentials, listen: '127.0.0.1:0', ...options });
  const node: TestNode = {
    id,
    credentials,
    certHash: certificateHash(credentials.certPem),
    network,
    received: [],
    outcomes: [],
  };
  network.onMessage((m) => node.received.push(m));
  network.onOutcome((o) => node.outcomes.push(o));
  return node;
}

/** Polls `check` every 10 ms until it is true, failing after `timeoutMs` with `what`. */
/**
 * Networks `ids` on one in-memory network with a fake clock, each listening at `<id>:0`,
 * with small socket buffers (4 KiB) and high-water mark (2 KiB) so that most of a burst
 * waits in the peer queue, and room for 100,000 queued messages. `close()` closes them all.
 */
export async function memoryNodes(ids: readonly string[]) {
  const clock = new FakeClock();
  const memory = new MemoryNetwork({ clock, socketBufferBytes: 4 * 1024 });
  const nets = new Map<string, Network>();
  for (const id of ids) {
    nets.set(
      id,
      await createNetwork({
        nodeId: id,
        transport: memory.transport({ host: id, limits: { highWaterMarkBytes: 2 * 1024 } }),
        listen: `${id}:0`,
        clock,
        limits: { peerQueueCapacity: 100_000 },
      }),
    );
  }
  const close = async () => {
    const closing = Promise.all([...nets.values()].map((n) => n.close()));
    await clock.tick(10_000);
    await closing;
    await memory.close();
  };
  return { clock, nets, memory, close };
}

/** A payload from text. */
export const enc = (s: string): Buffer => Buffer.from(s);

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function topologyOf(nodes: readonly TestNode[], pin = true) {
  return Object.fromEntries(
    nodes.map((n) => [
      n.id,
      [pin ? { address: n.network.address, certHash: n.certHash } : n.network.address],
    ]),
  );
}

/** A Metrics that counts `inc` calls per name and label set (`name{k=v,...}`). */
export class CountingMetrics implements Metrics {
  readonly counts = new Map<string, number>();

  inc(name: MetricName, labels: Labels = {}, value = 1): void {
    const key = metricKey(name, labels);
    this.counts.set(key, (this.counts.get(key) ?? 0) + value);
  }

  set(): void {}

  observe(): void {}

  /** The count of `name` with exactly `labels`. */
  get(name: MetricName, labels: Labels = {}): number {
    return this.counts.get(metricKey(name, labels)) ?? 0;
  }
}

function metricKey(name: string, labels: Labels): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`);
  return `${name}{${parts.join(',')}}`;
}

/** Checks `accepted = written + dropped + skipped + inFlight` on the node's sender counters. */
export function assertBalanced(node: TestNode, inFlight?: number): void {
  const c = node.network.stats().sender.counters;
  assert.equal(
    c.accepted,
    c.written + c.dropped + c.skipped + c.inFlight,
    `${node.id}: accepted ${c.accepted} != written ${c.written} + dropped ${c.dropped} + skipped ${c.skipped} + in flight ${c.inFlight}`,
  );
  assert.equal(c.inFlight, c.held, `${node.id}: in flight ${c.inFlight} != held ${c.held}`);
  if (inFlight !== undefined) assert.equal(c.inFlight, inFlight, `${node.id}: in flight`);
}

/** The final outcomes of `ids` (one per id: the test sends each to one address), as `written` / `dropped:reason`. */
export function outcomesOf(node: TestNode, ids: readonly string[]): Map<string, string> {
  const wanted = new Set(ids);
  const out = new Map<string, string>();
  for (const o of node.outcomes) {
    if (!wanted.has(o.messageId)) continue;
    assert.equal(out.has(o.messageId), false, `${node.id}: two outcomes for ${o.messageId}`);
    out.set(o.messageId, formatOutcome(o.outcome));
  }
  return out;
}

/**
 * The outcomes of `ids` per target address, as `written` / `dropped:reason`: for a
 * broadcast, one per subscriber connection (by its remote address). Fails on two outcomes
 * for one (message, address).
 */
export function outcomesByAddress(node: TestNode, ids: readonly string[]): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>(ids.map((id) => [id, new Map()]));
  for (const o of node.outcomes) {
    const mine = out.get(o.messageId);
    if (mine === undefined) continue;
    const at = o.address ?? '';
    assert.equal(mine.has(at), false, `${node.id}: two outcomes for ${o.messageId} at ${at}`);
    mine.set(at, formatOutcome(o.outcome));
  }
  return out;
}

/**
 * Closes every network given (closing twice is fine); for `after` hooks. Then checks that
 * each balances with nothing in flight.
 */
export async function closeAll(nodes: readonly (TestNode | undefined)[]): Promise<void> {
  await Promise.all(nodes.map((n) => n?.network.close()));
  for (const n of nodes) if (n !== undefined) assertBalanced(n, 0);
}

/** A {@link TestNode} whose log lines and metric increments are recorded. */
export interface WatchedNode extends TestNode {
  log: RecordingLogger;
  metrics: CountingMetrics;
}

/** {@link startNode} with a {@link RecordingLogger} and {@link CountingMetrics}; pushes the node onto `nodes` (for cleanup). */
export async function startWatchedNode(
  nodes: (TestNode | undefined)[],
  id: string,
  credentials: Credentials,
  options: Partial<NetworkOptions> = {},
): Promise<WatchedNode> {
  const log = new RecordingLogger();
  const metrics = new CountingMetrics();
  const node = await startNode(id, credentials, { ...options, logger: log, metrics });
  nodes.push(node);
  return Object.assign(node, { log, metrics });
}

/** The (only) peer sender of `node` to peer `peerId`, if it has one. */
export function senderTo(node: TestNode, peerId: string): SenderStats | undefined {
  const senders = node.network.stats().sender.senders.filter((s) => s.peerId === peerId);
  assert.ok(senders.length <= 1, `${node.id}: ${senders.length} senders to ${peerId}`);
  return senders[0];
}

/**
 * Counts a fast lane's takes and refusals for the test's duration: `send()`'s
 * (`sendPlain`, by default) or the reply lane (`replyPlain`).
 */
export function spyOnLane(
  t: TestContext,
  lane: 'sendPlain' | 'replyPlain' = 'sendPlain',
): { taken: number; refused: number } {
  const counts = { taken: 0, refused: 0 };
  const proto = DirectSender.prototype as unknown as Record<string, (...args: unknown[]) => boolean>;
  const original = proto[lane] as (...args: unknown[]) => boolean;
  proto[lane] = function (this: DirectSender, ...args: unknown[]) {
    const taken = original.apply(this, args);
    if (taken) counts.taken++;
    else counts.refused++;
    return taken;
  };
  t.after(() => {
    proto[lane] = original;
  });
  return counts;
}

/** Sum of a metric's samples whose labels include `where`, from the registry's exposition. */
export async function sumOf(
  metrics: PrometheusMetrics,
  name: string,
  where: Record<string, string>,
): Promise<number> {
  let sum = 0;
  for (const line of (await metrics.metricsText()).split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const labels = m[2] ?? '';
    if (Object.entries(where).every(([k, v]) => labels.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

/** An outcome as the lane tests compare them: the message, its label, receiver and address, the kind. */
export interface OutcomeRow {
  id: string;
  label: string;
  receiver: string;
  address: string | undefined;
  kind: string;
}

/** Records every outcome `network` reports, as {@link OutcomeRow}s. */
export function outcomeRows(network: Network): OutcomeRow[] {
  const rows: OutcomeRow[] = [];
  network.onOutcome((o) =>
    rows.push({
      id: o.messageId,
      label: o.label,
      receiver: o.receiver,
      address: o.address,
      kind: o.outcome.kind,
    }),
  );
  return rows;
}

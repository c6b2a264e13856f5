import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Credentials,
  certificateHash,
  generateCredentials,
  loadCredentials,
  saveCredentials,
} from '../identity/credentials.js';
import { createNetwork, type Network, type NetworkMessage } from '../network/network.js';
import type { TopologyInput } from '../network/options.js';
import type { OutcomeEvent } from '../sender/outcome.js';
import type { Clock } from '../util/clock.js';
import { seededRandom } from '../util/random.js';
import { mixSeed } from './plan.js';

/** One running instance of a node (a restart or a move starts a new one). */
export interface NodeInstance {
  readonly network: Network;
  readonly incarnation: number;
  /** Messages this instance delivered to its application. */
  delivered: number;
}

export interface DemoNode {
  readonly id: string;
  readonly index: number;
  /** Where its key.pem and cert.pem are. */
  readonly dir: string;
  readonly certHash: string;
  /** The current instance; undefined while the node is stopped. */
  current: NodeInstance | undefined;
  /** This node's subscriptions, by the node id subscribed to. */
  readonly subscriptions: Map<string, { close(): Promise<void> }>;
  /** The address it is listed at in the topology. */
  address: string;
}

export interface ClusterHooks {
  onMessage(node: DemoNode, instance: NodeInstance, message: NetworkMessage): void;
  onOutcome(event: OutcomeEvent): void;
}

/** Counters of instances that were closed: their networks are gone but their numbers count. */
export interface RetiredCounts {
  deduplicated: number;
  inFlight: number;
  subscriberDrops: number;
}

/** Drain allowed when a node is stopped. */
const DRAIN_MS = 2000;

/**
 * A local cluster over mutual TLS on 127.0.0.1: fresh credentials saved in a temporary
 * directory, trust pinned to the cluster's certificate hashes, and a topology pinning each
 * peer's identity. Nodes can be moved to a new port and restarted on the same port.
 */
export class Cluster {
  readonly nodes: DemoNode[] = [];
  readonly retired: RetiredCounts = { deduplicated: 0, inFlight: 0, subscriberDrops: 0 };
  readonly #hashes: string[] = [];
  readonly #closing = new Set<Promise<void>>();
  /** Every instance not closed yet, current or not. */
  readonly #live = new Set<NodeInstance>();

  private constructor(
    readonly tempDir: string,
    readonly seed: number,
    readonly clock: Clock,
    readonly hooks: ClusterHooks,
  ) {}

  /** Creates the temporary directory, credentials and nodes; everything is removed by {@link close}. */
  static async start(size: number, seed: number, clock: Clock, hooks: ClusterHooks): Promise<Cluster> {
    const dir = await mkdtemp(join(tmpdir(), 'peerpost-demo-'));
    const cluster = new Cluster(dir, seed, clock, hooks);
    try {
      await cluster.#boot(size);
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  async #boot(size: number): Promise<void> {
    const all = await Promise.all(
      Array.from({ length: size }, (_, i) => generateCredentials({ commonName: `node-${i + 1}` })),
    );
    for (const [i, credentials] of all.entries()) {
      const id = `node-${i + 1}`;
      const dir = join(this.tempDir, id);
      await saveCredentials(dir, credentials);
      const certHash = certificateHash(credentials.certPem);
      this.#hashes.push(certHash);
      this.nodes.push({
        id,
        index: i,
        dir,
        certHash,
        current: undefined,
        subscriptions: new Map(),
        address: '',
      });
    }
    await Promise.all(this.nodes.map((n) => this.#startInstance(n, '127.0.0.1:0', 0)));
    this.applyTopology();
    for (const n of this.nodes) this.subscribeToOthers(n);
  }

  /** The peer table every node uses: each peer at its address, pinned to its certificate hash. */
  topology(): TopologyInput {
    return Object.fromEntries(this.nodes.map((n) => [n.id, [{ address: n.address, certHash: n.certHash }]]));
  }

  applyTopology(): void {
    const topology = this.topology();
    for (const n of this.nodes) n.current?.network.updateTopology(topology);
  }

  /** `node` subscribes to the broadcasts of every other node. */
  subscribeToOthers(node: DemoNode): void {
    for (const other of this.nodes) {
      if (other !== node) this.#subscribe(node, other);
    }
  }

  #subscribe(node: DemoNode, to: DemoNode): void {
    const network = node.current?.network;
    if (network === undefined) return;
    node.subscriptions.set(to.id, network.subscribe(to.id));
  }

  /** Every node has an identified subscriber connection from every other running node. */
  fullySubscribed(): boolean {
    for (const n of this.nodes) {
      const network = n.current?.network;
      if (network === undefined) continue;
      const peers = new Set<string>();
      for (const c of network.stats().hub.connections) {
        if (c.kind === 'subscribe-node' && !c.closing && c.peerId !== undefined) peers.add(c.peerId);
      }
      for (const other of this.nodes) if (other !== n && other.current && !peers.has(other.id)) return false;
    }
    return true;
  }

  /**
   * Starts a new instance of `node` on a fresh port, lists it there in every topology and
   * moves the subscriptions; the old instance keeps running (it is returned) until the
   * caller has let its traffic settle and closes it with {@link retire}.
   */
  async move(node: DemoNode): Promise<{ old: NodeInstance; from: string; to: string }> {
    const old = node.current!;
    const from = node.address;
    const oldSubscriptions = [...node.subscriptions.values()];
    node.subscriptions.clear();
    await this.#startInstance(node, '127.0.0.1:0', old.incarnation + 1);
    this.applyTopology();
    for (const other of this.nodes) {
      if (other === node) continue;
      const sub = other.subscriptions.get(node.id);
      if (sub !== undefined) this.#track(sub.close());
      this.#subscribe(other, node);
    }
    for (const sub of oldSubscriptions) this.#track(sub.close());
    this.subscribeToOthers(node);
    return { old, from, to: node.address };
  }

  /** Closes an instance that is no longer current, counting its numbers. */
  async retire(instance: NodeInstance): Promise<void> {
    if (!this.#live.delete(instance)) return;
    await instance.network.close({ drainTimeoutMs: DRAIN_MS });
    this.#count(instance);
  }

  /** Stops `node` gracefully (its queued messages flush for up to 2 s). */
  async stop(node: DemoNode): Promise<void> {
    const instance = node.current;
    if (instance === undefined) return;
    node.current = undefined;
    node.subscriptions.clear();
    await this.retire(instance);
  }

  /** Starts `node` again on the port it had, with the same credentials read back from disk. */
  async restart(node: DemoNode, incarnation: number): Promise<void> {
    await this.#startInstance(node, node.address, incarnation);
    this.subscribeToOthers(node);
  }

  async #startInstance(node: DemoNode, listen: string, incarnation: number): Promise<void> {
    const credentials: Credentials = await loadCredentials(node.dir);
    const network = await createNetwork({
      nodeId: node.id,
      credentials,
      listen,
      trust: { certHashes: this.#hashes },
      topology: node.address === '' ? {} : this.topology(),
      clock: this.clock,
      random: seededRandom(mixSeed(this.seed, node.index, incarnation, 0x5eed)),
    });
    const instance: NodeInstance = { network, incarnation, delivered: 0 };
    this.#live.add(instance);
    network.onMessage((m) => this.hooks.onMessage(node, instance, m));
    network.onOutcome((e) => this.hooks.onOutcome(e));
    node.current = instance;
    node.address = network.address;
  }

  #count(instance: NodeInstance): void {
    const s = instance.network.stats();
    this.retired.deduplicated += s.incoming.deduplicated;
    this.retired.inFlight += s.sender.counters.inFlight;
    this.retired.subscriberDrops += s.hub.subscriberDrops;
  }

  #track(p: Promise<void>): void {
    // A subscription ends when its network closes even if its own close failed.
    const tracked = p.catch(() => undefined).finally(() => this.#closing.delete(tracked));
    this.#closing.add(tracked);
  }

  /** Duplicates dropped so far by every instance, running or closed. */
  deduplicated(): number {
    let n = this.retired.deduplicated;
    for (const instance of this.#live) n += instance.network.stats().incoming.deduplicated;
    return n;
  }

  /** Targets the running instances' senders still hold. */
  inFlight(): number {
    let n = 0;
    for (const instance of this.#live) n += instance.network.stats().sender.counters.inFlight;
    return n;
  }

  /** Closes every network (draining briefly) and removes the temporary directory. Idempotent. */
  async close(): Promise<void> {
    for (const n of this.nodes) {
      n.current = undefined;
      n.subscriptions.clear();
    }
    await Promise.all([...this.#live].map((i) => this.retire(i)));
    await Promise.all([...this.#closing]);
    await rm(this.tempDir, { recursive: true, force: true });
  }
}

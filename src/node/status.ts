import type { InboundConnectionStats } from '../hub/stats.js';
import type { SubscriptionStats } from '../hub/subscription.js';
import type { NetworkStats } from '../network/network.js';
import type { EtcdRegistryStats } from '../registry/etcd.js';
import type { SendMode } from '../sender/outcome.js';
import type { Topology } from '../topology/types.js';
import type { DropSummary } from './drops.js';

/** One address of a peer: what the topology pins there and the state of its sender. */
export interface PeerAddressStatus {
  readonly address: string;
  /** `cert:<8 hex>` or `owner:<8 hex>` when the topology pins an identity there. */
  readonly pinned: string | undefined;
  /** In the current topology (false: a sender still draining after the address went away). */
  readonly inTopology: boolean;
  /** Sender state (`idle`, `connecting`, `connected`, `backoff`, `stopped`...), or `none` when no sender runs. */
  readonly state: string;
  readonly attempt: number | undefined;
  readonly retryAt: number | undefined;
  readonly queueDepth: number;
  readonly unflushed: number;
  /** Acknowledged delivery: messages written and waiting for their acknowledgement. */
  readonly unacked: number;
}

export interface PeerStatus {
  readonly peerId: string;
  readonly addresses: readonly PeerAddressStatus[];
}

/** The `/status` document of a running node. */
export interface NodeStatus {
  readonly nodeId: string;
  readonly identity: { readonly certHash: string; readonly shortId: string };
  /** The bound `host:port` of the peer listener. */
  readonly address: string;
  /** The bound `host:port` of the admin server. */
  readonly admin: string | undefined;
  readonly ready: boolean;
  readonly startedAtMs: number;
  readonly nowMs: number;
  readonly directSendMode: SendMode;
  readonly configFile: string | undefined;
  readonly peers: readonly PeerStatus[];
  readonly inbound: readonly InboundConnectionStats[];
  readonly subscriptions: readonly SubscriptionStats[];
  readonly queues: {
    readonly unresolved: number;
    readonly peerSenders: number;
    readonly subscribers: number;
    readonly replies: number;
    readonly incoming: number;
  };
  readonly backoff: {
    /** `(peer, address)` pairs with remembered backoff. */
    readonly entries: number;
    readonly senders: readonly { peerId: string; address: string; attempt: number; retryAt: number }[];
  };
  readonly counters: NetworkStats['sender']['counters'];
  readonly incoming: NetworkStats['incoming'];
  readonly outcomes: Readonly<Record<string, number>>;
  readonly drops: DropSummary;
  /**
   * The etcd registry (`registry.etcd` in the config): its state, whether this node is
   * registered, the last revision, the entries held, and its counters. Absent without one.
   */
  readonly registry?: EtcdRegistryStats | undefined;
}

/** What a status is built from: the network's stats and topology, and the node's own fields. */
export type StatusInput = Pick<
  NodeStatus,
  | 'identity'
  | 'admin'
  | 'ready'
  | 'startedAtMs'
  | 'nowMs'
  | 'directSendMode'
  | 'configFile'
  | 'drops'
  | 'registry'
> & {
  readonly stats: NetworkStats;
  readonly topology: Topology;
};

function pinText(address: { expectedIdentity?: { certHash: string } | { ownerKey: string } | undefined }) {
  const id = address.expectedIdentity;
  if (id === undefined) return undefined;
  return 'certHash' in id ? `cert:${id.certHash.slice(0, 8)}` : `owner:${id.ownerKey.slice(0, 8)}`;
}

/** Builds the `/status` document from a network snapshot, the peer table and the drop ring. */
export function buildStatus(input: StatusInput): NodeStatus {
  const { stats } = input;
  const senders = new Map(stats.sender.senders.map((s) => [`${s.peerId}\n${s.address}`, s]));
  const peers: PeerStatus[] = [];
  const seen = new Set<string>();
  for (const [peerId, list] of input.topology) {
    if (peerId === stats.nodeId) continue;
    peers.push({
      peerId,
      addresses: list.map((a) => {
        const key = `${peerId}\n${a.address}`;
        seen.add(key);
        const s = senders.get(key);
        return {
          address: a.address,
          pinned: pinText(a),
          inTopology: true,
          state: s?.state ?? 'none',
          attempt: s?.attempt,
          retryAt: s?.retryAt,
          queueDepth: s?.queueDepth ?? 0,
          unflushed: s?.unflushed ?? 0,
          unacked: s?.unacked ?? 0,
        };
      }),
    });
  }
  // Senders whose address left the topology while they drain.
  for (const s of stats.sender.senders) {
    if (seen.has(`${s.peerId}\n${s.address}`)) continue;
    const entry: PeerAddressStatus = {
      address: s.address,
      pinned: undefined,
      inTopology: false,
      state: s.state,
      attempt: s.attempt,
      retryAt: s.retryAt,
      queueDepth: s.queueDepth,
      unflushed: s.unflushed,
      unacked: s.unacked,
    };
    const existing = peers.find((p) => p.peerId === s.peerId);
    if (existing) (existing.addresses as PeerAddressStatus[]).push(entry);
    else peers.push({ peerId: s.peerId, addresses: [entry] });
  }
  let peerSenders = 0;
  const backoff: NodeStatus['backoff']['senders'][number][] = [];
  for (const s of stats.sender.senders) {
    peerSenders += s.queueDepth;
    if (s.state === 'backoff' && s.attempt !== undefined && s.retryAt !== undefined) {
      backoff.push({ peerId: s.peerId, address: s.address, attempt: s.attempt, retryAt: s.retryAt });
    }
  }
  return {
    nodeId: stats.nodeId,
    identity: input.identity,
    address: stats.address,
    admin: input.admin,
    ready: input.ready,
    startedAtMs: input.startedAtMs,
    nowMs: input.nowMs,
    directSendMode: input.directSendMode,
    configFile: input.configFile,
    peers,
    inbound: stats.hub.connections,
    subscriptions: stats.hub.subscriptions,
    queues: {
      unresolved: stats.sender.unresolvedDepth,
      peerSenders,
      subscribers: stats.hub.subscriberQueueDepth,
      replies: stats.hub.replyQueueDepth,
      incoming: stats.incoming.buffered,
    },
    backoff: { entries: stats.sender.backoffEntries, senders: backoff },
    counters: stats.sender.counters,
    incoming: stats.incoming,
    outcomes: stats.outcomes,
    drops: input.drops,
    ...(input.registry === undefined ? {} : { registry: input.registry }),
  };
}

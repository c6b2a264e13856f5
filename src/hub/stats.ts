import type { ConnectionKind } from '../transport/types.js';
import type { InboundConnection } from './inbound.js';
import type { Subscription, SubscriptionStats } from './subscription.js';

/** One inbound connection, as seen in {@link HubStats}. */
export interface InboundConnectionStats {
  readonly kind: ConnectionKind;
  readonly remoteAddress: string;
  /** Peer id from the topology, when the connection's identity is pinned there. */
  readonly peerId: string | undefined;
  /** First 4 hex characters of the certificate hash. */
  readonly shortId: string;
  /** Frames waiting in the hub while the transport is above its high-water mark. */
  readonly queueDepth: number;
  /** Their bytes (bounded by `limits.queueBytesPerConnection`). */
  readonly queueBytes: number;
  /** Frames dropped for this connection because its queue was full. */
  readonly drops: number;
  /** Bytes the transport holds for this connection. */
  readonly bufferedBytes: number;
  readonly acceptedAtMs: number;
  /** Taken out of routing (too slow, or broke the protocol) and closing. */
  readonly closing: boolean;
}

/** A snapshot of a {@link ConnectionHub}. */
export interface HubStats {
  readonly selfId: string | undefined;
  readonly address: string | undefined;
  readonly state: 'idle' | 'starting' | 'listening' | 'closing' | 'closed';
  /** Open inbound connections by kind, not counting those in {@link closing}. */
  readonly inbound: Readonly<Record<ConnectionKind, number>>;
  /** Inbound connections the hub is closing (a stalled peer may take up to the write timeout). */
  readonly closing: number;
  /** Inbound connections the hub refused at its cap. */
  readonly refused: number;
  /** Frames queued in the hub across subscribers / reply channels. */
  readonly subscriberQueueDepth: number;
  readonly replyQueueDepth: number;
  /** Bytes those queued frames hold, all queues together (bounded by `limits.queueBytesTotal`). */
  readonly queueBytes: number;
  /** Broadcast frames dropped across open subscriber connections. */
  readonly subscriberDrops: number;
  /** Acknowledged streams remembered (docs/acks.md). */
  readonly ackStreams: number;
  /** Retransmitted messages received again and not delivered twice. */
  readonly ackDuplicates: number;
  readonly connections: readonly InboundConnectionStats[];
  /** This node's own subscriptions to other nodes. */
  readonly subscriptions: readonly SubscriptionStats[];
}

export interface HubStatsInput {
  readonly selfId: string | undefined;
  readonly address: string | undefined;
  readonly state: HubStats['state'];
  readonly connections: Iterable<InboundConnection>;
  readonly subscriptions: Iterable<Subscription>;
  readonly refused: number;
  readonly subscriberQueueDepth: number;
  readonly replyQueueDepth: number;
  readonly queueBytes: number;
  readonly ackStreams: number;
  readonly ackDuplicates: number;
}

export function hubStats(input: HubStatsInput): HubStats {
  const inbound: Record<ConnectionKind, number> = { direct: 0, 'subscribe-node': 0, 'subscribe-proxy': 0 };
  const connections: InboundConnectionStats[] = [];
  let subscriberDrops = 0;
  let closing = 0;
  for (const c of input.connections) {
    if (c.isRetired) closing++;
    else inbound[c.kind]++;
    if (c.isSubscriber) subscriberDrops += c.outbox.drops;
    connections.push({
      kind: c.kind,
      remoteAddress: c.remoteAddress,
      peerId: c.peerId,
      shortId: c.connection.remoteIdentity.shortId,
      queueDepth: c.outbox.depth,
      queueBytes: c.outbox.bytes,
      drops: c.outbox.drops,
      bufferedBytes: c.connection.bufferedBytes,
      acceptedAtMs: c.acceptedAtMs,
      closing: c.isRetired,
    });
  }
  const subscriptions: SubscriptionStats[] = [];
  for (const s of input.subscriptions) subscriptions.push(s.stats());
  return {
    selfId: input.selfId,
    address: input.address,
    state: input.state,
    inbound,
    closing,
    refused: input.refused,
    subscriberQueueDepth: input.subscriberQueueDepth,
    replyQueueDepth: input.replyQueueDepth,
    queueBytes: input.queueBytes,
    subscriberDrops,
    ackStreams: input.ackStreams,
    ackDuplicates: input.ackDuplicates,
    connections,
    subscriptions,
  };
}

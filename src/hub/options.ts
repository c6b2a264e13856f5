import { PeerpostError } from '../errors.js';

/** Bounds the connection hub enforces. Every field is optional; see the defaults. */
export interface HubLimits {
  /**
   * Inbound connections (all kinds together) beyond this are refused and counted as
   * `max_conn_reached`. Passed to the transport listener as `maxConnections`.
   * @default 1000
   */
  maxInboundConnections?: number;
  /**
   * Frames a subscriber connection may hold in the hub while its transport buffer is at
   * the high-water mark. Past it, broadcasts to that subscriber are dropped
   * (`queue_full`, counted per connection). The frames are shared between subscribers
   * (a broadcast is encoded once), so a full queue costs references, not copies.
   * @default 1024
   */
  subscriberQueueCapacity?: number;
  /**
   * Frames a reply channel (an inbound direct connection) may hold while its transport
   * buffer is at the high-water mark; past it `sendToAddress` returns `queue_full`.
   * Matches the reference's per-peer sender queue.
   * @default 100
   */
  replyQueueCapacity?: number;
  /**
   * Bytes the queue of one connection (reply or subscriber) may hold, besides its frame
   * count: past it, a frame for that connection is dropped (`queue_full`) unless the queue
   * is empty. Keeps one peer that stopped reading at a bounded cost whatever its frames'
   * size.
   * @default 16777216 (16 MiB)
   */
  queueBytesPerConnection?: number;
  /**
   * Bytes all the hub's connection queues may hold together (a frame shared by several
   * subscribers counts once per queue): past it, new frames are dropped (`queue_full`)
   * until queues drain, so many slow peers cannot add up to an unbounded node.
   * @default 268435456 (256 MiB)
   */
  queueBytesTotal?: number;
  /**
   * A subscriber that drops this many broadcasts in a row (without one being accepted in
   * between) is disconnected. `0` never disconnects: a stalled subscriber then only
   * loses messages until the transport's write timeout fails its connection.
   * @default 0
   */
  slowSubscriberDisconnectAfterDrops?: number;
  /**
   * How far a sender's clock may run ahead of ours. An `IncomingTransfer` duration that
   * is negative by at most this much is recorded as 0; one more negative than this, or
   * longer than `maxTransferMs`, is not recorded and is counted as `in_transfer_skew`.
   * @default 5000
   */
  clockSkewToleranceMs?: number;
  /**
   * Longest `IncomingTransfer` duration treated as real; a longer one comes from a wrong
   * clock or a forged timestamp.
   * @default 3600000 (one hour)
   */
  maxTransferMs?: number;
}

export type ResolvedHubLimits = Required<HubLimits>;

export const DEFAULT_HUB_LIMITS: Readonly<ResolvedHubLimits> = {
  maxInboundConnections: 1000,
  subscriberQueueCapacity: 1024,
  replyQueueCapacity: 100,
  slowSubscriberDisconnectAfterDrops: 0,
  clockSkewToleranceMs: 5000,
  maxTransferMs: 3_600_000,
  queueBytesPerConnection: 16 * 1024 * 1024,
  queueBytesTotal: 256 * 1024 * 1024,
};

const MINIMUMS: Readonly<ResolvedHubLimits> = {
  maxInboundConnections: 1,
  subscriberQueueCapacity: 1,
  replyQueueCapacity: 1,
  slowSubscriberDisconnectAfterDrops: 0,
  clockSkewToleranceMs: 0,
  maxTransferMs: 1,
  queueBytesPerConnection: 1,
  queueBytesTotal: 1,
};

/** Fills in defaults and rejects values that are not safe non-negative integers in range. */
export function resolveHubLimits(limits: HubLimits = {}): ResolvedHubLimits {
  const out: ResolvedHubLimits = { ...DEFAULT_HUB_LIMITS };
  for (const key of Object.keys(DEFAULT_HUB_LIMITS) as (keyof ResolvedHubLimits)[]) {
    const value = limits[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < MINIMUMS[key]) {
      throw new PeerpostError(
        'ERR_INVALID_OPTION',
        `expected hub limit \`${key}\` to be an integer >= ${MINIMUMS[key]}, got \`${String(value)}\``,
      );
    }
    out[key] = value;
  }
  return out;
}

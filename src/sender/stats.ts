import type { AccountingCounters } from './accounting.js';
import type { PeerSenderLike, SenderState } from './peer-sender.js';

/** One peer sender as reported by {@link DirectSender.stats}. */
export interface SenderStats {
  readonly peerId: string;
  readonly address: string;
  readonly state: SenderState['kind'];
  /** Connect attempts so far (connecting/backoff). */
  readonly attempt: number | undefined;
  /** When the next connect attempt is due (backoff). */
  readonly retryAt: number | undefined;
  readonly queueDepth: number;
  /** Frame bytes of the queued messages (bounded by `peerQueueBytes`). */
  readonly queueBytes: number;
  readonly unflushed: number;
  /** Acknowledged delivery: messages written and waiting for their acknowledgement (0 without acks). */
  readonly unacked: number;
}

export interface DirectSenderStats {
  /** Resolved peers (with senders). */
  readonly peers: number;
  readonly senders: readonly SenderStats[];
  /** Stopped senders whose connection is still closing. */
  readonly retiring: number;
  /** Messages waiting in the unresolved queue. */
  readonly unresolvedDepth: number;
  /** Frame bytes of the messages in the unresolved queue (bounded by `unresolvedQueueBytes`). */
  readonly unresolvedBytes: number;
  /** Frame bytes queued in the unresolved queue and every peer sender queue (retiring ones included). */
  readonly queueBytes: number;
  /** `(peer, address)` pairs with remembered backoff. */
  readonly backoffEntries: number;
  /** Frame buffers the node keeps for reuse (no frame in them is in use): bytes now, and at most (sized by the limits, see docs/direct-sender.md). */
  readonly pool: { readonly bytes: number; readonly maxBytes: number };
  readonly counters: AccountingCounters & {
    /** Calls to send(). */
    readonly messages: number;
    /** accepted - written - dropped - skipped. */
    readonly inFlight: number;
    /** Targets actually held right now: unresolved + queued + unflushed (with acks: unacknowledged) in every sender. Equals inFlight. */
    readonly held: number;
  };
}

export interface StatsInput {
  peers: number;
  senders: readonly PeerSenderLike[];
  retiring: readonly PeerSenderLike[];
  unresolved: number;
  unresolvedBytes: number;
  messages: number;
  counters: AccountingCounters;
  inFlight: number;
  backoffEntries: number;
  pool: { readonly bytes: number; readonly maxBytes: number };
}

function senderStats(s: PeerSenderLike): SenderStats {
  const state = s.state;
  return {
    peerId: s.peerId,
    address: s.address,
    state: state.kind,
    attempt: state.kind === 'connecting' || state.kind === 'backoff' ? state.attempt : undefined,
    retryAt: state.kind === 'backoff' ? state.retryAt : undefined,
    queueDepth: s.queueDepth,
    queueBytes: s.queueBytes ?? 0,
    unflushed: s.unflushed,
    unacked: s.unacked ?? 0,
  };
}

/**
 * Targets a sender holds: queued, and written but not settled (unflushed, or with acks
 * waiting for the acknowledgement, which includes its unflushed ones). A retiring sender's
 * stream is its successor's (counted there) or ended.
 */
function heldBy(s: PeerSenderLike, retiring: boolean): number {
  if (s.acked !== true) return s.queueDepth + s.unflushed;
  return s.queueDepth + (retiring ? 0 : (s.unacked ?? 0));
}

export function collectStats(input: StatsInput): DirectSenderStats {
  let held = input.unresolved;
  for (const s of input.senders) held += heldBy(s, false);
  for (const s of input.retiring) held += heldBy(s, true);
  let queueBytes = input.unresolvedBytes;
  for (const s of input.senders) queueBytes += s.queueBytes ?? 0;
  for (const s of input.retiring) queueBytes += s.queueBytes ?? 0;
  return {
    peers: input.peers,
    senders: input.senders.map(senderStats),
    retiring: input.retiring.length,
    unresolvedDepth: input.unresolved,
    unresolvedBytes: input.unresolvedBytes,
    queueBytes,
    backoffEntries: input.backoffEntries,
    pool: input.pool,
    counters: { ...input.counters, messages: input.messages, inFlight: input.inFlight, held },
  };
}

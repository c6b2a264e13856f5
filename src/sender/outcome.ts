/** Send modes (hot-reloadable `directSendMode`). */
export type SendMode = 'direct' | 'broadcast' | 'both';

/**
 * Why a message did not reach the transport for one target. Each one is documented in
 * docs/metrics.md (test/docs/reference.test.ts checks both ways).
 */
export const DROP_REASONS = [
  'unresolved_overflow',
  'unresolved_expired',
  'queue_full',
  'node_queue_full',
  'connect_failed',
  'connection_lost',
  'no_connection',
  'no_subscriber',
  'identity_mismatch',
  'encode_failed',
  'too_large',
  'shutdown',
  'deadline',
  'aborted',
  'unacknowledged',
] as const;

/** Why a message did not reach the transport for one target (see {@link DROP_REASONS}). */
export type DropReason = (typeof DROP_REASONS)[number];

/**
 * Why an acknowledged message (docs/acks.md) that was written ends without an
 * acknowledgement, i.e. why its delivery cannot be known: `peer_lost_state` (the peer's
 * node no longer knows the stream: it restarted, or forgot the stream), `connect_failed`
 * (no connection again until the backoff deadline), `identity_mismatch` (the address is
 * now someone else), `removed` (the address left the topology), `deadline` / `aborted`
 * (its limit passed before it could be sent again), `shutdown` (this node closed first),
 * `no_acks` (the peer answered on a connection without acks), `connection_lost` (a
 * broadcast flushed to a subscriber with acks whose connection closed before the ack:
 * broadcasts are not sent again).
 */
export const UNACKNOWLEDGED_DETAILS = [
  'peer_lost_state',
  'connect_failed',
  'identity_mismatch',
  'removed',
  'deadline',
  'aborted',
  'shutdown',
  'no_acks',
  'connection_lost',
] as const;

export type UnacknowledgedDetail = (typeof UNACKNOWLEDGED_DETAILS)[number];

/**
 * `self`: the target is this node. `address_removed`: the target address left the
 * topology while the message waited there (the message may move on to an address it never
 * had, which is a new target; see docs/direct-sender.md rule 3).
 */
export const SKIP_REASONS = ['self', 'address_removed'] as const;

/** Why a target was skipped (see {@link SKIP_REASONS}). */
export type SkipReason = (typeof SKIP_REASONS)[number];

/**
 * The single final outcome of one message for one target: `written` (handed to the
 * transport), `delivered` (acknowledged by the peer's node; only with acknowledged
 * delivery, where it replaces `written`), or dropped/skipped with a reason. Every accepted message gets exactly one
 * per target address (for the broadcast path, one per subscriber connection that took
 * it, at its remote address, or one at address `broadcast` when none could).
 */
export type Outcome =
  | { readonly kind: 'written' }
  /** Acknowledged by the peer's node: handed to its application (acknowledged delivery only). */
  | { readonly kind: 'delivered' }
  | { readonly kind: 'dropped'; readonly reason: DropReason; readonly detail?: UnacknowledgedDetail }
  | { readonly kind: 'skipped'; readonly reason: SkipReason };

export interface OutcomeEvent {
  readonly messageId: string;
  readonly label: string;
  /** The receiver as printed (bare id or address). */
  readonly receiver: string;
  /**
   * The target address (for the broadcast path, the subscriber connection's remote
   * address, or `broadcast` when no subscriber could have it); undefined when never resolved.
   */
  readonly address: string | undefined;
  /** Path the message took. */
  readonly mode: 'direct' | 'broadcast';
  readonly outcome: Outcome;
}

export type OutcomeListener = (event: OutcomeEvent) => void;

/** Whether the message reached its target: `written`, or with acks `delivered`. */
export function reached(outcome: Outcome): boolean {
  return outcome.kind === 'written' || outcome.kind === 'delivered';
}

/** `written`, `delivered`, `dropped:queue_full`, `skipped:self`: the form used in metrics and logs. */
export function formatOutcome(outcome: Outcome): string {
  return outcome.kind === 'written' || outcome.kind === 'delivered'
    ? outcome.kind
    : `${outcome.kind}:${outcome.reason}`;
}

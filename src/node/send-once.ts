import { addressProblem } from '../config/address.js';
import type { LoadedNodeConfig } from '../config/load.js';
import { PeerpostError } from '../errors.js';
import { createNetwork } from '../network/network.js';
import { type OutcomeEvent, reached } from '../sender/outcome.js';
import { peer } from '../sender/receiver.js';
import type { PeerAddress, Topology } from '../topology/types.js';
import { type Clock, systemClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { networkAcks } from './apply.js';

/** Prefix of the peer id given to a raw `host:port` target of {@link sendOnce}. */
export const AD_HOC_PEER_PREFIX = 'addr:';

/** How long {@link sendOnce} waits for a peer without an address to get one. */
export const DEFAULT_RESOLVE_WAIT_MS = 5000;

export interface SendOnceOptions {
  /** The sender's config: node id, credentials, trust, topology and limits are used; it listens on 127.0.0.1:0. */
  config: LoadedNodeConfig;
  /** A peer id of the topology, or a `host:port` (sent to as the ad-hoc peer `addr:host:port`). */
  to: string;
  label: string;
  data: Uint8Array;
  /**
   * Wait this long after sending for the reply to this message (`network.request()`: the
   * message whose id names it, from the target); 0 waits for none. @default 0
   */
  waitReplyMs?: number;
  /**
   * Send with acknowledged delivery (docs/acks.md): the outcome is `delivered` once the
   * peer's node handed the message to its application. @default the config's `acks.enabled`
   */
  acks?: boolean;
  /** Give up waiting for outcomes after this long. @default 15000 */
  timeoutMs?: number;
  /**
   * When the peer has no address in the topology, the message waits this long for one (in
   * the unresolved queue, `limits.unresolvedTtlMs` if that is shorter), then ends as
   * `dropped:unresolved_expired`. The wait for outcomes is stretched to cover it.
   * @default 5000
   */
  resolveWaitMs?: number;
  /** @default noopLogger */
  logger?: Logger;
  /** Aborting ends the wait early. */
  signal?: AbortSignal;
  /** @default systemClock */
  clock?: Clock;
}

/** A message received in answer, with its payload. */
export interface ReceivedReply {
  readonly id: string;
  readonly label: string;
  readonly from: string;
  readonly peerId: string | undefined;
  readonly identity: string;
  readonly data: Uint8Array;
  readonly afterMs: number;
}

export interface SendOnceResult {
  readonly messageId: string;
  /** The peer id sent to (`addr:host:port` for a raw address). */
  readonly peerId: string;
  /** One outcome per target address. */
  readonly outcomes: readonly OutcomeEvent[];
  /** Addresses that had no outcome before the timeout (1 for a peer without an address that had none). */
  readonly missing: number;
  /** The peer had no address in the topology: its message could only wait in the unresolved queue. */
  readonly unresolved: boolean;
  /** The longest wait for outcomes: `timeoutMs`, stretched to cover `waitReplyMs` and, for an unresolved peer, `resolveWaitMs`. */
  readonly timeoutMs: number;
  readonly reply: ReceivedReply | undefined;
  /** Every target written, and a reply received when one was awaited. */
  readonly ok: boolean;
}

/** The peer to send to and the topology to send with: `to` itself, or an ad-hoc peer for a raw address. */
export function resolveTarget(topology: Topology, to: string): { peerId: string; topology: Topology } {
  if (topology.has(to)) return { peerId: to, topology };
  const problem = addressProblem(to);
  if (problem === undefined) {
    const peerId = `${AD_HOC_PEER_PREFIX}${to}`;
    const next = new Map<string, readonly PeerAddress[]>(topology);
    next.set(peerId, [{ address: to }]);
    return { peerId, topology: next };
  }
  if (to.includes(':')) {
    // It looks like an address: say what is wrong with it.
    throw new PeerpostError(
      'ERR_INVALID_ADDRESS',
      `--to ${JSON.stringify(to)} is not a peer of the topology, and not a valid host:port address: ${problem}`,
    );
  }
  throw new PeerpostError(
    'ERR_INVALID_OPTION',
    `--to ${JSON.stringify(to)} is neither a peer of the topology nor a host:port address`,
  );
}

/**
 * One-shot send: builds a network from `config` listening on 127.0.0.1:0, sends one
 * message, waits for its outcome on every address of the target (and for a reply when
 * asked), then closes, draining what was written.
 */
export async function sendOnce(options: SendOnceOptions): Promise<SendOnceResult> {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const { peerId, topology } = resolveTarget(config.topology, options.to);
  const targets = new Set((topology.get(peerId) ?? []).map((a) => a.address));
  // A peer without an address: its one message waits unresolved and ends with one outcome.
  const unresolved = targets.size === 0;
  const expected = unresolved ? 1 : targets.size;
  const waitReplyMs = options.waitReplyMs ?? 0;
  const resolveWaitMs = Math.max(1, options.resolveWaitMs ?? DEFAULT_RESOLVE_WAIT_MS);
  const ttlMs = Math.min(config.limits.unresolvedTtlMs, resolveWaitMs);
  // The unresolved queue is checked every resolveRetryMs: retrying at least as often as
  // the wait lets the message expire when the wait is over, not up to a retry later.
  const retryMs = Math.min(config.limits.resolveRetryMs, ttlMs);
  const limits = unresolved
    ? { ...config.limits, unresolvedTtlMs: ttlMs, resolveRetryMs: retryMs }
    : config.limits;
  const timeoutMs = Math.max(options.timeoutMs ?? 15_000, waitReplyMs, unresolved ? ttlMs + retryMs : 0);
  const network = await createNetwork({
    nodeId: config.nodeId,
    listen: '127.0.0.1:0',
    credentials: { keyPem: config.pem.key, certPem: config.pem.cert },
    trust: { certHashes: config.trust.certHashes, ownerKeys: config.trust.ownerKeys },
    topology,
    directSendMode: 'direct',
    limits,
    acks: { ...networkAcks(config.acks), enabled: options.acks ?? config.acks.enabled },
    knownLabels: [options.label],
    clock,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  const outcomes: OutcomeEvent[] = [];
  let reply: ReceivedReply | undefined;
  // Known before the send, so that an outcome decided during send() is not missed.
  const messageId = network.newMessageId();
  const startedAt = clock.now();
  let wake: () => void = () => {};
  let replyExpired = waitReplyMs === 0;
  const done = () => outcomes.length >= expected && (replyExpired || reply !== undefined);
  const offOutcome = network.onOutcome((event) => {
    if (event.messageId !== messageId) return;
    outcomes.push(event);
    wake();
  });
  try {
    if (waitReplyMs > 0) {
      network
        .request(peer(peerId), options.label, options.data, { id: messageId, timeoutMs: waitReplyMs })
        .then(
          (message) => {
            reply = {
              id: message.id,
              label: message.label,
              from: message.from.address,
              // A reply on the connection we dialed for the target is from the target, pinned or not.
              peerId: message.from.peerId ?? (targets.has(message.from.address) ? peerId : undefined),
              identity: message.from.identity.shortId,
              data: message.data,
              afterMs: clock.now() - startedAt,
            };
          },
          () => {
            // Timed out, dropped, or the network closed: no reply.
            replyExpired = true;
          },
        )
        .finally(() => wake());
    } else network.send(peer(peerId), options.label, options.data, { id: messageId });
    await new Promise<void>((resolve) => {
      const finish = () => {
        clock.clearTimeout(outcomeTimer);
        options.signal?.removeEventListener('abort', finish);
        resolve();
      };
      const outcomeTimer = clock.setTimeout(finish, timeoutMs);
      wake = () => {
        if (done()) finish();
      };
      options.signal?.addEventListener('abort', finish, { once: true });
      if (options.signal?.aborted || done()) finish();
    });
  } finally {
    offOutcome();
    await network.close({ drainTimeoutMs: config.limits.drainTimeoutMs });
  }
  // With acks (when the peer accepts them) a target ends `delivered` instead of `written`.
  const written = outcomes.filter((o) => reached(o.outcome)).length;
  return {
    messageId,
    peerId,
    outcomes,
    missing: Math.max(0, expected - outcomes.length),
    unresolved,
    timeoutMs,
    reply,
    ok: expected > 0 && written === expected && (waitReplyMs === 0 || reply !== undefined),
  };
}

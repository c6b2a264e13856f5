import { addressProblem } from '../config/address.js';
import type { LoadedNodeConfig } from '../config/load.js';
import { PeerpostError } from '../errors.js';
import { createNetwork } from '../network/network.js';
import type { OutcomeEvent } from '../sender/outcome.js';
import { peer } from '../sender/receiver.js';
import type { PeerAddress, Topology } from '../topology/types.js';
import { type Clock, systemClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';

/** Prefix of the peer id given to a raw `host:port` target of {@link sendOnce}. */
export const AD_HOC_PEER_PREFIX = 'addr:';

export interface SendOnceOptions {
  /** The sender's config: node id, credentials, trust, topology and limits are used; it listens on 127.0.0.1:0. */
  config: LoadedNodeConfig;
  /** A peer id of the topology, or a `host:port` (sent to as the ad-hoc peer `addr:host:port`). */
  to: string;
  label: string;
  data: Uint8Array;
  /** Wait this long after sending for a reply (the first message that arrives); 0 waits for none. @default 0 */
  waitReplyMs?: number;
  /** Give up waiting for outcomes after this long. @default 15000 */
  timeoutMs?: number;
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
  /** Addresses that had no outcome before the timeout. */
  readonly missing: number;
  readonly reply: ReceivedReply | undefined;
  /** Every target written, and a reply received when one was awaited. */
  readonly ok: boolean;
}

/** The peer to send to and the topology to send with: `to` itself, or an ad-hoc peer for a raw address. */
export function resolveTarget(topology: Topology, to: string): { peerId: string; topology: Topology } {
  if (topology.has(to)) return { peerId: to, topology };
  if (addressProblem(to) === undefined) {
    const peerId = `${AD_HOC_PEER_PREFIX}${to}`;
    const next = new Map<string, readonly PeerAddress[]>(topology);
    next.set(peerId, [{ address: to }]);
    return { peerId, topology: next };
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
  const expected = targets.size;
  const waitReplyMs = options.waitReplyMs ?? 0;
  const network = await createNetwork({
    nodeId: config.nodeId,
    listen: '127.0.0.1:0',
    credentials: { keyPem: config.pem.key, certPem: config.pem.cert },
    trust: { certHashes: config.trust.certHashes, ownerKeys: config.trust.ownerKeys },
    topology,
    directSendMode: 'direct',
    limits: config.limits,
    knownLabels: [options.label],
    clock,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  const outcomes: OutcomeEvent[] = [];
  let reply: ReceivedReply | undefined;
  let messageId = '';
  const startedAt = clock.now();
  let wake: () => void = () => {};
  let replyExpired = waitReplyMs === 0;
  const done = () => outcomes.length >= expected && (replyExpired || reply !== undefined);
  const offOutcome = network.onOutcome((event) => {
    if (event.messageId !== messageId) return;
    outcomes.push(event);
    wake();
  });
  const offMessage = network.onMessage((message) => {
    if (reply !== undefined || waitReplyMs === 0) return;
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
    wake();
  });
  try {
    messageId = network.send(peer(peerId), options.label, options.data);
    const timeoutMs = Math.max(options.timeoutMs ?? 15_000, waitReplyMs);
    await new Promise<void>((resolve) => {
      const finish = () => {
        clock.clearTimeout(outcomeTimer);
        if (replyTimer !== undefined) clock.clearTimeout(replyTimer);
        options.signal?.removeEventListener('abort', finish);
        resolve();
      };
      const outcomeTimer = clock.setTimeout(finish, timeoutMs);
      // Without a reply by then, stop waiting once the outcomes are in.
      const replyTimer =
        waitReplyMs > 0
          ? clock.setTimeout(() => {
              replyExpired = true;
              wake();
            }, waitReplyMs)
          : undefined;
      wake = () => {
        if (done()) finish();
      };
      options.signal?.addEventListener('abort', finish, { once: true });
      if (options.signal?.aborted || done()) finish();
    });
  } finally {
    offOutcome();
    offMessage();
    await network.close({ drainTimeoutMs: config.limits.drainTimeoutMs });
  }
  const written = outcomes.filter((o) => o.outcome.kind === 'written').length;
  return {
    messageId,
    peerId,
    outcomes,
    missing: Math.max(0, expected - outcomes.length),
    reply,
    ok: expected > 0 && written === expected && (waitReplyMs === 0 || reply !== undefined),
  };
}

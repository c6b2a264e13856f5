import { PeerpostError } from '../errors.js';
import type { SendMode } from './outcome.js';

/** Connect backoff of a peer sender. */
export interface BackoffConfig {
  /** First retry delay; later delays follow the Fibonacci sequence (100, 100, 200, 300, 500, ...). @default 100 */
  initialMs?: number;
  /** A sender gives up when the next delay would end past this long after its first attempt. @default 5000 */
  deadlineMs?: number;
  /** Each delay is scaled by a seeded random factor in [1 - jitter, 1 + jitter]. @default 0.2 */
  jitter?: number;
}

/** Acknowledged delivery of direct sends to peers (docs/acks.md). */
export interface AckConfig {
  /** Send to peers with acknowledged delivery (negotiated per connection; a peer without it gets plain sends). @default false */
  enabled?: boolean;
  /** Only to these peer ids; absent: to every peer. @default undefined */
  peers?: readonly string[] | undefined;
  /** Messages per (peer, address) written and not yet acknowledged at most; past it, new ones wait in the queue. @default 32768 */
  window?: number;
  /** Bytes (frames) of those at most. @default 8388608 */
  windowBytes?: number;
}

export interface ResolvedAckConfig {
  readonly enabled: boolean;
  readonly peers: ReadonlySet<string> | undefined;
  readonly window: number;
  readonly windowBytes: number;
}

/**
 * The hot-reloadable part of the direct sender's configuration. Changes apply live:
 * `directSendMode` to the next message, capacities to the next enqueue, backoff to the
 * next delay.
 */
export interface DirectSenderConfig {
  /** `direct`: peer senders; `broadcast`: the hub's broadcast path with `directReceiver` set; `both`. @default 'direct' */
  directSendMode?: SendMode;
  /** This node's peer id: messages to it are skipped (`skipped:self`). @default undefined */
  selfId?: string | undefined;
  /** This node's own `host:port`: messages to it are skipped (`skipped:self`). @default undefined */
  selfAddress?: string | undefined;
  /** Messages for unknown peers kept at most (FIFO; overflow drops the oldest). @default 1000 */
  unresolvedCapacity?: number;
  /** A message waits in the unresolved queue at most this long. @default 30000 */
  unresolvedTtlMs?: number;
  /** Interval of the unresolved queue's resolve retry. @default 1000 */
  resolveRetryMs?: number;
  /** Messages queued per (peer, address) sender at most; beyond, `dropped:queue_full`. @default 100 */
  peerQueueCapacity?: number;
  /**
   * Bytes (frames) queued per (peer, address) sender: a queue takes messages while it holds
   * less, so it holds at most this plus one message; beyond, `dropped:queue_full`.
   * @default 16777216 (16 MiB)
   */
  peerQueueBytes?: number;
  /**
   * Bytes (frames) the unresolved queue holds: like a peer queue, it takes a message while
   * it holds less; past it the oldest is dropped (`unresolved_overflow`).
   * @default 16777216 (16 MiB)
   */
  unresolvedQueueBytes?: number;
  backoff?: BackoffConfig;
  /** Message labels counted under their own name in metrics; others count as `other`. @default [] */
  knownLabels?: readonly string[];
  /** Acknowledged delivery (applies to senders started after the change). @default disabled */
  acks?: AckConfig;
}

export interface ResolvedSenderConfig {
  readonly directSendMode: SendMode;
  readonly selfId: string | undefined;
  readonly selfAddress: string | undefined;
  readonly unresolvedCapacity: number;
  readonly unresolvedTtlMs: number;
  readonly resolveRetryMs: number;
  readonly peerQueueCapacity: number;
  readonly peerQueueBytes: number;
  readonly unresolvedQueueBytes: number;
  readonly backoff: Readonly<Required<BackoffConfig>>;
  readonly knownLabels: ReadonlySet<string>;
  readonly acks: ResolvedAckConfig;
}

const MODES: readonly SendMode[] = ['direct', 'broadcast', 'both'];

function positiveInt(name: string, value: number | undefined, fallback: number, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min) {
    throw new PeerpostError(
      'ERR_INVALID_OPTION',
      `expected \`${name}\` to be an integer >= ${min}, got \`${v}\``,
    );
  }
  return v;
}

/** Fills defaults and validates; throws `ERR_INVALID_OPTION` with a precise message. */
export function resolveSenderConfig(config: DirectSenderConfig = {}): ResolvedSenderConfig {
  const mode = config.directSendMode ?? 'direct';
  if (!MODES.includes(mode)) {
    throw new PeerpostError(
      'ERR_INVALID_OPTION',
      `expected \`directSendMode\` to be direct|broadcast|both, got \`${String(mode)}\``,
    );
  }
  const jitter = config.backoff?.jitter ?? 0.2;
  if (!(jitter >= 0 && jitter < 1)) {
    throw new PeerpostError(
      'ERR_INVALID_OPTION',
      `expected \`backoff.jitter\` to be in [0, 1), got \`${jitter}\``,
    );
  }
  return {
    directSendMode: mode,
    selfId: config.selfId,
    selfAddress: config.selfAddress,
    unresolvedCapacity: positiveInt('unresolvedCapacity', config.unresolvedCapacity, 1000),
    unresolvedTtlMs: positiveInt('unresolvedTtlMs', config.unresolvedTtlMs, 30_000),
    resolveRetryMs: positiveInt('resolveRetryMs', config.resolveRetryMs, 1000),
    peerQueueCapacity: positiveInt('peerQueueCapacity', config.peerQueueCapacity, 100),
    peerQueueBytes: positiveInt('peerQueueBytes', config.peerQueueBytes, 16 * 1024 * 1024),
    unresolvedQueueBytes: positiveInt('unresolvedQueueBytes', config.unresolvedQueueBytes, 16 * 1024 * 1024),
    backoff: {
      initialMs: positiveInt('backoff.initialMs', config.backoff?.initialMs, 100),
      deadlineMs: positiveInt('backoff.deadlineMs', config.backoff?.deadlineMs, 5000),
      jitter,
    },
    knownLabels: new Set(config.knownLabels ?? []),
    acks: {
      enabled: config.acks?.enabled === true,
      peers: config.acks?.peers === undefined ? undefined : new Set(config.acks.peers),
      window: positiveInt('acks.window', config.acks?.window, 32_768),
      windowBytes: positiveInt('acks.windowBytes', config.acks?.windowBytes, 8 * 1024 * 1024),
    },
  };
}

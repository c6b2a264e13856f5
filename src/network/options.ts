import { z } from 'zod';
import { closest } from '../config/issues.js';
import { toTopology } from '../config/parse.js';
import { DEFAULT_LIMITS, limitsSchema, type NodeLimits, topologySchema } from '../config/schema.js';
import { PeerpostError } from '../errors.js';
import type { Credentials } from '../identity/credentials.js';
import type { TrustPolicy } from '../identity/trust.js';
import type { Metrics } from '../metrics/types.js';
import type { SendMode } from '../sender/outcome.js';
import { identitiesOf, type Topology } from '../topology/types.js';
import type { Transport } from '../transport/types.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { Random } from '../util/random.js';

/**
 * One entry of a peer in {@link TopologyInput}: an address (`host:port`, or with the
 * identity that must answer there), or an identity alone, which names the peer on the
 * connections it opens to us (a client on an ephemeral port) without giving an address.
 */
export type TopologyEntryInput =
  | string
  | { address: string; certHash?: string; ownerKey?: string }
  | { certHash: string }
  | { ownerKey: string };

/**
 * A peer table as plain data: peer id -> its entries, e.g.
 * `{ server: ['10.0.0.1:7000'], client: [{ certHash: '9f86...' }] }`.
 */
export type TopologyInput = Topology | Readonly<Record<string, readonly TopologyEntryInput[]>>;

/** Limits of a node; the same keys (and defaults) as `limits` in the `peerpost node` YAML file. */
export type NetworkLimits = Partial<Omit<NodeLimits, 'backoff' | 'dedup'>> & {
  backoff?: Partial<NodeLimits['backoff']>;
  dedup?: Partial<NodeLimits['dedup']>;
};

export interface NetworkOptions {
  /** This node's peer id. Required. */
  nodeId: string;
  /** `host:port` to listen on. @default '127.0.0.1:0' (a free port; see `network.address`) */
  listen?: string;
  /** Key and certificate this node presents (mutual TLS). Required unless `transport` is given. */
  credentials?: Credentials;
  /** Whom to accept and connect to. @default trust everyone */
  trust?: TrustPolicy;
  /** Use this transport instead of mutual TLS (e.g. `MemoryNetwork` from `peerpost/testing`). @default TLS */
  transport?: Transport;
  /** The peer table. @default {} */
  topology?: TopologyInput;
  /** How messages to peer ids travel. Live-updatable. @default 'direct' */
  directSendMode?: SendMode;
  /** Queues, timeouts, backoff, frame and decompression caps, slow-subscriber disconnect, dedup window. See docs/configuration.md. */
  limits?: NetworkLimits;
  /** Message labels counted under their own name in metrics (others count as `other`). @default [] */
  knownLabels?: readonly string[];
  /** Payloads larger than this are zstd-compressed. @default 1000 */
  compressThresholdBytes?: number;
  /** Messages a `for await` reader may lag behind before the oldest is dropped. @default 10000 */
  incomingCapacity?: number;
  /** Acknowledged delivery: which peers get it, its window, and whether this node accepts it. Live-updatable (not `accept`, `streams`). See docs/acks.md. @default disabled (accepted from peers) */
  acks?: AckOptions;
  /** @default systemClock */
  clock?: Clock;
  /** Backoff jitter and message-id source. @default Math.random */
  random?: Random;
  /** @default noopMetrics */
  metrics?: Metrics;
  /** @default noopLogger */
  logger?: Logger;
  /** Aborting it closes the network. */
  signal?: AbortSignal;
}

export type ResolvedLimits = NodeLimits;

/** Acknowledged delivery (docs/acks.md). */
export interface AckOptions {
  /** Send to peers with acknowledged delivery (per connection, when the peer accepts it). @default false */
  enabled?: boolean;
  /** Only to these peer ids. @default every peer */
  peers?: readonly string[];
  /** Messages per (peer, address) written and waiting for their ack at most; past it, new ones wait in the queue. @default 32768 */
  window?: number;
  /** Bytes of those at most. @default 8388608 (8 MiB) */
  windowBytes?: number;
  /** Accept acknowledged delivery from peers that offer it. @default true */
  accept?: boolean;
  /** Acknowledged streams remembered for duplicate suppression (the most recently opened). @default 4096 */
  streams?: number;
}

const positiveInt = z.number().int({ error: 'expected an integer' }).positive({ error: 'expected > 0' });

export const ackOptionsSchema = z.strictObject({
  enabled: z.boolean().optional(),
  peers: z.array(z.string()).optional(),
  window: positiveInt.optional(),
  windowBytes: positiveInt.optional(),
  accept: z.boolean().optional(),
  streams: positiveInt.optional(),
});

const object = (what: string) =>
  z.custom<object>((v) => typeof v === 'object' && v !== null, { error: `expected ${what}` });

const optionsSchema = z.strictObject({
  nodeId: z.string({ error: 'expected a non-empty string' }).min(1, { error: 'expected a non-empty string' }),
  listen: z.string().optional(),
  credentials: z
    .custom<Credentials>((v) => typeof v === 'object' && v !== null && 'keyPem' in v && 'certPem' in v, {
      error: 'expected { keyPem, certPem }',
    })
    .optional(),
  trust: object('{ certHashes?, ownerKeys? }').optional(),
  transport: z
    .custom<Transport>(
      (v) =>
        typeof v === 'object' &&
        v !== null &&
        typeof (v as Transport).listen === 'function' &&
        typeof (v as Transport).connect === 'function',
      { error: 'expected a Transport (listen, connect)' },
    )
    .optional(),
  topology: z.unknown().optional(),
  directSendMode: z
    .enum(['direct', 'broadcast', 'both'], { error: 'expected direct|broadcast|both' })
    .optional(),
  limits: z.unknown().optional(),
  knownLabels: z.array(z.string()).optional(),
  acks: z.lazy(() => ackOptionsSchema).optional(),
  compressThresholdBytes: z
    .number({ error: 'expected a number' })
    .min(0, { error: 'expected >= 0' })
    .optional(),
  incomingCapacity: z
    .number()
    .int({ error: 'expected an integer' })
    .positive({ error: 'expected > 0' })
    .optional(),
  clock: object('a Clock').optional(),
  random: z.custom<Random>((v) => typeof v === 'function', { error: 'expected a function' }).optional(),
  metrics: object('a Metrics').optional(),
  logger: object('a Logger').optional(),
  signal: z
    .custom<AbortSignal>((v) => v instanceof AbortSignal, { error: 'expected an AbortSignal' })
    .optional(),
});

/** The keys allowed at a path of the options (`''` the top level), to suggest one for a typo. */
function knownKeysAt(path: readonly string[]): readonly string[] {
  const at = path.join('.');
  if (at === '') return Object.keys(optionsSchema.shape);
  if (at === 'limits') return Object.keys(limitsSchema.shape);
  if (at === 'limits.backoff') return Object.keys(DEFAULT_LIMITS.backoff);
  if (at === 'limits.dedup') return Object.keys(DEFAULT_LIMITS.dedup);
  if (at === 'acks') return Object.keys(ackOptionsSchema.shape);
  if (path[0] === 'topology' && path.length === 3) return ['address', 'certHash', 'ownerKey'];
  return [];
}

function invalid(prefix: string, issues: readonly z.core.$ZodIssue[]): PeerpostError {
  const first = issues[0]!;
  const parent = [prefix, ...first.path.map(String)].filter((p) => p !== '');
  if (first.code === 'unrecognized_keys') {
    // `lisen`: unknown key; did you mean `listen`? Also unknown: `logr` (did you mean `logger`?)
    const allowed = knownKeysAt(parent);
    const [head, ...others] = first.keys.map((k) => ({
      name: [...parent, k].join('.'),
      guess: closest(k, allowed),
    }));
    const headGuess = head!.guess === undefined ? '' : `; did you mean \`${head!.guess}\`?`;
    const also = others.map((k) =>
      k.guess === undefined ? `\`${k.name}\`` : `\`${k.name}\` (did you mean \`${k.guess}\`?)`,
    );
    const tail = also.length > 0 ? `${headGuess === '' ? '.' : ''} Also unknown: ${also.join(', ')}` : '';
    return new PeerpostError(
      'ERR_INVALID_OPTION',
      `invalid option \`${head!.name}\`: unknown key${headGuess}${tail}`,
    );
  }
  const path = parent.join('.');
  return new PeerpostError('ERR_INVALID_OPTION', `invalid option \`${path || prefix}\`: ${first.message}`);
}

/** Validates `options` (throws `ERR_INVALID_OPTION` naming the option) and fills defaults. */
export function validateNetworkOptions(options: NetworkOptions): {
  limits: ResolvedLimits;
  topology: Topology;
} {
  const top = optionsSchema.safeParse(options);
  if (!top.success) throw invalid('', top.error.issues);
  if (options.transport === undefined && options.credentials === undefined) {
    throw new PeerpostError(
      'ERR_INVALID_OPTION',
      'invalid option `credentials`: required when no `transport` is given (see generateCredentials())',
    );
  }
  return { limits: resolveLimits(options.limits), topology: resolveTopology(options.topology) };
}

export function resolveLimits(limits: NetworkLimits | undefined): ResolvedLimits {
  const parsed = limitsSchema.safeParse(limits ?? {});
  if (!parsed.success) throw invalid('limits', parsed.error.issues);
  return parsed.data;
}

export function resolveTopology(input: TopologyInput | undefined): Topology {
  if (input === undefined) return new Map();
  const parsed = topologySchema.safeParse(input instanceof Map ? toPlainTopology(input) : input);
  if (!parsed.success) throw invalid('topology', parsed.error.issues);
  return toTopology(parsed.data);
}

/** A {@link Topology} as {@link TopologyInput} data, its identities without an address included. */
function toPlainTopology(topology: Topology): Record<string, object[]> {
  const entries = new Map<string, object[]>();
  for (const [id, list] of topology) entries.set(id, list.map(toPlainAddress));
  for (const [id, list] of identitiesOf(topology)) {
    const plain = list.map((identity) => ({ ...identity }));
    entries.set(id, [...(entries.get(id) ?? []), ...plain]);
  }
  return Object.fromEntries(entries);
}

function toPlainAddress(entry: {
  address: string;
  expectedIdentity?: { certHash: string } | { ownerKey: string } | undefined;
}): object {
  return { address: entry.address, ...(entry.expectedIdentity ?? {}) };
}

export { DEFAULT_LIMITS };

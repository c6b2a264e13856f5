import { z } from 'zod';
import { addressProblem } from './address.js';

/**
 * The zod schema of the `peerpost node` YAML file. Every default lives here (and in
 * docs/configuration.md, which a test keeps in sync). Messages are written for
 * operators: "expected a positive integer, got -5".
 */

/** How messages to peer ids travel: on peer senders, through the broadcast path, or both. */
export type DirectSendMode = 'direct' | 'broadcast' | 'both';
export const DIRECT_SEND_MODES: readonly DirectSendMode[] = ['direct', 'broadcast', 'both'];

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

const MIB = 1024 * 1024;

/** Values used when a key is absent. */
export const DEFAULT_LIMITS = {
  peerQueueCapacity: 100,
  peerQueueBytes: 16 * MIB,
  unresolvedCapacity: 1000,
  unresolvedQueueBytes: 16 * MIB,
  unresolvedTtlMs: 30_000,
  resolveRetryMs: 1000,
  backoff: { initialMs: 100, deadlineMs: 5000, jitter: 0.2 },
  writeTimeoutMs: 12_000,
  handshakeTimeoutMs: 5000,
  idleTimeoutMs: 10_000,
  maxFrameBytes: 16 * MIB,
  maxDecompressedBytes: 16 * MIB,
  maxInboundConnections: 1000,
  subscriberQueueCapacity: 1000,
  incomingQueueBytes: 64 * MIB,
  nodeQueueBytes: 512 * MIB,
  /** The hub's default: 0 never disconnects a slow subscriber. */
  slowSubscriberDisconnectAfterDrops: 0,
  dedup: { windowSize: 10_000, ttlMs: 60_000 },
  drainTimeoutMs: 5000,
} as const;

/** Largest accepted value for byte limits: 1 GiB. */
export const MAX_BYTES_LIMIT = 1024 * MIB;

export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

/** `expected <what>, got <value>`, or that the key is missing. */
export function expected(what: string, value: unknown): string {
  return value === undefined ? 'required key is missing' : `expected ${what}, got ${show(value)}`;
}

const positiveInt = (max = Number.MAX_SAFE_INTEGER) =>
  z
    .unknown()
    .refine((v) => typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= max, {
      error: (iss) =>
        expected(`a positive integer${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}`, iss.input),
    })
    .transform((v) => v as number);

const nonNegativeInt = () =>
  z
    .unknown()
    .refine((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0, {
      error: (iss) => expected('a non-negative integer', iss.input),
    })
    .transform((v) => v as number);

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1000,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: MIB,
  gib: 1024 * MIB,
};

/** A byte count: a positive integer, or a string with a unit ("16MiB", "512 KiB", "1MB"). */
const byteSize = z.unknown().transform((v, ctx) => {
  let n: number | undefined;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
    const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
    if (m && unit !== undefined) n = Math.round(Number(m[1]) * unit);
  }
  if (n === undefined || !Number.isInteger(n) || n <= 0 || n > MAX_BYTES_LIMIT) {
    ctx.addIssue({
      code: 'custom',
      input: v,
      message: expected('a byte size (a positive integer or e.g. "16MiB") up to 1GiB', v),
    });
    return z.NEVER;
  }
  return n;
});

const fraction = z
  .unknown()
  .refine((v) => typeof v === 'number' && v >= 0 && v <= 1, {
    error: (iss) => expected('a number from 0 to 1', iss.input),
  })
  .transform((v) => v as number);

const address = (allowPortZero: boolean) =>
  z.unknown().transform((v, ctx) => {
    const problem = typeof v === 'string' ? addressProblem(v, allowPortZero) : 'expected host:port';
    if (problem !== undefined) {
      const message = v === undefined ? 'required key is missing' : `${problem}, got ${show(v)}`;
      ctx.addIssue({ code: 'custom', input: v, message });
      return z.NEVER;
    }
    return v as string;
  });

const hex32 = (what: string) =>
  z
    .unknown()
    .refine((v) => typeof v === 'string' && /^[0-9a-fA-F]{64}$/.test(v), {
      error: (iss) => expected(`${what} (64 hex characters)`, iss.input),
    })
    .transform((v) => (v as string).toLowerCase());

function hasControlChars(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 0x20) return true;
  return false;
}

const nonEmptyString = (what: string) =>
  z
    .unknown()
    .refine((v) => typeof v === 'string' && v.length > 0 && v.length <= 4096 && !hasControlChars(v), {
      error: (iss) => expected(what, iss.input),
    })
    .transform((v) => v as string);

const oneOf = <T extends string>(values: readonly T[]) =>
  z
    .unknown()
    .refine((v) => typeof v === 'string' && (values as readonly string[]).includes(v), {
      error: (iss) => expected(`one of ${values.join('|')}`, iss.input),
    })
    .transform((v) => v as T);

export const limitsSchema = z.strictObject({
  peerQueueCapacity: positiveInt(1_000_000).default(DEFAULT_LIMITS.peerQueueCapacity),
  peerQueueBytes: byteSize.default(DEFAULT_LIMITS.peerQueueBytes),
  unresolvedCapacity: positiveInt(10_000_000).default(DEFAULT_LIMITS.unresolvedCapacity),
  unresolvedQueueBytes: byteSize.default(DEFAULT_LIMITS.unresolvedQueueBytes),
  unresolvedTtlMs: positiveInt().default(DEFAULT_LIMITS.unresolvedTtlMs),
  resolveRetryMs: positiveInt().default(DEFAULT_LIMITS.resolveRetryMs),
  backoff: z
    .strictObject({
      initialMs: positiveInt().default(DEFAULT_LIMITS.backoff.initialMs),
      deadlineMs: positiveInt().default(DEFAULT_LIMITS.backoff.deadlineMs),
      jitter: fraction.default(DEFAULT_LIMITS.backoff.jitter),
    })
    .prefault({}),
  writeTimeoutMs: positiveInt().default(DEFAULT_LIMITS.writeTimeoutMs),
  handshakeTimeoutMs: positiveInt().default(DEFAULT_LIMITS.handshakeTimeoutMs),
  idleTimeoutMs: positiveInt().default(DEFAULT_LIMITS.idleTimeoutMs),
  maxFrameBytes: byteSize.default(DEFAULT_LIMITS.maxFrameBytes),
  maxDecompressedBytes: byteSize.default(DEFAULT_LIMITS.maxDecompressedBytes),
  maxInboundConnections: positiveInt(1_000_000).default(DEFAULT_LIMITS.maxInboundConnections),
  subscriberQueueCapacity: positiveInt(10_000_000).default(DEFAULT_LIMITS.subscriberQueueCapacity),
  incomingQueueBytes: byteSize.default(DEFAULT_LIMITS.incomingQueueBytes),
  nodeQueueBytes: byteSize.default(DEFAULT_LIMITS.nodeQueueBytes),
  slowSubscriberDisconnectAfterDrops: nonNegativeInt().default(
    DEFAULT_LIMITS.slowSubscriberDisconnectAfterDrops,
  ),
  dedup: z
    .strictObject({
      windowSize: positiveInt(100_000_000).default(DEFAULT_LIMITS.dedup.windowSize),
      ttlMs: positiveInt().default(DEFAULT_LIMITS.dedup.ttlMs),
    })
    .prefault({}),
  drainTimeoutMs: positiveInt().default(DEFAULT_LIMITS.drainTimeoutMs),
});

// A bare "host:port" is shorthand for { address: "host:port" }. An entry without an
// address names the peer by identity only (a client on an ephemeral port).
const ENTRY_SHAPES = 'host:port, { address, certHash | ownerKey } or { certHash | ownerKey }';
const peerAddressSchema = z.preprocess(
  (v) => (typeof v === 'string' ? { address: v } : v),
  z
    .strictObject(
      {
        address: address(false).optional(),
        certHash: hex32('a certificate SHA-256').optional(),
        ownerKey: hex32('an Ed25519 owner key').optional(),
      },
      { error: (iss) => expected(ENTRY_SHAPES, iss.input) },
    )
    .refine((v) => v.certHash === undefined || v.ownerKey === undefined, {
      error: 'give either certHash or ownerKey, not both',
    })
    .refine((v) => v.address !== undefined || v.certHash !== undefined || v.ownerKey !== undefined, {
      error: 'give an address, a certHash or an ownerKey',
    }),
);

/** Peer id -> its addresses and identities, as written in YAML (inline or in the topology file). */
export const topologySchema = z.record(
  nonEmptyString('a peer id'),
  z
    .array(peerAddressSchema, {
      error: (iss) => expected('a list of addresses', iss.input),
    })
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      list.forEach((entry, i) => {
        if (entry.address === undefined) return;
        if (seen.has(entry.address)) {
          ctx.addIssue({ code: 'custom', path: [i], message: `duplicate address ${entry.address}` });
        }
        seen.add(entry.address);
      });
    }),
  { error: (iss) => expected('a mapping of peer id to addresses', iss.input) },
);

/** Defaults of `registry.etcd`. */
export const DEFAULT_ETCD_REGISTRY = { prefix: '/peerpost/default/', leaseTtlSeconds: 10 } as const;

const etcdEndpoint = z.unknown().transform((v, ctx) => {
  const m = typeof v === 'string' ? /^(?:https?:\/\/)?([^/]+)\/?$/.exec(v) : null;
  const problem = m ? addressProblem(m[1]!) : 'expected http://host:port, https://host:port or host:port';
  if (problem !== undefined) {
    ctx.addIssue({ code: 'custom', input: v, message: `${problem}, got ${show(v)}` });
    return z.NEVER;
  }
  return v as string;
});

const registryPrefix = z
  .unknown()
  .refine((v) => typeof v === 'string' && v.length <= 512 && v.endsWith('/') && !hasControlChars(v), {
    error: (iss) => expected('a key prefix ending with "/" (at most 512 characters)', iss.input),
  })
  .transform((v) => v as string);

const list = <T extends z.ZodType>(item: T, what: string, max: number) =>
  z
    .array(item, { error: (iss) => expected(what, iss.input) })
    .refine((v) => v.length > 0 && v.length <= max, { error: `expected 1 to ${max} entries` });

/** `registry.etcd`: membership on etcd (see docs/registry.md). Applied live on reload (the registry is replaced). */
export const etcdRegistrySchema = z
  .strictObject({
    endpoints: list(etcdEndpoint, 'a list of etcd URLs', 16),
    prefix: registryPrefix.default(DEFAULT_ETCD_REGISTRY.prefix),
    leaseTtlSeconds: positiveInt(3600).default(DEFAULT_ETCD_REGISTRY.leaseTtlSeconds),
    advertise: list(address(false), 'a list of host:port', 16).optional(),
    tls: z
      .strictObject({
        ca: nonEmptyString('a file path'),
        cert: nonEmptyString('a file path').optional(),
        key: nonEmptyString('a file path').optional(),
      })
      .refine((v) => (v.cert === undefined) === (v.key === undefined), {
        error: 'give cert and key together',
      })
      .optional(),
    username: nonEmptyString('a user name').optional(),
    password: nonEmptyString('a password').optional(),
  })
  .refine((v) => (v.username === undefined) === (v.password === undefined), {
    error: 'give username and password together',
  });

export const registrySchema = z.strictObject({ etcd: etcdRegistrySchema });

/** Acknowledged delivery (docs/acks.md); the same keys and defaults as the `acks` option of createNetwork. */
const booleanOf = (what: string) => z.boolean({ error: (iss) => expected(what, iss.input) });

export const acksSchema = z.strictObject({
  enabled: booleanOf('true or false').default(false),
  peers: z.array(nonEmptyString('a peer id')).default([]),
  window: positiveInt().default(32_768),
  windowBytes: byteSize.default(8 * 1024 * 1024),
  accept: booleanOf('true or false').default(true),
  streams: positiveInt().default(4096),
});

export const nodeConfigSchema = z
  .strictObject({
    nodeId: nonEmptyString('a non-empty peer id'),
    listen: address(true),
    credentials: z.strictObject({
      key: nonEmptyString('a file path'),
      cert: nonEmptyString('a file path'),
    }),
    trust: z
      .strictObject({
        certHashes: z.array(hex32('a certificate SHA-256')).default([]),
        ownerKeys: z.array(hex32('an Ed25519 owner key')).default([]),
      })
      .prefault({}),
    limits: limitsSchema.prefault({}),
    directSendMode: oneOf(DIRECT_SEND_MODES).default('direct'),
    admin: address(true).optional(),
    controlTokenFile: nonEmptyString('a file path').optional(),
    logLevel: oneOf(LOG_LEVELS).default('info'),
    topology: topologySchema.optional(),
    topologyFile: nonEmptyString('a file path').optional(),
    registry: registrySchema.optional(),
    acks: acksSchema.prefault({}),
  })
  .superRefine((v, ctx) => {
    if (v.topology !== undefined && v.topologyFile !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['topologyFile'],
        message: 'give either topology or topologyFile, not both',
      });
    }
    if (v.controlTokenFile !== undefined) {
      const host = v.admin === undefined ? undefined : v.admin.slice(0, v.admin.lastIndexOf(':'));
      const loopback =
        host === 'localhost' || host === '[::1]' || host === '::1' || host?.startsWith('127.') === true;
      if (!loopback) {
        ctx.addIssue({
          code: 'custom',
          path: ['controlTokenFile'],
          message:
            v.admin === undefined
              ? 'the control path is served by the admin server: set admin (on 127.0.0.1 or ::1) too'
              : `the control path is served on loopback only: admin is ${v.admin}`,
        });
      }
    }
    if (v.limits.backoff.deadlineMs < v.limits.backoff.initialMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['limits', 'backoff', 'deadlineMs'],
        message: `must be at least backoff.initialMs (${v.limits.backoff.initialMs}), got ${v.limits.backoff.deadlineMs}`,
      });
    }
  });

export type RawNodeConfig = z.output<typeof nodeConfigSchema>;
export type RawTopology = z.output<typeof topologySchema>;
export type RawEtcdRegistry = z.output<typeof etcdRegistrySchema>;

/** Limits of a node, all resolved to numbers. See docs/configuration.md. */
export type NodeLimits = RawNodeConfig['limits'];

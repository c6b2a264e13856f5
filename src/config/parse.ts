import { dirname, resolve } from 'node:path';
import process from 'node:process';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { makeTopology, type PeerAddress, type Topology } from '../topology/types.js';
import type { ExpectedIdentity } from '../transport/types.js';
import { ConfigError, type ConfigIssue, toConfigIssues } from './issues.js';
import {
  DEFAULT_LIMITS,
  type DirectSendMode,
  etcdRegistrySchema,
  type LogLevel,
  limitsSchema,
  type NodeLimits,
  nodeConfigSchema,
  type RawNodeConfig,
  type RawTopology,
  topologySchema,
} from './schema.js';

/** `registry.etcd` of the config (see docs/registry.md). File paths are absolute. */
export interface EtcdRegistryConfig {
  readonly endpoints: readonly string[];
  readonly prefix: string;
  readonly leaseTtlSeconds: number;
  /** Addresses written in this node's entry; undefined: the listen address. */
  readonly advertise: readonly string[] | undefined;
  /** PEM files of etcd's client TLS. */
  readonly tls:
    | { readonly caFile: string; readonly certFile?: string; readonly keyFile?: string }
    | undefined;
  readonly username: string | undefined;
  /** Never log it. */
  readonly password: string | undefined;
}

/** The validated configuration of a `peerpost node`. Paths are absolute. */
export interface NodeConfig {
  /** This node's peer id. Needs a restart to change. */
  readonly nodeId: string;
  /** `host:port` the node listens on. Needs a restart to change. */
  readonly listen: string;
  /** Key and certificate PEM files. */
  readonly credentials: { readonly keyFile: string; readonly certFile: string };
  /** Trusted certificate hashes and owner keys (lowercase hex); both empty = trust everyone. */
  readonly trust: { readonly certHashes: readonly string[]; readonly ownerKeys: readonly string[] };
  readonly limits: NodeLimits;
  /** @default 'direct' */
  readonly directSendMode: DirectSendMode;
  /** `host:port` of the admin HTTP server (metrics, health, status); none when undefined. Needs a restart to change. */
  readonly admin: string | undefined;
  /** File holding the token of the admin server's control path (`POST /send`); none when undefined. Needs a restart to change. */
  readonly controlTokenFile?: string | undefined;
  /** @default 'info' */
  readonly logLevel: LogLevel;
  /** The peer table: inline, or the topology file's content once loaded (empty until then). */
  readonly topology: Topology;
  /** The separate topology file, when the config names one. */
  readonly topologyFile: string | undefined;
  /** Membership on etcd, merged with `topology`; none when undefined. Needs a restart to change. */
  readonly registry?: { readonly etcd: EtcdRegistryConfig } | undefined;
  /** Acknowledged delivery (docs/acks.md); `peers` empty: every peer. */
  readonly acks: RawNodeConfig['acks'];
  /** The config file, when parsed from one. */
  readonly path: string | undefined;
}

export interface ParseConfigOptions {
  /** Where the text came from: used in messages and to resolve relative paths. */
  path?: string;
  /** Directory that relative paths in the file are resolved against. @default the directory of `path`, else the working directory */
  baseDir?: string;
}

const KNOWN_KEYS: ReadonlyMap<string, readonly string[]> = new Map([
  ['', Object.keys(nodeConfigSchema.shape)],
  ['credentials', ['key', 'cert']],
  ['trust', ['certHashes', 'ownerKeys']],
  ['limits', Object.keys(limitsSchema.shape)],
  ['limits.backoff', Object.keys(DEFAULT_LIMITS.backoff)],
  ['limits.dedup', Object.keys(DEFAULT_LIMITS.dedup)],
  ['registry', ['etcd']],
  ['registry.etcd', Object.keys(etcdRegistrySchema.shape)],
  ['registry.etcd.tls', ['ca', 'cert', 'key']],
]);

/** Parses YAML and runs `schema`; throws a located {@link ConfigError}. */
function parseYaml<S extends z.ZodType>(text: string, file: string, schema: S): z.output<S> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const issues: ConfigIssue[] = doc.errors.map((e) => ({
      file,
      path: '',
      line: e.linePos?.[0].line,
      column: e.linePos?.[0].col,
      message: `invalid YAML: ${e.message.split('\n')[0]}`,
    }));
    throw new ConfigError(issues);
  }
  // Aliases are bounded so that a small file cannot expand into a huge value.
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  const result = schema.safeParse(value ?? {}, { reportInput: true });
  if (!result.success) {
    throw new ConfigError(toConfigIssues(result.error.issues, file, doc.contents, lineCounter, KNOWN_KEYS));
  }
  return result.data;
}

export function toTopology(raw: RawTopology): Topology {
  const table = new Map<string, readonly PeerAddress[]>();
  const identities = new Map<string, readonly ExpectedIdentity[]>();
  for (const [peerId, entries] of Object.entries(raw)) {
    const addresses: PeerAddress[] = [];
    const named: ExpectedIdentity[] = [];
    for (const e of entries) {
      const identity: ExpectedIdentity | undefined =
        e.certHash !== undefined
          ? { certHash: e.certHash }
          : e.ownerKey !== undefined
            ? { ownerKey: e.ownerKey }
            : undefined;
      if (e.address === undefined) {
        if (identity !== undefined) named.push(identity);
      } else {
        addresses.push(
          identity === undefined
            ? { address: e.address }
            : { address: e.address, expectedIdentity: identity },
        );
      }
    }
    table.set(peerId, addresses);
    if (named.length > 0) identities.set(peerId, named);
  }
  return makeTopology(table, identities);
}

/**
 * Parses and validates the YAML text of a `peerpost node` config file. Throws a
 * {@link ConfigError} (`ERR_INVALID_CONFIG`) listing every problem, each with its key
 * path, line and column. The topology file, if any, is not read here (see `loadNodeConfig`).
 */
export function parseNodeConfig(text: string, options: ParseConfigOptions = {}): NodeConfig {
  const file = options.path ?? '<config>';
  const raw = parseYaml(text, file, nodeConfigSchema);
  const baseDir =
    options.baseDir ?? (options.path === undefined ? process.cwd() : dirname(resolve(options.path)));
  return {
    nodeId: raw.nodeId,
    listen: raw.listen,
    credentials: {
      keyFile: resolve(baseDir, raw.credentials.key),
      certFile: resolve(baseDir, raw.credentials.cert),
    },
    trust: { certHashes: [...new Set(raw.trust.certHashes)], ownerKeys: [...new Set(raw.trust.ownerKeys)] },
    limits: raw.limits,
    directSendMode: raw.directSendMode,
    acks: raw.acks,
    admin: raw.admin,
    controlTokenFile: raw.controlTokenFile === undefined ? undefined : resolve(baseDir, raw.controlTokenFile),
    logLevel: raw.logLevel,
    topology: raw.topology === undefined ? new Map() : toTopology(raw.topology),
    topologyFile: raw.topologyFile === undefined ? undefined : resolve(baseDir, raw.topologyFile),
    registry:
      raw.registry === undefined
        ? undefined
        : {
            etcd: {
              endpoints: raw.registry.etcd.endpoints,
              prefix: raw.registry.etcd.prefix,
              leaseTtlSeconds: raw.registry.etcd.leaseTtlSeconds,
              advertise: raw.registry.etcd.advertise,
              tls:
                raw.registry.etcd.tls === undefined
                  ? undefined
                  : {
                      caFile: resolve(baseDir, raw.registry.etcd.tls.ca),
                      ...(raw.registry.etcd.tls.cert === undefined
                        ? {}
                        : { certFile: resolve(baseDir, raw.registry.etcd.tls.cert) }),
                      ...(raw.registry.etcd.tls.key === undefined
                        ? {}
                        : { keyFile: resolve(baseDir, raw.registry.etcd.tls.key) }),
                    },
              username: raw.registry.etcd.username,
              password: raw.registry.etcd.password,
            },
          },
    path: options.path === undefined ? undefined : resolve(options.path),
  };
}

/**
 * Parses a topology file: a YAML mapping of peer id to a list of entries, each
 * `host:port`, `{ address, certHash | ownerKey }`, or `{ certHash | ownerKey }` (an
 * identity without an address). An empty file is an empty topology.
 */
export function parseTopology(text: string, options: { path?: string } = {}): Topology {
  return toTopology(parseYaml(text, options.path ?? '<topology>', topologySchema));
}

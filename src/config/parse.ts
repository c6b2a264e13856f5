import { dirname, resolve } from 'node:path';
import process from 'node:process';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import type { PeerAddress, Topology } from '../topology/types.js';
import { ConfigError, type ConfigIssue, toConfigIssues } from './issues.js';
import {
  DEFAULT_LIMITS,
  type DirectSendMode,
  type LogLevel,
  limitsSchema,
  type NodeLimits,
  nodeConfigSchema,
  type RawTopology,
  topologySchema,
} from './schema.js';

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
  /** @default 'info' */
  readonly logLevel: LogLevel;
  /** The peer table: inline, or the topology file's content once loaded (empty until then). */
  readonly topology: Topology;
  /** The separate topology file, when the config names one. */
  readonly topologyFile: string | undefined;
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
  for (const [peerId, entries] of Object.entries(raw)) {
    table.set(
      peerId,
      entries.map((e): PeerAddress => {
        if (e.certHash !== undefined)
          return { address: e.address, expectedIdentity: { certHash: e.certHash } };
        if (e.ownerKey !== undefined)
          return { address: e.address, expectedIdentity: { ownerKey: e.ownerKey } };
        return { address: e.address };
      }),
    );
  }
  return table;
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
    admin: raw.admin,
    logLevel: raw.logLevel,
    topology: raw.topology === undefined ? new Map() : toTopology(raw.topology),
    topologyFile: raw.topologyFile === undefined ? undefined : resolve(baseDir, raw.topologyFile),
    path: options.path === undefined ? undefined : resolve(options.path),
  };
}

/**
 * Parses a topology file: a YAML mapping of peer id to a list of addresses, each
 * `host:port` or `{ address, certHash | ownerKey }`. An empty file is an empty topology.
 */
export function parseTopology(text: string, options: { path?: string } = {}): Topology {
  return toTopology(parseYaml(text, options.path ?? '<topology>', topologySchema));
}

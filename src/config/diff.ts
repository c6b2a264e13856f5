import { identitiesOf, type PeerAddress, type Topology } from '../topology/types.js';
import type { ExpectedIdentity } from '../transport/types.js';
import type { EtcdRegistryConfig, NodeConfig } from './parse.js';

/** One difference between two configs, for the "what changed" log line. */
export interface ConfigChange {
  /** Key path, e.g. `limits.peerQueueCapacity`, `topology.bob`. */
  readonly key: string;
  /** Human-readable, e.g. `directSendMode: direct -> both`. Never contains key material. */
  readonly description: string;
  /** True for keys that only take effect after a restart (they are not applied live). */
  readonly needsRestart: boolean;
}

/** Keys that cannot change in a running node: a change is reported and not applied. */
export const RESTART_KEYS = ['nodeId', 'listen', 'admin', 'controlTokenFile'] as const;

/**
 * Limits a running node applies live: the direct sender's (through
 * `network.updateConfig`) and the shutdown drain. The others size the listener, hub and
 * transport, which are built once: changing them needs a restart.
 */
export const LIVE_LIMITS: readonly string[] = [
  'limits.peerQueueCapacity',
  'limits.peerQueueBytes',
  'limits.unresolvedCapacity',
  'limits.unresolvedQueueBytes',
  'limits.unresolvedTtlMs',
  'limits.resolveRetryMs',
  'limits.backoff.initialMs',
  'limits.backoff.deadlineMs',
  'limits.backoff.jitter',
  'limits.drainTimeoutMs',
];

/** At most this many peers are described one by one; the rest are counted. */
const MAX_PEER_LINES = 20;

function identityText(id: ExpectedIdentity): string {
  return 'certHash' in id ? `cert:${id.certHash.slice(0, 8)}` : `owner:${id.ownerKey.slice(0, 8)}`;
}

function addressText(a: PeerAddress): string {
  const id = a.expectedIdentity;
  return id === undefined ? a.address : `${a.address}#${identityText(id)}`;
}

/** A peer's entries: its addresses, then the identities that name it without an address. */
function entriesText(topology: Topology, peer: string): string {
  const addresses = (topology.get(peer) ?? []).map(addressText);
  const identities = (identitiesOf(topology).get(peer) ?? []).map(identityText);
  return `[${[...addresses, ...identities].join(', ')}]`;
}

function diffTopology(old: Topology, next: Topology): ConfigChange[] {
  const out: ConfigChange[] = [];
  let more = 0;
  const push = (peer: string, description: string) => {
    if (out.length < MAX_PEER_LINES) out.push({ key: `topology.${peer}`, description, needsRestart: false });
    else more++;
  };
  for (const peer of next.keys()) {
    const after = entriesText(next, peer);
    if (!old.has(peer)) push(peer, `topology: peer ${peer} added ${after}`);
    else {
      const before = entriesText(old, peer);
      if (before !== after) push(peer, `topology: peer ${peer} ${before} -> ${after}`);
    }
  }
  for (const peer of old.keys()) {
    if (!next.has(peer)) push(peer, `topology: peer ${peer} removed (was ${entriesText(old, peer)})`);
  }
  if (more > 0)
    out.push({ key: 'topology', description: `topology: ${more} more peers changed`, needsRestart: false });
  return out;
}

function diffSet(key: string, old: readonly string[], next: readonly string[]): ConfigChange[] {
  const before = new Set(old);
  const after = new Set(next);
  const added = next.filter((x) => !before.has(x)).map((x) => x.slice(0, 8));
  const removed = old.filter((x) => !after.has(x)).map((x) => x.slice(0, 8));
  if (added.length === 0 && removed.length === 0) return [];
  const parts: string[] = [];
  if (added.length > 0) parts.push(`added ${added.join(', ')}`);
  if (removed.length > 0) parts.push(`removed ${removed.join(', ')}`);
  return [{ key, description: `${key}: ${parts.join('; ')}`, needsRestart: false }];
}

function diffLeaves(prefix: string, old: object, next: object, out: ConfigChange[]): void {
  for (const [k, v] of Object.entries(next)) {
    const before: unknown = (old as Record<string, unknown>)[k];
    const key = `${prefix}.${k}`;
    if (typeof v === 'object' && v !== null && typeof before === 'object' && before !== null) {
      diffLeaves(key, before, v, out);
    } else if (before !== v) {
      const needsRestart = !LIVE_LIMITS.includes(key);
      const description = `${key}: ${String(before)} -> ${String(v)}${needsRestart ? ' (needs restart, not applied)' : ''}`;
      out.push({ key, description, needsRestart });
    }
  }
}

/**
 * `registry.etcd` (applied live: the node replaces its registry): which settings changed,
 * named without their values (`username`/`password` must not reach the log).
 */
function diffRegistry(
  old: EtcdRegistryConfig | undefined,
  next: EtcdRegistryConfig | undefined,
): ConfigChange[] {
  if (old === undefined && next === undefined) return [];
  const change = (description: string): ConfigChange[] => [
    { key: 'registry.etcd', description, needsRestart: false },
  ];
  if (old === undefined) return change('registry.etcd: added');
  if (next === undefined) return change('registry.etcd: removed');
  const keys = new Set([...Object.keys(old), ...Object.keys(next)]);
  const changed = [...keys]
    .filter(
      (k) =>
        JSON.stringify((old as unknown as Record<string, unknown>)[k] ?? null) !==
        JSON.stringify((next as unknown as Record<string, unknown>)[k] ?? null),
    )
    .sort();
  return changed.length === 0 ? [] : change(`registry.etcd: ${changed.join(', ')} changed`);
}

/**
 * What differs from `old` to `next`, in a stable order. Credential contents are compared
 * when both configs were loaded from disk (they carry `pem`) and reported without the key.
 */
export function diffConfig(old: NodeConfig, next: NodeConfig): ConfigChange[] {
  const out: ConfigChange[] = [];
  const scalar = (key: string, a: unknown, b: unknown, needsRestart: boolean) => {
    if (a !== b) {
      const description = `${key}: ${String(a ?? 'none')} -> ${String(b ?? 'none')}${needsRestart ? ' (needs restart, not applied)' : ''}`;
      out.push({ key, description, needsRestart });
    }
  };
  for (const key of RESTART_KEYS) scalar(key, old[key], next[key], true);
  out.push(...diffRegistry(old.registry?.etcd, next.registry?.etcd));
  scalar('directSendMode', old.directSendMode, next.directSendMode, false);
  scalar('logLevel', old.logLevel, next.logLevel, false);
  scalar('credentials.keyFile', old.credentials.keyFile, next.credentials.keyFile, false);
  scalar('credentials.certFile', old.credentials.certFile, next.credentials.certFile, false);
  const oldPem = (old as { pem?: { key: string; cert: string } }).pem;
  const nextPem = (next as { pem?: { key: string; cert: string } }).pem;
  if (oldPem !== undefined && nextPem !== undefined) {
    if (oldPem.cert !== nextPem.cert) {
      out.push({
        key: 'credentials.cert',
        description: 'credentials.cert: certificate content changed',
        needsRestart: false,
      });
    }
    if (oldPem.key !== nextPem.key) {
      out.push({
        key: 'credentials.key',
        description: 'credentials.key: key content changed',
        needsRestart: false,
      });
    }
  }
  out.push(...diffSet('trust.certHashes', old.trust.certHashes, next.trust.certHashes));
  out.push(...diffSet('trust.ownerKeys', old.trust.ownerKeys, next.trust.ownerKeys));
  diffLeaves('limits', old.limits, next.limits, out);
  for (const [k, v] of Object.entries(next.acks)) {
    const before: unknown = (old.acks as Record<string, unknown>)[k];
    if (JSON.stringify(before) === JSON.stringify(v)) continue;
    // What the receiving side was started with (the listener's ALPN list, its stream table) stays.
    const needsRestart = k === 'accept' || k === 'streams';
    const description = `acks.${k}: ${JSON.stringify(before)} -> ${JSON.stringify(v)}${needsRestart ? ' (needs restart, not applied)' : ''}`;
    out.push({ key: `acks.${k}`, description, needsRestart });
  }
  scalar('topologyFile', old.topologyFile, next.topologyFile, false);
  out.push(...diffTopology(old.topology, next.topology));
  return out;
}

/**
 * The config a running node adopts on reload: `next`, except the keys that need a
 * restart, which keep their running values.
 */
export function liveConfig<T extends NodeConfig>(running: NodeConfig, next: T): T {
  return {
    ...next,
    nodeId: running.nodeId,
    listen: running.listen,
    admin: running.admin,
    controlTokenFile: running.controlTokenFile,
  };
}

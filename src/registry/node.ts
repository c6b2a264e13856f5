import { readFile, stat } from 'node:fs/promises';
import type { LoadedNodeConfig } from '../config/load.js';
import type { EtcdRegistryConfig } from '../config/parse.js';
import { PeerpostError } from '../errors.js';
import { certificateHash } from '../identity/credentials.js';
import { type Metrics, noopMetrics } from '../metrics/types.js';
import type { Network } from '../network/network.js';
import type { ApplyTarget } from '../node/apply.js';
import type { Logger } from '../util/logger.js';
import {
  createEtcdRegistry,
  type EtcdRegistry,
  type EtcdRegistryOptions,
  type EtcdTlsOptions,
  waitForFirstListing,
} from './etcd.js';

/** Largest PEM file read for etcd's TLS. */
const MAX_PEM_BYTES = 1024 * 1024;

async function readPem(path: string, what: string): Promise<string> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error('not a regular file');
    if (info.size > MAX_PEM_BYTES) throw new Error(`larger than ${MAX_PEM_BYTES} bytes`);
    const pem = await readFile(path, 'utf8');
    if (!pem.includes('-----BEGIN ')) throw new Error('not a PEM file');
    return pem;
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new PeerpostError(
      'ERR_INVALID_CONFIG',
      `registry.etcd.tls.${what}: cannot read ${path}: ${reason}`,
      {
        cause: err,
      },
    );
  }
}

/** Reads the PEM files of `registry.etcd.tls` (ERR_INVALID_CONFIG when one cannot be read). */
export async function tlsOptions(config: EtcdRegistryConfig): Promise<EtcdTlsOptions | undefined> {
  const tls = config.tls;
  if (tls === undefined) return undefined;
  const [ca, cert, key] = await Promise.all([
    readPem(tls.caFile, 'ca'),
    tls.certFile === undefined ? undefined : readPem(tls.certFile, 'cert'),
    tls.keyFile === undefined ? undefined : readPem(tls.keyFile, 'key'),
  ]);
  return { ca, cert, key };
}

/** How long a reload waits for the new registry's first listing, then for its first write. */
const START_TIMEOUT_MS = 5000;

/** Resolves when `promise` does, or after `ms`. */
async function withinMs(promise: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** The settings a node's registry is built from: `registry.etcd` and the identity it advertises. */
function settingsOf(config: LoadedNodeConfig): string | undefined {
  const etcd = config.registry?.etcd;
  if (etcd === undefined) return undefined;
  return JSON.stringify({ etcd, certHash: certificateHash(config.pem.cert) });
}

/**
 * Whether a registry may act on the node now. A registry that is starting to replace
 * another one, or that was replaced, must not set the node's table or gauges.
 */
interface Gate {
  active: boolean;
}

interface Slot {
  readonly registry: EtcdRegistry;
  readonly gate: Gate;
  readonly settings: string;
}

/** A reload of the registry settings, checked and built but not started. */
export interface RegistrySwitch {
  /** For the log: `added`, `replaced` or `removed`. */
  readonly kind: 'added' | 'replaced' | 'removed';
  /**
   * Starts the new registry, waits for its first listing (at most its start timeout), then
   * hands the table over to it and closes the old one (its lease is revoked); or, when the
   * registry is removed, closes it and gives the network the static table.
   */
  commit(): Promise<void>;
  /** Drops the new registry unstarted (the reload was rejected elsewhere). */
  discard(): Promise<void>;
}

/**
 * The etcd registry of a `peerpost node` (`registry.etcd` in its config), replaced on a
 * config reload that changes its settings. The entry carries the node's certificate hash,
 * and the config's topology is the static table. It reports the `peerpost_registry_*`
 * metrics to the node's metrics.
 */
export class NodeRegistry {
  readonly #network: Network;
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  #slot: Slot | undefined;
  #closed = false;

  private constructor(network: Network, logger: Logger, metrics: Metrics) {
    this.#network = network;
    this.#logger = logger;
    this.#metrics = metrics;
  }

  /** Starts the registry of `config` (none without `registry.etcd`); resolves after its first listing or start timeout. */
  static async start(
    config: LoadedNodeConfig,
    network: Network,
    logger: Logger,
    metrics?: Metrics,
  ): Promise<NodeRegistry> {
    const node = new NodeRegistry(network, logger, metrics ?? noopMetrics);
    const change = await node.prepare(config);
    await change?.commit();
    return node;
  }

  /** The registry in use, if any. */
  get registry(): EtcdRegistry | undefined {
    return this.#slot?.registry;
  }

  /**
   * What a reload to `next` does to the registry: undefined when its settings (or the
   * node's certificate) did not change. Invalid settings (e.g. an unreadable `tls` file, an
   * address that cannot be advertised) throw here, before anything changes.
   */
  async prepare(next: LoadedNodeConfig): Promise<RegistrySwitch | undefined> {
    const settings = settingsOf(next);
    const old = this.#slot;
    if (settings === old?.settings) return undefined;
    const etcd = next.registry?.etcd;
    if (settings === undefined || etcd === undefined) {
      return {
        kind: 'removed',
        commit: async () => {
          if (old === undefined) return;
          this.#slot = undefined;
          await old.registry.close();
          old.gate.active = false;
          for (const gauge of ['connected', 'registered', 'revision', 'entries'] as const) {
            this.#metrics.set(`peerpost_registry_${gauge}`, 0);
          }
          this.#network.updateTopology(next.topology);
          this.#logger.info({}, 'registry: removed; the topology is the static table');
        },
        discard: async () => {},
      };
    }
    const gate: Gate = { active: false };
    const network = this.#network;
    const metrics = this.#metrics;
    const options: EtcdRegistryOptions = {
      network: {
        nodeId: network.nodeId,
        address: network.address,
        updateTopology: (topology) => {
          if (gate.active) network.updateTopology(topology);
        },
      },
      endpoints: etcd.endpoints,
      prefix: etcd.prefix,
      leaseTtlSeconds: etcd.leaseTtlSeconds,
      ...(etcd.advertise === undefined ? {} : { advertise: etcd.advertise }),
      identity: { certHash: certificateHash(next.pem.cert) },
      staticTopology: next.topology,
      tls: await tlsOptions(etcd),
      username: etcd.username,
      password: etcd.password,
      startTimeoutMs: START_TIMEOUT_MS,
      logger: this.#logger,
      metrics: {
        inc: (name, labels, value) => metrics.inc(name, labels, value),
        set: (name, value, labels) => {
          if (gate.active) metrics.set(name, value, labels);
        },
        observe: (name, value, labels) => {
          if (gate.active) metrics.observe(name, value, labels);
        },
      },
    };
    const registry = await createEtcdRegistry(options);
    const slot: Slot = { registry, gate, settings };
    return {
      kind: old === undefined ? 'added' : 'replaced',
      commit: async () => {
        if (this.#closed) {
          await registry.close();
          return;
        }
        if (old === undefined) gate.active = true;
        registry.start();
        const listed = await waitForFirstListing(registry, options);
        // The reload is done once this node is registered. Under the same key, the new entry
        // must be written before the old lease is revoked (else the others drop this node).
        if (listed) await withinMs(registry.registeredOnce(), START_TIMEOUT_MS);
        // Hand over: from here on only the new registry sets the table and the gauges.
        if (old !== undefined) {
          old.gate.active = false;
          old.registry.retire();
        }
        gate.active = true;
        this.#slot = slot;
        registry.applyNow();
        this.#logger.info(
          { endpoints: etcd.endpoints, prefix: etcd.prefix, listed, entries: registry.stats().entries },
          old === undefined ? 'registry: started' : 'registry: replaced by the new settings',
        );
        // Revoking the old lease removes the old entry; under the same key the new
        // registry's write already moved it to the new lease, so it stays.
        await old?.registry.close();
        registry.applyNow();
      },
      discard: () => registry.close(),
    };
  }

  /** Closes the registry in use: its lease is revoked. The network keeps its table. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#slot?.registry.close();
  }
}

/**
 * The network as a config reload sees it: with a registry, a new `topology` replaces the
 * static part of the table only (the registry merges its entries back in).
 */
export function reloadTarget(network: Network, registry: EtcdRegistry | undefined): ApplyTarget['network'] {
  if (registry === undefined) return network;
  return {
    updateConfig: (update) => network.updateConfig(update),
    updateTopology: (topology) => registry.updateStaticTopology(topology),
    updateTrust: (trust) => network.updateTrust(trust),
    updateCredentials: (credentials) => network.updateCredentials(credentials),
  };
}

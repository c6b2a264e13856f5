import { readFile, stat } from 'node:fs/promises';
import type { LoadedNodeConfig } from '../config/load.js';
import type { EtcdRegistryConfig } from '../config/parse.js';
import { PeerpostError } from '../errors.js';
import { certificateHash } from '../identity/credentials.js';
import type { Metrics } from '../metrics/types.js';
import type { Network } from '../network/network.js';
import type { ApplyTarget } from '../node/apply.js';
import type { Logger } from '../util/logger.js';
import { type EtcdRegistry, type EtcdTlsOptions, startEtcdRegistry } from './etcd.js';

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

async function tlsOptions(config: EtcdRegistryConfig): Promise<EtcdTlsOptions | undefined> {
  const tls = config.tls;
  if (tls === undefined) return undefined;
  const [ca, cert, key] = await Promise.all([
    readPem(tls.caFile, 'ca'),
    tls.certFile === undefined ? undefined : readPem(tls.certFile, 'cert'),
    tls.keyFile === undefined ? undefined : readPem(tls.keyFile, 'key'),
  ]);
  return { ca, cert, key };
}

/**
 * Starts the etcd registry of a `peerpost node` from its config (`registry.etcd`): the
 * node's entry carries its certificate hash, and the config's topology is the static table.
 * It reports the `peerpost_registry_*` metrics to `metrics` (the node's).
 */
export async function startNodeRegistry(
  config: LoadedNodeConfig,
  network: Network,
  logger: Logger,
  metrics?: Metrics,
): Promise<EtcdRegistry | undefined> {
  const etcd = config.registry?.etcd;
  if (etcd === undefined) return undefined;
  return startEtcdRegistry({
    network,
    endpoints: etcd.endpoints,
    prefix: etcd.prefix,
    leaseTtlSeconds: etcd.leaseTtlSeconds,
    ...(etcd.advertise === undefined ? {} : { advertise: etcd.advertise }),
    identity: { certHash: certificateHash(config.pem.cert) },
    staticTopology: config.topology,
    tls: await tlsOptions(etcd),
    username: etcd.username,
    password: etcd.password,
    logger,
    ...(metrics === undefined ? {} : { metrics }),
  });
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

import { Buffer } from 'node:buffer';
import { PeerpostError } from '../errors.js';
import type { PeerAddress } from '../topology/types.js';
import { decodeEntry, prefixProblem } from './entry.js';
import { type EtcdTlsOptions, errorText, etcdClientOptions, prefixEnd } from './etcd.js';

/** One valid entry of the registry, as etcd holds it. */
export interface ListedEntry {
  readonly peerId: string;
  readonly addresses: readonly PeerAddress[];
  /** The lease the entry lives under, in hex as etcdctl shows it; `0` for none. */
  readonly lease: string;
  /** Seconds left on that lease (-1: expired or revoked), when asked for. */
  readonly ttlSeconds?: number | undefined;
  readonly createRevision: number;
  readonly modRevision: number;
}

/** What the registry holds under a prefix, at one revision. */
export interface RegistryListing {
  readonly prefix: string;
  readonly revision: number;
  readonly entries: readonly ListedEntry[];
  /** Entries a node would ignore (malformed or too large), with why. */
  readonly ignored: readonly { readonly key: string; readonly problem: string }[];
}

export interface ReadRegistryOptions {
  endpoints: readonly string[];
  prefix: string;
  tls?: EtcdTlsOptions | undefined;
  username?: string | undefined;
  password?: string | undefined;
  /** Deadline of each etcd request. @default 5000 */
  timeoutMs?: number;
  /** Ask etcd how long each lease has left. @default true */
  leaseTtls?: boolean;
  /** At most this many entries are read. @default 10000 */
  maxEntries?: number;
}

const PAGE_SIZE = 500;
/** Lease look-ups sent at once. */
const LEASE_BATCH = 50;

/**
 * Reads every entry under `prefix` at one revision (in pages), with the checks a node
 * applies (bad entries are listed in `ignored`), and each lease's remaining TTL. For
 * `peerpost peers`. etcd not answering throws `ERR_CONNECT_FAILED`.
 */
export async function readRegistry(options: ReadRegistryOptions): Promise<RegistryListing> {
  const problem = prefixProblem(options.prefix);
  if (problem !== undefined) throw new PeerpostError('ERR_INVALID_OPTION', `invalid prefix: ${problem}`);
  const timeout = options.timeoutMs ?? 5000;
  const maxEntries = options.maxEntries ?? 10_000;
  const { Etcd3 } = await import('etcd3');
  const client = new Etcd3(etcdClientOptions(options, timeout));
  const prefix = Buffer.from(options.prefix);
  const end = prefixEnd(prefix);
  const entries: ListedEntry[] = [];
  const ignored: { key: string; problem: string }[] = [];
  try {
    let revision: number | undefined;
    let start = prefix;
    for (;;) {
      const page = await client.kv.range({
        key: start,
        range_end: end,
        limit: PAGE_SIZE,
        ...(revision === undefined ? {} : { revision }),
      });
      revision ??= Number(page.header.revision);
      for (const kv of page.kvs) {
        if (entries.length + ignored.length >= maxEntries) break;
        const decoded = decodeEntry(prefix, kv.key, kv.value);
        if ('problem' in decoded) {
          ignored.push({ key: kv.key.toString('utf8'), problem: decoded.problem });
          continue;
        }
        entries.push({
          peerId: decoded.entry.peerId,
          addresses: decoded.entry.addresses,
          lease: BigInt(kv.lease).toString(16),
          createRevision: Number(kv.create_revision),
          modRevision: Number(kv.mod_revision),
        });
      }
      const last = page.kvs.at(-1);
      if (!page.more || last === undefined || entries.length + ignored.length >= maxEntries) break;
      start = Buffer.concat([last.key, Buffer.from([0])]);
    }
    if (options.leaseTtls === false)
      return { prefix: options.prefix, revision: revision ?? 0, entries, ignored };
    const ttls = new Map<string, number>();
    const leases = [...new Set(entries.map((e) => e.lease))].filter((l) => l !== '0');
    for (let i = 0; i < leases.length; i += LEASE_BATCH) {
      await Promise.all(
        leases.slice(i, i + LEASE_BATCH).map(async (lease) => {
          const res = await client.leaseClient.leaseTimeToLive({ ID: BigInt(`0x${lease}`).toString() });
          ttls.set(lease, Number(res.TTL));
        }),
      );
    }
    return {
      prefix: options.prefix,
      revision: revision ?? 0,
      entries: entries.map((e) => ({ ...e, ttlSeconds: ttls.get(e.lease) })),
      ignored,
    };
  } catch (err) {
    throw new PeerpostError(
      'ERR_CONNECT_FAILED',
      `cannot read the registry from ${options.endpoints.join(', ')}: ${errorText(err)}`,
      { cause: err },
    );
  } finally {
    client.close();
  }
}

import { Buffer } from 'node:buffer';
// Types only: the client (and gRPC) is loaded by startEtcdRegistry, so that importing
// peerpost does not pay for it.
import type { Etcd3, IOptions, IWatchResponse, Lease } from 'etcd3';
import { PeerpostError } from '../errors.js';
import { type Metrics, noopMetrics } from '../metrics/types.js';
import type { Network } from '../network/network.js';
import { resolveTopology, type TopologyInput } from '../network/options.js';
import type { Topology } from '../topology/types.js';
import type { ExpectedIdentity } from '../transport/types.js';
import { addressProblem } from '../util/address.js';
import { type Logger, noopLogger } from '../util/logger.js';
import {
  decodeEntry,
  encodeEntry,
  MAX_ENTRY_ADDRESSES,
  MAX_ENTRY_BYTES,
  mergeTopology,
  peerIdProblem,
  prefixProblem,
  type RegistryEntry,
  topologyKey,
} from './entry.js';

/**
 * Membership on etcd v3: a topology source for a {@link Network}.
 *
 * - Register: the node writes `<prefix><nodeId>` = its advertised addresses (and the
 *   identity expected there) under a lease that a background keepalive renews. `close()`
 *   revokes the lease, so the entry goes at once; a node that dies without closing
 *   disappears when its lease expires (`leaseTtlSeconds`). A lost lease is replaced by a
 *   new one and the entry written again.
 * - Discover: list the prefix (in pages, at one revision R), then watch from R+1. Every
 *   change is applied through `network.updateTopology` (registry entries merged with the
 *   static table: a static peer id wins). A lost or compacted watch is followed by a new
 *   listing, which replaces the registry's part of the table as a whole, and a new watch.
 * - Bad data: an entry that is malformed or too large is ignored with a warning and
 *   counted (`stats().ignoredEntries`); the entry it would have replaced stays.
 * - etcd down: the table stays as it was, the node keeps sending, and both loops retry
 *   with backoff.
 *
 * The registry is only as trusted as etcd access: whoever can write under the prefix
 * decides where this node sends messages for registry peers (and, with identities, whom
 * it expects there). Use etcd's TLS and authentication, and pin sensitive peers in the
 * static table, which always wins.
 */

/** What the registry needs of a network: its id, its address and the way to set its table. */
export type RegistryNetwork = Pick<Network, 'nodeId' | 'address' | 'updateTopology'>;

export interface EtcdTlsOptions {
  /** PEM of the CA that signed etcd's server certificate. */
  readonly ca: string | Uint8Array;
  /** PEM client certificate, for etcd's `--client-cert-auth`. With `key`. */
  readonly cert?: string | Uint8Array | undefined;
  /** PEM private key of `cert`. */
  readonly key?: string | Uint8Array | undefined;
}

export interface EtcdRegistryOptions {
  /** The network whose table the registry keeps. Required. */
  network: RegistryNetwork;
  /** etcd client URLs: `http://host:port`, `https://host:port` or `host:port`. Required. */
  endpoints: readonly string[];
  /** Key prefix of this cluster's entries; must end with `/`. @default '/peerpost/default/' */
  prefix?: string;
  /** Lease TTL: how long a crashed node stays listed. @default 10 */
  leaseTtlSeconds?: number;
  /** Addresses written in this node's entry. @default [network.address] */
  advertise?: readonly string[];
  /** Identity other nodes should expect at the advertised addresses (pinning). @default none */
  identity?: ExpectedIdentity | undefined;
  /** Write this node's entry. `false` only discovers. @default true */
  register?: boolean;
  /** The static peer table, merged with the registry (a static peer id wins). @default {} */
  staticTopology?: TopologyInput;
  /** etcd client TLS: the CA, and a client certificate and key if etcd asks for one. */
  tls?: EtcdTlsOptions | undefined;
  /** etcd user name (with `password`). Send it over TLS only. */
  username?: string | undefined;
  password?: string | undefined;
  /** Deadline of each etcd request. @default 5000 */
  callTimeoutMs?: number;
  /** How long `startEtcdRegistry` waits for the first listing before it resolves anyway. @default 5000 */
  startTimeoutMs?: number;
  /** Registry entries kept at most; more are ignored with a warning. @default 10000 */
  maxEntries?: number;
  /** Longest wait between retries. @default 5000 */
  maxBackoffMs?: number;
  /** @default noopLogger */
  logger?: Logger;
  /** Where the `peerpost_registry_*` metrics go (see docs/metrics.md). @default noopMetrics */
  metrics?: Metrics;
  /** Aborting it closes the registry. */
  signal?: AbortSignal;
}

export type RegistryState = 'connecting' | 'synced' | 'reconnecting' | 'closed';

export interface EtcdRegistryStats {
  /** `synced` while a watch is live on top of a complete listing. */
  readonly state: RegistryState;
  /** Whether this node's entry is written under a live lease. */
  readonly registered: boolean;
  /** The last etcd revision applied (0 before the first listing). */
  readonly revision: number;
  /** Valid registry entries held (this node's included). */
  readonly entries: number;
  /** Entries ignored because they were malformed or too large, or beyond `maxEntries`. */
  readonly ignoredEntries: number;
  /** Listings after the first one (after a lost or compacted watch). */
  readonly watchRestarts: number;
  /** Leases granted after the first one (after a lost lease). */
  readonly reRegistrations: number;
  /** Failed etcd operations. */
  readonly errors: number;
  readonly lastError: string | undefined;
}

const DEFAULT_PREFIX = '/peerpost/default/';
const PAGE_SIZE = 500;
const MAX_ENDPOINTS = 16;
const MAX_CREDENTIAL_CHARS = 1024;

function invalid(option: string, problem: string): PeerpostError {
  return new PeerpostError('ERR_INVALID_OPTION', `invalid option \`${option}\`: ${problem}`);
}

function positiveInt(option: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0 || value > max) {
    throw invalid(option, `expected an integer from 1 to ${max}, got ${String(value)}`);
  }
  return value;
}

function endpointProblem(endpoint: string): string | undefined {
  const m = /^(?:(https?):\/\/)?([^/]+)\/?$/.exec(endpoint);
  if (!m) return 'expected http://host:port, https://host:port or host:port';
  return addressProblem(m[2]!);
}

/** The first key after every key that starts with `prefix` (etcd's `range_end` for a prefix). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

export function errorText(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

function toBuffer(pem: string | Uint8Array): Buffer {
  return typeof pem === 'string' ? Buffer.from(pem) : Buffer.from(pem.buffer, pem.byteOffset, pem.byteLength);
}

/** The `etcd3` client options for these endpoints, TLS and credentials. */
export function etcdClientOptions(
  options: Pick<EtcdRegistryOptions, 'endpoints' | 'tls' | 'username' | 'password'>,
  timeout: number,
): IOptions {
  return {
    hosts: [...options.endpoints],
    dialTimeout: timeout,
    // A deadline on every unary call; none on the watch and keepalive streams.
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeout }),
    // Keepalive pings find a dead connection under a watch (etcd accepts one every 5 s).
    grpcOptions: { 'grpc.keepalive_time_ms': 10_000, 'grpc.keepalive_timeout_ms': 5000 },
    // The client's own watch reconnection is not used (the registry re-lists instead); a
    // short constant delay keeps its leftover timers short.
    faultHandling: { watchBackoff: constantBackoff(100) },
    ...(options.tls === undefined
      ? {}
      : {
          credentials: {
            rootCertificate: toBuffer(options.tls.ca),
            ...(options.tls.key === undefined ? {} : { privateKey: toBuffer(options.tls.key) }),
            ...(options.tls.cert === undefined ? {} : { certChain: toBuffer(options.tls.cert) }),
          },
        }),
    ...(options.username === undefined || options.password === undefined
      ? {}
      : { auth: { username: options.username, password: options.password } }),
  };
}

/** What failed, in `stats().lastError` and `peerpost_registry_errors_total{operation}`. */
type RegistryOperation = 'list' | 'watch' | 'register' | 'lease' | 'apply';

/** A watch session ended: why. */
type WatchEnd = { kind: 'stopped' } | { kind: 'lost'; error: unknown };

/**
 * The membership registry on etcd. Start it with {@link startEtcdRegistry}; `close()`
 * revokes this node's lease and stops watching.
 */
export class EtcdRegistry {
  readonly #network: RegistryNetwork;
  readonly #client: Etcd3;
  readonly #log: Logger;
  readonly #metrics: Metrics;
  readonly #prefix: Buffer;
  readonly #prefixEnd: Buffer;
  readonly #ownKey: Buffer;
  readonly #ownValue: string;
  readonly #register: boolean;
  readonly #ttl: number;
  readonly #callTimeoutMs: number;
  readonly #maxEntries: number;
  readonly #maxBackoffMs: number;
  readonly #stop = new AbortController();
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => void this.close();

  #static: Topology;
  /** Valid registry entries by peer id. */
  #entries = new Map<string, RegistryEntry>();
  #applied: string | undefined;
  /** The highest etcd revision seen (listing or watch header). */
  #revision = 0;
  /** The revision the entries reflect: the listing's, then each applied event's. */
  #eventRevision = 0;
  #state: RegistryState = 'connecting';
  #lease: Lease | undefined;
  #registered = false;
  /** The revision of the last write of this node's entry. */
  #registeredRevision = 0;
  #ignored = 0;
  #watchRestarts = 0;
  #reRegistrations = 0;
  #errors = 0;
  #lastError: string | undefined;
  #stopStream: (() => void) | undefined;
  #tasks: Promise<void>[] = [];
  #synced: Promise<void>;
  #markSynced!: () => void;
  #firstRegistered: Promise<void>;
  #markRegistered!: () => void;
  #closing: Promise<void> | undefined;
  #started = false;
  /** A complete listing was applied at least once. */
  #listed = false;
  /** Another registry of this node writes its entry now (see {@link retire}). */
  #retired = false;

  /** Use {@link startEtcdRegistry}. `Client` is the `Etcd3` class of the `etcd3` package. */
  constructor(options: EtcdRegistryOptions, Client: typeof Etcd3) {
    const network = options.network;
    if (typeof network !== 'object' || network === null || typeof network.updateTopology !== 'function') {
      throw invalid('network', 'expected a Network');
    }
    if (!Array.isArray(options.endpoints) || options.endpoints.length === 0) {
      throw invalid('endpoints', 'expected a non-empty list of etcd URLs');
    }
    if (options.endpoints.length > MAX_ENDPOINTS) throw invalid('endpoints', `at most ${MAX_ENDPOINTS}`);
    for (const [i, endpoint] of options.endpoints.entries()) {
      const problem = typeof endpoint === 'string' ? endpointProblem(endpoint) : 'expected a string';
      if (problem !== undefined)
        throw invalid(`endpoints.${i}`, `${problem}, got ${JSON.stringify(endpoint)}`);
      if (options.tls !== undefined && endpoint.startsWith('http://')) {
        throw invalid(`endpoints.${i}`, 'tls is given: use https:// (or host:port)');
      }
    }
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    const problem = typeof prefix === 'string' ? prefixProblem(prefix) : 'expected a string';
    if (problem !== undefined) throw invalid('prefix', problem);
    const idProblem = peerIdProblem(network.nodeId);
    if (idProblem !== undefined)
      throw invalid('network', `its nodeId cannot be a registry key: ${idProblem}`);

    this.#ttl = positiveInt('leaseTtlSeconds', options.leaseTtlSeconds, 10, 3600);
    this.#callTimeoutMs = positiveInt('callTimeoutMs', options.callTimeoutMs, 5000, 600_000);
    this.#maxEntries = positiveInt('maxEntries', options.maxEntries, 10_000, 1_000_000);
    this.#maxBackoffMs = positiveInt('maxBackoffMs', options.maxBackoffMs, 5000, 600_000);
    this.#register = options.register ?? true;

    const advertise = options.advertise ?? [network.address];
    if (!Array.isArray(advertise) || advertise.length === 0) {
      throw invalid('advertise', 'expected a non-empty list of host:port');
    }
    if (advertise.length > MAX_ENTRY_ADDRESSES) throw invalid('advertise', `at most ${MAX_ENTRY_ADDRESSES}`);
    for (const [i, address] of advertise.entries()) {
      const p = typeof address === 'string' ? addressProblem(address) : 'expected host:port';
      if (p !== undefined) throw invalid(`advertise.${i}`, `${p}, got ${JSON.stringify(address)}`);
      if (/^(0\.0\.0\.0|\[::\]):/.test(address)) {
        throw invalid(
          `advertise.${i}`,
          `${address} is not reachable by other nodes: give the addresses to advertise (\`advertise\`)`,
        );
      }
    }
    if (new Set(advertise).size !== advertise.length) throw invalid('advertise', 'duplicate address');
    const identity = options.identity;
    if (identity !== undefined) {
      const hex =
        'certHash' in identity ? identity.certHash : 'ownerKey' in identity ? identity.ownerKey : '';
      if (typeof hex !== 'string' || !/^[0-9a-fA-F]{64}$/.test(hex)) {
        throw invalid('identity', 'expected { certHash } or { ownerKey } with 64 hex characters');
      }
    }
    const normalized: ExpectedIdentity | undefined =
      identity === undefined
        ? undefined
        : 'certHash' in identity
          ? { certHash: identity.certHash.toLowerCase() }
          : { ownerKey: identity.ownerKey.toLowerCase() };
    this.#ownValue = encodeEntry(advertise, normalized);
    if (Buffer.byteLength(this.#ownValue) > MAX_ENTRY_BYTES) {
      throw invalid('advertise', `the entry is larger than ${MAX_ENTRY_BYTES} bytes`);
    }
    if ((options.username === undefined) !== (options.password === undefined)) {
      throw invalid(
        options.username === undefined ? 'username' : 'password',
        'give username and password together',
      );
    }
    for (const key of ['username', 'password'] as const) {
      const v = options[key];
      if (v !== undefined && (typeof v !== 'string' || v.length === 0 || v.length > MAX_CREDENTIAL_CHARS)) {
        throw invalid(key, `expected a non-empty string of at most ${MAX_CREDENTIAL_CHARS} characters`);
      }
    }
    if (options.tls !== undefined && (options.tls.cert === undefined) !== (options.tls.key === undefined)) {
      throw invalid('tls', 'give cert and key together');
    }

    this.#static = resolveTopology(options.staticTopology);
    this.#network = network;
    this.#log = (options.logger ?? noopLogger).child({ component: 'registry' });
    this.#metrics = options.metrics ?? noopMetrics;
    this.#prefix = Buffer.from(prefix);
    this.#prefixEnd = prefixEnd(this.#prefix);
    this.#ownKey = Buffer.concat([this.#prefix, Buffer.from(network.nodeId)]);
    const clientOptions = etcdClientOptions(options, this.#callTimeoutMs);
    this.#client = new Client(clientOptions);
    this.#synced = new Promise((resolve) => {
      this.#markSynced = resolve;
    });
    this.#firstRegistered = new Promise((resolve) => {
      this.#markRegistered = resolve;
    });
    this.#signal = options.signal;
  }

  /** Starts the register and discover loops; called by {@link startEtcdRegistry}. */
  start(): void {
    if (this.#signal?.aborted) {
      void this.close();
      return;
    }
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
    this.#started = true;
    this.#tasks = [this.#syncLoop(), ...(this.#register ? [this.#registerLoop()] : [])];
  }

  /**
   * Resolves once this node's entry was written the first time, or at once with
   * `register: false`; also when the registry closes (never rejects).
   */
  registeredOnce(): Promise<void> {
    if (!this.#register) return Promise.resolve();
    return this.#firstRegistered;
  }

  /** Resolves after the first complete listing was applied (never rejects). */
  synced(): Promise<void> {
    return this.#synced;
  }

  /** The peers the registry holds (valid entries), this node's included. */
  entries(): Topology {
    return new Map([...this.#entries].map(([id, e]) => [id, e.addresses]));
  }

  /** The static table merged with the registry's entries: what the network is given. */
  topology(): Topology {
    return mergeTopology(this.#static, this.#entries.values());
  }

  stats(): EtcdRegistryStats {
    return {
      state: this.#state,
      registered: this.#registered,
      revision: this.#revision,
      entries: this.#entries.size,
      ignoredEntries: this.#ignored,
      watchRestarts: this.#watchRestarts,
      reRegistrations: this.#reRegistrations,
      errors: this.#errors,
      lastError: this.#lastError,
    };
  }

  /**
   * Gives the network the merged table now, and sets the gauges: for a registry that takes
   * over from another one (a reload). Before the first listing the network keeps its table.
   */
  applyNow(): void {
    if (this.#listed && !this.#stopped) this.#apply(true);
    if (this.#started) this.#gauges();
  }

  /**
   * Another registry of this node takes over (a reload that changes the registry
   * settings): from now on this one neither warns about nor restores this node's own
   * entry, which the new one writes. Call `close()` next.
   */
  retire(): void {
    this.#retired = true;
  }

  /** Replaces the static part of the table (e.g. on config reload); invalid input throws and changes nothing. */
  updateStaticTopology(topology: TopologyInput): void {
    this.#static = resolveTopology(topology);
    this.#apply(true);
  }

  /**
   * Stops: the watch ends, this node's lease is revoked (its entry disappears from etcd at
   * once), the client closes. The network keeps its last table. Resolves when the
   * connections and timers are gone. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  get #stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  async #close(): Promise<void> {
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#stop.abort();
    this.#stopStream?.();
    const lease = this.#lease;
    this.#lease = undefined;
    if (lease !== undefined) {
      try {
        await withTimeout(lease.revoke(), this.#callTimeoutMs);
        if (this.#registered) this.#log.info({ key: this.#ownKey.toString() }, 'registry: lease revoked');
      } catch (err) {
        this.#log.warn(
          { error: errorText(err) },
          'registry: cannot revoke the lease; the entry goes when the lease expires',
        );
      }
    }
    this.#registered = false;
    await Promise.allSettled(this.#tasks);
    this.#client.close();
    this.#state = 'closed';
    if (this.#started) this.#gauges();
    this.#markSynced();
    this.#markRegistered();
  }

  #failed(what: RegistryOperation, err: unknown): void {
    this.#errors++;
    this.#lastError = `${what}: ${errorText(err)}`;
    this.#metrics.inc('peerpost_registry_errors_total', { operation: what });
  }

  /** Sets the `peerpost_registry_*` gauges from the current state. */
  #gauges(): void {
    const m = this.#metrics;
    m.set('peerpost_registry_connected', this.#state === 'synced' ? 1 : 0);
    m.set('peerpost_registry_registered', this.#registered ? 1 : 0);
    m.set('peerpost_registry_revision', this.#revision);
    m.set('peerpost_registry_entries', this.#entries.size);
  }

  /** Waits `ms`, or less when the registry stops. */
  #sleep(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#stop.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#stop.signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Resolves with `promise`, or with undefined when the registry stops first. */
  #unlessStopped<T>(promise: Promise<T>): Promise<T | undefined> {
    promise.catch(() => {}); // a late rejection after a stop is not unhandled
    if (this.#stopped) return Promise.resolve(undefined);
    return new Promise<T | undefined>((resolve, reject) => {
      const onStop = () => resolve(undefined);
      this.#stop.signal.addEventListener('abort', onStop, { once: true });
      promise.then(
        (v) => {
          this.#stop.signal.removeEventListener('abort', onStop);
          resolve(v);
        },
        (e) => {
          this.#stop.signal.removeEventListener('abort', onStop);
          reject(e);
        },
      );
    });
  }

  #backoff(failures: number): number {
    const base = Math.min(this.#maxBackoffMs, 100 * 2 ** Math.min(failures, 20));
    return Math.round(base * (0.8 + 0.4 * Math.random()));
  }

  // ---- register ----

  async #registerLoop(): Promise<void> {
    let failures = 0;
    let granted = 0;
    while (!this.#stopped) {
      const lease = this.#client.lease(this.#ttl);
      this.#lease = lease;
      let lost!: (err: unknown) => void;
      const whenLost = new Promise<unknown>((resolve) => {
        lost = resolve;
      });
      lease.on('lost', (err) => lost(err));
      try {
        const put = lease.put(this.#ownKey).value(this.#ownValue).exec();
        const done = await this.#unlessStopped(put);
        if (done === undefined) return;
        if (granted++ > 0) {
          this.#reRegistrations++;
          this.#metrics.inc('peerpost_registry_reregistrations_total');
        }
        failures = 0;
        this.#registered = true;
        this.#registeredRevision = Number(done.header.revision);
        this.#gauges();
        this.#markRegistered();
        this.#log.info(
          { key: this.#ownKey.toString(), ttlSeconds: this.#ttl, revision: Number(done.header.revision) },
          'registry: registered',
        );
        const err = await this.#unlessStopped(whenLost);
        if (this.#stopped) return;
        this.#registered = false;
        this.#gauges();
        this.#failed('lease', err);
        this.#log.warn({ error: errorText(err) }, 'registry: lease lost; registering again');
      } catch (err) {
        this.#registered = false;
        if (this.#stopped) return;
        this.#gauges();
        this.#failed('register', err);
        this.#log.warn(
          { error: errorText(err), attempt: failures + 1 },
          'registry: cannot register; retrying',
        );
        // A granted lease that carries nothing is given back (else it expires by itself).
        lease.revoke().catch(() => {});
      }
      if (this.#lease === lease) this.#lease = undefined;
      await this.#sleep(this.#backoff(failures++));
    }
  }

  /**
   * This node's entry is missing at `revision` although its lease lives (deleted by hand,
   * or by a stale writer): write it again.
   */
  #restoreOwnEntry(revision: number): void {
    const lease = this.#lease;
    if (lease === undefined || !this.#registered || this.#stopped || this.#retired) return;
    if (revision <= this.#registeredRevision) return; // from before the last write
    this.#log.warn({ key: this.#ownKey.toString() }, 'registry: own entry was deleted; writing it again');
    lease
      .put(this.#ownKey)
      .value(this.#ownValue)
      .exec()
      .then((res) => {
        this.#registeredRevision = Math.max(this.#registeredRevision, Number(res.header.revision));
      })
      .catch((err: unknown) => {
        // A lost lease is handled by the register loop.
        if (!this.#stopped) this.#failed('register', err);
      });
  }

  // ---- discover ----

  async #syncLoop(): Promise<void> {
    let failures = 0;
    let listings = 0;
    while (!this.#stopped) {
      try {
        const revision = await this.#unlessStopped(this.#list());
        if (revision === undefined || this.#stopped) return;
        if (listings++ > 0) {
          this.#watchRestarts++;
          this.#metrics.inc('peerpost_registry_watch_restarts_total');
        }
        const end = await this.#watch(revision + 1, () => {
          failures = 0;
        });
        if (end.kind === 'stopped') return;
        this.#failed('watch', end.error);
        this.#log.warn(
          { error: errorText(end.error), revision: this.#revision },
          'registry: watch lost; listing again',
        );
      } catch (err) {
        if (this.#stopped) return;
        this.#failed('list', err);
        this.#log.warn({ error: errorText(err), attempt: failures + 1 }, 'registry: cannot list; retrying');
      }
      if (this.#stopped) return;
      this.#state = 'reconnecting';
      this.#gauges();
      await this.#sleep(this.#backoff(failures++));
    }
  }

  /** Reads every entry under the prefix at one revision, replaces the registry's entries, applies. */
  async #list(): Promise<number> {
    const fresh = new Map<string, RegistryEntry>();
    let revision: number | undefined;
    let start = this.#prefix;
    for (;;) {
      const page = await this.#client.kv.range({
        key: start,
        range_end: this.#prefixEnd,
        limit: PAGE_SIZE,
        ...(revision === undefined ? {} : { revision }),
      });
      if (this.#stopped) return revision ?? 0;
      revision ??= Number(page.header.revision);
      for (const kv of page.kvs) {
        const decoded = decodeEntry(this.#prefix, kv.key, kv.value);
        if ('problem' in decoded) {
          this.#ignore(kv.key, decoded.problem, Number(kv.mod_revision));
          // A bad value never removes what the peer had before.
          const peerId = kv.key.subarray(this.#prefix.length).toString('utf8');
          const previous = this.#entries.get(peerId);
          if (previous !== undefined) fresh.set(peerId, previous);
        } else if (fresh.size >= this.#maxEntries && !fresh.has(decoded.entry.peerId)) {
          this.#ignore(kv.key, `more than maxEntries (${this.#maxEntries}) entries`, Number(kv.mod_revision));
        } else {
          fresh.set(decoded.entry.peerId, decoded.entry);
        }
      }
      const last = page.kvs.at(-1);
      if (!page.more || last === undefined) break;
      start = Buffer.concat([last.key, Buffer.from([0])]);
    }
    this.#entries = fresh;
    this.#revision = Math.max(this.#revision, revision);
    this.#eventRevision = revision;
    this.#log.info({ entries: fresh.size, revision }, 'registry: listed');
    this.#listed = true;
    this.#apply(false);
    this.#state = 'synced';
    this.#gauges();
    this.#markSynced();
    if (!fresh.has(this.#network.nodeId)) this.#restoreOwnEntry(revision);
    return revision;
  }

  /** Watches the prefix from `startRevision` until the watch is lost or the registry stops. */
  async #watch(startRevision: number, onCreated: () => void): Promise<WatchEnd> {
    const stream = await this.#unlessStopped(this.#client.watchClient.watch());
    if (stream === undefined) return { kind: 'stopped' };
    return new Promise<WatchEnd>((resolve) => {
      let ended = false;
      // `gently`: etcd ended the watch; half-close the stream instead of cancelling it (a
      // cancel counts as a failure of the connection in the client's circuit breaker).
      const end = (result: WatchEnd, gently = false) => {
        if (ended) return;
        ended = true;
        this.#stopStream = undefined;
        try {
          if (gently) stream.end();
          else stream.cancel();
        } catch {
          // already closed
        }
        resolve(result);
      };
      this.#stopStream = () => end({ kind: 'stopped' });
      if (this.#stopped) {
        end({ kind: 'stopped' });
        return;
      }
      stream.on('data', (res: IWatchResponse) => {
        if (ended) return;
        if (res.canceled) {
          const why =
            res.compact_revision !== '0'
              ? `revision ${startRevision} is compacted (oldest kept: ${res.compact_revision})`
              : res.cancel_reason || 'canceled by etcd';
          end({ kind: 'lost', error: new Error(`watch canceled: ${why}`) }, true);
          return;
        }
        if (res.created) {
          onCreated();
          this.#log.debug({ startRevision }, 'registry: watching');
        }
        this.#onWatch(res);
      });
      stream.on('error', (err: Error) => end({ kind: 'lost', error: err }));
      stream.on('end', () => end({ kind: 'lost', error: new Error('the watch stream ended') }));
      stream.write({
        create_request: {
          key: this.#prefix,
          range_end: this.#prefixEnd,
          start_revision: startRevision,
          progress_notify: true,
        },
      });
    });
  }

  #onWatch(res: IWatchResponse): void {
    let changed = false;
    for (const event of res.events) {
      const kv = event.kv;
      const modRevision = Number(kv.mod_revision);
      if (modRevision <= this.#eventRevision) continue; // already applied (in the listing)
      this.#eventRevision = modRevision;
      const own = kv.key.equals(this.#ownKey);
      if (String(event.type).toUpperCase() === 'DELETE') {
        const peerId = kv.key.subarray(this.#prefix.length).toString('utf8');
        if (this.#entries.delete(peerId)) changed = true;
        if (own) this.#restoreOwnEntry(modRevision);
        continue;
      }
      const decoded = decodeEntry(this.#prefix, kv.key, kv.value);
      if ('problem' in decoded) {
        this.#ignore(kv.key, decoded.problem, modRevision);
        continue;
      }
      const { entry } = decoded;
      if (!this.#entries.has(entry.peerId) && this.#entries.size >= this.#maxEntries) {
        this.#ignore(kv.key, `more than maxEntries (${this.#maxEntries}) entries`, modRevision);
        continue;
      }
      if (own && !this.#retired && kv.value.toString('utf8') !== this.#ownValue) {
        this.#log.warn(
          { key: this.#ownKey.toString() },
          "registry: another writer replaced this node's entry (duplicate nodeId?)",
        );
      }
      this.#entries.set(entry.peerId, entry);
      changed = true;
    }
    const revision = Number(res.header.revision);
    if (revision > this.#revision) this.#revision = revision;
    if (changed) this.#apply(false);
    this.#gauges();
  }

  #ignore(key: Buffer, problem: string, modRevision: number): void {
    this.#ignored++;
    this.#metrics.inc('peerpost_registry_ignored_entries_total');
    const text = key.toString('utf8');
    this.#log.warn(
      { key: text.length > 120 ? `${text.slice(0, 117)}...` : text, modRevision, problem },
      'registry: entry ignored',
    );
  }

  /** Gives the network the merged table when it changed (or always, when `force`). */
  #apply(force: boolean): void {
    const table = this.topology();
    const key = topologyKey(table);
    if (!force && key === this.#applied) return;
    try {
      this.#network.updateTopology(table);
      this.#applied = key;
    } catch (err) {
      // Every entry was checked already; this is not expected, and never clears the table.
      this.#failed('apply', err);
      this.#log.error({ error: errorText(err) }, 'registry: the network refused the table');
    }
  }
}

function constantBackoff(ms: number) {
  const backoff = { duration: ms, next: () => backoff };
  return backoff;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/**
 * Starts a membership registry on etcd for `network` (see {@link EtcdRegistry}). Invalid
 * options throw `ERR_INVALID_OPTION`. Resolves once the first listing is applied, or
 * after `startTimeoutMs` when etcd cannot be reached (the registry keeps trying in the
 * background, and the network keeps its table meanwhile).
 */
export async function startEtcdRegistry(options: EtcdRegistryOptions): Promise<EtcdRegistry> {
  const registry = await createEtcdRegistry(options);
  registry.start();
  await waitForFirstListing(registry, options);
  return registry;
}

/**
 * Checks the options and builds the registry without starting it (nothing is sent to etcd
 * before `start()`): invalid options throw `ERR_INVALID_OPTION`. A registry never started
 * can be dropped with `close()`.
 */
export async function createEtcdRegistry(options: EtcdRegistryOptions): Promise<EtcdRegistry> {
  positiveInt('startTimeoutMs', options.startTimeoutMs, 5000, 600_000);
  const { Etcd3 } = await import('etcd3');
  return new EtcdRegistry(options, Etcd3);
}

/**
 * Waits for the first listing of a started registry, at most `startTimeoutMs`; says so in
 * the log when etcd could not be reached in that time (the registry keeps trying).
 */
export async function waitForFirstListing(
  registry: EtcdRegistry,
  options: Pick<EtcdRegistryOptions, 'startTimeoutMs' | 'endpoints' | 'logger'>,
): Promise<boolean> {
  const wait = positiveInt('startTimeoutMs', options.startTimeoutMs, 5000, 600_000);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = await Promise.race([
    registry.synced().then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), wait);
    }),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    (options.logger ?? noopLogger).warn(
      { endpoints: options.endpoints, lastError: registry.stats().lastError },
      'registry: etcd not reachable yet; keeping the current table and retrying',
    );
  }
  return !timedOut;
}

import { PeerpostError } from '../../errors.js';
import { formatHostPort, parseHostPort } from '../../util/address.js';
import {
  type AdmissionCandidate,
  CONNECTION_KINDS,
  type Connection,
  type ConnectionKind,
  type ConnectOptions,
  type Listener,
  type ListenOptions,
  type RemoteIdentity,
  type Transport,
} from '../types.js';
import type { MemoryConnection } from './connection.js';
import type { Acceptor, Endpoint, Fabric } from './fabric.js';
import type { ResolvedLimits } from './options.js';

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '*']);

/** A listening address on the memory network. */
export class MemoryListener implements Listener, Acceptor {
  readonly address: string;
  readonly host: string;
  readonly kinds: readonly ConnectionKind[];
  readonly acks: boolean;
  readonly maxConnections: number;
  readonly identity: RemoteIdentity;
  readonly limits: ResolvedLimits;
  readonly inbound = new Set<MemoryConnection>();
  readonly #fabric: Fabric;
  readonly #onConnection: (connection: Connection) => void;
  readonly #admit: ListenOptions['admit'];
  #closing: Promise<void> | undefined;

  constructor(fabric: Fabric, endpoint: Endpoint, address: string, options: ListenOptions) {
    this.#fabric = fabric;
    this.address = address;
    this.host = endpoint.host;
    this.identity = endpoint.identity;
    this.limits = endpoint.limits;
    this.kinds = options.kinds ?? CONNECTION_KINDS;
    this.acks = options.acks === true;
    this.maxConnections = options.maxConnections ?? 1000;
    this.#onConnection = options.onConnection;
    this.#admit = options.admit;
  }

  admit(candidate: AdmissionCandidate): boolean {
    return this.#admit === undefined || this.#admit(candidate);
  }

  get connectionCount(): number {
    return this.inbound.size;
  }

  accept(connection: MemoryConnection): void {
    try {
      this.#onConnection(connection);
    } catch (err) {
      connection.destroy('ERR_CONNECTION_RESET', 'onConnection threw', err);
    }
  }

  drop(): void {
    this.#unbind();
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#unbind();
    const open = [...this.inbound];
    for (const conn of open) conn.close('listener closed');
    await Promise.all(open.map((conn) => conn.closed));
  }

  #unbind(): void {
    if (this.#fabric.acceptors.get(this.address) === this) {
      this.#fabric.acceptors.delete(this.address);
      this.#fabric.record('unlisten', { from: this.address });
    }
  }
}

/** One node of a {@link MemoryNetwork}: its host name, identity and limits. */
export class MemoryTransport implements Transport {
  readonly #fabric: Fabric;
  readonly #endpoint: Endpoint;

  constructor(fabric: Fabric, endpoint: Endpoint) {
    this.#fabric = fabric;
    this.#endpoint = endpoint;
  }

  get host(): string {
    return this.#endpoint.host;
  }

  /** What peers see as this node's `remoteIdentity`. */
  get identity(): RemoteIdentity {
    return this.#endpoint.identity;
  }

  async listen(address: string, options: ListenOptions): Promise<Listener> {
    const { host, port } = parseHostPort(address);
    const endpoint = this.#endpoint;
    if (host !== endpoint.host && !WILDCARD_HOSTS.has(host)) {
      throw new PeerpostError('ERR_LISTEN_FAILED', `${address} is not an address of host ${endpoint.host}`);
    }
    if (this.#fabric.stopped) throw new PeerpostError('ERR_CLOSED', 'the memory network is closed');
    if (endpoint.down) throw new PeerpostError('ERR_LISTEN_FAILED', `endpoint ${endpoint.host} is down`);
    const kinds = options.kinds ?? CONNECTION_KINDS;
    if (kinds.length === 0 || kinds.some((k) => !CONNECTION_KINDS.includes(k))) {
      throw new PeerpostError(
        'ERR_INVALID_OPTION',
        `kinds must be a non-empty subset of ${CONNECTION_KINDS}`,
      );
    }
    const max = options.maxConnections ?? 1000;
    if (!Number.isInteger(max) || max < 0) {
      throw new PeerpostError('ERR_INVALID_OPTION', `maxConnections must be an integer >= 0, got ${max}`);
    }
    if (options.signal?.aborted) throw new PeerpostError('ERR_ABORTED', 'listen aborted');
    let bound = port;
    if (bound === 0) {
      // Assigned ports come from 10000..49999, below the ephemeral range of outbound connections.
      for (
        let tries = 0;
        bound === 0 || this.#fabric.acceptors.has(formatHostPort(endpoint.host, bound));
        tries++
      ) {
        if (tries === 40_000)
          throw new PeerpostError('ERR_LISTEN_FAILED', `no free port on ${endpoint.host}`);
        bound = endpoint.nextPort;
        endpoint.nextPort = bound >= 49_999 ? 10_000 : bound + 1;
      }
    }
    const full = formatHostPort(endpoint.host, bound);
    if (this.#fabric.acceptors.has(full)) {
      throw new PeerpostError('ERR_LISTEN_FAILED', `${full} is already in use`);
    }
    const listener = new MemoryListener(this.#fabric, endpoint, full, options);
    this.#fabric.acceptors.set(full, listener);
    this.#fabric.record('listen', { from: full });
    options.signal?.addEventListener('abort', () => void listener.close(), { once: true });
    return listener;
  }

  connect(address: string, kind: ConnectionKind, options: ConnectOptions = {}): Promise<Connection> {
    let target: { host: string; address: string };
    try {
      if (!CONNECTION_KINDS.includes(kind)) {
        throw new PeerpostError('ERR_INVALID_OPTION', `unknown connection kind ${String(kind)}`);
      }
      const { host, port } = parseHostPort(address);
      target = { host, address: formatHostPort(host, port) };
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#fabric.connect(this.#endpoint, target, kind, options);
  }
}

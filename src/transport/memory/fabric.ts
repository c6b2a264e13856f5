import { createHash } from 'node:crypto';
import { PeerpostError } from '../../errors.js';
import { formatHostPort } from '../../util/address.js';
import type { Clock, TimerHandle } from '../../util/clock.js';
import type { Random } from '../../util/random.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../../wire/framing.js';
import type {
  AdmissionCandidate,
  CloseReason,
  ConnectionKind,
  ConnectOptions,
  ExpectedIdentity,
  RemoteIdentity,
  TransportLimits,
} from '../types.js';
import { type ConnectionHost, MemoryConnection } from './connection.js';
import { type ConnectionPair, Link, type LinkHost, sampleLatency } from './link.js';
import type { LinkOptions, MemoryEvent, MemoryIdentityInit, ResolvedLimits } from './options.js';

/** A listening address and what it needs to accept a connection. */
export interface Acceptor {
  readonly host: string;
  readonly address: string;
  readonly kinds: readonly ConnectionKind[];
  /** Accepts the acknowledged-delivery protocol on direct connections. */
  readonly acks: boolean;
  readonly maxConnections: number;
  readonly identity: RemoteIdentity;
  readonly limits: ResolvedLimits;
  readonly inbound: Set<MemoryConnection>;
  accept(connection: MemoryConnection): void;
  /** The owner's admission check (see `ListenOptions.admit`). */
  admit(candidate: AdmissionCandidate): boolean;
  /** The endpoint crashed: forget every connection without closing them gracefully. */
  drop(): void;
}

export interface Endpoint {
  readonly host: string;
  readonly identity: RemoteIdentity;
  readonly limits: ResolvedLimits;
  down: boolean;
  nextPort: number;
  nextEphemeral: number;
}

/** Builds an identity, deriving a stable cert hash from the host when none is given. */
export function memoryIdentity(host: string, init: MemoryIdentityInit = {}): RemoteIdentity {
  const certHash = init.certHash ?? createHash('sha256').update(`peerpost-memory:${host}`).digest('hex');
  if (!/^[0-9a-f]{64}$/.test(certHash)) {
    throw new PeerpostError('ERR_INVALID_OPTION', `identity.certHash must be 64 lowercase hex characters`);
  }
  return { certHash, shortId: certHash.slice(0, 4), ownerKeys: [...(init.ownerKeys ?? [])] };
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0) {
    throw new PeerpostError('ERR_INVALID_OPTION', `limits.${name} must be a positive number, got ${v}`);
  }
  return v;
}

export function resolveLimits(limits: TransportLimits = {}): ResolvedLimits {
  return {
    maxFrameBytes: positive('maxFrameBytes', limits.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES),
    writeTimeoutMs: positive('writeTimeoutMs', limits.writeTimeoutMs, 12_000),
    handshakeTimeoutMs: positive('handshakeTimeoutMs', limits.handshakeTimeoutMs, 5_000),
    idleTimeoutMs: positive('idleTimeoutMs', limits.idleTimeoutMs, 10_000),
    highWaterMarkBytes: positive('highWaterMarkBytes', limits.highWaterMarkBytes, 1024 * 1024),
  };
}

function identityMatches(identity: RemoteIdentity, expected: ExpectedIdentity): boolean {
  if ('certHash' in expected) return identity.certHash === expected.certHash.toLowerCase();
  return identity.ownerKeys.includes(expected.ownerKey.toLowerCase());
}

/**
 * The shared state of one {@link MemoryNetwork}: endpoints, listening addresses, open
 * connections, link conditions and the per-tick scheduler. Everything is per instance.
 */
export class Fabric implements ConnectionHost, LinkHost {
  readonly clock: Clock;
  readonly random: Random;
  readonly socketBufferBytes: number;
  readonly events: MemoryEvent[] | undefined;
  readonly endpoints = new Map<string, Endpoint>();
  readonly acceptors = new Map<string, Acceptor>();
  readonly pairs = new Set<ConnectionPair>();
  readonly links = new Map<string, LinkOptions>();
  defaultLink: LinkOptions;
  /** Set by MemoryNetwork.close(): no more listening or connecting. */
  stopped = false;
  /** Unordered host pairs that cannot reach each other, as `a\nb` with a < b. */
  readonly cuts = new Set<string>();
  #pairOf = new Map<MemoryConnection, ConnectionPair>();
  #acceptorOf = new Map<MemoryConnection, Acceptor>();
  #next: MemoryConnection[] = [];
  #immediate: ReturnType<typeof setImmediate> | undefined;

  constructor(
    clock: Clock,
    random: Random,
    socketBufferBytes: number,
    defaultLink: LinkOptions,
    record: boolean,
  ) {
    this.clock = clock;
    this.random = random;
    this.socketBufferBytes = socketBufferBytes;
    this.defaultLink = defaultLink;
    this.events = record ? [] : undefined;
  }

  record(type: MemoryEvent['type'], fields: Omit<MemoryEvent, 'at' | 'type'> = {}): void {
    this.events?.push({ at: this.clock.now(), type, ...fields });
  }

  // ---- ConnectionHost ----

  schedule(conn: MemoryConnection): void {
    if (conn.scheduled) return;
    conn.scheduled = true;
    this.#next.push(conn);
    this.#immediate ??= setImmediate(this.#pass);
  }

  readonly #pass = (): void => {
    this.#immediate = undefined;
    const list = this.#next;
    this.#next = [];
    for (const conn of list) {
      conn.scheduled = false;
      conn.service();
    }
  };

  closed(conn: MemoryConnection, reason: CloseReason): void {
    this.record('close', { from: conn.localAddress, to: conn.remoteAddress, code: reason.code });
    const acceptor = this.#acceptorOf.get(conn);
    if (acceptor !== undefined) {
      acceptor.inbound.delete(conn);
      this.#acceptorOf.delete(conn);
    }
    const pair = this.#pairOf.get(conn);
    if (
      pair !== undefined &&
      pair.client.closeReason !== undefined &&
      pair.server.closeReason !== undefined
    ) {
      this.#disposePair(pair);
    }
  }

  // ---- LinkHost ----

  linkOptions(fromHost: string, toHost: string): LinkOptions {
    return this.links.get(`${fromHost}\n${toHost}`) ?? this.defaultLink;
  }

  resetPair(pair: ConnectionPair, message: string): void {
    this.record('reset', { from: pair.client.localAddress, to: pair.server.localAddress });
    pair.client.abort({ code: 'ERR_CONNECTION_RESET', message, initiator: 'remote' });
    pair.server.abort({ code: 'ERR_CONNECTION_RESET', message, initiator: 'remote' });
  }

  delivered(link: Link, bytes: number): void {
    this.events?.push({
      at: this.clock.now(),
      type: 'deliver',
      from: link.from.localAddress,
      to: link.to.localAddress,
      bytes,
    });
  }

  // ---- partitions ----

  isCut(a: string, b: string): boolean {
    return a !== b && this.cuts.has(a < b ? `${a}\n${b}` : `${b}\n${a}`);
  }

  /** Stalls or resumes every open connection according to the current cuts. */
  applyCuts(): void {
    for (const pair of this.pairs) {
      const cut = this.isCut(pair.up.fromHost, pair.up.toHost);
      pair.up.setStalled(cut);
      pair.down.setStalled(cut);
      if (cut && pair.idleTimer === undefined) {
        const ms = Math.min(pair.client.idleTimeoutMs, pair.server.idleTimeoutMs);
        pair.idleTimer = this.clock.setTimeout(() => this.#idleExpired(pair), ms);
      } else if (!cut && pair.idleTimer !== undefined) {
        this.clock.clearTimeout(pair.idleTimer);
        pair.idleTimer = undefined;
      }
    }
  }

  #idleExpired(pair: ConnectionPair): void {
    pair.idleTimer = undefined;
    const message = 'no keepalive from the peer within the idle timeout';
    pair.client.abort({ code: 'ERR_IDLE_TIMEOUT', message, initiator: 'local' });
    pair.server.abort({ code: 'ERR_IDLE_TIMEOUT', message, initiator: 'local' });
  }

  #disposePair(pair: ConnectionPair): void {
    this.pairs.delete(pair);
    this.#pairOf.delete(pair.client);
    this.#pairOf.delete(pair.server);
    pair.up.dispose();
    pair.down.dispose();
    if (pair.idleTimer !== undefined) {
      this.clock.clearTimeout(pair.idleTimer);
      pair.idleTimer = undefined;
    }
  }

  pairOf(conn: MemoryConnection): ConnectionPair | undefined {
    return this.#pairOf.get(conn);
  }

  // ---- connecting ----

  /** Resolves after `ms` of clock time (next microtask when 0); rejects with ERR_ABORTED on `signal`. */
  async wait(ms: number, signal: AbortSignal | undefined, timeoutError?: PeerpostError): Promise<void> {
    if (ms <= 0 && timeoutError === undefined) {
      await Promise.resolve();
      if (signal?.aborted)
        throw new PeerpostError('ERR_ABORTED', 'connect aborted', { cause: signal.reason });
      return;
    }
    await new Promise<void>((resolve, reject) => {
      let timer: TimerHandle | undefined;
      const onAbort = (): void => {
        if (timer !== undefined) this.clock.clearTimeout(timer);
        reject(new PeerpostError('ERR_ABORTED', 'connect aborted', { cause: signal?.reason }));
      };
      timer = this.clock.setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        if (timeoutError === undefined) resolve();
        else reject(timeoutError);
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async connect(
    from: Endpoint,
    target: { host: string; address: string },
    kind: ConnectionKind,
    options: ConnectOptions,
  ): Promise<MemoryConnection> {
    const signal = options.signal;
    if (this.stopped) throw new PeerpostError('ERR_CLOSED', 'the memory network is closed');
    if (signal?.aborted) throw new PeerpostError('ERR_ABORTED', 'connect aborted', { cause: signal.reason });
    if (from.down) throw new PeerpostError('ERR_CONNECT_FAILED', `endpoint ${from.host} is down`);
    const localAddress = formatHostPort(from.host, from.nextEphemeral);
    // Ephemeral ports cycle through 50000..65535 as a kernel's do.
    from.nextEphemeral = from.nextEphemeral >= 65_535 ? 50_000 : from.nextEphemeral + 1;
    this.record('connect', { from: localAddress, to: target.address });
    const reject = (err: PeerpostError): never => {
      this.record('reject', { from: localAddress, to: target.address, code: err.code });
      throw err;
    };
    if (this.isCut(from.host, target.host)) {
      const ms = from.limits.handshakeTimeoutMs;
      await this.wait(
        ms,
        signal,
        new PeerpostError(
          'ERR_HANDSHAKE_TIMEOUT',
          `no answer from ${target.address} within ${ms} ms (partitioned)`,
        ),
      ).catch(reject);
    }
    const link = this.linkOptions(from.host, target.host);
    const back = this.linkOptions(target.host, from.host);
    await this.wait(
      sampleLatency(link.latency, this.random) + sampleLatency(back.latency, this.random),
      signal,
    ).catch(reject);
    if (from.down) reject(new PeerpostError('ERR_CONNECT_FAILED', `endpoint ${from.host} is down`));
    const refused = link.refuse === true || ((link.refuseRate ?? 0) > 0 && this.random() < link.refuseRate!);
    const acceptor = this.acceptors.get(target.address);
    if (refused || acceptor === undefined) {
      reject(new PeerpostError('ERR_CONNECT_REFUSED', `${target.address} refused the connection`));
    }
    const server = acceptor!;
    if (!server.kinds.includes(kind)) {
      reject(new PeerpostError('ERR_ALPN_MISMATCH', `${target.address} does not accept ${kind} connections`));
    }
    if (server.inbound.size >= server.maxConnections) {
      reject(new PeerpostError('ERR_MAX_CONNECTIONS', `${target.address} is at its connection cap`));
    }
    const expected = options.expectedIdentity;
    if (expected !== undefined && !identityMatches(server.identity, expected)) {
      reject(
        new PeerpostError(
          'ERR_IDENTITY_MISMATCH',
          `${target.address} is ${server.identity.shortId}, not the expected identity`,
        ),
      );
    }
    if (!server.admit({ kind, remoteAddress: localAddress, remoteIdentity: from.identity })) {
      reject(new PeerpostError('ERR_CONNECT_REFUSED', `${target.address} refused the connection`));
    }
    const acks = options.acks === true && server.acks;
    return this.#link(from, localAddress, server, kind, acks);
  }

  #link(
    from: Endpoint,
    localAddress: string,
    acceptor: Acceptor,
    kind: ConnectionKind,
    acks: boolean,
  ): MemoryConnection {
    const client = new MemoryConnection(this, {
      kind,
      acks,
      localAddress,
      remoteAddress: acceptor.address,
      remoteIdentity: acceptor.identity,
      limits: from.limits,
    });
    const server = new MemoryConnection(this, {
      kind,
      acks,
      localAddress: acceptor.address,
      remoteAddress: localAddress,
      remoteIdentity: from.identity,
      limits: acceptor.limits,
    });
    client.peer = server;
    server.peer = client;
    const up = new Link(this, client, server, from.host, acceptor.host);
    const down = new Link(this, server, client, acceptor.host, from.host);
    client.out = up;
    server.out = down;
    const pair: ConnectionPair = { client, server, up, down, idleTimer: undefined };
    up.pair = pair;
    down.pair = pair;
    this.pairs.add(pair);
    this.#pairOf.set(client, pair);
    this.#pairOf.set(server, pair);
    this.#acceptorOf.set(server, acceptor);
    acceptor.inbound.add(server);
    this.record('accept', { from: localAddress, to: acceptor.address });
    acceptor.accept(server);
    return client;
  }

  /** Stops the scheduler and drops every link (used by MemoryNetwork.close after resetting everything). */
  stop(): void {
    this.stopped = true;
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#immediate = undefined;
    this.#pass();
    for (const pair of [...this.pairs]) this.#disposePair(pair);
  }
}

import { PeerpostError } from '../../errors.js';
import type { Clock } from '../../util/clock.js';
import { FakeClock } from '../../util/fake-clock.js';
import { type Random, seededRandom } from '../../util/random.js';
import type { Connection } from '../types.js';
import { MemoryConnection } from './connection.js';
import { Fabric, memoryIdentity, resolveLimits } from './fabric.js';
import type { LinkOptions, MemoryEvent, MemoryNetworkOptions, MemoryTransportOptions } from './options.js';
import { MemoryTransport } from './transport.js';

function asMemory(connection: Connection): MemoryConnection {
  if (!(connection instanceof MemoryConnection)) {
    throw new PeerpostError('ERR_INVALID_OPTION', 'not a connection of a MemoryNetwork');
  }
  return connection;
}

function checkLink(options: LinkOptions): void {
  const { latency, bandwidthBytesPerSec: bw, refuseRate, resetRate } = options;
  const bad = (what: string): never => {
    throw new PeerpostError('ERR_INVALID_OPTION', `link ${what}`);
  };
  if (typeof latency === 'number' && !(latency >= 0)) bad('latency must be >= 0');
  if (typeof latency === 'object' && !(latency.minMs >= 0 && latency.maxMs >= latency.minMs)) {
    bad('latency must have 0 <= minMs <= maxMs');
  }
  if (bw !== undefined && !(bw > 0)) bad('bandwidthBytesPerSec must be > 0');
  for (const [name, rate] of [
    ['refuseRate', refuseRate],
    ['resetRate', resetRate],
  ] as const) {
    if (rate !== undefined && !(rate >= 0 && rate <= 1)) bad(`${name} must be in 0..1`);
  }
}

/**
 * An in-process network for tests and simulations: nodes ({@link MemoryNetwork.transport})
 * connect to each other through the same {@link Transport} contract as mutual TLS, with
 * no sockets. Everything is scoped to the instance; time comes from the injected clock
 * and every random fault decision from the seeded generator, so the same seed and the
 * same script give the same event log.
 *
 * Faults: link latency and bandwidth ({@link setLink}), refusal (`refuse`,
 * `refuseRate`), resets (`resetRate`, {@link reset}, also mid-frame), partitions
 * ({@link partition}, {@link heal}), endpoint crash and restart, and stalled readers
 * ({@link pauseReading}) that make the writer's buffer fill up until its write timeout.
 */
export class MemoryNetwork {
  readonly clock: Clock;
  readonly #fabric: Fabric;
  #nodes = 0;

  constructor(options: MemoryNetworkOptions = {}) {
    this.clock = options.clock ?? new FakeClock();
    const random: Random = options.random ?? seededRandom(options.seed ?? 1);
    const buffer = options.socketBufferBytes ?? 256 * 1024;
    if (!Number.isInteger(buffer) || buffer <= 0) {
      throw new PeerpostError('ERR_INVALID_OPTION', `socketBufferBytes must be a positive integer`);
    }
    const defaultLink = options.defaultLink ?? {};
    checkLink(defaultLink);
    this.#fabric = new Fabric(this.clock, random, buffer, defaultLink, options.recordEvents ?? false);
  }

  /** Connection-level events, when created with `recordEvents: true` (else empty). */
  get events(): readonly MemoryEvent[] {
    return this.#fabric.events ?? [];
  }

  /** Creates a node: a Transport whose addresses all have the host `options.host`. */
  transport(options: MemoryTransportOptions = {}): MemoryTransport {
    const host = options.host ?? `node${++this.#nodes}`;
    if (host.length === 0 || this.#fabric.endpoints.has(host)) {
      throw new PeerpostError('ERR_INVALID_OPTION', `host \`${host}\` is empty or already on the network`);
    }
    const endpoint = {
      host,
      identity: memoryIdentity(host, options.identity),
      limits: resolveLimits(options.limits),
      down: false,
      nextPort: 10_000,
      nextEphemeral: 50_000,
    };
    this.#fabric.endpoints.set(host, endpoint);
    return new MemoryTransport(this.#fabric, endpoint);
  }

  /** Sets the conditions from `from` to `to` (and back, unless `bothWays` is false). */
  setLink(from: string, to: string, options: LinkOptions, bothWays = true): void {
    checkLink(options);
    this.#fabric.links.set(`${from}\n${to}`, options);
    if (bothWays) this.#fabric.links.set(`${to}\n${from}`, options);
  }

  /**
   * Cuts every host of `a` off from every host of `b`. New connections across the cut
   * get no answer and fail with `ERR_HANDSHAKE_TIMEOUT` after the connecting side's
   * handshake timeout. Open connections across it stall: nothing is delivered, so
   * writers fill their buffers; unless healed sooner, both ends fail with
   * `ERR_IDLE_TIMEOUT` after the smaller idle timeout (keepalives are lost).
   */
  partition(a: readonly string[], b: readonly string[]): void {
    for (const x of a) {
      for (const y of b) {
        if (x !== y) this.#fabric.cuts.add(x < y ? `${x}\n${y}` : `${y}\n${x}`);
      }
    }
    this.#fabric.record('partition', { from: a.join(','), to: b.join(',') });
    this.#fabric.applyCuts();
  }

  /** Removes every cut; stalled connections deliver what they held, in order. */
  heal(): void {
    this.#fabric.cuts.clear();
    this.#fabric.record('heal');
    this.#fabric.applyCuts();
  }

  /**
   * Crashes a host: its listeners vanish and every connection it has (both directions)
   * is reset on both ends with `ERR_CONNECTION_RESET`. Its transport can neither listen
   * nor connect until {@link restart}.
   */
  crash(host: string): void {
    const endpoint = this.#endpoint(host);
    endpoint.down = true;
    this.#fabric.record('crash', { from: host });
    for (const acceptor of [...this.#fabric.acceptors.values()]) {
      if (acceptor.host === host) acceptor.drop();
    }
    for (const pair of [...this.#fabric.pairs]) {
      const clientDown = pair.up.fromHost === host;
      if (!clientDown && pair.up.toHost !== host) continue;
      const mine = clientDown ? pair.client : pair.server;
      const theirs = clientDown ? pair.server : pair.client;
      mine.abort({ code: 'ERR_CONNECTION_RESET', message: `endpoint ${host} crashed`, initiator: 'local' });
      theirs.abort({ code: 'ERR_CONNECTION_RESET', message: `peer ${host} crashed`, initiator: 'remote' });
    }
  }

  /** Brings a crashed host back: its transport may listen (on the same addresses) and connect again. */
  restart(host: string): void {
    this.#endpoint(host).down = false;
    this.#fabric.record('restart', { from: host });
  }

  /**
   * Resets an open connection (both ends see `ERR_CONNECTION_RESET`). With `afterBytes`,
   * the reset happens in the stream from `connection` to its peer once that many more
   * bytes have arrived there, which may be in the middle of a frame: the peer never sees
   * the partial frame.
   */
  reset(connection: Connection, options: { afterBytes?: number } = {}): void {
    const conn = asMemory(connection);
    const pair = this.#fabric.pairOf(conn);
    if (pair === undefined) return;
    if (options.afterBytes === undefined) {
      this.#fabric.resetPair(pair, 'connection reset');
      return;
    }
    if (!(Number.isInteger(options.afterBytes) && options.afterBytes >= 0)) {
      throw new PeerpostError('ERR_INVALID_OPTION', 'afterBytes must be an integer >= 0');
    }
    (pair.client === conn ? pair.up : pair.down).cutAfter(options.afterBytes);
  }

  /**
   * Stops `connection` from reading, as a process that no longer reads its socket: what
   * its peer writes piles up, the peer's write() returns false past the high-water mark
   * and, if the pause lasts, the peer fails with `ERR_WRITE_TIMEOUT` (a stalled write).
   */
  pauseReading(connection: Connection): void {
    asMemory(connection).setPaused(true);
  }

  resumeReading(connection: Connection): void {
    asMemory(connection).setPaused(false);
  }

  /** Number of connections with at least one open end. */
  get openConnections(): number {
    return this.#fabric.pairs.size;
  }

  /** Resets every connection, removes every listener and stops the scheduler. */
  async close(): Promise<void> {
    for (const acceptor of [...this.#fabric.acceptors.values()]) acceptor.drop();
    for (const pair of [...this.#fabric.pairs]) {
      const reason = { code: 'ERR_CONNECTION_RESET', message: 'network closed', initiator: 'local' } as const;
      pair.client.abort(reason);
      pair.server.abort(reason);
    }
    this.#fabric.stop();
  }

  #endpoint(host: string) {
    const endpoint = this.#fabric.endpoints.get(host);
    if (endpoint === undefined)
      throw new PeerpostError('ERR_INVALID_OPTION', `no host \`${host}\` on the network`);
    return endpoint;
  }
}

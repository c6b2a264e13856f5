import type { OnReadOpts } from 'node:net';
import { type ConnectionOptions, type SecureContext, connect as tlsConnect } from 'node:tls';
import { PeerpostError } from '../../errors.js';
import type { Credentials } from '../../identity/credentials.js';
import { identityOfCredentials } from '../../identity/credentials.js';
import { normalizeExpectedIdentity } from '../../identity/peer-identity.js';
import { type TrustPolicy, TrustSet } from '../../identity/trust.js';
import { type Metrics, noopMetrics } from '../../metrics/types.js';
import { formatHostPort, parseHostPort } from '../../util/address.js';
import { type Clock, systemClock } from '../../util/clock.js';
import { type Logger, noopLogger } from '../../util/logger.js';
import { WarnLimiter } from '../../util/warn-limiter.js';
import { FRAME_PREFIX_BYTES } from '../../wire/framing.js';
import { resolveLimits } from '../limits.js';
import { SocketReads } from '../socket-reads.js';
import { StreamConnection } from '../stream-connection.js';
import {
  ACK_ALPN_BY_KIND,
  ALPN_BY_KIND,
  type Connection,
  type ConnectionKind,
  type ConnectOptions,
  type Listener,
  type ListenOptions,
  type RemoteIdentity,
  type Transport,
  type TransportLimits,
} from '../types.js';
import { checkPeer, handshakeError, secureContextOf } from './peer-check.js';
import { TlsListener } from './tls-listener.js';
import type { TlsShared } from './tls-shared.js';

export interface TlsTransportOptions extends TransportLimits {
  /** Key and self-signed certificate this node presents, both directions. */
  credentials: Credentials;
  /** Whom to accept (inbound) and connect to (outbound). @default trust everyone */
  trust?: TrustPolicy;
  /**
   * TCP keepalive: idle time before the first probe. The kernel's probe interval and
   * count apply after it (see docs/transport-tls.md). @default idleTimeoutMs
   */
  keepAliveDelayMs?: number;
  /** @default systemClock */
  clock?: Clock;
  /** @default noopLogger */
  logger?: Logger;
  /** @default noopMetrics */
  metrics?: Metrics;
}

/**
 * The mutual-TLS transport: TLS 1.3 over TCP, both sides present self-signed
 * certificates, trust is decided by certificate hash or owner key, the connection kind
 * is the ALPN protocol. Credentials and trust can be replaced while it runs.
 */
export class TlsTransport implements Transport, TlsShared {
  readonly limits: Required<TransportLimits>;
  readonly keepAliveDelayMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly warnings: WarnLimiter;
  #secureContext: SecureContext;
  #identity: RemoteIdentity;
  #trust: TrustSet;
  readonly #outbound = new Set<StreamConnection>();
  readonly #listeners = new Set<TlsListener>();
  /**
   * One callback for every outbound connection: a closure made inside connect() would
   * keep that call's whole handshake scope (timer, callbacks) alive with the connection.
   */
  readonly #forgetOutbound = (connection: StreamConnection): void => {
    this.#outbound.delete(connection);
  };

  constructor(options: TlsTransportOptions) {
    this.limits = resolveLimits(options);
    this.keepAliveDelayMs = options.keepAliveDelayMs ?? this.limits.idleTimeoutMs;
    this.clock = options.clock ?? systemClock;
    this.logger = (options.logger ?? noopLogger).child({ transport: 'tls' });
    this.metrics = options.metrics ?? noopMetrics;
    this.warnings = new WarnLimiter(this.logger, this.clock);
    this.#secureContext = secureContextOf(options.credentials);
    this.#identity = identityOfCredentials(options.credentials);
    this.#trust = new TrustSet(options.trust);
  }

  get secureContext(): SecureContext {
    return this.#secureContext;
  }

  get trust(): TrustSet {
    return this.#trust;
  }

  /** The identity this transport presents. */
  get identity(): RemoteIdentity {
    return this.#identity;
  }

  /** New handshakes (both directions) present `credentials`; open connections stay. */
  updateCredentials(credentials: Credentials): void {
    this.#secureContext = secureContextOf(credentials);
    this.#identity = identityOfCredentials(credentials);
    this.logger.info({ id: this.#identity.shortId }, 'credentials replaced');
  }

  /** New handshakes use `trust`; open connections whose peer it no longer trusts are closed. */
  updateTrust(trust: TrustPolicy): void {
    const next = new TrustSet(trust);
    this.#trust = next;
    const open = [...this.#outbound];
    for (const listener of this.#listeners) open.push(...listener.connections);
    for (const connection of open) {
      if (next.isTrusted(connection.remoteIdentity)) continue;
      connection.fail(
        new PeerpostError(
          'ERR_UNTRUSTED_PEER',
          `certificate ${connection.remoteIdentity.certHash} is no longer trusted`,
        ),
      );
    }
  }

  async listen(address: string, options: ListenOptions): Promise<Listener> {
    const { host, port } = parseHostPort(address);
    const listener = new TlsListener(this, options, (l) => this.#listeners.delete(l));
    await listener.start(host, port);
    this.#listeners.add(listener);
    return listener;
  }

  async connect(address: string, kind: ConnectionKind, options: ConnectOptions = {}): Promise<Connection> {
    const { host, port } = parseHostPort(address);
    const expected = options.expectedIdentity && normalizeExpectedIdentity(options.expectedIdentity);
    const signal = options.signal;
    if (signal?.aborted) {
      throw new PeerpostError('ERR_ABORTED', `connect to ${address} aborted`);
    }
    return new Promise<Connection>((resolve, reject) => {
      // Reads come through node's `onread` into `reads` (see SocketReads), not the stream.
      const reads = new SocketReads();
      // node's tls.connect takes `onread` (as net.connect does); its types do not list it.
      const connectOptions: ConnectionOptions & { onread: OnReadOpts } = {
        host,
        port,
        onread: reads.onread,
        secureContext: this.#secureContext,
        ALPNProtocols:
          options.acks === true ? [ACK_ALPN_BY_KIND[kind], ALPN_BY_KIND[kind]] : [ALPN_BY_KIND[kind]],
        rejectUnauthorized: false,
        checkServerIdentity: noHostNameCheck,
      };
      const socket = tlsConnect(connectOptions);
      socket.setNoDelay(true);
      socket.setKeepAlive(true, this.keepAliveDelayMs);
      const fail = (err: PeerpostError): void => {
        cleanup();
        reads.detach();
        socket.destroy();
        reject(err);
      };
      const onError = (err: Error): void => fail(handshakeError(err, `connect to ${address}`));
      let secured = false;
      const onClose = (): void =>
        fail(
          secured
            ? new PeerpostError(
                'ERR_CONNECT_REFUSED',
                `${address} refused the connection after the handshake (untrusted certificate, connection cap, or closing)`,
              )
            : new PeerpostError(
                'ERR_HANDSHAKE_FAILED',
                `${address} closed the connection during the handshake`,
              ),
        );
      const onAbort = (): void => fail(new PeerpostError('ERR_ABORTED', `connect to ${address} aborted`));
      const timer = this.clock.setTimeout(
        () =>
          fail(
            new PeerpostError(
              'ERR_HANDSHAKE_TIMEOUT',
              `connect to ${address}: no handshake within ${this.limits.handshakeTimeoutMs} ms`,
            ),
          ),
        this.limits.handshakeTimeoutMs,
      );
      const cleanup = (): void => {
        this.clock.clearTimeout(timer);
        socket.off('error', onError);
        socket.off('close', onClose);
        reads.onPending = undefined;
        signal?.removeEventListener('abort', onAbort);
      };
      socket.on('error', onError);
      socket.on('close', onClose);
      signal?.addEventListener('abort', onAbort, { once: true });
      let checked: ReturnType<typeof checkPeer>;
      // Waits for the listener's acceptance frame (once the peer is checked); bytes after it
      // wait in `reads` for the connection, and nothing more is read until it is attached.
      const onPending = (): void => {
        if (!secured || reads.pendingBytes < FRAME_PREFIX_BYTES) return;
        if (reads.take(FRAME_PREFIX_BYTES).readUInt32BE(0) !== 0) {
          fail(new PeerpostError('ERR_HANDSHAKE_FAILED', `${address} did not send the acceptance frame`));
          return;
        }
        cleanup();
        socket.pause();
        const connection = new StreamConnection(socket, {
          kind,
          acks: checked.acks,
          direction: 'outbound',
          remoteAddress: formatHostPort(socket.remoteAddress ?? host, socket.remotePort ?? port),
          localAddress: formatHostPort(socket.localAddress ?? '?', socket.localPort ?? 0),
          remoteIdentity: checked.identity,
          limits: this.limits,
          clock: this.clock,
          logger: this.logger,
          metrics: this.metrics,
          onFinished: this.#forgetOutbound,
          reads,
        });
        this.#outbound.add(connection);
        resolve(connection);
      };
      reads.onPending = onPending;
      socket.once('secureConnect', () => {
        try {
          checked = checkPeer(socket, this.#trust, new Set([kind]), expected, options.acks === true);
        } catch (err) {
          fail(handshakeError(err, `connect to ${address}`));
          return;
        }
        secured = true;
        onPending();
      });
    });
  }

  /** Closes every listener and outbound connection; resolves when their sockets are gone. */
  async close(): Promise<void> {
    const outbound = [...this.#outbound];
    for (const c of outbound) c.close('transport closed');
    await Promise.all([...[...this.#listeners].map((l) => l.close()), ...outbound.map((c) => c.closed)]);
  }
}

/**
 * Identity is the certificate hash or owner key, not a host name. Module-level: node keeps
 * the connect options (and so this function) with the socket, and a closure would keep the
 * scope of the connect() call that made it.
 */
function noHostNameCheck(): undefined {
  return undefined;
}

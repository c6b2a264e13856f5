import net from 'node:net';
import { TLSSocket } from 'node:tls';
import { PeerpostError } from '../../errors.js';
import { errorLabels } from '../../metrics/error-kinds.js';
import { formatHostPort } from '../../util/address.js';
import { ACCEPTANCE_FRAME, StreamConnection } from '../stream-connection.js';
import {
  ACK_ALPN_BY_KIND,
  ALPN_BY_KIND,
  CONNECTION_KINDS,
  type ConnectionKind,
  type Listener,
  type ListenOptions,
} from '../types.js';
import { checkPeer, handshakeError } from './peer-check.js';
import type { TlsShared } from './tls-shared.js';

/** Default inbound connection cap. */
export const DEFAULT_MAX_CONNECTIONS = 1000;

/**
 * Accepts TCP connections, runs the TLS 1.3 server handshake on each and hands
 * authenticated connections to `onConnection`. Anything that fails before that (cap,
 * handshake error or timeout, missing certificate, untrusted peer, wrong ALPN) closes
 * only that socket, with a log line and a `fail_accept_in_con` or `max_conn_reached`
 * count.
 */
export class TlsListener implements Listener {
  readonly #server: net.Server;
  readonly #shared: TlsShared;
  readonly #options: ListenOptions;
  readonly #kinds: ReadonlySet<ConnectionKind>;
  readonly #alpns: string[];
  readonly #maxConnections: number;
  /** Every accepted TCP socket still open (handshaking or established): the cap counts these. */
  readonly #sockets = new Set<net.Socket>();
  readonly #connections = new Set<StreamConnection>();
  /** Accepted sockets whose handshake has not finished. */
  readonly #handshaking = new Set<net.Socket>();
  #address = '';
  #closing: Promise<void> | undefined;

  readonly #onClosed: (listener: TlsListener) => void;
  /**
   * Per-listener callbacks shared by all its sockets: a closure made in #accept would keep
   * that socket's handshake scope (timer, callbacks, options) alive with the connection.
   */
  readonly #forgetSocket: (this: net.Socket) => void;
  readonly #forgetConnection = (connection: StreamConnection): void => {
    this.#connections.delete(connection);
  };

  constructor(
    shared: TlsShared,
    options: ListenOptions,
    onClosed: (listener: TlsListener) => void = () => {},
  ) {
    this.#shared = shared;
    this.#onClosed = onClosed;
    this.#options = options;
    const kinds = options.kinds ?? CONNECTION_KINDS;
    this.#kinds = new Set(kinds);
    // A listener that accepts acks prefers them (the server's order decides).
    this.#alpns = [
      ...(options.acks === true ? kinds.map((k) => ACK_ALPN_BY_KIND[k]) : []),
      ...kinds.map((k) => ALPN_BY_KIND[k]),
    ];
    this.#maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    if (!Number.isInteger(this.#maxConnections) || this.#maxConnections < 0) {
      throw new PeerpostError('ERR_INVALID_OPTION', `maxConnections must be a non-negative integer`);
    }
    const sockets = this.#sockets;
    this.#forgetSocket = function (this: net.Socket): void {
      sockets.delete(this);
    };
    this.#server = net.createServer({ noDelay: true });
    this.#server.on('connection', (socket) => this.#accept(socket));
  }

  get address(): string {
    return this.#address;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Accepted TCP sockets still open, handshaking or established: what the cap counts. */
  get socketCount(): number {
    return this.#sockets.size;
  }

  /** Established inbound connections (for trust re-evaluation). */
  get connections(): ReadonlySet<StreamConnection> {
    return this.#connections;
  }

  async start(host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(
          new PeerpostError(
            'ERR_LISTEN_FAILED',
            `cannot listen on ${formatHostPort(host, port)}: ${err.message}`,
            { cause: err },
          ),
        );
      };
      this.#server.once('error', onError);
      this.#server.listen({ host, port }, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    // After binding, errors come from accept() (EMFILE and the like): count, keep serving.
    this.#server.on('error', (err) => {
      this.#shared.metrics.inc('peerpost_errors_total', errorLabels('fail_accept_in_con'));
      this.#shared.logger.warn({ code: 'ERR_CONNECT_FAILED', err: err.message }, 'accept failed');
    });
    const bound = this.#server.address() as net.AddressInfo;
    this.#address = formatHostPort(bound.address, bound.port);
    const signal = this.#options.signal;
    if (signal) {
      if (signal.aborted) void this.close();
      else signal.addEventListener('abort', () => void this.close(), { once: true });
    }
  }

  #accept(raw: net.Socket): void {
    const remote = formatHostPort(raw.remoteAddress ?? '?', raw.remotePort ?? 0);
    raw.on('error', ignoreError);
    if (this.#closing !== undefined) {
      raw.destroy();
      return;
    }
    if (this.#sockets.size >= this.#maxConnections) {
      this.#shared.metrics.inc('peerpost_errors_total', errorLabels('max_conn_reached'));
      this.#shared.warnings.warn(
        'ERR_MAX_CONNECTIONS',
        { code: 'ERR_MAX_CONNECTIONS', peer: remote, max: this.#maxConnections },
        'inbound connection refused: cap reached',
      );
      raw.destroy();
      return;
    }
    this.#sockets.add(raw);
    raw.on('close', this.#forgetSocket);
    raw.setKeepAlive(true, this.#shared.keepAliveDelayMs);
    const shared = this.#shared;
    const socket = new TLSSocket(raw, {
      isServer: true,
      secureContext: shared.secureContext,
      requestCert: true,
      rejectUnauthorized: false,
      ALPNProtocols: this.#alpns,
    });
    let settled = false;
    this.#handshaking.add(raw);
    const refuse = (err: PeerpostError): void => {
      if (settled) return;
      settled = true;
      this.#handshaking.delete(raw);
      shared.clock.clearTimeout(timer);
      shared.metrics.inc('peerpost_errors_total', errorLabels('fail_accept_in_con'));
      shared.warnings.warn(
        err.code,
        { code: err.code, peer: remote, err: err.message },
        'inbound connection refused',
      );
      socket.destroy();
      raw.destroy();
    };
    const timer = shared.clock.setTimeout(
      () =>
        refuse(
          new PeerpostError(
            'ERR_HANDSHAKE_TIMEOUT',
            `handshake not finished within ${shared.limits.handshakeTimeoutMs} ms`,
          ),
        ),
      shared.limits.handshakeTimeoutMs,
    );
    socket.on('error', (err) => refuse(handshakeError(err, 'inbound handshake')));
    socket.once('close', () =>
      refuse(
        new PeerpostError('ERR_HANDSHAKE_FAILED', 'the peer closed the connection during the handshake'),
      ),
    );
    socket.once('secure', () => {
      if (settled) return;
      let checked: ReturnType<typeof checkPeer>;
      try {
        checked = checkPeer(socket, shared.trust, this.#kinds, undefined, this.#options.acks === true);
      } catch (err) {
        refuse(handshakeError(err, 'inbound handshake'));
        return;
      }
      const admit = this.#options.admit;
      if (
        admit !== undefined &&
        !admit({ kind: checked.kind, remoteAddress: remote, remoteIdentity: checked.identity })
      ) {
        // Refused by the owner (e.g. its own connection cap), which counted and logged it.
        settled = true;
        this.#handshaking.delete(raw);
        shared.clock.clearTimeout(timer);
        socket.destroy();
        raw.destroy();
        return;
      }
      settled = true;
      this.#handshaking.delete(raw);
      shared.clock.clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.removeAllListeners('close');
      // The acceptance signal: the client's connect() resolves on it (see ACCEPTANCE_FRAME).
      socket.write(ACCEPTANCE_FRAME);
      const connection = new StreamConnection(socket, {
        kind: checked.kind,
        acks: checked.acks,
        direction: 'inbound',
        remoteAddress: remote,
        localAddress: formatHostPort(raw.localAddress ?? '?', raw.localPort ?? 0),
        remoteIdentity: checked.identity,
        limits: shared.limits,
        clock: shared.clock,
        logger: shared.logger,
        metrics: shared.metrics,
        onFinished: this.#forgetConnection,
      });
      this.#connections.add(connection);
      shared.logger.debug(
        { peer: remote, id: checked.identity.shortId, kind: checked.kind },
        'inbound connection',
      );
      this.#options.onConnection(connection);
    });
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const serverClosed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    const connections = [...this.#connections];
    for (const c of connections) c.close('listener closed');
    // Sockets still handshaking have no connection object yet: drop them now.
    for (const raw of this.#handshaking) raw.destroy();
    await Promise.all(connections.map((c) => c.closed));
    await serverClosed;
    this.#onClosed(this);
  }
}

/** Errors of an accepted TCP socket surface through its TLS socket (or not at all once refused). */
function ignoreError(): void {}

import type { Buffer } from 'node:buffer';
import type { MessageSource } from '../network/incoming.js';
import { fibonacciDelay, jittered } from '../sender/backoff.js';
import type {
  CloseReason,
  Connection,
  ConnectionHandler,
  ConnectionKind,
  ExpectedIdentity,
  RemoteIdentity,
  Transport,
} from '../transport/types.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { EndOfTask } from '../util/microtask.js';
import type { Random } from '../util/random.js';
import { ACK_ACK, seqFrame, writeControlFrame } from '../wire/ack-frames.js';
import type { IncomingReader } from './incoming-reader.js';

/** Reconnect delays of a subscription: capped Fibonacci with jitter, retried until closed. */
export interface SubscriptionBackoff {
  /** First delay (and second: the sequence is 1, 1, 2, 3, 5, ... times this). @default 100 */
  initialMs?: number;
  /** Largest delay. @default 5000 */
  maxMs?: number;
  /** Each delay is scaled by a random factor in [1 - jitter, 1 + jitter]. @default 0.2 */
  jitter?: number;
}

/** Where a subscription is in its life. */
export type SubscriptionState =
  | { readonly kind: 'connecting'; readonly attempt: number }
  | { readonly kind: 'connected'; readonly sinceMs: number }
  | { readonly kind: 'backoff'; readonly attempt: number; readonly retryAtMs: number }
  | { readonly kind: 'closed' };

export interface SubscriptionOptions {
  transport: Transport;
  /** `host:port` of the node to subscribe to. */
  address: string;
  kind: Exclude<ConnectionKind, 'direct'>;
  /** The connection fails with `ERR_IDENTITY_MISMATCH` if someone else answers. */
  expectedIdentity?: ExpectedIdentity | undefined;
  backoff?: SubscriptionBackoff | undefined;
  /**
   * Offer acknowledged delivery (docs/acks.md): this node acknowledges the broadcasts it
   * handed to its application, so the publisher's outcome per subscriber is `delivered`
   * (or `dropped:unacknowledged` when the connection closed first). @default false
   */
  acks?: boolean | undefined;
  reader: IncomingReader;
  /** The peer id of whoever answered at `address`, per the current topology. */
  identify(identity: RemoteIdentity, address: string): string | undefined;
  clock: Clock;
  random: Random;
  logger: Logger;
  /** Called on every state change. */
  onStateChange?(subscription: Subscription): void;
  /** Called once, when the subscription has closed. */
  onClosed?(subscription: Subscription): void;
}

export interface SubscriptionStats {
  readonly address: string;
  readonly kind: ConnectionKind;
  readonly state: SubscriptionState['kind'];
  readonly peerId: string | undefined;
  /** Successful connects so far. */
  readonly connects: number;
  /** Broadcasts received. */
  readonly received: number;
}

/** Delay before attempt `attempt` (1-based) of a capped Fibonacci schedule, before jitter. */
/**
 * This node's subscription to another node's broadcasts: one outbound connection of a
 * subscribe kind, whose frames are fed into the node's incoming queue (direction
 * `outbound`, mode `broadcast`). It reconnects with backoff on every failure or close
 * until {@link close} is called.
 *
 * ```
 * connecting --ok--> connected --closed--> backoff --timer--> connecting
 *      \--fail--> backoff                          close() from any state -> closed
 * ```
 */
export class Subscription implements ConnectionHandler {
  readonly address: string;
  readonly kind: Exclude<ConnectionKind, 'direct'>;
  readonly #options: SubscriptionOptions;
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #jitter: number;
  #state: SubscriptionState = { kind: 'connecting', attempt: 1 };
  #attempt = 1;
  #connection: Connection | undefined;
  #source: MessageSource | undefined;
  #abort: AbortController | undefined;
  #pending: Promise<void> | undefined;
  #timer: TimerHandle | undefined;
  #closing: Promise<void> | undefined;
  #connects = 0;
  #received = 0;
  /** Broadcasts read on the current connection, and the count last acknowledged (acks only). */
  #onConnection = 0;
  #acked = 0;

  constructor(options: SubscriptionOptions) {
    this.#options = options;
    this.address = options.address;
    this.kind = options.kind;
    this.#initialMs = Math.max(1, options.backoff?.initialMs ?? 100);
    this.#maxMs = Math.max(this.#initialMs, options.backoff?.maxMs ?? 5000);
    this.#jitter = Math.min(1, Math.max(0, options.backoff?.jitter ?? 0.2));
    this.#connect();
  }

  get state(): SubscriptionState {
    return this.#state;
  }

  stats(): SubscriptionStats {
    return {
      address: this.address,
      kind: this.kind,
      state: this.#state.kind,
      peerId: this.#source?.peerId,
      connects: this.#connects,
      received: this.#received,
    };
  }

  /** Recomputes the peer id of the current connection (after a topology change). */
  reidentify(): void {
    if (this.#connection !== undefined) this.#source = this.#sourceFor(this.#connection);
  }

  onFrame(frame: Buffer, readAtMs?: number): void {
    this.onFrameAt(frame, 0, frame.length, readAtMs);
  }

  onFrameAt(chunk: Buffer, start: number, end: number, readAtMs?: number): void {
    const connection = this.#connection;
    if (connection === undefined || this.#source === undefined) return;
    if (!this.#options.reader.readAt(chunk, start, end, this.#source, 'broadcast', readAtMs)) {
      this.#source = undefined;
      connection.close('broadcast frame does not decode');
      return;
    }
    this.#received++;
    if (connection.acks === true) {
      this.#onConnection++;
      this.#sendAck.arm();
    }
  }

  /** One ACK per turn of the event loop: every broadcast read on this connection so far. */
  readonly #sendAck = new EndOfTask(() => {
    const connection = this.#connection;
    if (connection === undefined || this.#onConnection <= this.#acked) return;
    this.#acked = this.#onConnection;
    writeControlFrame(connection, seqFrame(ACK_ACK, this.#acked));
  });

  onClose(reason: CloseReason): void {
    this.#connection = undefined;
    this.#source = undefined;
    if (this.#state.kind === 'closed') return;
    this.#options.logger.info(
      { address: this.address, kind: this.kind, code: reason.code, initiator: reason.initiator },
      'subscription connection closed; reconnecting',
    );
    this.#retry();
  }

  /** Stops reconnecting and closes the connection; resolves when no socket or timer is left. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#setState({ kind: 'closed' });
    if (this.#timer !== undefined) this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#abort?.abort();
    const connection = this.#connection;
    connection?.close('subscription closed');
    // A connect that ignored the abort may swap #pending for its connection's close.
    for (let seen: Promise<void> | undefined; seen !== this.#pending; ) {
      seen = this.#pending;
      await seen;
    }
    if (connection !== undefined) await connection.closed;
    this.#options.onClosed?.(this);
  }

  #connect(): void {
    this.#setState({ kind: 'connecting', attempt: this.#attempt });
    const abort = new AbortController();
    this.#abort = abort;
    this.#pending = this.#options.transport
      .connect(this.address, this.kind, {
        expectedIdentity: this.#options.expectedIdentity,
        signal: abort.signal,
        acks: this.#options.acks === true,
      })
      .then(
        (connection) => this.#connected(connection),
        (err: unknown) => this.#failed(err),
      );
  }

  #connected(connection: Connection): void {
    this.#abort = undefined;
    if (this.#state.kind === 'closed') {
      connection.close('subscription closed');
      this.#pending = connection.closed.then(() => undefined);
      return;
    }
    this.#connects++;
    this.#attempt = 1;
    this.#connection = connection;
    this.#onConnection = 0;
    this.#acked = 0;
    this.#source = this.#sourceFor(connection);
    this.#setState({ kind: 'connected', sinceMs: this.#options.clock.now() });
    this.#options.logger.info(
      {
        address: this.address,
        kind: this.kind,
        peer: this.#source.peerId,
        id: connection.remoteIdentity.shortId,
      },
      'subscribed',
    );
    connection.attach(this);
  }

  #failed(err: unknown): void {
    this.#abort = undefined;
    if (this.#state.kind === 'closed') return;
    this.#options.logger.debug(
      {
        address: this.address,
        kind: this.kind,
        code: (err as { code?: string }).code,
        attempt: this.#attempt,
      },
      'subscription connect failed',
    );
    this.#retry();
  }

  #retry(): void {
    const base = fibonacciDelay(this.#attempt - 1, this.#initialMs, this.#maxMs);
    const delay = jittered(base, this.#jitter, this.#options.random);
    this.#attempt++;
    this.#setState({ kind: 'backoff', attempt: this.#attempt, retryAtMs: this.#options.clock.now() + delay });
    this.#timer = this.#options.clock.setTimeout(() => {
      this.#timer = undefined;
      if (this.#state.kind !== 'closed') this.#connect();
    }, delay);
  }

  #setState(state: SubscriptionState): void {
    this.#state = state;
    this.#options.onStateChange?.(this);
  }

  #sourceFor(connection: Connection): MessageSource {
    return {
      peerId: this.#options.identify(connection.remoteIdentity, this.address),
      address: connection.remoteAddress,
      identity: connection.remoteIdentity,
      direction: 'outbound',
      close: (why) => connection.close(why),
    };
  }
}

/** A direct sender on a MemoryNetwork in virtual time, with doubles for the hub and incoming queue. */
import assert from 'node:assert/strict';
import type { HubPort, HubResult, OutcomeTicket } from '../../src/hub/port.js';
import type { IncomingMessage, IncomingSink } from '../../src/network/incoming.js';
import type { DirectSenderConfig } from '../../src/sender/config.js';
import { DirectSender, type DirectSenderOptions } from '../../src/sender/direct-sender.js';
import { formatOutcome, type OutcomeEvent } from '../../src/sender/outcome.js';
import { MemoryNetwork } from '../../src/testing.js';
import type { PeerAddress, Topology } from '../../src/topology/types.js';
import type { Connection, ConnectOptions, Transport } from '../../src/transport/types.js';
import { FakeClock } from '../../src/util/fake-clock.js';
import type { Logger } from '../../src/util/logger.js';
import { ObservableValue } from '../../src/util/observable.js';
import { seededRandom } from '../../src/util/random.js';
import { decodeEnvelope, type Envelope } from '../../src/wire/envelope.js';

/** The remote address of the hub double's one subscriber. */
export const SUBSCRIBER = 'subscriber:1';

/** Hub double: records calls and answers with a configurable result. */
export class HubDouble implements HubPort {
  readonly toAddress: { address: string; envelope: Envelope }[] = [];
  readonly broadcasts: Envelope[] = [];
  /** Addresses with an open inbound connection. */
  readonly connected = new Set<string>();
  broadcastResult: HubResult = 'written';

  /** A connected address takes the reply and flushes it at once (the ticket settles `written`). */
  sendToAddress(address: string, envelope: Envelope, ticket: OutcomeTicket): HubResult {
    if (!this.connected.has(address)) return 'no_connection';
    this.toAddress.push({ address, envelope });
    ticket.taken(address);
    ticket.settle('written', address);
    return 'pending';
  }

  /**
   * `written`: one subscriber (address `subscriber:1`) takes and flushes it at once;
   * `queue_full`: that subscriber refuses it; else no subscriber.
   */
  broadcast(envelope: Envelope, ticket?: OutcomeTicket): HubResult {
    const result = this.broadcastResult;
    if (result === 'written') {
      this.broadcasts.push(envelope);
      ticket?.taken(SUBSCRIBER);
      ticket?.settle('written', SUBSCRIBER);
    } else if (result === 'queue_full') ticket?.refused(SUBSCRIBER);
    return result;
  }
}

/** A node that listens and records the ids of the messages it receives. */
export interface PeerNode {
  readonly host: string;
  readonly address: string;
  readonly received: string[];
  readonly connections: Connection[];
  readonly certHash: string;
  close(): Promise<void>;
}

export interface LogEntry {
  level: string;
  obj: object;
  msg: string | undefined;
}

export function recordingLogger(entries: LogEntry[]): Logger {
  const log =
    (level: string) =>
    (obj: object, msg?: string): void => {
      entries.push({ level, obj, msg });
    };
  const logger: Logger = {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: () => logger,
  };
  return logger;
}

let counter = 0;
export function env(id: string, label = 'test', data: Uint8Array = Buffer.alloc(8, 1)): Envelope {
  return { deliveryStartTimestampMs: 1n, id, label, compressed: false, data, lastSenderIsProxy: false };
}
export function nextId(): string {
  return `m${++counter}`;
}

export interface HarnessOptions {
  config?: DirectSenderConfig;
  seed?: number;
  sender?: Partial<DirectSenderOptions>;
}

export class Harness {
  readonly clock = new FakeClock();
  readonly net = new MemoryNetwork({ clock: this.clock, seed: 7 });
  readonly self = this.net.transport({ host: 'self' });
  readonly attempts: { address: string; at: number }[] = [];
  readonly transport: Transport;
  readonly topology = new ObservableValue<Topology>(new Map());
  readonly config: ObservableValue<DirectSenderConfig>;
  readonly hub = new HubDouble();
  readonly incoming: IncomingMessage[] = [];
  readonly outcomes: OutcomeEvent[] = [];
  readonly logs: LogEntry[] = [];
  readonly sender: DirectSender;
  readonly nodes: PeerNode[] = [];

  constructor(options: HarnessOptions = {}) {
    const inner = this.self;
    this.transport = {
      listen: (address, opts) => inner.listen(address, opts),
      connect: (address, kind, opts?: ConnectOptions) => {
        this.attempts.push({ address, at: this.clock.now() });
        return inner.connect(address, kind, opts);
      },
    };
    this.config = new ObservableValue<DirectSenderConfig>(options.config ?? {});
    const incoming: IncomingSink = { push: (m) => this.incoming.push(m) };
    this.sender = new DirectSender({
      transport: this.transport,
      hub: this.hub,
      incoming,
      topology: this.topology,
      config: this.config,
      clock: this.clock,
      random: seededRandom(options.seed ?? 42),
      logger: recordingLogger(this.logs),
      onOutcome: (e) => this.outcomes.push(e),
      ...options.sender,
    });
  }

  /** A listening peer node on its own host. */
  async node(host: string, opts: { reply?: boolean } = {}): Promise<PeerNode> {
    const transport = this.net.transport({ host });
    const received: string[] = [];
    const connections: Connection[] = [];
    const listener = await transport.listen(`${host}:0`, {
      onConnection: (conn) => {
        connections.push(conn);
        conn.attach({
          onFrame: (frame) => {
            const { envelope } = decodeEnvelope(frame);
            received.push(envelope.id);
            if (opts.reply) conn.write(frame);
          },
        });
      },
    });
    const node: PeerNode = {
      host,
      address: listener.address,
      received,
      connections,
      certHash: transport.identity.certHash,
      close: () => listener.close(),
    };
    this.nodes.push(node);
    return node;
  }

  setTopology(entries: Record<string, (string | PeerAddress)[]>): void {
    const map = new Map<string, PeerAddress[]>();
    for (const [id, addrs] of Object.entries(entries)) {
      map.set(
        id,
        addrs.map((a) => (typeof a === 'string' ? { address: a } : a)),
      );
    }
    this.topology.set(map);
  }

  outcomesOf(id: string): string[] {
    return this.outcomes
      .filter((o) => o.messageId === id)
      .map((o) => `${o.address ?? '-'}:${formatOutcome(o.outcome)}`);
  }

  /** accepted = written + dropped + skipped + in-flight, with in-flight counted from the queues. */
  checkInvariant(): void {
    const c = this.sender.stats().counters;
    assert.equal(c.accepted, c.written + c.dropped + c.skipped + c.held, `invariant: ${JSON.stringify(c)}`);
    assert.equal(c.inFlight, c.held);
    assert.equal(this.outcomes.length, c.written + c.dropped + c.skipped);
  }

  async close(drainTimeoutMs = 0): Promise<void> {
    const closing = this.sender.close({ drainTimeoutMs });
    for (let i = 0; i < 100 && !(await isSettled(closing)); i++) await this.clock.tick(100);
    await closing;
    this.checkInvariant();
    const c = this.sender.stats().counters;
    assert.equal(c.inFlight, 0);
    assert.equal(c.bufferStarted, c.bufferFinished, 'OutgoingBuffer balances');
    assert.equal(c.transferStarted, c.transferFinished, 'OutgoingTransfer balances');
    for (const n of this.nodes) await n.close();
    await this.net.close();
    assert.equal(this.clock.pendingTimers, 0, 'no timer left behind');
  }
}

async function isSettled(p: Promise<void>): Promise<boolean> {
  let done = false;
  void p.then(() => {
    done = true;
  });
  await new Promise<void>((r) => setImmediate(r));
  return done;
}

/** Metrics double: sums counters by name and labels. */
export class CountingMetrics {
  readonly counts = new Map<string, number>();
  inc(name: string, labels: Readonly<Record<string, string>> = {}, value = 1): void {
    const key = `${name}${JSON.stringify(labels)}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + value);
  }
  set(): void {}
  observe(): void {}
  error(kind: string): number {
    return this.counts.get(`peerpost_errors_total${JSON.stringify({ kind })}`) ?? 0;
  }
}

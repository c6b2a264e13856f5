import { ConnectionHub } from '../../src/hub/hub.js';
import type { HubLimits } from '../../src/hub/options.js';
import type { OutcomeTicket } from '../../src/hub/port.js';
import type { Labels, MetricName, Metrics } from '../../src/metrics/types.js';
import type { IncomingMessage, IncomingSink } from '../../src/network/incoming.js';
import type { Topology } from '../../src/topology/types.js';
import { MemoryNetwork, type MemoryTransport } from '../../src/transport/memory/index.js';
import type {
  CloseReason,
  Connection,
  ConnectionHandler,
  ConnectionKind,
} from '../../src/transport/types.js';
import { FakeClock } from '../../src/util/fake-clock.js';
import { ObservableValue } from '../../src/util/observable.js';
import { decodeEnvelope, type Envelope } from '../../src/wire/envelope.js';

export class CollectingSink implements IncomingSink {
  readonly messages: IncomingMessage[] = [];
  push(message: IncomingMessage): void {
    this.messages.push(message);
  }
}

function key(name: string, labels: Labels | undefined): string {
  if (labels === undefined) return name;
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`);
  return `${name}{${parts.join(',')}}`;
}

/** Records every metric call, keyed `name{k=v,...}` with sorted label keys. */
export class RecordingMetrics implements Metrics {
  readonly counters = new Map<string, number>();
  readonly gauges = new Map<string, number>();
  readonly observations = new Map<string, number[]>();
  inc(name: MetricName, labels?: Labels, value = 1): void {
    const k = key(name, labels);
    this.counters.set(k, (this.counters.get(k) ?? 0) + value);
  }
  set(name: MetricName, value: number, labels?: Labels): void {
    this.gauges.set(key(name, labels), value);
  }
  observe(name: MetricName, value: number, labels?: Labels): void {
    const k = key(name, labels);
    const list = this.observations.get(k) ?? [];
    list.push(value);
    this.observations.set(k, list);
  }
  counter(name: MetricName, labels?: Labels): number {
    return this.counters.get(key(name, labels)) ?? 0;
  }
  error(kind: string): number {
    return this.counter('peerpost_errors_total', { kind });
  }
  observed(name: MetricName, labels: Labels): number[] {
    return this.observations.get(key(name, labels)) ?? [];
  }
}

/** A client-side connection handler that keeps decoded frames and the close reason. */
export class ClientEnd implements ConnectionHandler {
  readonly frames: Buffer[] = [];
  readonly closes: CloseReason[] = [];
  constructor(readonly connection: Connection) {
    connection.attach(this);
  }
  onFrame(frame: Buffer): void {
    this.frames.push(frame);
  }
  onClose(reason: CloseReason): void {
    this.closes.push(reason);
  }
  get envelopes(): Envelope[] {
    return this.frames.map((f) => decodeEnvelope(f).envelope);
  }
  get ids(): string[] {
    return this.envelopes.map((e) => e.id);
  }
}

export interface HubSetup {
  clock: FakeClock;
  network: MemoryNetwork;
  hubTransport: MemoryTransport;
  hub: ConnectionHub;
  address: string;
  sink: CollectingSink;
  metrics: RecordingMetrics;
  topology: ObservableValue<Topology>;
  /** Creates a node and connects it to the hub. */
  connect(host: string, kind?: ConnectionKind, identity?: { ownerKeys?: string[] }): Promise<ClientEnd>;
  transports: Map<string, MemoryTransport>;
}

export interface SetupOptions {
  limits?: HubLimits;
  topology?: Topology;
  /** Transport limits of the hub node (e.g. a small high-water mark). */
  hubTransportLimits?: { highWaterMarkBytes?: number };
  socketBufferBytes?: number;
}

export async function setupHub(options: SetupOptions = {}): Promise<HubSetup> {
  const clock = new FakeClock();
  const network = new MemoryNetwork({
    clock,
    ...(options.socketBufferBytes === undefined ? {} : { socketBufferBytes: options.socketBufferBytes }),
  });
  const hubTransport = network.transport({ host: 'hub', limits: options.hubTransportLimits ?? {} });
  const sink = new CollectingSink();
  const metrics = new RecordingMetrics();
  const topology = new ObservableValue<Topology>(options.topology ?? new Map());
  const hub = new ConnectionHub({
    transport: hubTransport,
    listenAddress: 'hub:0',
    incoming: sink,
    topology,
    clock,
    metrics,
    limits: options.limits ?? {},
    selfId: 'hub-node',
    random: () => 0.5,
    knownLabels: ['Test'],
  });
  const { address } = await hub.start();
  const transports = new Map<string, MemoryTransport>();
  const connect = async (
    host: string,
    kind: ConnectionKind = 'direct',
    identity: { ownerKeys?: string[] } = {},
  ) => {
    let transport = transports.get(host);
    if (transport === undefined) {
      transport = network.transport({ host, identity });
      transports.set(host, transport);
    }
    return new ClientEnd(await transport.connect(address, kind));
  };
  return { clock, network, hubTransport, hub, address, sink, metrics, topology, connect, transports };
}

export function envelope(clock: { now(): number }, id: string, fields: Partial<Envelope> = {}): Envelope {
  return {
    deliveryStartTimestampMs: BigInt(clock.now()),
    id,
    label: 'Test',
    compressed: false,
    data: Buffer.from(`payload ${id}`),
    lastSenderIsProxy: false,
    ...fields,
  };
}

/**
 * An OutcomeTicket that writes what it is told into `log`: `<id>:taken@<address>`,
 * `<id>:<result>` (settled) and `<id>:refused@<address>`; `taken` entries are left out
 * unless `withTaken`.
 */
export function recordingTicket(log: string[], id: string, withTaken = false): OutcomeTicket {
  return {
    taken: (address) => {
      if (withTaken) log.push(`${id}:taken@${address}`);
    },
    settle: (result) => void log.push(`${id}:${result}`),
    refused: (address) => void log.push(`${id}:refused@${address}`),
  };
}

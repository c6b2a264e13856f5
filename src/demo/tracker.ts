import type { OutcomeEvent } from '../sender/outcome.js';

/** What the workload sent: `reply` is a node's answer to a question, sent by address. */
export type MessageKind = 'direct' | 'question' | 'reply' | 'broadcast';

/** One sent message and everything observed about it. */
export interface TrackedMessage {
  readonly id: string;
  readonly phase: number;
  readonly segment: string;
  readonly kind: MessageKind;
  readonly from: string;
  /** Receiving node id; undefined for a broadcast. */
  readonly to: string | undefined;
  /** Nodes that must deliver it to their application once when a copy was written. */
  readonly expected: readonly string[];
  outcomes: number;
  /** Outcomes `written` on the direct path (peer senders, reply by address). */
  writtenDirect: number;
  /** Outcomes `written` on the broadcast path (broadcast, or send mode broadcast/both). */
  writtenBroadcast: number;
  dropped: number;
  skipped: number;
  /** Application deliveries by node id. */
  readonly deliveredAt: Map<string, number>;
  settled: boolean;
}

/** Counters of one phase. */
export interface PhaseTally {
  sent: number;
  readonly sentByKind: Record<MessageKind, number>;
  written: number;
  delivered: number;
  readonly dropped: Record<string, number>;
  readonly skipped: Record<string, number>;
  readonly latenciesMs: number[];
  startedAtMs: number;
  endedAtMs: number;
}

function newTally(): PhaseTally {
  return {
    sent: 0,
    sentByKind: { direct: 0, question: 0, reply: 0, broadcast: 0 },
    written: 0,
    delivered: 0,
    dropped: {},
    skipped: {},
    latenciesMs: [],
    startedAtMs: 0,
    endedAtMs: 0,
  };
}

/** Copies written for `m`: one per written outcome (a broadcast has one per subscriber connection). */
export function copiesWritten(m: Pick<TrackedMessage, 'writtenDirect' | 'writtenBroadcast'>): number {
  return m.writtenDirect + m.writtenBroadcast;
}

/**
 * Records every message the demo sends, every outcome the senders report and every
 * delivery to an application, and keeps the counts the flow control and the final
 * balance need. Outcomes may arrive before {@link register} (a reply's outcome is
 * reported inside `reply()`): they wait as orphans until the message is registered.
 */
export class Tracker {
  readonly messages = new Map<string, TrackedMessage>();
  readonly phases: PhaseTally[];
  #unsettled = 0;
  #expectedDuplicates = 0;
  readonly #pairs = new Map<string, number>();
  readonly #orphans = new Map<string, OutcomeEvent[]>();
  unknownDeliveries = 0;
  unexpectedDeliveries = 0;

  constructor(phases: number) {
    this.phases = Array.from({ length: phases }, newTally);
  }

  /** Messages still waiting for an outcome or a delivery. */
  get unsettled(): number {
    return this.#unsettled;
  }

  /** Copies that the receivers must drop as duplicates (`both` send mode writes two). */
  get expectedDuplicates(): number {
    return this.#expectedDuplicates;
  }

  /** Outcomes reported for ids the demo never registered. */
  get orphanOutcomes(): number {
    let n = 0;
    for (const list of this.#orphans.values()) n += list.length;
    return n;
  }

  /** Unsettled direct messages and questions from `from` to `to`. */
  pending(from: string, to: string): number {
    return this.#pairs.get(`${from}>${to}`) ?? 0;
  }

  register(
    input: Pick<TrackedMessage, 'id' | 'phase' | 'segment' | 'kind' | 'from' | 'to' | 'expected'>,
  ): TrackedMessage {
    const m: TrackedMessage = {
      ...input,
      outcomes: 0,
      writtenDirect: 0,
      writtenBroadcast: 0,
      dropped: 0,
      skipped: 0,
      deliveredAt: new Map(),
      settled: false,
    };
    this.messages.set(m.id, m);
    const tally = this.phases[m.phase]!;
    tally.sent++;
    tally.sentByKind[m.kind]++;
    this.#unsettled++;
    if (this.#isPaired(m)) this.#bumpPair(m, 1);
    const early = this.#orphans.get(m.id);
    if (early !== undefined) {
      this.#orphans.delete(m.id);
      for (const event of early) this.outcome(event);
    }
    return m;
  }

  outcome(event: OutcomeEvent): void {
    const m = this.messages.get(event.messageId);
    if (m === undefined) {
      const list = this.#orphans.get(event.messageId) ?? [];
      list.push(event);
      this.#orphans.set(event.messageId, list);
      return;
    }
    const before = this.#duplicatesOf(m);
    const tally = this.phases[m.phase]!;
    m.outcomes++;
    const o = event.outcome;
    if (o.kind === 'written') {
      if (event.mode === 'broadcast') m.writtenBroadcast++;
      else m.writtenDirect++;
      tally.written++;
    } else if (o.kind === 'delivered') {
      m.writtenDirect++;
      tally.written++;
    } else if (o.kind === 'dropped') {
      m.dropped++;
      tally.dropped[o.reason] = (tally.dropped[o.reason] ?? 0) + 1;
    } else {
      m.skipped++;
      tally.skipped[o.reason] = (tally.skipped[o.reason] ?? 0) + 1;
    }
    this.#expectedDuplicates += this.#duplicatesOf(m) - before;
    this.#check(m);
  }

  /** An application delivery at node `nodeId`; `latencyMs` from the envelope's start timestamp. */
  delivered(nodeId: string, messageId: string, latencyMs: number): TrackedMessage | undefined {
    const m = this.messages.get(messageId);
    if (m === undefined) {
      this.unknownDeliveries++;
      return undefined;
    }
    if (!m.expected.includes(nodeId)) this.unexpectedDeliveries++;
    m.deliveredAt.set(nodeId, (m.deliveredAt.get(nodeId) ?? 0) + 1);
    const tally = this.phases[m.phase]!;
    tally.delivered++;
    tally.latenciesMs.push(latencyMs);
    this.#check(m);
    return m;
  }

  /** Direct copies beyond the first of a message sent to one peer are dropped by the receiver. */
  #duplicatesOf(m: TrackedMessage): number {
    if (m.kind === 'broadcast') return 0;
    return Math.max(0, m.writtenDirect + m.writtenBroadcast - 1);
  }

  /**
   * Every written copy arrived: at every expected node for a direct message; for a
   * broadcast (one copy per subscriber connection) at as many nodes as copies written.
   */
  #allDelivered(m: TrackedMessage): boolean {
    const copies = copiesWritten(m);
    if (copies === 0) return true;
    if (m.kind !== 'broadcast') return m.expected.every((n) => (m.deliveredAt.get(n) ?? 0) > 0);
    let reached = 0;
    for (const n of m.expected) if ((m.deliveredAt.get(n) ?? 0) > 0) reached++;
    return reached >= copies;
  }

  #isPaired(m: TrackedMessage): boolean {
    return m.to !== undefined && (m.kind === 'direct' || m.kind === 'question');
  }

  #bumpPair(m: TrackedMessage, by: number): void {
    const key = `${m.from}>${m.to}`;
    this.#pairs.set(key, (this.#pairs.get(key) ?? 0) + by);
  }

  /** Settled: it has an outcome and, when a copy was written, every expected node delivered it. A later written outcome can unsettle it again. */
  #check(m: TrackedMessage): void {
    const done = m.outcomes > 0 && this.#allDelivered(m);
    if (done === m.settled) return;
    m.settled = done;
    this.#unsettled += done ? -1 : 1;
    if (this.#isPaired(m)) this.#bumpPair(m, done ? -1 : 1);
  }
}

import { copiesWritten, type MessageKind, type PhaseTally, type TrackedMessage } from './tracker.js';

/** What the balance check needs of one message. */
export type MessageTally = Pick<
  TrackedMessage,
  'id' | 'kind' | 'expected' | 'outcomes' | 'writtenDirect' | 'writtenBroadcast' | 'deliveredAt'
>;

export interface BalanceInput {
  readonly messages: Iterable<MessageTally>;
  /** Copies the receivers dropped as duplicates (sum of `stats().incoming.deduplicated`). */
  readonly deduplicated: number;
  /** Targets the senders still hold after every network closed (must be 0). */
  readonly inFlightAfterClose: number;
  readonly unknownDeliveries: number;
  readonly unexpectedDeliveries: number;
  readonly orphanOutcomes: number;
  /** Broadcast copies the hubs dropped at a full subscriber queue (no per-message outcome). */
  readonly subscriberQueueDrops: number;
  /** Problems seen while running (a phase that did not settle, a reconnect that did not happen). */
  readonly runProblems: readonly string[];
}

export interface Balance {
  readonly ok: boolean;
  readonly problems: readonly string[];
  /** Copies handed to a transport or hub: one per written outcome, one per subscriber for a broadcast. */
  readonly copiesWritten: number;
  readonly delivered: number;
  readonly deduplicated: number;
  /** Written copies that never reached the application. */
  readonly lostAfterWrite: number;
  readonly withoutOutcome: number;
}

/**
 * Checks that every message has an outcome and that written copies add up:
 * `copies written = delivered + deduplicated + lost after write`, with nothing lost,
 * nothing delivered twice and nothing delivered that no sender wrote.
 */
export function checkBalance(input: BalanceInput): Balance {
  let withoutOutcome = 0;
  let copies = 0;
  let delivered = 0;
  let expectedDuplicates = 0;
  let lost = 0;
  let twice = 0;
  let withoutWrite = 0;
  for (const m of input.messages) {
    if (m.outcomes === 0) withoutOutcome++;
    const c = copiesWritten(m);
    copies += c;
    if (m.kind === 'broadcast') {
      // One copy per subscriber connection written: each reaches a different node, and a
      // subscriber whose copy was dropped (with its reason) is not missing one.
      let reached = 0;
      for (const node of m.expected) {
        const d = m.deliveredAt.get(node) ?? 0;
        delivered += d;
        if (d > 0) reached++;
        twice += Math.max(0, d - 1);
      }
      if (reached > c) withoutWrite += reached - c;
      else lost += c - reached;
      continue;
    }
    if (c > 1) expectedDuplicates += c - 1;
    for (const node of m.expected) {
      const d = m.deliveredAt.get(node) ?? 0;
      delivered += d;
      if (c === 0) withoutWrite += d;
      else if (d === 0) lost++;
      else twice += d - 1;
    }
  }
  const problems: string[] = [...input.runProblems];
  if (withoutOutcome > 0) problems.push(`${withoutOutcome} messages have no outcome`);
  if (input.inFlightAfterClose !== 0) {
    problems.push(`the senders still hold ${input.inFlightAfterClose} targets after close`);
  }
  if (lost > 0) {
    const hub =
      input.subscriberQueueDrops > 0
        ? ` (the hubs counted ${input.subscriberQueueDrops} subscriber-queue drops)`
        : '';
    problems.push(`${lost} written copies never reached the application${hub}`);
  }
  if (twice > 0) problems.push(`${twice} extra deliveries of a message already delivered`);
  if (withoutWrite > 0) problems.push(`${withoutWrite} deliveries of messages no target was written for`);
  if (input.deduplicated !== expectedDuplicates) {
    problems.push(
      `the receivers dropped ${input.deduplicated} duplicate copies, ${expectedDuplicates} expected (second copies in send mode both)`,
    );
  }
  if (input.unknownDeliveries > 0) problems.push(`${input.unknownDeliveries} deliveries of unknown messages`);
  if (input.unexpectedDeliveries > 0) {
    problems.push(`${input.unexpectedDeliveries} deliveries at a node the message was not for`);
  }
  if (input.orphanOutcomes > 0) problems.push(`${input.orphanOutcomes} outcomes of unknown messages`);
  if (problems.length === 0 && copies !== delivered + input.deduplicated + lost) {
    problems.push(
      `copies written ${copies} != delivered ${delivered} + deduplicated ${input.deduplicated} + lost ${lost}`,
    );
  }
  return {
    ok: problems.length === 0,
    problems,
    copiesWritten: copies,
    delivered,
    deduplicated: input.deduplicated,
    lostAfterWrite: lost,
    withoutOutcome,
  };
}

/** Nearest-rank percentile of unsorted samples; 0 when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return 0;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export interface LatencySummary {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export function latencyOf(samples: readonly number[]): LatencySummary {
  return {
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    max: samples.reduce((a, b) => Math.max(a, b), 0),
  };
}

export interface PhaseReport {
  readonly name: string;
  readonly sent: number;
  readonly written: number;
  readonly delivered: number;
  readonly dropped: Readonly<Record<string, number>>;
  readonly skipped: Readonly<Record<string, number>>;
  readonly seconds: number;
  readonly latencyMs: LatencySummary;
}

export function phaseReport(name: string, t: PhaseTally): PhaseReport {
  return {
    name,
    sent: t.sent,
    written: t.written,
    delivered: t.delivered,
    dropped: { ...t.dropped },
    skipped: { ...t.skipped },
    seconds: Math.max(0, t.endedAtMs - t.startedAtMs) / 1000,
    latencyMs: latencyOf(t.latenciesMs),
  };
}

export interface MoveEvent {
  readonly node: string;
  readonly from: string;
  readonly to: string;
  /** Messages the moved node's new instance delivered to its application. */
  readonly deliveredAtNewAddress: number;
}

export interface RestartEvent {
  readonly node: string;
  readonly address: string;
  readonly downSeconds: number;
  /** Messages sent to the node while it was down. */
  readonly sentWhileDown: number;
  /** Of those, delivered after the restart. */
  readonly deliveredAfterRestart: number;
  /** Peer senders to the node seen waiting in backoff or connecting while it was down. */
  readonly sendersWaiting: number;
  /** Peer senders connected to the node again after the restart. */
  readonly sendersReconnected: number;
  /** Other nodes' subscriptions to the node that reconnected by themselves. */
  readonly subscriptionsReconnected: number;
}

export interface DemoReport {
  readonly ok: boolean;
  readonly seed: number;
  readonly nodes: number;
  /** The message budget (`--messages`); null when only `--duration` bounds the run. */
  readonly messageBudget: number | null;
  readonly seconds: number;
  readonly tempDir: string;
  readonly sent: number;
  readonly sentByKind: Readonly<Record<MessageKind, number>>;
  /** Outcomes `written` (per target). */
  readonly written: number;
  readonly delivered: number;
  readonly deduplicated: number;
  readonly dropped: Readonly<Record<string, number>>;
  readonly skipped: Readonly<Record<string, number>>;
  readonly copiesWritten: number;
  readonly lostAfterWrite: number;
  readonly throughput: { readonly sentPerSecond: number; readonly deliveredPerSecond: number };
  readonly latencyMs: LatencySummary;
  readonly phases: readonly PhaseReport[];
  readonly sendModes: readonly string[];
  readonly move: MoveEvent | null;
  readonly restart: RestartEvent | null;
  readonly problems: readonly string[];
}

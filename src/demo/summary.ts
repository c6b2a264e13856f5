import type { ResolvedDemoOptions } from './options.js';
import { PHASES } from './plan.js';
import {
  checkBalance,
  type DemoReport,
  latencyOf,
  type MoveEvent,
  phaseReport,
  type RestartEvent,
} from './report.js';
import type { MessageKind, Tracker } from './tracker.js';

export interface ReportInput {
  readonly options: Pick<ResolvedDemoOptions, 'nodes' | 'seed' | 'messages'>;
  readonly tracker: Tracker;
  readonly tempDir: string;
  readonly seconds: number;
  readonly deduplicated: number;
  readonly subscriberQueueDrops: number;
  readonly inFlightAfterClose: number;
  readonly runProblems: readonly string[];
  readonly sendModes: readonly string[];
  readonly move: MoveEvent | null;
  readonly restart: RestartEvent | null;
}

function add(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

/** Sums the phases, checks the balance and rounds the numbers for printing. */
export function buildReport(input: ReportInput): DemoReport {
  const { tracker } = input;
  const balance = checkBalance({
    messages: tracker.messages.values(),
    deduplicated: input.deduplicated,
    inFlightAfterClose: input.inFlightAfterClose,
    unknownDeliveries: tracker.unknownDeliveries,
    unexpectedDeliveries: tracker.unexpectedDeliveries,
    orphanOutcomes: tracker.orphanOutcomes,
    subscriberQueueDrops: input.subscriberQueueDrops,
    runProblems: input.runProblems,
  });
  const sentByKind: Record<MessageKind, number> = { direct: 0, question: 0, reply: 0, broadcast: 0 };
  const dropped: Record<string, number> = {};
  const skipped: Record<string, number> = {};
  const latencies: number[] = [];
  let sent = 0;
  let written = 0;
  let delivered = 0;
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  for (const t of tracker.phases) {
    sent += t.sent;
    written += t.written;
    delivered += t.delivered;
    add(sentByKind, t.sentByKind);
    add(dropped, t.dropped);
    add(skipped, t.skipped);
    for (const l of t.latenciesMs) latencies.push(l);
    if (t.sent > 0) {
      first = Math.min(first, t.startedAtMs);
      last = Math.max(last, t.endedAtMs);
    }
  }
  const busySeconds = last > first ? (last - first) / 1000 : 0;
  const rate = (n: number): number => (busySeconds > 0 ? Math.round(n / busySeconds) : 0);
  return {
    ok: balance.ok,
    seed: input.options.seed,
    nodes: input.options.nodes,
    messageBudget: Number.isFinite(input.options.messages) ? input.options.messages : null,
    seconds: Math.round(input.seconds * 100) / 100,
    tempDir: input.tempDir,
    sent,
    sentByKind,
    written,
    delivered,
    deduplicated: input.deduplicated,
    dropped,
    skipped,
    copiesWritten: balance.copiesWritten,
    lostAfterWrite: balance.lostAfterWrite,
    throughput: { sentPerSecond: rate(sent), deliveredPerSecond: rate(delivered) },
    latencyMs: latencyOf(latencies),
    phases: tracker.phases.map((t, i) => phaseReport(PHASES[i]?.name ?? `phase ${i + 1}`, t)),
    sendModes: input.sendModes,
    move: input.move,
    restart: input.restart,
    problems: balance.problems,
  };
}

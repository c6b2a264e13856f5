import { Buffer } from 'node:buffer';
import { PeerpostError } from '../errors.js';
import type { NetworkMessage } from '../network/network.js';
import type { SendMode } from '../sender/outcome.js';
import { Cluster, type DemoNode, type NodeInstance } from './cluster.js';
import { type DemoOptions, DURATION_RATE, type ResolvedDemoOptions, resolveDemoOptions } from './options.js';
import {
  costOf,
  PHASES,
  type PlanContext,
  planContext,
  type Step,
  segmentSteps,
  splitBudget,
} from './plan.js';
import type { ProgressSink } from './progress.js';
import { type DemoReport, type MoveEvent, phaseReport, type RestartEvent } from './report.js';
import { buildReport } from './summary.js';
import { Tracker } from './tracker.js';

/** Unsettled direct messages per (sender, receiver) before the workload waits: under a peer queue (100). */
const PAIR_WINDOW = 64;
/** Messages sent between two yields to the event loop, so sockets get written and read. */
const BATCH = 32;
/** Longest wait for the cluster to settle (outcomes, deliveries) after a phase. */
const SETTLE_MS = 20_000;
/** The restarted node stays down at least this long, so its peers' senders back off. */
const MIN_DOWN_MS = 600;
/** ... and the workload sends to it for at most this long (peer senders give up after 5 s). */
const MAX_DOWN_SEND_MS = 2000;
const MODES: readonly SendMode[] = ['direct', 'both', 'broadcast', 'direct'];

const LABELS = { direct: 'Note', question: 'Question', broadcast: 'News' } as const;

class Stalled extends Error {}

/**
 * Runs the demo: starts the cluster, runs the six phases, closes everything and returns
 * the report (`report.ok` is false when something does not balance). The temporary
 * directory and every network are gone when it returns or throws.
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoReport> {
  return new DemoRun(resolveDemoOptions(options)).run();
}

class DemoRun {
  readonly #o: ResolvedDemoOptions;
  readonly #ctx: PlanContext;
  readonly #tracker = new Tracker(PHASES.length);
  readonly #problems: string[] = [];
  readonly #progress: ProgressSink | undefined;
  readonly #payload = Buffer.alloc(8192);
  readonly #sendModes: string[] = [];
  #cluster!: Cluster;
  #seq = 0;
  #sentTotal = 0;
  #phase = 0;
  #move: MoveEvent | null = null;
  #restart: RestartEvent | null = null;

  constructor(options: ResolvedDemoOptions) {
    this.#o = options;
    this.#ctx = planContext(options.nodes, options.seed);
    this.#progress = options.progress;
    const text = Buffer.from('peerpost demo payload: direct peer-to-peer messages over mutual TLS. ');
    for (let i = 0; i < this.#payload.length; i += text.length) text.copy(this.#payload, i);
  }

  async run(): Promise<DemoReport> {
    const { clock } = this.#o;
    const startedAt = clock.now();
    this.#cluster = await Cluster.start(this.#o.nodes, this.#o.seed, clock, {
      onMessage: (node, instance, m) => this.#onMessage(node, instance, m),
      onOutcome: (e) => this.#tracker.outcome(e),
    });
    this.#progress?.note(
      `${this.#o.nodes} nodes on 127.0.0.1 over mutual TLS, credentials in ${this.#cluster.tempDir}`,
    );
    let inFlightAfterClose = 0;
    let completed = false;
    try {
      await this.#phases();
      completed = true;
    } catch (err) {
      if (!(err instanceof Stalled)) throw err;
      this.#problems.push(err.message);
    } finally {
      this.#progress?.end();
      await this.#cluster.close();
      inFlightAfterClose = this.#cluster.retired.inFlight;
    }
    if (!completed) this.#problems.push('the workload stopped before its last phase');
    return buildReport({
      options: this.#o,
      tracker: this.#tracker,
      tempDir: this.#cluster.tempDir,
      seconds: (clock.now() - startedAt) / 1000,
      deduplicated: this.#cluster.retired.deduplicated,
      subscriberQueueDrops: this.#cluster.retired.subscriberDrops,
      inFlightAfterClose,
      runProblems: this.#problems,
      sendModes: this.#sendModes,
      move: this.#move,
      restart: this.#restart,
    });
  }

  async #phases(): Promise<void> {
    const budgets = splitBudget(
      this.#o.messages,
      PHASES.map((p) => p.weight),
    );
    for (const [i, spec] of PHASES.entries()) {
      this.#phase = i;
      const tally = this.#tracker.phases[i]!;
      tally.startedAtMs = this.#o.clock.now();
      this.#progress?.phaseStarted(i, PHASES.length, spec.name, spec.title);
      const segBudgets = splitBudget(
        budgets[i]!,
        spec.segments.map(() => 1),
      );
      const segMs =
        this.#o.durationMs === undefined
          ? undefined
          : (this.#o.durationMs * spec.weight) / spec.segments.length;
      const segment = (s: number, maxMs = segMs): Promise<void> => this.#segment(s, segBudgets[s]!, maxMs);
      switch (spec.name) {
        case 'broadcast':
          await this.#waitFor(() => this.#cluster.fullySubscribed(), 'every node subscribed to every other');
          await segment(0);
          break;
        case 'send-mode':
          for (const [s, mode] of MODES.entries()) {
            this.#setMode(mode);
            await segment(s);
          }
          break;
        case 'topology':
          await this.#topologyPhase(segment);
          break;
        case 'restart':
          await this.#restartPhase(segment, segMs);
          break;
        default:
          await segment(0);
      }
      await this.#settle(spec.name);
      tally.endedAtMs = this.#o.clock.now();
      this.#progress?.phaseDone(i, phaseReport(spec.name, tally));
    }
  }

  async #segment(index: number, budget: number, maxMs: number | undefined): Promise<void> {
    const { clock } = this.#o;
    const spec = PHASES[this.#phase]!;
    const next = segmentSteps(spec.name, index, this.#ctx);
    const start = clock.now();
    const paced = !Number.isFinite(budget);
    let used = 0;
    let batch = 0;
    while (used < budget) {
      this.#checkAbort();
      const elapsed = clock.now() - start;
      if (maxMs !== undefined && elapsed >= maxMs) break;
      if (paced && used > (elapsed * DURATION_RATE) / 1000) {
        await this.#sleep(5);
        continue;
      }
      const step = next();
      if (step === undefined || (used > 0 && used + costOf(step) > budget)) break;
      await this.#room(step);
      this.#send(step, spec.segments[index]!);
      used += costOf(step);
      if (++batch >= BATCH) {
        batch = 0;
        await this.#yield();
      }
    }
  }

  #send(step: Step, segment: string): void {
    const nodes = this.#cluster.nodes;
    const from = nodes[step.from]!;
    const network = from.current!.network;
    const id = `${this.#phase + 1}.${(this.#seq++).toString(36)}`;
    const data = this.#payload.subarray(0, step.bytes);
    this.#sentTotal++;
    if (step.kind === 'broadcast') {
      const expected = nodes.filter((n) => n !== from && n.current !== undefined).map((n) => n.id);
      this.#tracker.register({
        id,
        phase: this.#phase,
        segment,
        kind: 'broadcast',
        from: from.id,
        to: undefined,
        expected,
      });
      network.broadcast(LABELS.broadcast, data, { id });
      return;
    }
    const to = nodes[step.to]!;
    this.#tracker.register({
      id,
      phase: this.#phase,
      segment,
      kind: step.kind,
      from: from.id,
      to: to.id,
      expected: [to.id],
    });
    network.send(to.id, LABELS[step.kind], data, { id });
  }

  #onMessage(node: DemoNode, instance: NodeInstance, m: NetworkMessage): void {
    instance.delivered++;
    const latency = this.#o.clock.now() - Number(m.envelope.deliveryStartTimestampMs);
    const tracked = this.#tracker.delivered(node.id, m.id, latency);
    if (tracked === undefined || m.label !== LABELS.question) return;
    // The answer goes back by address, on the connection the question came in on.
    const id = m.reply('Answer', m.data);
    this.#sentTotal++;
    this.#tracker.register({
      id,
      phase: tracked.phase,
      segment: tracked.segment,
      kind: 'reply',
      from: node.id,
      to: tracked.from,
      expected: [tracked.from],
    });
  }

  /** Waits while the pair or the whole cluster has too many messages waiting. */
  async #room(step: Step): Promise<void> {
    const nodes = this.#cluster.nodes;
    const from = nodes[step.from]!.id;
    const to = step.to < 0 ? undefined : nodes[step.to]!.id;
    const globalWindow = 256 + 48 * nodes.length;
    const blocked = (): boolean =>
      this.#tracker.unsettled >= globalWindow ||
      (to !== undefined && this.#tracker.pending(from, to) >= PAIR_WINDOW);
    if (!blocked()) return;
    await this.#waitFor(() => !blocked(), `room to send from ${from}`, true);
  }

  #setMode(mode: SendMode): void {
    for (const n of this.#cluster.nodes) n.current?.network.updateConfig({ directSendMode: mode });
    this.#sendModes.push(mode);
    this.#progress?.note(`directSendMode -> ${mode} on every node, while sending`);
  }

  async #topologyPhase(segment: (s: number) => Promise<void>): Promise<void> {
    const node = this.#cluster.nodes[this.#ctx.moved]!;
    await segment(0);
    const moved = await this.#cluster.move(node);
    this.#progress?.note(`${node.id} moved ${moved.from} -> ${moved.to}; every topology updated, sending on`);
    await segment(1);
    await this.#settle('topology');
    await this.#cluster.retire(moved.old);
    this.#move = {
      node: node.id,
      from: moved.from,
      to: moved.to,
      deliveredAtNewAddress: node.current!.delivered,
    };
  }

  async #restartPhase(
    segment: (s: number, maxMs?: number) => Promise<void>,
    segMs: number | undefined,
  ): Promise<void> {
    const { clock } = this.#o;
    const cluster = this.#cluster;
    const node = cluster.nodes[this.#ctx.restarted]!;
    const others = cluster.nodes.filter((n) => n !== node);
    const address = node.address;
    const incarnation = node.current!.incarnation + 1;
    await segment(0);
    // Nothing may be on the wire to it when it stops: a frame in a dying socket is lost.
    await this.#settle('restart (before the stop)');
    await cluster.stop(node);
    const downAt = clock.now();
    // A sender that has not yet seen the close could still write into the dead socket.
    const noticed = (o: DemoNode): boolean =>
      !o.current?.network
        .stats()
        .sender.senders.some((s) => s.address === address && s.state === 'connected');
    await this.#waitFor(() => others.every(noticed), `the others saw ${node.id} go`, true);
    this.#progress?.note(`${node.id} stopped (${address}); the others keep sending to it`);
    const waitingSenders = (): number =>
      others.filter((o) =>
        o.current?.network
          .stats()
          .sender.senders.some(
            (s) => s.address === address && (s.state === 'backoff' || s.state === 'connecting'),
          ),
      ).length;
    await segment(1, Math.min(segMs ?? MAX_DOWN_SEND_MS, MAX_DOWN_SEND_MS));
    let sendersWaiting = waitingSenders();
    while (clock.now() - downAt < MIN_DOWN_MS) {
      await this.#sleep(20);
      sendersWaiting = Math.max(sendersWaiting, waitingSenders());
    }
    await cluster.restart(node, incarnation);
    const downSeconds = (clock.now() - downAt) / 1000;
    this.#progress?.note(`${node.id} restarted on ${address} with the same credentials`);
    await segment(2);
    await this.#settle('restart');
    const subscribed = (o: DemoNode): boolean =>
      o.current?.network
        .stats()
        .hub.subscriptions.some((s) => s.address === address && s.state === 'connected' && s.connects >= 2) ??
      false;
    await this.#waitFor(() => others.every(subscribed), `subscriptions to ${node.id} reconnected`, false);
    const whileDown = [...this.#tracker.messages.values()].filter(
      (m) => m.segment === 'node down' && m.to === node.id,
    );
    this.#restart = {
      node: node.id,
      address,
      downSeconds,
      sentWhileDown: whileDown.length,
      deliveredAfterRestart: whileDown.filter((m) => (m.deliveredAt.get(node.id) ?? 0) > 0).length,
      sendersWaiting,
      sendersReconnected: others.filter((o) =>
        o.current?.network
          .stats()
          .sender.senders.some((s) => s.address === address && s.state === 'connected'),
      ).length,
      subscriptionsReconnected: others.filter(subscribed).length,
    };
    this.#progress?.note(
      `${this.#restart.deliveredAfterRestart}/${whileDown.length} messages sent while it was down delivered after the restart`,
    );
  }

  /** Waits until every message has its outcomes and deliveries (and second copies were deduplicated). */
  async #settle(what: string): Promise<void> {
    const settled = (): boolean =>
      this.#tracker.unsettled === 0 &&
      this.#cluster.inFlight() === 0 &&
      this.#cluster.deduplicated() >= this.#tracker.expectedDuplicates;
    await this.#waitFor(settled, `${what}: every message settled`, false, SETTLE_MS);
  }

  /** Polls `check`; on timeout records a problem, or throws {@link Stalled} when `fatal`. */
  async #waitFor(check: () => boolean, what: string, fatal = false, timeoutMs = SETTLE_MS): Promise<boolean> {
    const end = this.#o.clock.now() + timeoutMs;
    while (!check()) {
      this.#checkAbort();
      if (this.#o.clock.now() > end) {
        const message = `timed out after ${timeoutMs / 1000} s waiting for: ${what} (${this.#tracker.unsettled} messages waiting)`;
        if (fatal) throw new Stalled(message);
        this.#problems.push(message);
        return false;
      }
      this.#report();
      await this.#sleep(5);
    }
    return true;
  }

  #report(): void {
    if (this.#progress === undefined) return;
    let delivered = 0;
    let dropped = 0;
    for (const t of this.#tracker.phases) {
      delivered += t.delivered;
      for (const n of Object.values(t.dropped)) dropped += n;
    }
    this.#progress.update({
      phase: this.#phase,
      phases: PHASES.length,
      phaseName: PHASES[this.#phase]!.name,
      sent: this.#sentTotal,
      budget: this.#o.messages,
      delivered,
      dropped,
      waiting: this.#tracker.unsettled,
    });
  }

  #checkAbort(): void {
    if (this.#o.signal?.aborted) throw new PeerpostError('ERR_ABORTED', 'the demo was interrupted');
  }

  #yield(): Promise<void> {
    this.#report();
    return new Promise((resolve) => setImmediate(resolve));
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#o.clock.setTimeout(resolve, ms));
  }
}

import { CONTROL_ID, type TapEvent } from './tap.js';

/** The peer id of a node key (`p3#2` -> `p3`). */
function peerOf(node: string): string {
  const at = node.lastIndexOf('#');
  return at < 0 ? node : node.slice(0, at);
}

/**
 * The outcome oracle: a ledger keyed by (message id, target address), filled only from
 * observations made outside the code under test:
 * - what the application saw: the messages it accepted (`accept`), the outcomes it got
 *   through `onOutcome` (`outcome`) and what each receiving application got through
 *   `onMessage` (`deliver`);
 * - what the transport carried ({@link TapEvent}: frames handed to, flushed on and
 *   received from each connection);
 * - the peer table each node had, in order (`topology`), and the nodes' lives.
 *
 * Every event is plain JSON, so a run in several processes (real TLS) can write its
 * events to files and check them with the same oracle. Events are checked in the order
 * they were recorded (`seq`), which is the order they happened in one process.
 */
export type OracleEvent =
  | TapEvent
  | {
      readonly t: 'node';
      /** The node key: peer id and incarnation, e.g. `p3#2`. */
      readonly node: string;
      readonly peerId: string;
      readonly address: string;
    }
  | { readonly t: 'node-closed'; readonly node: string }
  /**
   * The node's process was killed (SIGKILL): its log ends wherever the kill caught it, so
   * what it would have reported later is missing. Recorded after the node's last event.
   * Exempts exactly the checks that need those later reports, for the messages it sent:
   * an outcome for every target (`every-target`), a flush report behind a carried frame
   * (`written-carried`, `delivered-carried`: a frame handed to its connection is enough)
   * and a `written` outcome behind a delivery (`delivered-written`: a path it reported no
   * outcome for is enough). Everything else still holds, for it and for its messages.
   */
  | { readonly t: 'killed'; readonly node: string }
  | {
      readonly t: 'topology';
      readonly node: string;
      readonly table: Readonly<Record<string, readonly string[]>>;
    }
  | {
      readonly t: 'accept';
      readonly node: string;
      readonly id: string;
      /** `peer:<id>`, `addr:<host:port>` or `broadcast`. */
      readonly to: string;
      readonly mode: 'direct' | 'broadcast' | 'both';
    }
  | {
      readonly t: 'outcome';
      readonly node: string;
      readonly id: string;
      readonly address: string | null;
      readonly mode: 'direct' | 'broadcast';
      /** `written`, `dropped:<reason>` or `skipped:<reason>`. */
      readonly outcome: string;
    }
  | { readonly t: 'deliver'; readonly node: string; readonly id: string }
  /** Message `id` (accepted just before) was sent with `network.sendAndWait()`. */
  | { readonly t: 'wait'; readonly node: string; readonly id: string }
  /** What its promise resolved with: each outcome as {@link settledOutcome} writes it. */
  | {
      readonly t: 'settled';
      readonly node: string;
      readonly id: string;
      readonly outcomes: readonly string[];
    }
  /** Message `id` (accepted just before) is a `network.request()`. */
  | { readonly t: 'request'; readonly node: string; readonly id: string }
  /**
   * What the request's promise ended with: `answered` (with the reply's id; the reply is
   * also recorded as a `deliver`), or the code it rejected with.
   */
  | {
      readonly t: 'request-end';
      readonly node: string;
      readonly id: string;
      readonly result: string;
      readonly reply?: string;
    }
  /**
   * A publishing loop of `node` starts (`pace`, its name): it broadcasts a number of
   * messages, each once `broadcastWritable()` is true (waiting on `broadcastReady()`
   * while it is false).
   */
  | { readonly t: 'pace-start'; readonly node: string; readonly pace: string }
  /** Broadcast `id` (accepted just before) was made by loop `pace` right after `broadcastWritable()` said true. */
  | { readonly t: 'paced'; readonly node: string; readonly pace: string; readonly id: string }
  /** How the loop ended: `done` (every broadcast made) or the code its wait rejected with. */
  | { readonly t: 'pace-end'; readonly node: string; readonly pace: string; readonly result: string }
  /** The harness asks the node to close (a move, a crash, or the end of the run). */
  | { readonly t: 'node-stopping'; readonly node: string }
  /**
   * The run is over (every reader reading again, time given to finish what was under way)
   * and every node is about to close.
   */
  | { readonly t: 'closing-all' }
  | {
      readonly t: 'final';
      /**
       * The node (process) this state is of; absent: the whole run. A run in several
       * processes records one per process, and every one is checked.
       */
      readonly node?: string;
      /** Connections with an open end left on the transport after every node closed. */
      readonly openConnections: number;
      /** Timers left on the clock after every node closed. */
      readonly pendingTimers: number;
      /** TCP sockets and servers the process still had after its node closed (real transports). */
      readonly openSockets?: number;
    };

/** One outcome of a `settled` event: `<mode> <address or -> <outcome>`. */
export function settledOutcome(mode: string, address: string | null, outcome: string): string {
  return `${mode} ${address ?? '-'} ${outcome}`;
}

export type Rule =
  | 'one-outcome'
  | 'every-target'
  | 'target-address'
  | 'unresolved-only'
  | 'written-carried'
  | 'delivered-written'
  | 'delivered-carried'
  | 'one-delivery'
  | 'acked-delivered'
  | 'fifo'
  | 'handed-once'
  | 'outcome-after-close'
  | 'settled-outcomes'
  | 'request-once'
  | 'request-result'
  | 'paced-room'
  | 'paced-ends'
  | 'clean-close';

export interface Violation {
  readonly rule: Rule;
  readonly detail: string;
}

/** Outcomes a message may get without an address: only its unresolved target (or the whole message). */
const ADDRESS_LESS = new Set([
  'dropped:unresolved_overflow',
  'dropped:unresolved_expired',
  'dropped:shutdown',
  'skipped:address_removed',
  'skipped:self',
  'dropped:too_large',
]);

interface Accepted {
  readonly seq: number;
  readonly node: string;
  readonly to: string;
  readonly mode: 'direct' | 'broadcast' | 'both';
  /** For a peer send in direct/both mode: the addresses of the peer in the sender's table. */
  readonly targets: readonly string[];
  /** Index in the sender's topology history at accept time. */
  readonly topologyIndex: number;
}

interface OutcomeRecord {
  readonly seq: number;
  readonly node: string;
  readonly address: string | null;
  readonly mode: 'direct' | 'broadcast';
  readonly outcome: string;
}

interface ConnectionRecord {
  readonly node: string;
  readonly kind: string;
  readonly direction: 'outbound' | 'inbound';
  readonly local: string;
  readonly remote: string;
  readonly handed: string[];
  readonly handedSeq: number[];
  /** Negotiated acknowledged delivery: a message may be handed again on a later connection. */
  readonly acks: boolean;
  flushed: number;
  readonly openSeq: number;
  closedSeq: number | undefined;
}

interface TopologyEntry {
  readonly seq: number;
  readonly table: Readonly<Record<string, readonly string[]>>;
}

/** Appends `value` to the list of `key`. */
function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

export class Oracle {
  readonly events: OracleEvent[] = [];
  readonly #accepted = new Map<string, Accepted>();
  readonly #outcomes = new Map<string, OutcomeRecord[]>();
  readonly #deliveries: { seq: number; node: string; id: string }[] = [];
  readonly #connections = new Map<number, ConnectionRecord>();
  readonly #received = new Map<string, number[]>();
  readonly #topologies = new Map<string, TopologyEntry[]>();
  readonly #closedAt = new Map<string, number>();
  readonly #killedAt = new Map<string, number>();
  readonly #finals: Extract<OracleEvent, { t: 'final' }>[] = [];
  /** Messages sent with sendAndWait, by id: their node and what each settle gave (with its seq). */
  readonly #waits = new Map<
    string,
    { node: string; settles: { seq: number; outcomes: readonly string[] }[] }
  >();
  /** Publishing loops by name: their node, their broadcasts and how they ended (with the end's seq). */
  readonly #paces = new Map<
    string,
    { node: string; ids: string[]; ends: { seq: number; result: string }[] }
  >();
  /** When the harness first asked each node (key) to close. */
  readonly #stoppingAt = new Map<string, number>();
  /** When the run ended and every node was about to close. */
  #closingAllAt: number | undefined;
  /** Requests by id: their node and how they ended (with the end's seq). */
  readonly #requests = new Map<
    string,
    { node: string; ends: { seq: number; result: string; reply?: string }[] }
  >();

  /** Records one observation (in the order observed). */
  readonly record = (event: OracleEvent): void => {
    const seq = this.events.length;
    this.events.push(event);
    switch (event.t) {
      case 'topology': {
        push(this.#topologies, event.node, { seq, table: event.table });
        break;
      }
      case 'accept': {
        const history = this.#topologies.get(event.node) ?? [];
        const current = history.at(-1)?.table ?? {};
        const targets =
          event.mode !== 'broadcast' && event.to.startsWith('peer:')
            ? [...(current[event.to.slice(5)] ?? [])]
            : event.to.startsWith('addr:')
              ? [event.to.slice(5)]
              : [];
        this.#accepted.set(event.id, {
          seq,
          node: event.node,
          to: event.to,
          mode: event.mode,
          targets,
          topologyIndex: history.length - 1,
        });
        break;
      }
      case 'outcome': {
        push(this.#outcomes, event.id, {
          seq,
          node: event.node,
          address: event.address,
          mode: event.mode,
          outcome: event.outcome,
        });
        break;
      }
      case 'deliver':
        this.#deliveries.push({ seq, node: event.node, id: event.id });
        break;
      case 'wait':
        this.#waits.set(event.id, { node: event.node, settles: [] });
        break;
      case 'settled':
        this.#waits.get(event.id)?.settles.push({ seq, outcomes: event.outcomes });
        break;
      case 'request':
        this.#requests.set(event.id, { node: event.node, ends: [] });
        break;
      case 'request-end':
        this.#requests.get(event.id)?.ends.push({ seq, result: event.result, reply: event.reply });
        break;
      case 'open':
        this.#connections.set(event.conn, {
          node: event.node,
          kind: event.kind,
          direction: event.direction,
          local: event.local,
          remote: event.remote,
          handed: [],
          handedSeq: [],
          acks: event.acks === true,
          flushed: 0,
          openSeq: seq,
          closedSeq: undefined,
        });
        break;
      case 'handed': {
        const c = this.#connections.get(event.conn);
        if (c === undefined) break;
        for (const id of event.ids) {
          c.handed.push(id);
          c.handedSeq.push(seq);
        }
        break;
      }
      case 'flushed': {
        const c = this.#connections.get(event.conn);
        if (c !== undefined) c.flushed += event.count;
        break;
      }
      case 'received': {
        push(this.#received, `${event.node}\n${event.id}`, event.conn);
        break;
      }
      case 'closed': {
        const c = this.#connections.get(event.conn);
        if (c !== undefined) c.closedSeq = seq;
        break;
      }
      case 'pace-start':
        this.#paces.set(event.pace, { node: event.node, ids: [], ends: [] });
        break;
      case 'paced':
        this.#paces.get(event.pace)?.ids.push(event.id);
        break;
      case 'pace-end':
        this.#paces.get(event.pace)?.ends.push({ seq, result: event.result });
        break;
      case 'node-stopping':
        if (!this.#stoppingAt.has(event.node)) this.#stoppingAt.set(event.node, seq);
        break;
      case 'closing-all':
        this.#closingAllAt ??= seq;
        break;
      case 'node-closed':
        this.#closedAt.set(event.node, seq);
        break;
      case 'killed':
        this.#killedAt.set(event.node, seq);
        break;
      case 'final':
        this.#finals.push(event);
        break;
      case 'node':
        break;
    }
  };

  /** Messages accepted so far. */
  get accepted(): number {
    return this.#accepted.size;
  }

  /** Checks every rule over everything recorded; call after every node has closed. */
  check(limit = 20): Violation[] {
    const out: Violation[] = [];
    const add = (rule: Rule, detail: string): void => {
      if (out.length < limit) out.push({ rule, detail });
    };
    this.#checkOutcomes(add);
    const carried = this.#checkTransport(add);
    this.#checkDeliveries(add, carried);
    this.#checkRequests(add);
    this.#checkWaits(add);
    this.#checkPaces(add);
    if (this.#finals.length === 0) add('clean-close', 'the run recorded no final state');
    for (const final of this.#finals) {
      const after = final.node === undefined ? 'every node' : final.node;
      if (final.openConnections !== 0)
        add('clean-close', `${final.openConnections} connections open after ${after} closed`);
      if (final.pendingTimers !== 0)
        add('clean-close', `${final.pendingTimers} timers pending after ${after} closed`);
      if ((final.openSockets ?? 0) !== 0)
        add('clean-close', `${final.openSockets} sockets open after ${after} closed`);
    }
    return out;
  }

  /** Did some table `node` had between the two events pass `test`? */
  #anyTable(
    node: string,
    from: number,
    to: number,
    test: (table: Readonly<Record<string, readonly string[]>>) => boolean,
  ): boolean {
    const history = this.#topologies.get(node) ?? [];
    for (let i = 0; i < history.length; i++) {
      const start = history[i]!.seq;
      const end = history[i + 1]?.seq ?? Number.POSITIVE_INFINITY;
      if (end <= from || start > to) continue;
      if (test(history[i]!.table)) return true;
    }
    return false;
  }

  /** Did the peer `peerId` have `address` in `node`'s table at some time between the two events? */
  #hadAddress(node: string, from: number, to: number, peerId: string, address: string): boolean {
    return this.#anyTable(node, from, to, (table) => table[peerId]?.includes(address) === true);
  }

  /** Did the peer have no address at all in `node`'s table at some time between the two events? */
  #hadNone(node: string, from: number, to: number, peerId: string): boolean {
    return this.#anyTable(node, from, to, (table) => (table[peerId]?.length ?? 0) === 0);
  }

  /** Whether something of `node` that must end once ended `count` times fine: once, or never on a killed node. */
  #once(node: string, count: number): boolean {
    return count === 1 || (count === 0 && this.#killedAt.has(node));
  }

  /**
   * Each request ends once (a killed node's may not end at all). Answered: by a message
   * whose id names it (`<id>~r~...`), that a node of the peer it went to sent and a
   * connection of the requesting node received. `ERR_REQUEST_DROPPED`: no outcome of the
   * request so far was `written` or `delivered` (with acks a request is `delivered` before
   * its reply comes). Otherwise only a timeout or the node closing may end it.
   */
  #checkRequests(add: (rule: Rule, detail: string) => void): void {
    for (const [id, r] of this.#requests) {
      if (!this.#once(r.node, r.ends.length)) {
        add('request-once', `request ${id} of ${r.node} ended ${r.ends.length} times`);
      }
      if (r.ends.length !== 1) continue;
      const end = r.ends[0]!;
      const acc = this.#accepted.get(id);
      switch (end.result) {
        case 'answered': {
          const reply = end.reply ?? '';
          const sent = this.#accepted.get(reply);
          if (!reply.startsWith(`${id}~r~`)) {
            add('request-result', `request ${id} answered by ${reply}, whose id does not name it`);
          } else if (sent === undefined || acc === undefined || `peer:${peerOf(sent.node)}` !== acc.to) {
            add(
              'request-result',
              `request ${id} to ${acc?.to} answered by ${reply}, which that peer did not send`,
            );
          } else if ((this.#received.get(`${r.node}\n${reply}`) ?? []).length === 0) {
            add(
              'request-result',
              `request ${id} answered by ${reply}, which no connection of ${r.node} received`,
            );
          }
          break;
        }
        case 'ERR_REQUEST_DROPPED': {
          const reached = (this.#outcomes.get(id) ?? []).find(
            (o) => o.seq < end.seq && (o.outcome === 'written' || o.outcome === 'delivered'),
          );
          if (reached !== undefined) {
            add(
              'request-result',
              `request ${id} rejected ERR_REQUEST_DROPPED after it was ${reached.outcome} at ${reached.address}`,
            );
          }
          break;
        }
        case 'ERR_REQUEST_TIMEOUT':
        case 'ERR_CLOSED':
          break;
        default:
          add('request-result', `request ${id} ended with ${end.result}`);
      }
    }
  }

  /**
   * A message sent with sendAndWait settles once (a killed node's may not), after every
   * outcome it has, with exactly the outcomes `onOutcome` reported for it (as a multiset)
   * and none reported later.
   */
  #checkWaits(add: (rule: Rule, detail: string) => void): void {
    for (const [id, w] of this.#waits) {
      if (!this.#once(w.node, w.settles.length)) {
        add('settled-outcomes', `${id} of ${w.node} settled ${w.settles.length} times`);
      }
      if (w.settles.length !== 1) continue;
      const settle = w.settles[0]!;
      const reported = this.#outcomes.get(id) ?? [];
      const late = reported.find((o) => o.seq > settle.seq);
      if (late !== undefined) {
        add('settled-outcomes', `${id} got ${late.outcome} at ${late.address} after it settled`);
        continue;
      }
      const heard = reported.map((o) => settledOutcome(o.mode, o.address, o.outcome)).sort();
      const given = [...settle.outcomes].sort();
      if (heard.join('\n') !== given.join('\n')) {
        add(
          'settled-outcomes',
          `${id} settled with [${given.join(', ')}], onOutcome heard [${heard.join(', ')}]`,
        );
      }
    }
  }

  /**
   * Broadcast backpressure. A broadcast made right after `broadcastWritable()` said true
   * is queued for every subscriber: none of its outcomes is a full queue or budget
   * (`paced-room`). A publishing loop ends once: with every broadcast made, or rejected
   * because its node was asked to close mid-run; one still waiting when the run ended,
   * with every reader reading again and time to drain, lost its wake-up (`paced-ends`).
   */
  #checkPaces(add: (rule: Rule, detail: string) => void): void {
    for (const [pace, p] of this.#paces) {
      for (const id of p.ids) {
        const full = (this.#outcomes.get(id) ?? []).find(
          (o) => o.outcome === 'dropped:queue_full' || o.outcome === 'dropped:node_queue_full',
        );
        if (full !== undefined) {
          add(
            'paced-room',
            `${id} of ${pace}, broadcast when writable, was ${full.outcome} at ${full.address}`,
          );
        }
      }
      if (!this.#once(p.node, p.ends.length)) {
        add('paced-ends', `${pace} of ${p.node} ended ${p.ends.length} times`);
        continue;
      }
      const end = p.ends[0];
      if (end === undefined || end.result === 'done') continue;
      const stopping = this.#stoppingAt.get(p.node);
      if (end.result !== 'ERR_CLOSED' || stopping === undefined || stopping > end.seq) {
        add('paced-ends', `${pace} of ${p.node} ended with ${end.result} while its node ran`);
      } else if (this.#closingAllAt !== undefined && stopping > this.#closingAllAt) {
        add(
          'paced-ends',
          `${pace} of ${p.node} still waited (${p.ids.length} broadcasts made) when the run ended`,
        );
      }
    }
  }

  #checkOutcomes(add: (rule: Rule, detail: string) => void): void {
    for (const id of this.#outcomes.keys()) {
      if (!this.#accepted.has(id)) add('one-outcome', `outcome for ${id}, which no application sent`);
    }
    for (const [id, acc] of this.#accepted) {
      const outcomes = this.#outcomes.get(id) ?? [];
      // A killed node's life ended at the kill as much as at a close.
      const closed = this.#closedAt.get(acc.node) ?? this.#killedAt.get(acc.node);
      // Its node was killed: the outcomes it had still to report died with it.
      const killed = this.#killedAt.has(acc.node);
      const missing = (detail: string): void => {
        if (!killed) add('every-target', detail);
      };
      const seen = new Set<string>();
      for (const o of outcomes) {
        const key = `${o.mode}|${o.address ?? ''}`;
        if (seen.has(key)) add('one-outcome', `${id} (${acc.to}) got two outcomes at ${o.mode} ${o.address}`);
        seen.add(key);
        if (closed !== undefined && o.seq > closed)
          add(
            'outcome-after-close',
            `${id} got ${o.outcome} at ${o.address} after its node closed (or was killed)`,
          );
        if (o.outcome === 'dropped:too_large' && outcomes.length !== 1)
          add('one-outcome', `${id} is too large and got other outcomes too`);
      }
      this.#checkBroadcastPath(add, missing, id, acc, outcomes);
      if (acc.to === 'broadcast') continue;
      if (acc.to.startsWith('addr:')) {
        const address = acc.to.slice(5);
        const mine = outcomes.filter((o) => o.address === address);
        if (mine.length === 0) missing(`${id} to ${acc.to} got no outcome`);
        if (mine.length !== outcomes.length)
          add('target-address', `${id} to ${acc.to} got an outcome elsewhere`);
        continue;
      }
      if (outcomes.some((o) => o.outcome === 'dropped:too_large')) continue;
      const peerId = acc.to.slice(5);
      if (acc.mode === 'broadcast') continue;
      const direct = outcomes.filter((o) => o.mode === 'direct');
      for (const target of acc.targets) {
        if (!direct.some((o) => o.address === target))
          missing(`${id} to ${acc.to}: target ${target} (live at send) got no outcome`);
      }
      for (const o of direct) {
        if (o.address === null) {
          if (!ADDRESS_LESS.has(o.outcome))
            add('unresolved-only', `${id} to ${acc.to} got ${o.outcome} with no address`);
          else if (o.outcome !== 'skipped:self' && !this.#hadNone(acc.node, acc.seq, o.seq, peerId))
            add(
              'unresolved-only',
              `${id} to ${acc.to} got ${o.outcome} with no address, but the peer always had one`,
            );
          continue;
        }
        if (
          !acc.targets.includes(o.address) &&
          !this.#hadAddress(acc.node, acc.seq, o.seq, peerId, o.address)
        )
          add(
            'target-address',
            `${id} to ${acc.to} got ${o.outcome} at ${o.address}, never an address of the peer`,
          );
      }
      if (acc.targets.length === 0 && !killed) this.#checkWaited(add, id, acc, peerId, direct);
    }
  }

  /**
   * The broadcast path (a broadcast, or a peer send in `broadcast`/`both` mode): either one
   * outcome at address `broadcast` (nobody could have it: `no_subscriber`, `shutdown`,
   * ...) and nothing else on that path, or one outcome per subscriber connection it went
   * to, each at the remote address of a subscriber connection of the sending node open
   * when the outcome came. A broadcast to every subscriber has an outcome at every
   * subscriber connection that was open when it was accepted.
   */
  #checkBroadcastPath(
    add: (rule: Rule, detail: string) => void,
    missing: (detail: string) => void,
    id: string,
    acc: Accepted,
    outcomes: readonly OutcomeRecord[],
  ): void {
    const onPath = outcomes.filter((o) => o.mode === 'broadcast');
    if (acc.mode === 'direct' && acc.to !== 'broadcast') {
      if (onPath.length > 0) add('target-address', `${id} sent in direct mode got a broadcast-path outcome`);
      return;
    }
    if (onPath.length === 0) {
      missing(`${id} (${acc.to}, ${acc.mode} mode) got no broadcast-path outcome`);
      return;
    }
    const whole = onPath.filter((o) => o.address === 'broadcast' || o.address === null);
    if (whole.length > 0) {
      if (onPath.length > 1)
        add('one-outcome', `${id} got ${whole[0]!.outcome} for the whole broadcast and other outcomes too`);
      if (whole[0]!.outcome === 'written')
        add('target-address', `${id} was written to no subscriber connection in particular`);
      return;
    }
    const subscribers = [...this.#connections.values()].filter(
      (c) => c.node === acc.node && c.direction === 'inbound' && c.kind !== 'direct',
    );
    for (const o of onPath) {
      const at = subscribers.some(
        (c) =>
          c.remote === o.address && c.openSeq < o.seq && (c.closedSeq ?? Number.POSITIVE_INFINITY) > acc.seq,
      );
      if (!at)
        add(
          'target-address',
          `${id} got ${o.outcome} at ${o.address}, not a subscriber connection of ${acc.node}`,
        );
    }
    if (acc.to !== 'broadcast') return;
    for (const c of subscribers) {
      if (c.openSeq > acc.seq || (c.closedSeq !== undefined && c.closedSeq < acc.seq)) continue;
      if (!onPath.some((o) => o.address === c.remote))
        missing(`broadcast ${id}: subscriber connection from ${c.remote}, open all along, got no outcome`);
    }
  }

  /**
   * A message that waited for its peer to get an address: unless its wait ended first
   * (an address-less outcome), every address of the first table that gave the peer any
   * gets an outcome.
   */
  #checkWaited(
    add: (rule: Rule, detail: string) => void,
    id: string,
    acc: Accepted,
    peerId: string,
    direct: readonly OutcomeRecord[],
  ): void {
    const history = this.#topologies.get(acc.node) ?? [];
    const closed = this.#closedAt.get(acc.node) ?? Number.POSITIVE_INFINITY;
    const ended = direct.find((o) => o.address === null);
    for (let i = acc.topologyIndex + 1; i < history.length; i++) {
      const entry = history[i]!;
      if (entry.seq > closed || (ended !== undefined && ended.seq < entry.seq)) return;
      const addresses = entry.table[peerId] ?? [];
      if (addresses.length === 0) continue;
      for (const address of addresses) {
        if (!direct.some((o) => o.address === address))
          add('every-target', `${id} to ${acc.to} waited for an address; ${address} came and got no outcome`);
      }
      return;
    }
    if (ended === undefined && direct.length === 0)
      add('every-target', `${id} to ${acc.to} waited for an address and got no outcome`);
  }

  /**
   * Returns, per (node, message id), the connections that carried it from that node:
   * flushed it, or for a killed node (whose flush reports may have died with it) were
   * handed it.
   */
  #checkTransport(add: (rule: Rule, detail: string) => void): Map<string, ConnectionRecord[]> {
    const carried = new Map<string, ConnectionRecord[]>();
    const lastByTarget = new Map<string, number>();
    const handedTo = new Set<string>();
    for (const [number, c] of this.#connections) {
      for (let i = 0; i < c.handed.length; i++) {
        const id = c.handed[i]!;
        if (id === CONTROL_ID) continue;
        if (i < c.flushed || this.#killedAt.has(c.node)) {
          push(carried, `${c.node}\n${id}`, c);
        }
        if (c.direction !== 'outbound' || c.kind !== 'direct') continue;
        // With acks, what was not acknowledged is handed again, once per later connection.
        const once = `${c.node}\n${c.remote}\n${id}${c.acks ? `\n${number}` : ''}`;
        if (handedTo.has(once)) add('handed-once', `${c.node} handed ${id} to ${c.remote} twice`);
        handedTo.add(once);
      }
    }
    // FIFO per (sender, address): over every outbound direct connection to the address,
    // in the order the frames were handed over, accept order never goes back.
    const frames: { seq: number; node: string; remote: string; id: string; acks: boolean }[] = [];
    for (const c of this.#connections.values()) {
      if (c.direction !== 'outbound' || c.kind !== 'direct') continue;
      for (let i = 0; i < c.handed.length; i++) {
        if (c.handed[i] === CONTROL_ID) continue;
        frames.push({ seq: c.handedSeq[i]!, node: c.node, remote: c.remote, id: c.handed[i]!, acks: c.acks });
      }
    }
    frames.sort((a, b) => a.seq - b.seq);
    // With acks, FIFO of first hand-overs: a retransmission repeats an earlier one in order.
    const first = new Set<string>();
    for (const f of frames) {
      const handedKey = `${f.node}\n${f.remote}\n${f.id}`;
      if (f.acks && first.has(handedKey)) continue;
      first.add(handedKey);
      const acc = this.#accepted.get(f.id);
      if (acc === undefined || acc.node !== f.node) continue;
      const key = `${f.node}\n${f.remote}`;
      const last = lastByTarget.get(key) ?? -1;
      if (acc.seq < last) add('fifo', `${f.node} handed ${f.id} to ${f.remote} after a message sent later`);
      lastByTarget.set(key, Math.max(last, acc.seq));
    }
    for (const [id, outcomes] of this.#outcomes) {
      for (const o of outcomes) {
        if ((o.outcome !== 'written' && o.outcome !== 'delivered') || o.address === null) continue;
        const via = carried.get(`${o.node}\n${id}`) ?? [];
        if (!via.some((c) => c.remote === o.address && (c.kind === 'direct') === (o.mode === 'direct')))
          add(
            'written-carried',
            `${o.node} reported ${id} written at ${o.address}; no connection there flushed it`,
          );
      }
    }
    return carried;
  }

  /**
   * Acknowledged delivery: a `delivered` outcome at an address means an application of
   * the peer it was sent to had the message before the outcome came, and a message sent
   * to a peer reaches that peer's applications once, over every incarnation of it (a
   * retransmission to a restarted peer would be a second delivery).
   */
  #checkAcked(add: (rule: Rule, detail: string) => void): void {
    const deliveredAt = new Map<string, { seq: number; peerId: string }[]>();
    for (const d of this.#deliveries) push(deliveredAt, d.id, { seq: d.seq, peerId: peerOf(d.node) });
    for (const [id, outcomes] of this.#outcomes) {
      const acc = this.#accepted.get(id);
      if (acc === undefined) continue;
      const to = acc.to.startsWith('peer:') ? acc.to.slice(5) : undefined;
      for (const o of outcomes) {
        if (o.outcome !== 'delivered') continue;
        const got = (deliveredAt.get(id) ?? []).some(
          (d) => d.seq < o.seq && (to === undefined || d.peerId === to),
        );
        if (!got)
          add(
            'acked-delivered',
            `${o.node} reported ${id} delivered at ${o.address}; no application of ${acc.to} had it`,
          );
      }
      if (to === undefined || acc.mode !== 'direct') continue;
      const times = (deliveredAt.get(id) ?? []).filter((d) => d.peerId === to).length;
      if (
        times > 1 &&
        outcomes.some((o) => o.outcome === 'delivered' || o.outcome === 'dropped:unacknowledged')
      )
        add('one-delivery', `${id} reached the applications of ${to} ${times} times`);
    }
  }

  #checkDeliveries(
    add: (rule: Rule, detail: string) => void,
    carried: Map<string, ConnectionRecord[]>,
  ): void {
    this.#checkAcked(add);
    const once = new Set<string>();
    for (const d of this.#deliveries) {
      const key = `${d.node}\n${d.id}`;
      if (once.has(key)) add('one-delivery', `${d.node} got ${d.id} twice`);
      once.add(key);
      const acc = this.#accepted.get(d.id);
      if (acc === undefined) continue;
      const connections = this.#received.get(key) ?? [];
      if (connections.length === 0)
        add('delivered-carried', `${d.node} got ${d.id}, which no connection of it received`);
      // On a path with acks, a delivery ends as `delivered`, or as `dropped:unacknowledged`
      // when the sender could not learn it (the receiver lost its state first).
      const written = (this.#outcomes.get(d.id) ?? []).filter(
        (o) => o.outcome === 'written' || o.outcome === 'delivered' || o.outcome === 'dropped:unacknowledged',
      );
      const via = carried.get(`${acc.node}\n${d.id}`) ?? [];
      // The receiving end of a connection that carried it: its addresses mirror the sender's end.
      const ends = via.filter((c) =>
        connections.some((n) => {
          const r = this.#connections.get(n);
          return r !== undefined && r.node === d.node && r.local === c.remote && r.remote === c.local;
        }),
      );
      if (ends.length === 0) {
        add(
          'delivered-carried',
          `${d.node} got ${d.id}; no connection of its sender ${acc.node} to it flushed it`,
        );
        continue;
      }
      const onPath = (o: OutcomeRecord, c: ConnectionRecord): boolean =>
        o.address === c.remote && (c.kind === 'direct') === (o.mode === 'direct');
      const ok = ends.some((c) => written.some((o) => onPath(o, c)));
      // A killed sender may have died before it reported `written`; a report of anything
      // else on that path still contradicts the delivery.
      const unreported =
        this.#killedAt.has(acc.node) &&
        ends.some((c) => !(this.#outcomes.get(d.id) ?? []).some((o) => onPath(o, c)));
      if (!ok && !unreported)
        add(
          'delivered-written',
          `${d.node} got ${d.id} but ${acc.node} has no written outcome for that path`,
        );
    }
  }
}

import { createHash } from 'node:crypto';
import type { Network, NetworkMessage } from '../../src/network/network.js';
import { createNetwork } from '../../src/network/network.js';
import { replyIdOf } from '../../src/network/requests.js';
import { formatOutcome } from '../../src/sender/outcome.js';
import { addr, peer } from '../../src/sender/receiver.js';
import { MemoryNetwork } from '../../src/transport/memory/network.js';
import type { MemoryTransport } from '../../src/transport/memory/transport.js';
import type { TimerHandle } from '../../src/util/clock.js';
import { seededRandom } from '../../src/util/random.js';
import { Oracle, type OracleEvent, settledOutcome, type Violation } from '../oracle/oracle.js';
import { TapTransport } from '../oracle/tap.js';
import { SimClock } from './clock.js';
import { type Action, type ActionKind, initialPeers, plan } from './plan.js';

export interface SimOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly seconds: number;
  /** Replays this script instead of the one planned from the seed (shrinking). */
  readonly actions?: readonly Action[];
  /** Every node sends to peers with acknowledged delivery (docs/acks.md). @default false */
  readonly acks?: boolean;
}

export interface SimResult {
  readonly seed: number;
  readonly violations: readonly Violation[];
  /** SHA-256 (first 16 hex) of every observation in order: the same seed gives the same hash. */
  readonly traceHash: string;
  readonly messages: number;
  readonly deliveries: number;
  readonly outcomes: Readonly<Record<string, number>>;
  /** How the requests ended: `answered` or the error code. */
  readonly requests: Readonly<Record<string, number>>;
  /**
   * The publishing loops (`publish`): broadcasts they made, waits on `broadcastReady()`,
   * and how the loops ended (`done` or the error code).
   */
  readonly paced: { broadcasts: number; waits: number; ends: Readonly<Record<string, number>> };
  /** Actions that took effect, by kind (faults and churn included). */
  readonly applied: Readonly<Record<string, number>>;
  readonly actions: readonly Action[];
}

const WRONG_HASH = '0'.repeat(64);
const LIMITS = {
  peerQueueCapacity: 32,
  unresolvedCapacity: 32,
  unresolvedTtlMs: 4000,
  resolveRetryMs: 500,
  idleTimeoutMs: 4000,
  writeTimeoutMs: 3000,
  handshakeTimeoutMs: 1500,
  subscriberQueueCapacity: 64,
  backoff: { initialMs: 50, deadlineMs: 2000, jitter: 0.2 },
};
const DRAIN_MS = 1000;
/**
 * At the end, how long (virtual) the publishing loops get to finish, readers reading again:
 * long enough for a subscriber that does not read to fail the write timeout and leave.
 */
const PACE_DRAIN_MS = 60_000;
const PAYLOAD = new Uint8Array(24);
/**
 * The publishing loops' payload: a subscriber queue of them holds more than a connection
 * takes. Seeded random bytes, which zstd cannot shrink.
 */
const PUBLISHED = (() => {
  const random = seededRandom(0x9e3779b9);
  return Uint8Array.from({ length: 1024 }, () => Math.floor(random() * 256));
})();
const HIGH_WATER_MARK = 16 * 1024;
const SOCKET_BUFFER = 64 * 1024;
/** How long a request waits for its reply (some replies come later: an ordinary message then). */
const REQUEST_TIMEOUT_MS = 3000;

/**
 * How long a node takes to answer request `id` (`<node key>-<n>`): none for a third of
 * them, else up to 4 s, so that a reply often comes after the request's ack and sometimes
 * after its timeout.
 */
function answerDelayMs(id: string): number {
  const n = Number(id.slice(id.lastIndexOf('-') + 1));
  return n % 3 === 0 ? 0 : (n * 7919) % 4000;
}

interface TableEntry {
  readonly address: string;
  readonly certHash?: string;
}

interface SimNode {
  readonly index: number;
  readonly peerId: string;
  readonly host: string;
  readonly transport: MemoryTransport;
  incarnation: number;
  key: string;
  network: Network | undefined;
  tap: TapTransport | undefined;
  address: string;
  /** Addresses it had before, which viewers may still list. */
  stale: string[];
  /** Nodes that list this one in their table. */
  readonly viewers: Set<number>;
  /** Viewers that forgot it (vanish), to put back on return. */
  vanishedFrom: number[];
  /** Its own peer table. */
  readonly table: Map<string, TableEntry[]>;
  mode: 'direct' | 'broadcast' | 'both';
  /** Recent messages that came in on connections peers opened to it (for addr replies). */
  readonly inbound: NetworkMessage[];
  busy: boolean;
  /** Requests still to answer that come in on connections it opened (answered with send(peer)). */
  answers: number;
}

/** Runs one simulation: the seed's script (or `actions`) on `nodes` nodes, checked by the oracle. */
export async function runSim(options: SimOptions): Promise<SimResult> {
  const { seed, nodes: count, seconds } = options;
  const actions = options.actions ?? plan(options);
  const clock = new SimClock();
  // Connections push back after 64 KiB in flight and 16 KiB more queued (as a TLS socket's
  // high-water mark): with the transport's defaults (256 KiB and 1 MiB), the publishing
  // loops would seldom find a subscriber queue full.
  const memory = new MemoryNetwork({ clock, seed: seed ^ 0x6e6574, socketBufferBytes: SOCKET_BUFFER });
  const oracle = new Oracle();
  const hash = createHash('sha256');
  const record = (event: OracleEvent): void => {
    hash.update(JSON.stringify(event));
    oracle.record(event);
  };
  const applied: Record<string, number> = {};
  const outcomes: Record<string, number> = {};
  const requests: Record<string, number> = {};
  let deliveries = 0;
  let messageNo = 0;
  let paceNo = 0;
  const paced = { broadcasts: 0, waits: 0, ends: {} as Record<string, number> };
  /** The publishing loops under way. */
  const pacers = new Set<Promise<void>>();
  let ending = false;
  const background = new Set<Promise<void>>();
  /** Paused readers and what resumes them: the sim's own timers, undone before the end. */
  const resumes = new Map<TimerHandle, () => void>();
  /** Runs `fn` after `ms` on the sim's clock, as one of {@link resumes} (run at once at the end). */
  const resumeLater = (ms: number, fn: () => void): void => {
    const fire = (): void => {
      resumes.delete(handle);
      fn();
    };
    const handle = clock.setTimeout(fire, ms);
    resumes.set(handle, fire);
  };
  const later = (work: Promise<void>): void => {
    const p = work.finally(() => background.delete(p));
    background.add(p);
  };
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => clock.setTimeout(resolve, ms));

  const connectionNumbers = { next: 1 };
  const known = initialPeers(seed, count);
  const nodes: SimNode[] = [];
  for (let i = 0; i < count; i++) {
    const host = `n${i}`;
    nodes.push({
      index: i,
      peerId: `p${i}`,
      host,
      transport: memory.transport({ host, limits: { highWaterMarkBytes: HIGH_WATER_MARK } }),
      incarnation: 0,
      key: '',
      network: undefined,
      tap: undefined,
      address: '',
      stale: [],
      viewers: new Set(),
      vanishedFrom: [],
      table: new Map(),
      mode: 'direct',
      inbound: [],
      busy: false,
      answers: 0,
    });
  }

  const publish = (n: SimNode): void => {
    if (n.network === undefined) return;
    const input: Record<string, (string | { address: string; certHash: string })[]> = {};
    const plain: Record<string, string[]> = {};
    for (const [id, entries] of n.table) {
      input[id] = entries.map((e) => (e.certHash ? { address: e.address, certHash: e.certHash } : e.address));
      plain[id] = entries.map((e) => e.address);
    }
    // Recorded first: the change may end messages (outcomes) before updateTopology returns.
    record({ t: 'topology', node: n.key, table: plain });
    n.network.updateTopology(input);
  };

  const start = async (n: SimNode, address: string): Promise<void> => {
    n.incarnation++;
    n.key = `${n.peerId}#${n.incarnation}`;
    const key = n.key;
    const tap = new TapTransport(n.transport, key, record, connectionNumbers);
    const network = await createNetwork({
      nodeId: n.peerId,
      transport: tap,
      listen: address,
      clock,
      random: seededRandom(seed ^ (n.index * 7919 + n.incarnation)),
      limits: LIMITS,
      directSendMode: n.mode,
      ...(options.acks === true ? { acks: { enabled: true, window: 64 } } : {}),
    });
    n.network = network;
    n.tap = tap;
    n.address = network.address;
    n.inbound.length = 0;
    record({ t: 'node', node: key, peerId: n.peerId, address: n.address });
    network.onOutcome((e) => {
      const outcome = formatOutcome(e.outcome);
      const detailed =
        e.outcome.kind === 'dropped' && e.outcome.detail ? `${outcome}/${e.outcome.detail}` : outcome;
      outcomes[detailed] = (outcomes[detailed] ?? 0) + 1;
      record({ t: 'outcome', node: key, id: e.messageId, address: e.address ?? null, mode: e.mode, outcome });
    });
    network.onMessage((msg) => {
      deliveries++;
      record({ t: 'deliver', node: key, id: msg.id });
      if (msg.label === 'ask') answerLater(n, network, msg);
      if (msg.from.direction === 'inbound') {
        n.inbound.push(msg);
        if (n.inbound.length > 16) n.inbound.shift();
      } else if (n.answers > 0 && msg.from.peerId !== undefined && msg.label === 'req') {
        // An answer on the path msg.reply() takes for a message that came on our own connection.
        n.answers--;
        const id = accept(n.key, `peer:${msg.from.peerId}`, n.mode);
        network.send(peer(msg.from.peerId), 'rep', PAYLOAD, { id });
      }
    });
    publish(n);
  };

  const stop = async (n: SimNode, drainTimeoutMs: number): Promise<void> => {
    const network = n.network;
    if (network === undefined) return;
    n.network = undefined;
    n.tap = undefined;
    record({ t: 'node-stopping', node: n.key });
    await network.close({ drainTimeoutMs });
    record({ t: 'node-closed', node: n.key });
  };

  /** Viewers of `n` list it at `addresses` again (or drop it when empty). */
  const retable = (n: SimNode, viewers: Iterable<number>, entries: (old: TableEntry[]) => TableEntry[]) => {
    for (const v of viewers) {
      const viewer = nodes[v]!;
      const next = entries(viewer.table.get(n.peerId) ?? []);
      if (next.length === 0) viewer.table.delete(n.peerId);
      else viewer.table.set(n.peerId, next);
      publish(viewer);
    }
  };

  /** A fresh message id of the node (incarnation) `key`. */
  const nextId = (key: string): string => `${key}-${++messageNo}`;

  /** Message `id` of node `key` is handed to the network (recorded before the send). */
  const accept = (
    key: string,
    to: string,
    mode: 'direct' | 'broadcast' | 'both',
    id = nextId(key),
  ): string => {
    record({ t: 'accept', node: key, id, to, mode });
    return id;
  };

  /**
   * Answers a request as `msg.reply()` does (the same id and path), with the id accepted
   * first: to its address when it came on a connection the requester opened, else to the
   * peer. After {@link answerDelayMs}, unless the node stopped meanwhile.
   */
  const answerLater = (n: SimNode, network: Network, msg: NetworkMessage): void => {
    const answer = (): void => {
      if (n.network !== network) return;
      const id = replyIdOf(msg.id, nextId(n.key));
      if (msg.from.direction === 'inbound') {
        accept(n.key, `addr:${msg.from.address}`, 'direct', id);
        network.send(addr(msg.from.address), 'ans', PAYLOAD, { id });
      } else if (msg.from.peerId !== undefined) {
        accept(n.key, `peer:${msg.from.peerId}`, n.mode, id);
        network.send(peer(msg.from.peerId), 'ans', PAYLOAD, { id });
      }
    };
    const delayMs = answerDelayMs(msg.id);
    // Once the run ends (its timers undone), what still comes in is answered at once.
    if (delayMs === 0 || ending) answer();
    else resumeLater(delayMs, answer);
  };

  // Everyone starts, then learns its initial peers.
  for (const n of nodes) await start(n, `${n.host}:0`);
  for (let i = 0; i < count; i++) {
    for (const j of known[i]!) {
      nodes[i]!.table.set(nodes[j]!.peerId, [{ address: nodes[j]!.address }]);
      nodes[j]!.viewers.add(i);
    }
  }
  for (const n of nodes) publish(n);

  /** An open connection of any node, chosen by `pick` among all of them in number order. */
  const connectionAt = (pick: number) => {
    const open = nodes.flatMap((n) => (n.tap === undefined ? [] : [...n.tap.open.values()]));
    open.sort((x, y) => x.number - y.number);
    return open[Math.floor(pick * open.length)];
  };

  /**
   * A message from `a.from` to `a.to`'s peer whose fate the application follows (`kind`):
   * accepted and marked as such, or undefined when the node is down or sends to itself.
   */
  const tracked = (
    a: { readonly from: number; readonly to: number },
    kind: 'wait' | 'request',
  ): { network: Network; key: string; id: string; peerId: string } | undefined => {
    const n = nodes[a.from]!;
    const peerId = nodes[a.to]!.peerId;
    if (n.network === undefined || a.from === a.to) return undefined;
    const id = accept(n.key, `peer:${peerId}`, n.mode);
    record({ t: kind, node: n.key, id });
    return { network: n.network, key: n.key, id, peerId };
  };

  const apply = (a: Action): boolean => {
    switch (a.k) {
      case 'send': {
        const n = nodes[a.from]!;
        const target = nodes[a.to]!;
        if (n.network === undefined || a.from === a.to) return false;
        const network = n.network;
        for (let i = 0; i < a.n; i++) {
          const id = accept(n.key, `peer:${target.peerId}`, n.mode);
          network.send(target.peerId, 'req', PAYLOAD, { id });
        }
        return true;
      }
      case 'reply-addr': {
        const n = nodes[a.from]!;
        if (n.network === undefined || n.inbound.length === 0) return false;
        const msg = n.inbound[Math.floor(a.pick * n.inbound.length)]!;
        const id = accept(n.key, `addr:${msg.from.address}`, 'direct');
        n.network.send(addr(msg.from.address), 'rep', PAYLOAD, { id });
        return true;
      }
      case 'broadcast': {
        const n = nodes[a.from]!;
        if (n.network === undefined) return false;
        for (let i = 0; i < a.n; i++) {
          const id = accept(n.key, 'broadcast', 'broadcast');
          n.network.broadcast('bc', PAYLOAD, { id });
        }
        return true;
      }
      case 'publish': {
        const n = nodes[a.from]!;
        const network = n.network;
        if (network === undefined) return false;
        const key = n.key;
        const pace = `${key}-pace-${++paceNo}`;
        record({ t: 'pace-start', node: key, pace });
        // As the docs show, with `while`: a wake-up ends every wait of the node, and another
        // loop may fill the queues again before this one runs.
        const loop = async (): Promise<void> => {
          for (let i = 0; i < a.n; i++) {
            while (!network.broadcastWritable()) {
              paced.waits++;
              await network.broadcastReady();
            }
            // Of the loop's node (key), not n.key: after a restart that names the next incarnation.
            const id = accept(key, 'broadcast', 'broadcast');
            record({ t: 'paced', node: key, pace, id });
            paced.broadcasts++;
            network.broadcast('bc', PUBLISHED, { id });
          }
        };
        const end = (result: string): void => {
          paced.ends[result] = (paced.ends[result] ?? 0) + 1;
          record({ t: 'pace-end', node: key, pace, result });
        };
        const p: Promise<void> = loop()
          .then(
            () => end('done'),
            (err: unknown) => end(String((err as { code?: unknown }).code ?? err)),
          )
          .finally(() => pacers.delete(p));
        pacers.add(p);
        return true;
      }
      case 'subscribe': {
        const n = nodes[a.from]!;
        const target = nodes[a.to]!;
        if (n.network === undefined || a.from === a.to || !n.table.has(target.peerId)) return false;
        n.network.subscribe(target.peerId, options.acks === true ? { acks: true } : {});
        return true;
      }
      case 'move': {
        const n = nodes[a.node]!;
        if (n.network === undefined || n.busy) return false;
        n.busy = true;
        later(
          (async () => {
            await stop(n, DRAIN_MS);
            if (ending) return;
            const old = n.address;
            await start(n, `${n.host}:0`);
            n.stale.push(old);
            retable(n, n.viewers, (entries) => [
              ...(a.keepOld ? entries.filter((e) => e.address !== n.address) : []),
              { address: n.address },
            ]);
            n.busy = false;
          })(),
        );
        return true;
      }
      case 'tidy': {
        const n = nodes[a.node]!;
        if (n.stale.length === 0) return false;
        const stale = new Set(n.stale);
        n.stale = [];
        retable(n, n.viewers, (entries) => entries.filter((e) => !stale.has(e.address)));
        return true;
      }
      case 'vanish': {
        const n = nodes[a.node]!;
        const viewers = [...n.viewers].filter((_, i) => ((a.viewers * 1000 + i) | 0) % 2 === 0);
        if (viewers.length === 0) return false;
        for (const v of viewers) n.viewers.delete(v);
        n.vanishedFrom.push(...viewers);
        retable(n, viewers, () => []);
        return true;
      }
      case 'return': {
        const n = nodes[a.node]!;
        if (n.vanishedFrom.length === 0) return false;
        const back = n.vanishedFrom;
        n.vanishedFrom = [];
        for (const v of back) n.viewers.add(v);
        retable(n, back, () => [{ address: n.address }]);
        return true;
      }
      case 'pin': {
        const n = nodes[a.node]!;
        const viewer = nodes[a.viewer]!;
        const entries = viewer.table.get(n.peerId);
        if (entries === undefined || a.node === a.viewer) return false;
        retable(n, [a.viewer], (old) =>
          old.map((e) => (a.wrong ? { address: e.address, certHash: WRONG_HASH } : { address: e.address })),
        );
        return entries.length > 0;
      }
      case 'partition': {
        const side = new Set(a.nodes.filter((i) => i < count));
        if (side.size === 0) return false;
        memory.partition(
          [...side].map((i) => nodes[i]!.host),
          nodes.filter((n) => !side.has(n.index)).map((n) => n.host),
        );
        return true;
      }
      case 'heal':
        memory.heal();
        return true;
      case 'reset': {
        const conn = connectionAt(a.pick);
        if (conn === undefined) return false;
        memory.reset(conn.inner, a.afterBytes >= 0 ? { afterBytes: a.afterBytes } : {});
        return true;
      }
      case 'link':
        if (a.a === a.b) return false;
        memory.setLink(
          nodes[a.a]!.host,
          nodes[a.b]!.host,
          a.slow
            ? { latency: { minMs: 5, maxMs: 300 }, bandwidthBytesPerSec: 20_000 }
            : { latency: { minMs: 0, maxMs: 20 }, resetRate: 0.02 },
        );
        return true;
      case 'pause': {
        const conn = connectionAt(a.pick);
        if (conn === undefined) return false;
        memory.pauseReading(conn.inner);
        resumeLater(a.ms, () => memory.resumeReading(conn.inner));
        return true;
      }
      case 'answer': {
        const n = nodes[a.node]!;
        if (n.network === undefined) return false;
        n.answers += a.n;
        return true;
      }
      case 'crash': {
        const n = nodes[a.node]!;
        if (n.network === undefined || n.busy) return false;
        n.busy = true;
        const address = n.address;
        memory.crash(n.host);
        later(
          (async () => {
            await stop(n, 0);
            await sleep(a.downMs);
            memory.restart(n.host);
            if (!ending) await start(n, address);
            n.busy = false;
          })(),
        );
        return true;
      }
      case 'mode': {
        const n = nodes[a.node]!;
        if (n.network === undefined) return false;
        n.network.updateConfig({ directSendMode: a.mode });
        n.mode = a.mode;
        return true;
      }
      case 'capacity': {
        const n = nodes[a.node]!;
        if (n.network === undefined) return false;
        n.network.updateConfig({ limits: { ...LIMITS, peerQueueCapacity: a.capacity } });
        return true;
      }
      case 'send-wait': {
        const s = tracked(a, 'wait');
        if (s === undefined) return false;
        const { network, key, id, peerId } = s;
        // What the application got: every outcome of the message, in one call.
        void network.sendAndWait(peerId, 'req', PAYLOAD, { id }).then((all) => {
          record({
            t: 'settled',
            node: key,
            id,
            outcomes: all.map((o) => settledOutcome(o.mode, o.address ?? null, formatOutcome(o.outcome))),
          });
        });
        return true;
      }
      case 'request': {
        const s = tracked(a, 'request');
        if (s === undefined) return false;
        const { network, key, id, peerId } = s;
        // What the application got: the reply (a delivery, through the promise instead of
        // onMessage) or the error's code. A node that stops ends its requests (ERR_CLOSED).
        network.request(peerId, 'ask', PAYLOAD, { id, timeoutMs: REQUEST_TIMEOUT_MS }).then(
          (reply) => {
            deliveries++;
            record({ t: 'deliver', node: key, id: reply.id });
            record({ t: 'request-end', node: key, id, result: 'answered', reply: reply.id });
            requests.answered = (requests.answered ?? 0) + 1;
          },
          (err: unknown) => {
            const code = (err as { code?: unknown }).code;
            const result = typeof code === 'string' ? code : String(err);
            record({ t: 'request-end', node: key, id, result });
            requests[result] = (requests[result] ?? 0) + 1;
          },
        );
        return true;
      }
    }
  };

  const settle = async (): Promise<void> => {
    for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  };
  const t0 = clock.now();
  for (const a of actions) {
    const wait = t0 + a.at - clock.now();
    if (wait > 0) await clock.tick(wait, settle);
    if (apply(a)) applied[a.k as ActionKind] = (applied[a.k] ?? 0) + 1;
  }
  const end = t0 + seconds * 1000 - clock.now();
  if (end > 0) await clock.tick(end, settle);

  // Readers read again, restarts finish, then every node closes (draining) while time goes on.
  ending = true;
  for (const [handle, resume] of resumes) {
    clock.clearTimeout(handle);
    resume();
  }
  // The publishing loops finish: subscribers read again, or one that cannot be reached
  // fails the write timeout and leaves.
  for (let waited = 0; pacers.size > 0 && waited < PACE_DRAIN_MS; waited += 100)
    await clock.tick(100, settle);
  record({ t: 'closing-all' });
  let closed = false;
  const closing = (async () => {
    while (background.size > 0) await Promise.all(background);
    await Promise.all(nodes.map((n) => stop(n, DRAIN_MS)));
    closed = true;
  })();
  while (!closed) await clock.tick(100, settle);
  await closing;
  record({ t: 'final', openConnections: memory.openConnections, pendingTimers: clock.pendingTimers });
  await memory.close();

  return {
    seed,
    violations: oracle.check(),
    traceHash: hash.digest('hex').slice(0, 16),
    messages: oracle.accepted,
    deliveries,
    outcomes,
    requests,
    paced,
    applied,
    actions,
  };
}

/**
 * Cuts a failing script down: removes chunks of actions, halving the chunk size, and keeps
 * every removal after which `fails` still holds. Stops after `maxRuns` tries.
 */
export async function shrink<T>(
  failing: readonly T[],
  fails: (candidate: readonly T[]) => Promise<boolean>,
  maxRuns = 200,
): Promise<T[]> {
  let current = [...failing];
  let runs = 0;
  for (let size = Math.ceil(current.length / 2); size >= 1 && runs < maxRuns; size = Math.floor(size / 2)) {
    for (let at = 0; at < current.length && runs < maxRuns; ) {
      const candidate = [...current.slice(0, at), ...current.slice(at + size)];
      runs++;
      if (await fails(candidate)) current = candidate;
      else at += size;
    }
  }
  return current;
}

/** The shortest script found that still breaks `rule` in a run of `options`. */
export function shrinkRun(options: SimOptions, failing: readonly Action[], rule: string): Promise<Action[]> {
  return shrink(failing, async (actions) => {
    const result = await runSim({ ...options, actions });
    return result.violations.some((v) => v.rule === rule);
  });
}

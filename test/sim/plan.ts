import { seededRandom } from '../../src/util/random.js';

/**
 * The action script of one simulation run: everything the run does, generated up front
 * from the seed, so that a failing run can be cut down (shrunk) by removing actions and
 * replayed exactly. Actions name nodes by index and pick runtime things (a connection, a
 * message to answer) with `pick`, a number in [0, 1); an action that no longer makes sense
 * after others were removed does nothing.
 */
export type Action =
  | {
      readonly k: 'send';
      readonly at: number;
      readonly from: number;
      readonly to: number;
      readonly n: number;
    }
  | { readonly k: 'reply-addr'; readonly at: number; readonly from: number; readonly pick: number }
  | { readonly k: 'broadcast'; readonly at: number; readonly from: number; readonly n: number }
  /**
   * A publishing loop: `n` broadcasts, each made once `broadcastWritable()` is true
   * (waiting on `broadcastReady()` while it is false), more than a subscriber queue holds.
   */
  | { readonly k: 'publish'; readonly at: number; readonly from: number; readonly n: number }
  | { readonly k: 'subscribe'; readonly at: number; readonly from: number; readonly to: number }
  /** The node restarts on a new address; its viewers learn the new address (some keep the old one too). */
  | { readonly k: 'move'; readonly at: number; readonly node: number; readonly keepOld: number }
  /** Viewers forget the node's stale addresses. */
  | { readonly k: 'tidy'; readonly at: number; readonly node: number }
  | { readonly k: 'vanish'; readonly at: number; readonly node: number; readonly viewers: number }
  | { readonly k: 'return'; readonly at: number; readonly node: number }
  /** One viewer pins the node's address to the wrong identity (identity rotated), or unpins it. */
  | {
      readonly k: 'pin';
      readonly at: number;
      readonly node: number;
      readonly viewer: number;
      readonly wrong: boolean;
    }
  | { readonly k: 'partition'; readonly at: number; readonly nodes: readonly number[] }
  | { readonly k: 'heal'; readonly at: number }
  | { readonly k: 'reset'; readonly at: number; readonly pick: number; readonly afterBytes: number }
  | {
      readonly k: 'link';
      readonly at: number;
      readonly a: number;
      readonly b: number;
      readonly slow: boolean;
    }
  /** A connection's reader stalls (a slow application) for `ms`, then reads again. */
  | { readonly k: 'pause'; readonly at: number; readonly pick: number; readonly ms: number }
  /** The node answers the next requests that come in on its own connections (peer replies). */
  | { readonly k: 'answer'; readonly at: number; readonly node: number; readonly n: number }
  /** The node's process dies (its connections reset, nothing drained) and comes back later. */
  | { readonly k: 'crash'; readonly at: number; readonly node: number; readonly downMs: number }
  | {
      readonly k: 'mode';
      readonly at: number;
      readonly node: number;
      readonly mode: 'direct' | 'broadcast' | 'both';
    }
  | { readonly k: 'capacity'; readonly at: number; readonly node: number; readonly capacity: number }
  /**
   * `network.request()` to a peer, which answers each request it gets (`msg.reply`) after
   * a delay the request's id decides (none, or up to seconds: longer than an ack takes).
   */
  | { readonly k: 'request'; readonly at: number; readonly from: number; readonly to: number }
  /** `network.sendAndWait()` to a peer: resolves with every outcome of the message, once. */
  | { readonly k: 'send-wait'; readonly at: number; readonly from: number; readonly to: number };

export type ActionKind = Action['k'];

export interface PlanOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly seconds: number;
}

/** Peers each node knows at the start (besides the ones that know it). */
export const KNOWN_PEERS = 4;

/** Relative weights of the action kinds. */
const WEIGHTS: Readonly<Record<ActionKind, number>> = {
  send: 40,
  'reply-addr': 6,
  broadcast: 4,
  publish: 2,
  subscribe: 2,
  move: 3,
  tidy: 2,
  vanish: 2,
  return: 2,
  pin: 2,
  partition: 1,
  heal: 1,
  reset: 4,
  link: 2,
  pause: 2,
  answer: 3,
  crash: 2,
  mode: 2,
  capacity: 1,
  request: 4,
  'send-wait': 2,
};

/** The initial peer tables: node i knows KNOWN_PEERS others (seeded). */
export function initialPeers(seed: number, nodes: number): number[][] {
  const random = seededRandom(seed ^ 0x5eed);
  const known: number[][] = [];
  for (let i = 0; i < nodes; i++) {
    const set = new Set<number>();
    const want = Math.min(KNOWN_PEERS, nodes - 1);
    while (set.size < want) {
      const j = Math.floor(random() * nodes);
      if (j !== i) set.add(j);
    }
    known.push([...set]);
  }
  return known;
}

/** The nodes whose initial peers (`known`, from {@link initialPeers}) include `node`. */
export function viewersOf(known: readonly (readonly number[])[], node: number): number[] {
  return known.flatMap((peers, j) => (peers.includes(node) ? [j] : []));
}

/**
 * The script: about 4 actions per node per 10 virtual seconds, spread over the run. Sends
 * go to a node's known peers mostly, so traffic flows between peers that know each other.
 */
export function plan(options: PlanOptions): Action[] {
  const { seed, nodes, seconds } = options;
  const random = seededRandom(seed);
  const known = initialPeers(seed, nodes);
  const node = () => Math.floor(random() * nodes);
  const kinds = Object.keys(WEIGHTS) as ActionKind[];
  const total = kinds.reduce((s, k) => s + WEIGHTS[k], 0);
  const count = Math.max(10, Math.round((nodes * seconds) / 2.5));
  const actions: Action[] = [];
  for (let i = 0; i < count; i++) {
    const at = Math.floor(random() * seconds * 1000);
    let r = random() * total;
    let kind = kinds[0]!;
    for (const k of kinds) {
      r -= WEIGHTS[k];
      if (r < 0) {
        kind = k;
        break;
      }
    }
    const from = node();
    const peers = known[from]!;
    const to = random() < 0.9 && peers.length > 0 ? peers[Math.floor(random() * peers.length)]! : node();
    switch (kind) {
      case 'send':
        actions.push({ k: 'send', at, from, to, n: 1 + Math.floor(random() * 6) });
        break;
      case 'reply-addr':
        actions.push({ k: 'reply-addr', at, from, pick: random() });
        break;
      case 'broadcast':
        actions.push({ k: 'broadcast', at, from, n: 1 + Math.floor(random() * 3) });
        break;
      case 'publish': {
        // Nodes that know the publisher subscribe to it a second before it starts.
        const subscribers = viewersOf(known, from).slice(0, 3);
        for (const j of subscribers)
          actions.push({ k: 'subscribe', at: Math.max(0, at - 1000), from: j, to: from });
        actions.push({ k: 'publish', at, from, n: 20 + Math.floor(random() * 200) });
        break;
      }
      case 'subscribe':
        actions.push({ k: 'subscribe', at, from, to });
        break;
      case 'move':
        actions.push({ k: 'move', at, node: from, keepOld: random() < 0.5 ? 1 : 0 });
        break;
      case 'tidy':
        actions.push({ k: 'tidy', at, node: from });
        break;
      case 'vanish':
        actions.push({ k: 'vanish', at, node: from, viewers: random() });
        break;
      case 'return':
        actions.push({ k: 'return', at, node: from });
        break;
      case 'pin':
        actions.push({ k: 'pin', at, node: to, viewer: from, wrong: random() < 0.5 });
        break;
      case 'partition': {
        const side = new Set<number>();
        const size = 1 + Math.floor(random() * Math.max(1, nodes / 4));
        while (side.size < Math.min(size, nodes - 1)) side.add(node());
        actions.push({ k: 'partition', at, nodes: [...side].sort((a, b) => a - b) });
        break;
      }
      case 'heal':
        actions.push({ k: 'heal', at });
        break;
      case 'reset':
        actions.push({
          k: 'reset',
          at,
          pick: random(),
          afterBytes: random() < 0.5 ? Math.floor(random() * 200) : -1,
        });
        break;
      case 'link':
        actions.push({ k: 'link', at, a: from, b: to, slow: random() < 0.7 });
        break;
      case 'pause':
        actions.push({ k: 'pause', at, pick: random(), ms: 100 + Math.floor(random() * 6000) });
        break;
      case 'answer':
        actions.push({ k: 'answer', at, node: from, n: 1 + Math.floor(random() * 5) });
        break;
      case 'crash':
        // Some come back within their peers' backoff deadline (a quick restart: the peers
        // reconnect to a process that lost its state), the others later.
        actions.push({
          k: 'crash',
          at,
          node: from,
          downMs: random() < 0.4 ? 50 + Math.floor(random() * 1500) : 500 + Math.floor(random() * 10_000),
        });
        break;
      case 'mode': {
        const r2 = random();
        actions.push({
          k: 'mode',
          at,
          node: from,
          mode: r2 < 0.6 ? 'direct' : r2 < 0.8 ? 'both' : 'broadcast',
        });
        break;
      }
      case 'capacity':
        actions.push({ k: 'capacity', at, node: from, capacity: 1 + Math.floor(random() * 64) });
        break;
      case 'request':
        actions.push({ k: 'request', at, from, to });
        break;
      case 'send-wait':
        actions.push({ k: 'send-wait', at, from, to });
        break;
    }
  }
  actions.sort((a, b) => a.at - b.at);
  return actions;
}

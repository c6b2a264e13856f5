import { type Random, seededRandom } from '../util/random.js';

/**
 * The demo workload as data: six phases, each cut into segments, and a seeded generator
 * of steps per segment. Every segment draws from its own seeded stream, so the same seed
 * gives the same steps in every segment, whenever the segment starts.
 */

export type PhaseName = 'direct' | 'request-reply' | 'broadcast' | 'send-mode' | 'topology' | 'restart';

/** `direct`: send to a peer id; `question`: send to a peer id, which answers by address; `broadcast`: to subscribers. */
export type StepKind = 'direct' | 'question' | 'broadcast';

export interface Step {
  readonly kind: StepKind;
  /** Index of the sending node. */
  readonly from: number;
  /** Index of the receiving node; -1 for a broadcast. */
  readonly to: number;
  /** Payload size; payloads over 1000 bytes travel zstd-compressed. */
  readonly bytes: number;
}

export interface PhaseSpec {
  readonly name: PhaseName;
  /** What the phase shows, printed when it starts. */
  readonly title: string;
  /** Share of the message budget (and of `--duration`). */
  readonly weight: number;
  /** Segment names, each with an equal share of the phase. */
  readonly segments: readonly string[];
}

export const PHASES: readonly PhaseSpec[] = [
  { name: 'direct', title: 'direct messages by peer id, all pairs', weight: 0.25, segments: ['all pairs'] },
  {
    name: 'request-reply',
    title: 'questions by peer id, answered by address with reply()',
    weight: 0.15,
    segments: ['ask'],
  },
  { name: 'broadcast', title: 'broadcast to subscribers', weight: 0.15, segments: ['broadcast'] },
  {
    name: 'send-mode',
    title: 'live switch of directSendMode while sending',
    weight: 0.2,
    segments: ['direct', 'both', 'broadcast', 'direct again'],
  },
  {
    name: 'topology',
    title: 'a node moves to a new port; topology updated while sending',
    weight: 0.125,
    segments: ['before the move', 'after the move'],
  },
  {
    name: 'restart',
    title: 'a node is stopped and restarted on the same port while others keep sending to it',
    weight: 0.125,
    segments: ['all up', 'node down', 'restarted'],
  },
];

/** Messages to the stopped node per sender while it is down: well under a peer queue (100). */
export const DOWN_CAP_PER_SENDER = 40;

export interface PlanContext {
  readonly nodes: number;
  readonly seed: number;
  /** The node that moves in the topology phase. */
  readonly moved: number;
  /** The node restarted in the restart phase. */
  readonly restarted: number;
}

/** Mixes integers into one 32-bit seed. */
export function mixSeed(...parts: readonly number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193);
    h = Math.imul(h ^ (h >>> 15), 0x85ebca6b) >>> 0;
  }
  return h >>> 0;
}

/** Picks the moved and restarted nodes from the seed (different nodes when there are 3 or more). */
export function planContext(nodes: number, seed: number): PlanContext {
  const random = seededRandom(mixSeed(seed, 0xdead));
  const moved = Math.floor(random() * nodes);
  let restarted = Math.floor(random() * nodes);
  if (nodes >= 3 && restarted === moved) restarted = (moved + 1) % nodes;
  return { nodes, seed, moved, restarted };
}

/** Splits `total` into integer parts by weight; the remainder goes to the first parts. */
export function splitBudget(total: number, weights: readonly number[]): number[] {
  if (!Number.isFinite(total)) return weights.map(() => Number.POSITIVE_INFINITY);
  const sum = weights.reduce((a, b) => a + b, 0);
  const parts = weights.map((w) => Math.floor((total * w) / sum));
  let rest = total - parts.reduce((a, b) => a + b, 0);
  for (let i = 0; rest > 0; i = (i + 1) % parts.length, rest--) parts[i]!++;
  return parts;
}

/** The budget cost of a step: a question also causes its reply. */
export function costOf(step: Step): number {
  return step.kind === 'question' ? 2 : 1;
}

function payloadSize(random: Random): number {
  const r = random();
  if (r < 0.7) return 64 + Math.floor(random() * 192);
  if (r < 0.95) return 256 + Math.floor(random() * 744);
  return 2000 + Math.floor(random() * 6000);
}

function pick(random: Random, n: number): number {
  return Math.floor(random() * n);
}

function randomPair(random: Random, n: number, exclude = -1): [number, number] {
  for (;;) {
    const from = pick(random, n);
    const to = pick(random, n);
    if (from !== to && from !== exclude) return [from, to];
  }
}

/**
 * A seeded generator of the steps of one segment: endless, except that it returns
 * undefined when no step is left (2 nodes, one down and its cap reached).
 */
export function segmentSteps(phase: PhaseName, segment: number, ctx: PlanContext): () => Step | undefined {
  const phaseIndex = PHASES.findIndex((p) => p.name === phase);
  const random = seededRandom(mixSeed(ctx.seed, phaseIndex, segment));
  const n = ctx.nodes;
  switch (phase) {
    case 'direct': {
      // Every ordered pair once per round, in a fresh shuffled order each round.
      const pairs: [number, number][] = [];
      for (let f = 0; f < n; f++) for (let t = 0; t < n; t++) if (f !== t) pairs.push([f, t]);
      let next = pairs.length;
      return () => {
        if (next === pairs.length) {
          shuffle(pairs, random);
          next = 0;
        }
        const [from, to] = pairs[next++]!;
        return { kind: 'direct', from, to, bytes: payloadSize(random) };
      };
    }
    case 'request-reply':
      return () => {
        const [from, to] = randomPair(random, n);
        return { kind: 'question', from, to, bytes: 32 + pick(random, 200) };
      };
    case 'broadcast':
      return () => ({ kind: 'broadcast', from: pick(random, n), to: -1, bytes: payloadSize(random) });
    case 'send-mode':
    case 'topology':
      return () => {
        const [from, to] = randomPair(random, n);
        return { kind: 'direct', from, to, bytes: payloadSize(random) };
      };
    case 'restart': {
      const down = segment === 1;
      const toStopped = new Array<number>(n).fill(0);
      return () => {
        for (;;) {
          if (down && n === 2 && toStopped[1 - ctx.restarted]! >= DOWN_CAP_PER_SENDER) return undefined;
          const [from, to] = randomPair(random, n, down ? ctx.restarted : -1);
          if (down && to === ctx.restarted && toStopped[from]! >= DOWN_CAP_PER_SENDER) continue;
          if (down && to === ctx.restarted) toStopped[from]!++;
          // No questions to the stopped node: its answer would come after the restart anyway.
          const question = !down && random() < 0.3;
          return { kind: question ? 'question' : 'direct', from, to, bytes: payloadSize(random) };
        }
      };
    }
  }
}

function shuffle<T>(items: T[], random: Random): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}

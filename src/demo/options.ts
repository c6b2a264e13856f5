import { PeerpostError } from '../errors.js';
import { type Clock, systemClock } from '../util/clock.js';
import type { ProgressSink } from './progress.js';

export interface DemoOptions {
  /** Nodes in the local cluster (2 to 64). @default 3 */
  nodes?: number;
  /** Messages the workload sends in all (a question counts with its reply). @default 2000, or unbounded with `durationMs` */
  messages?: number;
  /**
   * Time bound: each phase sends for at most its share of it. Without `messages`, the
   * workload is paced at {@link DURATION_RATE} messages/s so the run lasts about this long.
   * @default undefined (bounded by `messages` only)
   */
  durationMs?: number;
  /** Seeds the workload plan and every node's backoff jitter: the same seed gives the same plan. @default 1 */
  seed?: number;
  /** @default systemClock */
  clock?: Clock;
  /** Aborting it stops the workload; the cluster still closes and the temporary directory is removed. */
  signal?: AbortSignal;
  /** Where progress goes. @default nothing */
  progress?: ProgressSink;
}

export interface ResolvedDemoOptions {
  readonly nodes: number;
  readonly messages: number;
  readonly durationMs: number | undefined;
  readonly seed: number;
  readonly clock: Clock;
  readonly signal: AbortSignal | undefined;
  readonly progress: ProgressSink | undefined;
}

export const MAX_NODES = 64;
export const DEFAULT_MESSAGES = 2000;
/** Messages per second when only `durationMs` bounds the run. */
export const DURATION_RATE = 1000;

function invalid(name: string, expected: string, got: unknown): PeerpostError {
  return new PeerpostError(
    'ERR_INVALID_OPTION',
    `invalid option \`${name}\`: expected ${expected}, got ${String(got)}`,
  );
}

export function resolveDemoOptions(options: DemoOptions): ResolvedDemoOptions {
  const nodes = options.nodes ?? 3;
  if (!Number.isInteger(nodes) || nodes < 2 || nodes > MAX_NODES) {
    throw invalid('nodes', `an integer from 2 to ${MAX_NODES}`, nodes);
  }
  const { durationMs } = options;
  if (durationMs !== undefined && !(Number.isFinite(durationMs) && durationMs > 0)) {
    throw invalid(
      'duration',
      'a positive number of seconds',
      durationMs === undefined ? durationMs : durationMs / 1000,
    );
  }
  const messages =
    options.messages ?? (durationMs === undefined ? DEFAULT_MESSAGES : Number.POSITIVE_INFINITY);
  if (
    options.messages !== undefined &&
    (!Number.isInteger(messages) || messages < 1 || messages > 10_000_000)
  ) {
    throw invalid('messages', 'an integer from 1 to 10000000', messages);
  }
  const seed = options.seed ?? 1;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff) {
    throw invalid('seed', 'an integer from 0 to 4294967295', seed);
  }
  return {
    nodes,
    messages,
    durationMs,
    seed,
    clock: options.clock ?? systemClock,
    signal: options.signal,
    progress: options.progress,
  };
}

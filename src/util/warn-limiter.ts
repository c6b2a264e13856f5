import type { Clock } from './clock.js';
import type { Logger } from './logger.js';

/** Lines per kind per interval before the rest are only counted. */
export const WARN_BURST = 5;
/** The interval, in ms of the injected clock. */
export const WARN_INTERVAL_MS = 10_000;
/** Kinds followed at most (kinds are a small fixed set in practice; this bounds a mistake). */
const MAX_KINDS = 256;

/**
 * Rate-limits repeated warnings so that a flood of bad input (garbage frames, zstd bombs,
 * slowloris handshakes) costs a few log lines, not one per attempt: per kind, the first
 * {@link WARN_BURST} lines of each {@link WARN_INTERVAL_MS} are written; the rest are
 * counted, and the first line of a later interval carries `suppressed: <count>`. Nothing
 * is lost: the metrics count every occurrence.
 */
export class WarnLimiter {
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #kinds = new Map<string, { windowEndMs: number; left: number; suppressed: number }>();

  constructor(logger: Logger, clock: Clock) {
    this.#logger = logger;
    this.#clock = clock;
  }

  /** `logger.warn(fields, msg)`, unless `kind` already used its lines in this interval. */
  warn(kind: string, fields: Record<string, unknown>, msg: string): void {
    const now = this.#clock.now();
    let state = this.#kinds.get(kind);
    if (state === undefined) {
      if (this.#kinds.size >= MAX_KINDS) this.#kinds.clear();
      state = { windowEndMs: 0, left: 0, suppressed: 0 };
      this.#kinds.set(kind, state);
    }
    if (now >= state.windowEndMs) {
      state.windowEndMs = now + WARN_INTERVAL_MS;
      state.left = WARN_BURST;
    }
    if (state.left === 0) {
      state.suppressed++;
      return;
    }
    state.left--;
    if (state.suppressed > 0) {
      this.#logger.warn({ ...fields, suppressed: state.suppressed }, msg);
      state.suppressed = 0;
    } else this.#logger.warn(fields, msg);
  }
}

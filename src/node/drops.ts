import type { DropReason, OutcomeEvent } from '../sender/outcome.js';

/** One dropped message target, as kept by {@link DropRing} and shown by `/status`. */
export interface DropRecord {
  readonly atMs: number;
  readonly messageId: string;
  readonly label: string;
  readonly receiver: string;
  readonly address: string | undefined;
  readonly mode: 'direct' | 'broadcast';
  readonly reason: DropReason;
}

/** What `/status` reports about drops. */
export interface DropSummary {
  /** Drops among the recent ones (at most `capacity`), by reason. */
  readonly recentByReason: Readonly<Record<string, number>>;
  /** Every drop since start, by reason. */
  readonly totalByReason: Readonly<Record<string, number>>;
  /** The most recent drops, newest first. */
  readonly recent: readonly DropRecord[];
}

/**
 * A bounded ring of the most recent drop outcomes, so that an operator can see why
 * messages were dropped lately without the node holding an unbounded history.
 */
export class DropRing {
  readonly #capacity: number;
  readonly #slots: (DropRecord | undefined)[];
  readonly #totals = new Map<string, number>();
  #next = 0;
  #size = 0;

  /** @param capacity at most this many recent drops are kept. @default 100 */
  constructor(capacity = 100) {
    this.#capacity = Math.max(1, Math.floor(capacity));
    this.#slots = new Array(this.#capacity);
  }

  /** Records `event` when it is a drop; other outcomes are ignored. */
  record(event: OutcomeEvent, atMs: number): void {
    const outcome = event.outcome;
    if (outcome.kind !== 'dropped') return;
    this.#slots[this.#next] = {
      atMs,
      messageId: event.messageId,
      label: event.label,
      receiver: event.receiver,
      address: event.address,
      mode: event.mode,
      reason: outcome.reason,
    };
    this.#next = (this.#next + 1) % this.#capacity;
    if (this.#size < this.#capacity) this.#size++;
    this.#totals.set(outcome.reason, (this.#totals.get(outcome.reason) ?? 0) + 1);
  }

  /** The kept drops, newest first, at most `limit`. */
  recent(limit = this.#capacity): DropRecord[] {
    const out: DropRecord[] = [];
    const n = Math.min(limit, this.#size);
    for (let i = 1; i <= n; i++) {
      const slot = this.#slots[(this.#next - i + this.#capacity) % this.#capacity];
      if (slot !== undefined) out.push(slot);
    }
    return out;
  }

  summary(latest = 20): DropSummary {
    const recentByReason: Record<string, number> = {};
    for (const d of this.recent()) recentByReason[d.reason] = (recentByReason[d.reason] ?? 0) + 1;
    return {
      recentByReason,
      totalByReason: Object.fromEntries(this.#totals),
      recent: this.recent(latest),
    };
  }
}

/**
 * Bytes held by a set of queues, against a limit; optionally part of a larger budget
 * (`parent`): what is taken here is taken there too. A node has one budget for every
 * queue that holds data for or from peers (`limits.nodeQueueBytes`): the peer sender
 * queues, the unresolved queue, the hub's connection queues (through the hub's own
 * budget, `queueBytesTotal`) and the incoming queue.
 *
 * The budget only counts: each queue decides what to refuse (see {@link hasRoom} and
 * {@link fits}) and gives back what it took when it lets go of the data (sent, dropped,
 * or its connection closed), so the count returns to 0 when every queue is empty.
 */
export class ByteBudget {
  /** Bytes taken and not given back. */
  bytes = 0;
  readonly limit: number;
  readonly parent: ByteBudget | undefined;
  /** Called once the budget, after being spent (bytes >= limit), comes back to half the limit or less. */
  #onRoom: (() => void) | undefined;
  #spent = false;

  constructor(limit = Number.POSITIVE_INFINITY, parent?: ByteBudget) {
    this.limit = limit;
    this.parent = parent;
  }

  /** True while less than the limit is held, here and in every parent: one more item may be taken. */
  get hasRoom(): boolean {
    for (let b: ByteBudget | undefined = this; b !== undefined; b = b.parent) {
      if (b.bytes >= b.limit) return false;
    }
    return true;
  }

  /** True when `n` more bytes stay within the limit, here and in every parent. */
  fits(n: number): boolean {
    for (let b: ByteBudget | undefined = this; b !== undefined; b = b.parent) {
      if (b.bytes + n > b.limit) return false;
    }
    return true;
  }

  /** The first budget (this one, then its parents) that `n` more bytes would pass, or undefined. */
  exceededBy(n: number): ByteBudget | undefined {
    for (let b: ByteBudget | undefined = this; b !== undefined; b = b.parent) {
      if (b.bytes + n > b.limit) return b;
    }
    return undefined;
  }

  take(n: number): void {
    for (let b: ByteBudget | undefined = this; b !== undefined; b = b.parent) {
      b.bytes += n;
      if (b.bytes >= b.limit) b.#spent = true;
    }
  }

  give(n: number): void {
    for (let b: ByteBudget | undefined = this; b !== undefined; b = b.parent) {
      b.bytes -= n;
      if (b.#spent && b.bytes <= b.limit / 2) {
        b.#spent = false;
        b.#onRoom?.();
      }
    }
  }

  /** Tells `listener` when the budget was spent and has room again (see the field). */
  onRoom(listener: (() => void) | undefined): void {
    this.#onRoom = listener;
  }
}

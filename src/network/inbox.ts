import { PeerpostError } from '../errors.js';
import { ByteBudget } from '../util/byte-budget.js';

/** How the buffer of `for await` readers is bounded in bytes. */
export interface InboxBytes<T> {
  /** Bytes the buffer may hold: past it the oldest is dropped (the newest always stays). */
  readonly capacityBytes: number;
  /** The bytes an item holds. */
  readonly sizeOf: (item: T) => number;
  /**
   * The node's byte budget: the buffer counts its bytes there too; while it is spent, the
   * buffer drops its oldest to make room, or, empty, the new item itself.
   */
  readonly budget?: ByteBudget | undefined;
}

/**
 * The application side of the incoming queue: listeners get each message synchronously;
 * `for await` readers get them through a bounded buffer (the oldest is dropped when
 * readers fall behind by more than `capacity` items or `bytes.capacityBytes` bytes, or
 * the node's byte budget is spent, and counted). With no listener, messages
 * are buffered until a reader comes. Several concurrent readers share the stream: each
 * message goes to one of them.
 */
export class Inbox<T> {
  readonly capacity: number;
  readonly #listeners = new Set<(item: T) => void>();
  readonly #buffer: T[] = [];
  #head = 0;
  readonly #waiting: ((result: IteratorResult<T>) => void)[] = [];
  #readers = 0;
  #closed = false;
  #dropped = 0;
  readonly #onDrop: ((dropped: T) => void) | undefined;
  readonly #onListenerError: ((err: unknown, item: T) => void) | undefined;
  readonly #capacityBytes: number;
  readonly #sizeOf: ((item: T) => number) | undefined;
  /** Bytes of the buffered items (and in the node's budget, its parent). */
  readonly #bytes: ByteBudget;

  /**
   * `onListenerError` gets what a listener throws (the other listeners and the message
   * flow go on); without it, the exception propagates to the caller of push().
   */
  constructor(
    capacity = 10_000,
    onDrop?: (dropped: T) => void,
    onListenerError?: (err: unknown, item: T) => void,
    bytes?: InboxBytes<T>,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new PeerpostError(
        'ERR_INVALID_OPTION',
        `expected \`incomingCapacity\` to be a positive integer, got \`${capacity}\``,
      );
    }
    this.capacity = capacity;
    this.#onDrop = onDrop;
    this.#onListenerError = onListenerError;
    this.#capacityBytes = bytes?.capacityBytes ?? Number.POSITIVE_INFINITY;
    this.#sizeOf = bytes?.sizeOf;
    this.#bytes = new ByteBudget(Number.POSITIVE_INFINITY, bytes?.budget);
  }

  /** Bytes held by the buffered items. */
  get bufferedBytes(): number {
    return this.#bytes.bytes;
  }

  /** Messages dropped because a `for await` reader fell behind. */
  get dropped(): number {
    return this.#dropped;
  }

  get buffered(): number {
    return this.#buffer.length - this.#head;
  }

  on(listener: (item: T) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  push(item: T): void {
    if (this.#closed) return;
    if (this.#listeners.size > 0) {
      const onError = this.#onListenerError;
      for (const listener of this.#listeners) {
        if (onError === undefined) listener(item);
        else {
          try {
            listener(item);
          } catch (err) {
            onError(err, item);
          }
        }
      }
    }
    if (this.#readers === 0 && this.#listeners.size > 0) return;
    const waiter = this.#waiting.shift();
    if (waiter) {
      waiter({ value: item, done: false });
      return;
    }
    const sizeOf = this.#sizeOf;
    if (sizeOf === undefined) {
      if (this.buffered >= this.capacity) this.#dropOldest();
      this.#buffer.push(item);
      return;
    }
    const size = sizeOf(item);
    const bytes = this.#bytes;
    while (
      this.buffered > 0 &&
      (this.buffered >= this.capacity || bytes.bytes + size > this.#capacityBytes || !bytes.hasRoom)
    ) {
      this.#dropOldest();
    }
    if (!bytes.hasRoom) {
      // Nothing of ours left to let go, and the node's budget is spent by other queues.
      this.#dropped++;
      this.#onDrop?.(item);
      return;
    }
    bytes.take(size);
    this.#buffer.push(item);
  }

  #dropOldest(): void {
    const dropped = this.#buffer[this.#head] as T;
    this.#buffer[this.#head] = undefined as T;
    this.#head++;
    if (this.#sizeOf !== undefined) this.#bytes.give(this.#sizeOf(dropped));
    this.#dropped++;
    this.#onDrop?.(dropped);
  }

  close(): void {
    this.#closed = true;
    for (const waiter of this.#waiting.splice(0)) waiter({ value: undefined, done: true });
  }

  #shift(): T | undefined {
    if (this.#head >= this.#buffer.length) return undefined;
    const item = this.#buffer[this.#head++]!;
    this.#buffer[this.#head - 1] = undefined as T;
    if (this.#sizeOf !== undefined) this.#bytes.give(this.#sizeOf(item));
    if (this.#head > 1024 && this.#head * 2 > this.#buffer.length) {
      this.#buffer.splice(0, this.#head);
      this.#head = 0;
    }
    return item;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    this.#readers++;
    let done = false;
    const finish = (): IteratorResult<T> => {
      if (!done) {
        done = true;
        this.#readers--;
      }
      return { value: undefined, done: true };
    };
    return {
      next: () => {
        if (done) return Promise.resolve(finish());
        const item = this.#shift();
        if (item !== undefined) return Promise.resolve({ value: item, done: false });
        if (this.#closed) return Promise.resolve(finish());
        return new Promise<IteratorResult<T>>((resolve) => {
          this.#waiting.push((result) => resolve(result.done ? finish() : result));
        });
      },
      return: () => Promise.resolve(finish()),
    };
  }
}

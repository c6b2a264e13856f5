import { PeerpostError } from '../errors.js';

/**
 * The application side of the incoming queue: listeners get each message synchronously;
 * `for await` readers get them through a bounded buffer (the oldest is dropped when
 * readers fall behind by more than `capacity`, and counted). With no listener, messages
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

  /**
   * `onListenerError` gets what a listener throws (the other listeners and the message
   * flow go on); without it, the exception propagates to the caller of push().
   */
  constructor(
    capacity = 10_000,
    onDrop?: (dropped: T) => void,
    onListenerError?: (err: unknown, item: T) => void,
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
    if (this.buffered >= this.capacity) {
      const dropped = this.#buffer[this.#head] as T;
      this.#buffer[this.#head] = undefined as T;
      this.#head++;
      this.#dropped++;
      this.#onDrop?.(dropped);
    }
    this.#buffer.push(item);
  }

  close(): void {
    this.#closed = true;
    for (const waiter of this.#waiting.splice(0)) waiter({ value: undefined, done: true });
  }

  #shift(): T | undefined {
    if (this.#head >= this.#buffer.length) return undefined;
    const item = this.#buffer[this.#head++]!;
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

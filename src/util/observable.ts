/** A value that changes at runtime: read the current one, or subscribe to changes. */
export interface Observable<T> {
  get(): T;
  /** Calls `listener` on every later change; returns the unsubscribe function. */
  subscribe(listener: (value: T) => void): () => void;
}

/** A settable {@link Observable}. Listeners run synchronously, in subscription order. */
export class ObservableValue<T> implements Observable<T> {
  #value: T;
  #listeners = new Set<(value: T) => void>();

  constructor(initial: T) {
    this.#value = initial;
  }

  get(): T {
    return this.#value;
  }

  set(value: T): void {
    this.#value = value;
    for (const listener of [...this.#listeners]) listener(value);
  }

  subscribe(listener: (value: T) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }
}

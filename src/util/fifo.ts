/**
 * A growable ring buffer: O(1) push, shift and peek, no allocation per element once
 * warm. Queues of the sender hold messages here instead of in promise chains; a
 * connection holds the frame counts of the batches its socket has not written yet.
 */
export class Fifo<T> {
  /** Empty until the first push: an idle queue costs no array. */
  #items: (T | undefined)[] = [];
  #head = 0;
  #length = 0;
  readonly #initial: number;

  constructor(initialCapacity = 8) {
    this.#initial = Math.max(2, initialCapacity);
  }

  get length(): number {
    return this.#length;
  }

  push(item: T): void {
    if (this.#length === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#length) % this.#items.length] = item;
    this.#length++;
  }

  /** Puts `item` back at the front (used when a write could not be accepted). */
  unshift(item: T): void {
    if (this.#length === this.#items.length) this.#grow();
    this.#head = (this.#head - 1 + this.#items.length) % this.#items.length;
    this.#items[this.#head] = item;
    this.#length++;
  }

  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#items[this.#head];
  }

  /** The element `i` places from the front (0 = peek()), or undefined. */
  at(i: number): T | undefined {
    return i < 0 || i >= this.#length ? undefined : this.#items[(this.#head + i) % this.#items.length];
  }

  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#items.length;
    this.#length--;
    return item;
  }

  /** Removes and returns every element, oldest first. */
  drain(): T[] {
    const out: T[] = [];
    for (let item = this.shift(); item !== undefined; item = this.shift()) out.push(item);
    return out;
  }

  #grow(): void {
    const next = new Array<T | undefined>(Math.max(this.#initial, this.#items.length * 2));
    for (let i = 0; i < this.#length; i++) next[i] = this.#items[(this.#head + i) % this.#items.length];
    this.#items = next;
    this.#head = 0;
  }
}

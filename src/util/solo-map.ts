/**
 * A map for keys that mostly come and go one at a time (a node's pending requests, its
 * watched messages: one per round trip when requests are made one after another). The
 * first entry is kept in fields of its own and a `Map` holds the others. A `Map` whose last
 * entry is deleted shrinks its table (a runtime call that allocates a new one), so a plain
 * `Map` going from one entry to none and back makes a table per round trip.
 *
 * Iteration ({@link values}) gives the entry in the fields first, then the others in the
 * order they were added.
 */
export class SoloMap<K, V> {
  #key: K | undefined;
  #value: V | undefined;
  #has = false;
  readonly #more = new Map<K, V>();

  get size(): number {
    return (this.#has ? 1 : 0) + this.#more.size;
  }

  /** The value of the only entry, when there is exactly one and it is in the fields; else undefined. */
  get only(): V | undefined {
    return this.#has && this.#more.size === 0 ? this.#value : undefined;
  }

  get(key: K): V | undefined {
    if (this.#has && this.#key === key) return this.#value;
    return this.#more.size === 0 ? undefined : this.#more.get(key);
  }

  has(key: K): boolean {
    return (this.#has && this.#key === key) || (this.#more.size > 0 && this.#more.has(key));
  }

  set(key: K, value: V): this {
    if (this.#has) {
      if (this.#key === key) this.#value = value;
      else this.#more.set(key, value);
    } else if (this.#more.size > 0 && this.#more.has(key)) {
      this.#more.set(key, value);
    } else {
      this.#key = key;
      this.#value = value;
      this.#has = true;
    }
    return this;
  }

  delete(key: K): boolean {
    if (this.#has && this.#key === key) {
      this.#has = false;
      this.#key = undefined;
      this.#value = undefined;
      return true;
    }
    return this.#more.size > 0 && this.#more.delete(key);
  }

  /** The values, as an array (a copy: entries may be deleted while it is walked). */
  values(): V[] {
    const out: V[] = [];
    if (this.#has) out.push(this.#value as V);
    for (const v of this.#more.values()) out.push(v);
    return out;
  }
}

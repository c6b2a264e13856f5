/** What a receiving node remembers of one sender's acknowledged stream. */
export interface AckStreamState {
  /** The highest sequence number of the stream handed to the application (0: none yet). */
  last: number;
}

/**
 * The acknowledged streams a receiving node remembers (see docs/acks.md): per stream (a
 * sender's queue to one of this node's addresses, named by a random 16-byte id), the
 * highest sequence number handed to the application. A message frame at or below it is a
 * retransmission of something the application already has: it is acknowledged again and
 * not delivered. Bounded: past `capacity` streams the least recently opened one is
 * forgotten, and its sender learns so at its next OPEN (`known: false`), which makes it
 * end what it could not confirm as `dropped:unacknowledged` rather than risk a duplicate.
 */
export class AckStreams {
  readonly #streams = new Map<string, AckStreamState>();
  #capacity: number;
  /** Message frames not delivered because the application already had them. */
  duplicates = 0;

  constructor(capacity = 4096) {
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#streams.size;
  }

  set capacity(capacity: number) {
    this.#capacity = capacity;
    this.#trim();
  }

  /** The stream `id` (32 hex characters), made if unknown; `known` says whether it was. */
  open(id: string): { state: AckStreamState; known: boolean } {
    const streams = this.#streams;
    let state = streams.get(id);
    const known = state !== undefined;
    if (state === undefined) state = { last: 0 };
    else streams.delete(id); // most recently opened last
    streams.set(id, state);
    this.#trim();
    return { state, known };
  }

  #trim(): void {
    const streams = this.#streams;
    while (streams.size > this.#capacity) {
      const oldest = streams.keys().next().value as string;
      streams.delete(oldest);
    }
  }
}

/** The value every label past the registry's bound is reported as. */
export const OTHER_LABEL = 'other';

/** Labels longer than this are reported as {@link OTHER_LABEL}. */
export const MAX_LABEL_LENGTH = 64;

/**
 * Bounds the values of the `label` metric label (message labels come from the
 * application and from the network, so they cannot be trusted to be few). Known labels
 * always pass; other labels are admitted first come, first served while fewer than
 * `maxDistinct` distinct values have been seen; everything else becomes `other`. A
 * metric therefore has at most `max(known.length, maxDistinct) + 1` series per label.
 */
export class LabelRegistry {
  readonly #known: ReadonlySet<string>;
  readonly #seen = new Set<string>();
  readonly #maxDistinct: number;

  /**
   * The rule of peerpost's own metrics: the `known` labels (the `knownLabels` option of
   * `createNetwork`) keep their own series and every other label is reported as `other`,
   * so a metric has at most `known.length + 1` values of `label`.
   */
  static knownOnly(known: Iterable<string>): LabelRegistry {
    return new LabelRegistry([...known], 0);
  }

  /**
   * @param known labels that always have their own series
   * @param maxDistinct distinct values admitted in total, known ones included. @default 100
   */
  constructor(known: readonly string[] = [], maxDistinct = 100) {
    this.#known = new Set(known);
    for (const label of known) this.#seen.add(label);
    this.#maxDistinct = maxDistinct;
  }

  /** The label to report for `label`: itself while within bounds, else `other`. */
  bound(label: string): string {
    if (this.#seen.has(label)) return label;
    if (label.length > MAX_LABEL_LENGTH || this.#seen.size >= this.#maxDistinct) return OTHER_LABEL;
    this.#seen.add(label);
    return label;
  }

  /** Number of distinct labels admitted so far. */
  get size(): number {
    return this.#seen.size;
  }

  /** True for a label given to the constructor. */
  isKnown(label: string): boolean {
    return this.#known.has(label);
  }
}

/**
 * Label objects for each `label` value a {@link LabelRegistry} reports, made once: the
 * hot path looks them up and allocates nothing. Holds at most one entry per value the
 * registry admits (and one for `other`).
 */
export class LabelSetCache<T> {
  readonly #registry: LabelRegistry;
  readonly #make: (label: string) => T;
  readonly #sets = new Map<string, T>();
  #lastLabel: string | undefined;
  #lastSets: T | undefined;

  /** @param make builds the label object(s) for a reported label */
  constructor(registry: LabelRegistry, make: (label: string) => T) {
    this.#registry = registry;
    this.#make = make;
  }

  /** The label object(s) for message label `label`, bounded by the registry. */
  get(label: string): T {
    // Received messages mostly repeat the last label: no lookup then.
    if (label === this.#lastLabel) return this.#lastSets as T;
    const reported = this.#registry.bound(label);
    let sets = this.#sets.get(reported);
    if (sets === undefined) {
      sets = this.#make(reported);
      this.#sets.set(reported, sets);
    }
    // What the registry reports for a label never changes once said: it admits labels
    // first come, first served and never lets one go, so a label reported as `other` (too
    // long, or past the bound) stays `other`. With no known labels (the default) that is
    // every label: remembering only the labels kept as themselves made each message look
    // its label up again.
    this.#lastLabel = label;
    this.#lastSets = sets;
    return sets;
  }
}

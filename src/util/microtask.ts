/** A promise already fulfilled: a reaction to it runs in the next microtask. */
const SETTLED: Promise<void> = Promise.resolve();

/**
 * Runs `fn` in a microtask, after the current synchronous code and in order with other
 * microtasks, as `queueMicrotask(fn)` does, but cheaper: Node's `queueMicrotask` makes an
 * AsyncResource and a bound function for every call (~110 ns and ~250 bytes here), a
 * reaction to a settled promise costs ~30-50 ns. For the library's own bookkeeping
 * callbacks on hot paths (a request's settle check, a burst's clock reading, an ack per
 * read), which must not throw: an exception would surface as an unhandled rejection
 * rather than an uncaught exception.
 */
export function inMicrotask(fn: () => void): void {
  void SETTLED.then(fn);
}

/**
 * One call of `fn` at the end of the current task however often {@link arm} is called in
 * it (one microtask, {@link inMicrotask}); `fn` runs disarmed, so what it or a later task
 * arms runs again. For work gathered during a task and done once after it: an ack per
 * read, a run of metric updates.
 */
export class EndOfTask {
  #armed = false;
  readonly #fn: () => void;
  readonly #run = (): void => {
    this.#armed = false;
    this.#fn();
  };

  constructor(fn: () => void) {
    this.#fn = fn;
  }

  arm(): void {
    if (this.#armed) return;
    this.#armed = true;
    inMicrotask(this.#run);
  }
}

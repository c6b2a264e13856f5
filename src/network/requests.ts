import { PeerpostError } from '../errors.js';
import { formatOutcome, type OutcomeEvent } from '../sender/outcome.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { MessageSource } from './incoming.js';

/**
 * How a reply names its request, inside the reference envelope: its id is the request's
 * id, then `~r~`, then a fresh id of the responder (`<request id>~r~<fresh id>`), so that
 * replies from several nodes to one message (a broadcast) or several replies to one
 * message still have ids of their own.
 */
export const REPLY_MARK = '~r~';

/** The id of a reply to the message `requestId`; `freshId` is a new id of the responder. */
export function replyIdOf(requestId: string, freshId: string): string {
  return `${requestId}${REPLY_MARK}${freshId}`;
}

/** The id of the message `replyId` answers (the part before its last `~r~`), or undefined. */
export function requestIdOf(replyId: string): string | undefined {
  const at = replyId.lastIndexOf(REPLY_MARK);
  return at > 0 && at + REPLY_MARK.length < replyId.length ? replyId.slice(0, at) : undefined;
}

/** The error a wait ends with when `signal` aborts. */
export function abortedBy(signal: AbortSignal, what: string): PeerpostError {
  return new PeerpostError('ERR_ABORTED', what, { cause: signal.reason });
}

/** Default of `request()`'s `timeoutMs`. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** Requests one node may have waiting for replies; past it `request()` rejects `ERR_TOO_MANY_REQUESTS`. */
export const MAX_PENDING_REQUESTS = 10_000;

export interface RequestOptions {
  /** How long to wait for the reply. @default 10_000 */
  timeoutMs?: number;
  /** Aborting rejects the request with `ERR_ABORTED` (a reply that comes later is delivered as an ordinary message). */
  signal?: AbortSignal;
  /** The request's message id (unique per node); a fresh one by default. */
  id?: string;
  /** Called with each outcome of the request message (one per target). */
  onOutcome?: (event: OutcomeEvent) => void;
  /** Called once every target of the request message has its outcome. */
  onSettled?: (outcomes: readonly OutcomeEvent[]) => void;
}

/** One request waiting for its reply. */
export class PendingRequest<M> {
  /** The outcomes of the request message so far. */
  readonly outcomes: OutcomeEvent[] = [];
  #timer: TimerHandle | undefined;
  #onAbort: (() => void) | undefined;
  #done = false;

  constructor(
    readonly id: string,
    /** Whether a message came from where the request went. */
    readonly from: (source: MessageSource) => boolean,
    readonly printed: string,
    private readonly owner: Requests<M>,
    private readonly resolveWith: (reply: M) => void,
    private readonly rejectWith: (err: Error) => void,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** Arms the timeout and the abort listener. */
  start(clock: Clock, timeoutMs: number): void {
    this.#timer = clock.setTimeout(
      () =>
        this.fail(
          new PeerpostError(
            'ERR_REQUEST_TIMEOUT',
            `no reply to ${this.id} from ${this.printed} within ${timeoutMs} ms (outcomes: ${this.#outcomeText()})`,
          ),
        ),
      timeoutMs,
    );
    if (this.signal !== undefined) {
      const signal = this.signal;
      this.#onAbort = () => this.fail(abortedBy(signal, `request ${this.id} aborted`));
      this.signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** Every target of the request has its outcome: none written means no reply can come. */
  settled(): void {
    if (this.#done || this.outcomes.some((o) => o.outcome.kind === 'written')) return;
    this.fail(
      new PeerpostError(
        'ERR_REQUEST_DROPPED',
        `request ${this.id} to ${this.printed}: ${this.#outcomeText()}`,
        {
          cause: this.outcomes,
        },
      ),
    );
  }

  answer(reply: M): void {
    if (this.#end()) this.resolveWith(reply);
  }

  fail(err: Error): void {
    if (this.#end()) this.rejectWith(err);
  }

  #end(): boolean {
    if (this.#done) return false;
    this.#done = true;
    this.owner.forget(this);
    if (this.#timer !== undefined) this.owner.clock.clearTimeout(this.#timer);
    if (this.#onAbort !== undefined) this.signal?.removeEventListener('abort', this.#onAbort);
    return true;
  }

  #outcomeText(): string {
    if (this.outcomes.length === 0) return 'none yet';
    return this.outcomes
      .map((o) => `${formatOutcome(o.outcome)} at ${o.address ?? '(no address)'}`)
      .join(', ');
  }
}

/**
 * The requests of one node that wait for their replies, by request id. Bounded
 * ({@link MAX_PENDING_REQUESTS}); each has a timer while it waits and none after.
 */
export class Requests<M> {
  readonly #pending = new Map<string, PendingRequest<M>>();

  constructor(readonly clock: Clock) {}

  get size(): number {
    return this.#pending.size;
  }

  has(id: string): boolean {
    return this.#pending.has(id);
  }

  add(request: PendingRequest<M>): void {
    this.#pending.set(request.id, request);
  }

  forget(request: PendingRequest<M>): void {
    if (this.#pending.get(request.id) === request) this.#pending.delete(request.id);
  }

  /**
   * An incoming message: when it is a reply to a pending request, from where that request
   * went, the request takes it (true) and the application does not see it again.
   */
  answer(messageId: string, source: MessageSource, message: () => M): boolean {
    if (this.#pending.size === 0) return false;
    // Each `~r~` in the id may end the request id (a request id may hold one itself).
    for (let at = messageId.indexOf(REPLY_MARK); at > 0; at = messageId.indexOf(REPLY_MARK, at + 1)) {
      const request = this.#pending.get(messageId.slice(0, at));
      if (request === undefined || !request.from(source)) continue;
      request.answer(message());
      return true;
    }
    return false;
  }

  /** Rejects every pending request with `err` (the node closes). */
  failAll(err: Error): void {
    for (const request of [...this.#pending.values()]) request.fail(err);
  }
}

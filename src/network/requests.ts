import { Buffer } from 'node:buffer';
import { PeerpostError } from '../errors.js';
import { formatOutcome, type OutcomeEvent, reached } from '../sender/outcome.js';
import { copyInto } from '../util/bytes.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { SoloMap } from '../util/solo-map.js';
import { asciiIndexOf, noteAscii, notedHead, notedTail, sameBytes } from '../wire/utf8.js';
import type { IdSource } from './gaps.js';
import { isBase36Digit } from './id-counter.js';
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

/**
 * {@link replyIdOf} for a request whose id is still the received ASCII bytes
 * `buf[start, end)` (see `ReceivedEnvelope`), and a fresh id the id counter just made
 * (the codec was told its head's bytes and its tail: `noteAscii`). The reply id is the
 * concatenation of the request id's text ({@link requestIdText}), one kept string of
 * `~r~` and the responder's head, and the fresh id's tail; the codec is told the bytes of
 * all but that tail, and the tail, so sizing and encoding the reply never read the
 * concatenation (a read would flatten it with a runtime call). No call into C++ per reply:
 * `Buffer.toString` of the whole reply id cost ~0.5 µs more of a responder's turn, where
 * everything runs cold (p50, bench/HISTORY.md, round 25). Undefined when the fresh id is not
 * the counter's latest with an ASCII head (a node id with other characters): then
 * `replyIdOf`.
 */
export function replyIdFromBytes(
  buf: Buffer,
  start: number,
  end: number,
  freshId: string,
): string | undefined {
  const freshHead = notedHead(freshId);
  if (freshHead === undefined) return undefined;
  const freshTail = notedTail();
  if (freshHead !== markHeadOf) {
    markHeadOf = freshHead;
    markHead = REPLY_MARK + Buffer.from(freshHead).toString('latin1');
    markHeadBytes = Buffer.from(markHead, 'latin1');
  }
  const requestLength = end - start;
  const bytes = Buffer.allocUnsafe(requestLength + markHeadBytes.length);
  for (let i = 0; i < requestLength; i++) bytes[i] = buf[start + i] as number;
  copyInto(bytes, markHeadBytes, requestLength);
  const id = requestIdText(buf, start, end) + markHead + freshTail;
  noteAscii(id, bytes, freshTail);
  return id;
}

/** The head of the fresh ids {@link markHead} was made for, `~r~` and that head, and its bytes. */
let markHeadOf: Uint8Array | undefined;
let markHead = '';
let markHeadBytes: Uint8Array = new Uint8Array(0);

/** The strings of one ASCII character, by code. */
const ASCII_CHARS: readonly string[] = Array.from({ length: 0x80 }, (_, c) => String.fromCharCode(c));
/** Base-36 digits of an id counter's number: at most 11 (2^53 in base 36). */
const MAX_ID_DIGITS = 11;
/** The head of the last request id {@link requestIdText} split, and its text. */
let requestHead: Uint8Array = new Uint8Array(0);
let requestHeadText = '';

/**
 * The ASCII bytes `buf[start, end)` (a request id) as a string. An id as the id counter
 * makes it, `<head>-<base-36 digits>`, is its head's text, decoded once per head and kept
 * (consecutive requests mostly come from one requester), followed by its digits, made from
 * single-character strings (short, so a flat string); any other id is decoded whole.
 */
function requestIdText(buf: Buffer, start: number, end: number): string {
  let d = end;
  while (d > start && end - d < MAX_ID_DIGITS && isBase36Digit(buf[d - 1] as number)) d--;
  if (d === end || d === start || buf[d - 1] !== 0x2d /* - */) return buf.toString('latin1', start, end);
  const headLength = d - start;
  if (requestHead.length !== headLength || !sameBytes(requestHead, buf, start, headLength)) {
    requestHead = new Uint8Array(buf.subarray(start, d));
    requestHeadText = buf.toString('latin1', start, d);
  }
  let digits = '';
  for (let i = d; i < end; i++) digits += ASCII_CHARS[buf[i] as number];
  return requestHeadText + digits;
}

/** The id of the message `replyId` answers (the part before its last `~r~`), or undefined. */
export function requestIdOf(replyId: string): string | undefined {
  const at = replyId.lastIndexOf(REPLY_MARK);
  return at > 0 && at + REPLY_MARK.length < replyId.length ? replyId.slice(0, at) : undefined;
}

/** The ASCII bytes `buf[start, end)` are the characters of `s`. */
function sameAscii(s: string, buf: Uint8Array, start: number, end: number): boolean {
  if (s.length !== end - start) return false;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== buf[start + i]) return false;
  return true;
}

/** The error a wait ends with when `signal` aborts. */
export function abortedBy(signal: AbortSignal, what: string): PeerpostError {
  return new PeerpostError('ERR_ABORTED', what, { cause: signal.reason });
}

function noop(): void {}

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

/** The request whose promise {@link captureSettlers} is creating (the executor runs at once). */
let creating: Settlers | undefined;

interface Settlers {
  resolveWith: (reply: never) => void;
  rejectWith: (err: Error) => void;
}

/** The executor of every request's promise: one function, no closure per request. */
function captureSettlers(resolve: (reply: never) => void, reject: (err: Error) => void): void {
  const request = creating as Settlers;
  creating = undefined;
  request.resolveWith = resolve;
  request.rejectWith = reject;
}

/** One request waiting for its reply. */
export class PendingRequest<M> {
  /** The outcomes of the request message so far (the network adds each: the request is the message's watcher). */
  readonly outcomes: OutcomeEvent[] = [];
  /** When (clock ms) the request times out; set by {@link Requests.add}. */
  deadlineMs = 0;
  /** Settle the promise {@link wait} returns. */
  resolveWith: (reply: M) => void = noop;
  rejectWith: (err: Error) => void = noop;
  /** The caller's `onOutcome`, called by the network with each outcome (after adding it to {@link outcomes}). */
  readonly onOutcome: ((event: OutcomeEvent) => void) | undefined;
  #onAbort: (() => void) | undefined;
  #done = false;
  readonly #onSettled: ((outcomes: readonly OutcomeEvent[]) => void) | undefined;
  /**
   * The id's bytes as the id counter made it (these, then the short flat {@link #idTail}),
   * when the codec was told them (`noteAscii`); else undefined. The id itself is a
   * concatenation: reading its characters to match the reply would flatten it, a runtime
   * call on the requester's turn of a round trip (~1 µs at p50, bench/HISTORY.md, round 25).
   */
  readonly #idHead: Uint8Array | undefined;
  readonly #idTail: string;

  constructor(
    readonly id: string,
    /** Where the request went: a peer id (replies come from it, by identity or address) ... */
    readonly peerId: string | undefined,
    /** ... or an address (replies come from it). */
    readonly address: string | undefined,
    readonly printed: string,
    readonly timeoutMs: number,
    private readonly owner: Requests<M>,
    private readonly signal: AbortSignal | undefined,
    options: Pick<RequestOptions, 'onOutcome' | 'onSettled'> = {},
  ) {
    this.onOutcome = options.onOutcome;
    this.#onSettled = options.onSettled;
    this.#idHead = notedHead(id);
    this.#idTail = this.#idHead === undefined ? '' : notedTail();
  }

  /** Whether the ASCII bytes `buf[start, end)` are this request's id. */
  idIs(buf: Buffer, start: number, end: number): boolean {
    const head = this.#idHead;
    if (head === undefined) return sameAscii(this.id, buf, start, end);
    const n = head.length;
    return end - start >= n && sameBytes(head, buf, start, n) && sameAscii(this.#idTail, buf, start + n, end);
  }

  /** The promise of the reply (call once). */
  wait(): Promise<M> {
    creating = this;
    return new Promise<M>(captureSettlers);
  }

  /** Arms the abort listener (the timeout is the owner's sweep: {@link Requests.add}). */
  start(): void {
    if (this.signal !== undefined) {
      const signal = this.signal;
      this.#onAbort = () => this.fail(abortedBy(signal, `request ${this.id} aborted`));
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** Every target of the request message has its outcome (called by the network, as the message's watcher). */
  onSettled(outcomes: readonly OutcomeEvent[]): void {
    this.settled();
    this.#onSettled?.(outcomes);
  }

  /**
   * Every target of the request has its outcome: none written (or, with acks, delivered)
   * means no reply can come.
   */
  settled(): void {
    if (this.#done || this.outcomes.some((o) => reached(o.outcome))) return;
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

  /** The wait is over: no reply came within `timeoutMs`. */
  timedOut(): void {
    this.fail(
      new PeerpostError(
        'ERR_REQUEST_TIMEOUT',
        `no reply to ${this.id} from ${this.printed} within ${this.timeoutMs} ms (outcomes: ${this.#outcomeText()})`,
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

/** The addresses of a peer in the node's table (for matching a reply's source). */
export type AddressesOf = (peerId: string) => readonly { readonly address: string }[] | undefined;

/**
 * The requests of one node that wait for their replies, by request id. Bounded
 * ({@link MAX_PENDING_REQUESTS}). Their timeouts share one timer, armed for the earliest
 * deadline: a request that is answered costs no timer of its own (none to set, none to
 * clear). When the timer fires it fails every request past its deadline and re-arms for
 * the earliest one left; with none left it stays unarmed. Closing ({@link failAll})
 * clears it.
 */
export class Requests<M> {
  readonly #pending = new SoloMap<string, PendingRequest<M>>();
  #timer: TimerHandle | undefined;
  /** The deadline the timer is armed for (when armed). */
  #timerAtMs = 0;
  readonly #sweep = (): void => this.#expire();

  constructor(
    readonly clock: Clock,
    private readonly addressesOf: AddressesOf = () => undefined,
  ) {}

  get size(): number {
    return this.#pending.size;
  }

  has(id: string): boolean {
    return this.#pending.has(id);
  }

  /** Adds a request and sets its deadline `request.timeoutMs` from now. */
  add(request: PendingRequest<M>): void {
    const nowMs = this.clock.now();
    const deadlineMs = nowMs + request.timeoutMs;
    request.deadlineMs = deadlineMs;
    this.#pending.set(request.id, request);
    if (this.#timer === undefined) {
      this.#arm(deadlineMs, nowMs);
    } else if (deadlineMs < this.#timerAtMs) {
      this.clock.clearTimeout(this.#timer);
      this.#arm(deadlineMs, nowMs);
    }
  }

  forget(request: PendingRequest<M>): void {
    if (this.#pending.get(request.id) === request) this.#pending.delete(request.id);
  }

  #arm(atMs: number, nowMs: number): void {
    this.#timerAtMs = atMs;
    this.#timer = this.clock.setTimeout(this.#sweep, Math.max(atMs - nowMs, 0));
  }

  /** The timer fired: fails what is past its deadline, re-arms for the earliest left. */
  #expire(): void {
    this.#timer = undefined;
    if (this.#pending.size === 0) return;
    const nowMs = this.clock.now();
    const expired: PendingRequest<M>[] = [];
    let nextMs = Number.POSITIVE_INFINITY;
    for (const request of this.#pending.values()) {
      if (request.deadlineMs <= nowMs) expired.push(request);
      else if (request.deadlineMs < nextMs) nextMs = request.deadlineMs;
    }
    for (const request of expired) request.timedOut();
    // A timer that fires a little early (the system clock and the timers' clock differ)
    // re-arms for what is left of the earliest deadline rather than failing it early.
    if (nextMs !== Number.POSITIVE_INFINITY && this.#timer === undefined) {
      this.#arm(nextMs, nowMs);
    }
  }

  /** Whether `source` is where `request` went. */
  #from(request: PendingRequest<M>, source: MessageSource): boolean {
    if (request.address !== undefined) return source.address === request.address;
    if (source.peerId === request.peerId) return true;
    const addresses = this.addressesOf(request.peerId as string);
    if (addresses === undefined) return false;
    for (const a of addresses) if (a.address === source.address) return true;
    return false;
  }

  /**
   * The pending request an incoming message answers: one its id names (`<request id>~r~...`)
   * and that went to where the message came from; undefined when none. The caller hands
   * the message to {@link PendingRequest.answer}, and the application does not see it again.
   */
  answeredBy(message: IdSource, source: MessageSource): PendingRequest<M> | undefined {
    if (this.#pending.size === 0) return undefined;
    const buf = message.idBytes;
    if (buf !== undefined) {
      // An ASCII id read from the network, looked at in its bytes: no string is made for a
      // message that answers no request, nor for the reply to the only request waiting.
      const start = message.idStart as number;
      const end = message.idEnd as number;
      let at = asciiIndexOf(buf, REPLY_MARK, start + 1, end);
      if (at < 0) return undefined;
      const only = this.#pending.only;
      if (only !== undefined) {
        for (; at >= 0; at = asciiIndexOf(buf, REPLY_MARK, at + 1, end)) {
          if (only.idIs(buf, start, at) && this.#from(only, source)) return only;
        }
        return undefined;
      }
    }
    const messageId = message.id;
    // Each `~r~` in the id may end the request id (a request id may hold one itself).
    for (let at = messageId.indexOf(REPLY_MARK); at > 0; at = messageId.indexOf(REPLY_MARK, at + 1)) {
      const request = this.#pending.get(messageId.slice(0, at));
      if (request !== undefined && this.#from(request, source)) return request;
    }
    return undefined;
  }

  /** Rejects every pending request with `err` (the node closes). */
  failAll(err: Error): void {
    if (this.#timer !== undefined) {
      this.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    for (const request of this.#pending.values()) request.fail(err);
  }
}

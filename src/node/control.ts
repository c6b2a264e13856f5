import { Buffer } from 'node:buffer';
import { readFile } from 'node:fs/promises';
import { PeerpostError } from '../errors.js';
import type { Network } from '../network/network.js';
import { type OutcomeEvent, reached } from '../sender/outcome.js';
import type { Clock } from '../util/clock.js';

/** Largest request body the control path reads (a JSON document with a base64 payload). */
export const MAX_CONTROL_BODY_BYTES = 24 * 1024 * 1024;
/** Shortest control token accepted. */
export const MIN_CONTROL_TOKEN_LENGTH = 16;

/** `POST /send` on the admin server: what an operator sends through the running node. */
export interface ControlSendRequest {
  /** A peer id of the node's topology. */
  readonly to: string;
  readonly label: string;
  /** The payload, base64. */
  readonly dataBase64: string;
  /** Wait this long for the reply (`network.request()`); 0 or absent: none. */
  readonly waitReplyMs?: number;
  /** Give up waiting for the outcomes after this long. @default 15000 */
  readonly timeoutMs?: number;
}

/** The answer: the same shape as a one-shot `peerpost send` result, payloads in base64. */
export interface ControlSendResult {
  readonly messageId: string;
  readonly peerId: string;
  readonly outcomes: readonly OutcomeEvent[];
  readonly missing: number;
  readonly unresolved: boolean;
  readonly timeoutMs: number;
  readonly reply:
    | {
        readonly id: string;
        readonly label: string;
        readonly from: string;
        readonly peerId: string | undefined;
        readonly identity: string;
        readonly dataBase64: string;
        readonly afterMs: number;
      }
    | undefined;
  readonly ok: boolean;
}

function invalid(what: string): PeerpostError {
  return new PeerpostError('ERR_INVALID_OPTION', `control /send: ${what}`);
}

/** Reads the control token from `file` (trimmed); `ERR_INVALID_CONFIG` when it is too short. */
export async function readControlToken(file: string): Promise<string> {
  const token = (await readFile(file, 'utf8')).trim();
  if (token.length < MIN_CONTROL_TOKEN_LENGTH) {
    throw new PeerpostError(
      'ERR_INVALID_CONFIG',
      `controlTokenFile ${file}: the token must have at least ${MIN_CONTROL_TOKEN_LENGTH} characters`,
    );
  }
  return token;
}

/** Checks a parsed request body; throws `ERR_INVALID_OPTION` naming the field. */
export function parseControlSend(body: unknown): ControlSendRequest {
  if (typeof body !== 'object' || body === null) throw invalid('expected a JSON object');
  const b = body as Record<string, unknown>;
  if (typeof b.to !== 'string' || b.to.length === 0 || b.to.length > 1024) throw invalid('`to`: a peer id');
  if (typeof b.label !== 'string' || b.label.length > 1024) throw invalid('`label`: a string');
  if (typeof b.dataBase64 !== 'string') throw invalid('`dataBase64`: a base64 string');
  for (const key of ['waitReplyMs', 'timeoutMs'] as const) {
    const v = b[key];
    if (v !== undefined && !(Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= 600_000)) {
      throw invalid(`\`${key}\`: an integer of ms from 0 to 600000`);
    }
  }
  return b as unknown as ControlSendRequest;
}

/**
 * Sends one message through the running node `network` (its identity, connections and
 * queues), waits for its outcome on every target and, when asked, for its reply.
 */
export async function controlSend(
  network: Network,
  req: ControlSendRequest,
  clock: Clock,
): Promise<ControlSendResult> {
  const now = (): number => clock.now();
  if (!network.topology.has(req.to)) {
    throw new PeerpostError(
      'ERR_INVALID_OPTION',
      `control /send: ${req.to} is not a peer of this node's topology`,
    );
  }
  const data = Buffer.from(req.dataBase64, 'base64');
  const unresolved = (network.topology.get(req.to) ?? []).length === 0;
  const waitReplyMs = req.waitReplyMs ?? 0;
  const timeoutMs = Math.max(req.timeoutMs ?? 15_000, waitReplyMs);
  const id = network.newMessageId();
  const startedAt = now();
  const outcomes: OutcomeEvent[] = [];
  let settled = false;
  let reply: ControlSendResult['reply'];
  const ctl = new AbortController();
  const timer = clock.setTimeout(() => ctl.abort(), timeoutMs);
  try {
    await new Promise<void>((resolve) => {
      let replyDone = waitReplyMs === 0;
      const check = (): void => {
        if (settled && replyDone) resolve();
      };
      ctl.signal.addEventListener('abort', () => resolve(), { once: true });
      const onOutcome = (event: OutcomeEvent): void => void outcomes.push(event);
      const onSettled = (): void => {
        settled = true;
        check();
      };
      if (waitReplyMs === 0) {
        network.send(req.to, req.label, data, { id, onOutcome, onSettled });
        return;
      }
      network
        .request(req.to, req.label, data, {
          id,
          timeoutMs: waitReplyMs,
          onOutcome,
          onSettled,
          signal: ctl.signal,
        })
        .then(
          (m) => {
            reply = {
              id: m.id,
              label: m.label,
              from: m.from.address,
              peerId: m.from.peerId,
              identity: m.from.identity.shortId,
              dataBase64: Buffer.from(m.data).toString('base64'),
              afterMs: now() - startedAt,
            };
          },
          () => {},
        )
        .finally(() => {
          replyDone = true;
          check();
        });
    });
  } finally {
    clock.clearTimeout(timer);
  }
  const written = outcomes.filter((o) => reached(o.outcome)).length;
  return {
    messageId: id,
    peerId: req.to,
    outcomes,
    missing: settled ? 0 : Math.max(1, (network.topology.get(req.to) ?? []).length - outcomes.length),
    unresolved,
    timeoutMs,
    reply,
    ok: settled && written > 0 && written === outcomes.length && (waitReplyMs === 0 || reply !== undefined),
  };
}

import type { ErrorCode } from '../errors.js';
import type { Labels } from './types.js';

/**
 * Every value of the `kind` label of `peerpost_errors_total`: errors and warnings that do
 * not end a message by themselves (a message's fate is its outcome). Each one is
 * documented in docs/metrics.md, and test/docs/reference.test.ts checks both ways (and
 * that every kind counted in src/ is in this list).
 */
export const ERROR_KINDS = [
  // direct sender and peer senders (outgoing)
  'fwd_to_peer_unresolved',
  'fwd_to_peer_lagged',
  'fwd_to_peer_closed',
  'unresolved_expired',
  'fail_ser_msg',
  'fail_create_out_con',
  'fail_conn_to_peer',
  'identity_mismatch',
  'fail_write_to_peer',
  // hub and incoming messages
  'fail_deser_msg',
  'fail_decompress',
  'in_transfer_fail',
  'in_transfer_skew',
  'in_queue_overflow',
  'broadcast_gap',
  'reply_queue_full',
  'subscriber_lagged',
  'subscriber_too_slow',
  'max_conn_reached',
  'fail_accept_in_con',
  // the application
  'listener_threw',
  // a connection this side failed (StreamConnection.fail): its code without `ERR_`, lowercased
  'write_timeout',
  'idle_timeout',
  'frame_too_large',
  'untrusted_peer',
  // a connection this side failed with any other code
  'connection_failed',
] as const;

export type ErrorKind = (typeof ERROR_KINDS)[number];

const KINDS: ReadonlySet<string> = new Set(ERROR_KINDS);

export function isErrorKind(kind: string): kind is ErrorKind {
  return KINDS.has(kind);
}

/**
 * The kind of a connection that this side failed with `code`: the code without `ERR_`,
 * lowercased (`ERR_IDLE_TIMEOUT` → `idle_timeout`) when that is a listed kind, else
 * `connection_failed`, so the label keeps a fixed set of values.
 */
export function connectionErrorKind(code: ErrorCode): ErrorKind {
  const kind = code.replace(/^ERR_/, '').toLowerCase();
  return isErrorKind(kind) ? kind : 'connection_failed';
}

const LABELS = new Map<ErrorKind, Labels>();

/** The (shared, frozen) labels of `peerpost_errors_total` for `kind`. */
export function errorLabels(kind: ErrorKind): Labels {
  let labels = LABELS.get(kind);
  if (labels === undefined) {
    labels = Object.freeze({ kind });
    LABELS.set(kind, labels);
  }
  return labels;
}

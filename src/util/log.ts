import process from 'node:process';
import { type DestinationStream, type Logger as PinoLogger, pino } from 'pino';
import PinoPretty from 'pino-pretty';
import type { Logger } from './logger.js';

/** Log levels, quietest last. */
export type LoggerLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/**
 * Fields removed from every log line at any depth (e.g. `message.data`,
 * `config.registry.etcd.password`), in the line's fields and in child bindings: message
 * payloads, key material and passwords never reach the logs.
 */
export const REDACTED_FIELDS: readonly string[] = [
  'data',
  'payload',
  'pem',
  'keyPem',
  'privateKey',
  'password',
  'token',
];

const REDACTED = new Set(REDACTED_FIELDS);
/** Deeper than this, a value is replaced by `[deep]` (log fields are small; a cycle ends here too). */
const MAX_DEPTH = 8;

function isPlain(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * `value` without the redacted fields, at every depth of its plain objects and arrays.
 * Returns `value` itself when there is nothing to remove (no copy on the common path).
 */
export function redact(value: unknown, depth = 0): unknown {
  if (Array.isArray(value)) {
    if (depth >= MAX_DEPTH) return '[deep]';
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = redact(value[i], depth + 1);
      if (v !== value[i]) out ??= value.slice();
      if (out !== undefined) out[i] = v;
    }
    return out ?? value;
  }
  if (!isPlain(value)) return value;
  if (depth >= MAX_DEPTH) return '[deep]';
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    if (REDACTED.has(key)) {
      out ??= { ...value };
      delete out[key];
      continue;
    }
    const v = redact(value[key], depth + 1);
    if (v === value[key]) continue;
    out ??= { ...value };
    out[key] = v;
  }
  return out ?? value;
}

const redactFields = (fields: Record<string, unknown>): Record<string, unknown> =>
  redact(fields) as Record<string, unknown>;

export interface CreateLoggerOptions {
  /** @default 'info' */
  level?: LoggerLevel;
  /** Human-readable coloured lines instead of JSON. @default true when writing to a TTY */
  pretty?: boolean;
  /** Where lines go. @default process.stdout */
  destination?: NodeJS.WritableStream | DestinationStream;
  /** Fields on every line, e.g. `{ nodeId }`. */
  base?: Record<string, unknown>;
}

function isTty(stream: unknown): boolean {
  return (stream as { isTTY?: boolean } | undefined)?.isTTY === true;
}

/**
 * A pino logger for `peerpost node` and applications: JSON lines (one object per line,
 * with `level`, `time`, `pid`, the `base` fields and `msg`), or pino-pretty output when
 * `pretty` (by default when the destination is a terminal). It satisfies {@link Logger},
 * so it can be passed to every peerpost component; `logger.level = 'debug'` changes the
 * level live. Payload and secret fields ({@link REDACTED_FIELDS}) are removed from every
 * line, at every depth.
 */
export function createLogger(options: CreateLoggerOptions = {}): PinoLogger & Logger {
  const target = options.destination ?? process.stdout;
  const pretty = options.pretty ?? isTty(target);
  const config = {
    level: options.level ?? 'info',
    base: { pid: process.pid, ...options.base },
    formatters: { log: redactFields, bindings: redactFields },
  };
  if (pretty) {
    // Synchronous so that lines written just before exit are not lost.
    return redactingChildren(
      pino(config, PinoPretty({ destination: target, sync: true, colorize: isTty(target) })),
    );
  }
  return redactingChildren(
    options.destination === undefined ? pino(config) : pino(config, options.destination as DestinationStream),
  );
}

/** pino's `formatters.bindings` sees only the base bindings: a child's are redacted here. */
function redactingChildren(logger: PinoLogger): PinoLogger & Logger {
  const pinoChild = logger.child; // pino's own, from the prototype, before it is shadowed
  const wrap = (l: PinoLogger): PinoLogger => {
    l.child = ((bindings: Record<string, unknown>, options?: Parameters<PinoLogger['child']>[1]) =>
      wrap(
        pinoChild.call(l, redactFields(bindings), options) as unknown as PinoLogger,
      )) as unknown as PinoLogger['child'];
    return l;
  };
  return wrap(logger) as PinoLogger & Logger;
}

import process from 'node:process';
import { type DestinationStream, type Logger as PinoLogger, pino } from 'pino';
import PinoPretty from 'pino-pretty';
import type { Logger } from './logger.js';

/** Log levels, quietest last. */
export type LoggerLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/**
 * Fields removed from every log line, at the top level and one level down (e.g.
 * `message.data`): message payloads and key material never reach the logs.
 */
export const REDACTED_FIELDS: readonly string[] = ['data', 'payload', 'pem', 'privateKey'];

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
 * level live. Payload fields ({@link REDACTED_FIELDS}) are removed from every line.
 */
export function createLogger(options: CreateLoggerOptions = {}): PinoLogger & Logger {
  const target = options.destination ?? process.stdout;
  const pretty = options.pretty ?? isTty(target);
  const redact = { paths: REDACTED_FIELDS.flatMap((f) => [f, `*.${f}`]), remove: true };
  const config = {
    level: options.level ?? 'info',
    base: { pid: process.pid, ...options.base },
    redact,
  };
  if (pretty) {
    // Synchronous so that lines written just before exit are not lost.
    return pino(config, PinoPretty({ destination: target, sync: true, colorize: isTty(target) }));
  }
  return options.destination === undefined
    ? pino(config)
    : pino(config, options.destination as DestinationStream);
}

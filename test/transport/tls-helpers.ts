import type { TestContext } from 'node:test';
import type { Credentials } from '../../src/identity/credentials.js';
import type { Labels, MetricName, Metrics } from '../../src/metrics/types.js';
import type { TlsTransportOptions } from '../../src/transport/tls/tls-transport.js';
import { TlsTransport } from '../../src/transport/tls/tls-transport.js';
import type { CloseReason, Connection, Listener } from '../../src/transport/types.js';
import type { Logger } from '../../src/util/logger.js';

/** Collects frames and the close reason of one connection. */
export class Collector {
  readonly frames: Buffer[] = [];
  /** The `readAtMs` each frame came with. */
  readonly readAt: (number | undefined)[] = [];
  flushed = 0;
  drains = 0;
  reason: CloseReason | undefined;
  #waiters: { n: number; resolve: () => void }[] = [];

  constructor(readonly connection: Connection) {
    connection.attach(this);
  }

  onFrame(frame: Buffer, readAtMs?: number): void {
    this.frames.push(Buffer.from(frame));
    this.readAt.push(readAtMs);
    this.#waiters = this.#waiters.filter((w) => {
      if (this.frames.length < w.n) return true;
      w.resolve();
      return false;
    });
  }

  onFlushed(count: number): void {
    this.flushed += count;
  }

  onDrain(): void {
    this.drains++;
  }

  onClose(reason: CloseReason): void {
    this.reason = reason;
  }

  /** Resolves when `n` frames have arrived. */
  waitFrames(n: number): Promise<void> {
    if (this.frames.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }
}

/** Counts `peerpost_errors_total` by kind. */
export class CountingMetrics implements Metrics {
  readonly errors = new Map<string, number>();
  inc(name: MetricName, labels?: Labels, value = 1): void {
    if (name !== 'peerpost_errors_total') return;
    const kind = labels?.['kind'] ?? '';
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + value);
  }
  set(): void {}
  observe(): void {}
  count(kind: string): number {
    return this.errors.get(kind) ?? 0;
  }
}

/** Records log lines (level, fields, message). */
export class RecordingLogger implements Logger {
  readonly lines: { level: string; obj: Record<string, unknown>; msg: string | undefined }[];
  constructor(
    lines: RecordingLogger['lines'] = [],
    readonly bindings: Record<string, unknown> = {},
  ) {
    this.lines = lines;
  }
  #log(level: string, obj: object, msg?: string): void {
    this.lines.push({ level, obj: { ...this.bindings, ...obj }, msg });
  }
  debug(obj: object, msg?: string): void {
    this.#log('debug', obj, msg);
  }
  info(obj: object, msg?: string): void {
    this.#log('info', obj, msg);
  }
  warn(obj: object, msg?: string): void {
    this.#log('warn', obj, msg);
  }
  error(obj: object, msg?: string): void {
    this.#log('error', obj, msg);
  }
  child(bindings: Record<string, unknown>): Logger {
    return new RecordingLogger(this.lines, { ...this.bindings, ...bindings });
  }
  /** The lines with message `msg` whose fields (bindings included) pass `where`. */
  find(
    msg: string,
    where: (fields: Record<string, unknown>) => boolean = () => true,
  ): RecordingLogger['lines'] {
    return this.lines.filter((l) => l.msg === msg && where(l.obj));
  }
  /** Codes of warn lines, in order. */
  warnCodes(): unknown[] {
    return this.lines.filter((l) => l.level === 'warn').map((l) => l.obj['code']);
  }
}

/** A transport plus a listener on 127.0.0.1:0 whose accepted connections are collected. */
export async function startServer(
  options: TlsTransportOptions,
  listen: { maxConnections?: number } = {},
): Promise<{
  transport: TlsTransport;
  listener: Listener;
  accepted: Collector[];
  next: () => Promise<Collector>;
}> {
  const transport = new TlsTransport(options);
  const accepted: Collector[] = [];
  let waiting: ((c: Collector) => void) | undefined;
  const listener = await transport.listen('127.0.0.1:0', {
    ...listen,
    onConnection(connection) {
      const c = new Collector(connection);
      accepted.push(c);
      const w = waiting;
      waiting = undefined;
      w?.(c);
    },
  });
  let taken = 0;
  const next = (): Promise<Collector> => {
    const have = accepted[taken];
    if (have) {
      taken++;
      return Promise.resolve(have);
    }
    return new Promise((resolve) => {
      waiting = (c) => {
        taken++;
        resolve(c);
      };
    });
  };
  return { transport, listener, accepted, next };
}

/** Resolves after `ms` real milliseconds (only for waiting on real sockets). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A client connection (`direct`) to a fresh server, both transports closed after the test;
 * `options` go to both. Returns the client connection, its collector, and the server's
 * collector of the accepted connection.
 */
export async function connectedPair(
  t: TestContext,
  credentials: { server: Credentials; client: Credentials },
  options: Partial<TlsTransportOptions> = {},
): Promise<{ conn: Connection; c: Collector; server: Collector }> {
  const s = await startServer({ credentials: credentials.server, ...options });
  const client = new TlsTransport({ credentials: credentials.client, ...options });
  t.after(async () => {
    await client.close();
    await s.transport.close();
  });
  const conn = await client.connect(s.listener.address, 'direct');
  const c = new Collector(conn);
  return { conn, c, server: await s.next() };
}

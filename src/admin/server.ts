import { Buffer } from 'node:buffer';
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatHostPort, parseHostPort } from '../config/address.js';
import { PeerpostError } from '../errors.js';
import { MAX_CONTROL_BODY_BYTES } from '../node/control.js';
import { type Logger, noopLogger } from '../util/logger.js';

/** Content-Type of the Prometheus text exposition. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface AdminServerOptions {
  /** `host:port` to listen on; port 0 picks a free port. Keep it on loopback unless it is firewalled. @default '127.0.0.1:0' */
  address?: string;
  /** The text exposition for `GET /metrics` (e.g. `PrometheusMetrics.metricsText`). */
  metrics: () => Promise<string> | string;
  /** Content-Type of `/metrics`. @default 'text/plain; version=0.0.4; charset=utf-8' */
  metricsContentType?: string;
  /** `GET /healthz`: 200 when true (the process works), 503 otherwise. */
  health: () => boolean;
  /** `GET /readyz`: 200 when true (listening and configured), 503 otherwise. */
  ready: () => boolean;
  /** `GET /status`: any JSON-serialisable value; Maps, Sets and bigints are converted. */
  status: () => unknown;
  /**
   * The control path: `POST /send` with `Authorization: Bearer <token>` hands its JSON body
   * to `send` and answers with its result as JSON. Absent: no control path (404).
   */
  control?: { readonly token: string; readonly send: (body: unknown) => Promise<unknown> };
  /** @default noopLogger */
  logger?: Logger;
}

export interface AdminServer {
  /** The bound `host:port` (the real port when started on port 0). */
  readonly address: string;
  /** Stops listening and destroys open connections; resolves when the server is closed. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** JSON.stringify replacer for status snapshots that hold Maps, Sets, bigints or errors. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error)
    return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
  return value;
}

function send(res: ServerResponse, status: number, contentType: string, body: string, head: boolean): void {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(head ? undefined : body);
}

const TEXT = 'text/plain; charset=utf-8';
const PATHS = new Set(['/metrics', '/healthz', '/readyz', '/status']);

/** Constant-time comparison of the bearer token (no early exit on the first wrong byte). */
function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.startsWith('Bearer ') ? header.slice(7) : '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(value, jsonReplacer)}\n`, false);
}

/** `POST /send`: authenticated, body bounded, answered with the control's result or a coded error. */
async function handleControl(
  req: IncomingMessage,
  res: ServerResponse,
  control: NonNullable<AdminServerOptions['control']>,
): Promise<void> {
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    return sendJson(res, 405, { code: 'ERR_INVALID_OPTION', message: 'POST only' });
  }
  if (!tokenMatches(req.headers.authorization, control.token)) {
    req.resume();
    return sendJson(res, 401, { code: 'ERR_UNAUTHORIZED', message: 'missing or wrong control token' });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_CONTROL_BODY_BYTES) {
      return sendJson(res, 413, {
        code: 'ERR_INVALID_OPTION',
        message: `body over ${MAX_CONTROL_BODY_BYTES} bytes`,
      });
    }
    chunks.push(chunk as Buffer);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return sendJson(res, 400, { code: 'ERR_INVALID_OPTION', message: 'the body is not JSON' });
  }
  try {
    sendJson(res, 200, await control.send(body));
  } catch (err) {
    const code = err instanceof PeerpostError ? err.code : 'ERR_INVALID_OPTION';
    sendJson(res, 400, { code, message: (err as Error).message });
  }
}

/**
 * Starts the admin HTTP server of a node: `GET /metrics` (Prometheus exposition),
 * `/healthz` and `/readyz` (200 or 503), `/status` (JSON); 404 for other paths and 405
 * for methods other than GET and HEAD. Rejects with `ERR_LISTEN_FAILED` when the address
 * cannot be bound, `ERR_INVALID_ADDRESS` when it is not `host:port`.
 */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const { host, port } = parseHostPort(options.address ?? '127.0.0.1:0');
  const logger = options.logger ?? noopLogger;
  const metricsType = options.metricsContentType ?? METRICS_CONTENT_TYPE;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const head = req.method === 'HEAD';
    if (path === '/send' && options.control !== undefined) return handleControl(req, res, options.control);
    if (!PATHS.has(path)) return send(res, 404, TEXT, 'not found\n', head);
    if (req.method !== 'GET' && !head) {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, TEXT, 'method not allowed\n', false);
    }
    try {
      if (path === '/metrics') return send(res, 200, metricsType, await options.metrics(), head);
      if (path === '/status') {
        return send(
          res,
          200,
          'application/json; charset=utf-8',
          `${JSON.stringify(options.status(), jsonReplacer)}\n`,
          head,
        );
      }
      const ok = path === '/healthz' ? options.health() : options.ready();
      return send(res, ok ? 200 : 503, TEXT, ok ? 'ok\n' : 'not ok\n', head);
    } catch (err) {
      logger.error({ err, path }, 'admin endpoint failed');
      // A failing probe means "not healthy/ready", not a server error.
      const status = path === '/healthz' || path === '/readyz' ? 503 : 500;
      return send(res, status, TEXT, status === 503 ? 'not ok\n' : 'internal error\n', head);
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.error({ err }, 'admin response failed');
      res.destroy();
    });
  });
  // Probes and scrapes are small: do not let a slow client hold a socket for long.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        new PeerpostError(
          'ERR_LISTEN_FAILED',
          `admin server cannot listen on ${options.address ?? '127.0.0.1:0'}: ${err.code ?? err.message}`,
          {
            cause: err,
          },
        ),
      );
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => logger.error({ err }, 'admin server error'));

  const bound = server.address() as AddressInfo;
  const address = formatHostPort(bound.address, bound.port);
  logger.info({ address }, 'admin server listening');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closing;
  };
  return { address, close, [Symbol.asyncDispose]: close };
}

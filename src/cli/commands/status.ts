import { Buffer } from 'node:buffer';
import { parseHostPort } from '../../config/address.js';
import { PeerpostError } from '../../errors.js';
import { formatStatus } from '../../node/status-text.js';
import type { RegisterCommand } from '../context.js';
import { intFlag, reportError } from './node.js';

interface StatusFlags {
  admin: string;
  json?: boolean;
  timeout?: string;
}

/** Largest /status document read: 16 MiB. */
const MAX_STATUS_BYTES = 16 * 1024 * 1024;

/**
 * Why `fetch` failed, in words: fetch throws a bare `TypeError: fetch failed` whose cause
 * holds the system error (or, for ports fetch refuses to use, only a message).
 */
function whyFetchFailed(err: unknown, timeoutMs: number): string {
  const name = (err as Error | undefined)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return `no answer within ${timeoutMs}ms`;
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const known: Record<string, string> = {
    ECONNRESET: 'connection reset by the node',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed (temporary)',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ETIMEDOUT: 'connection timed out',
  };
  if (code === 'ECONNREFUSED') {
    return 'connection refused (ECONNREFUSED): is the node running, with its admin server at that address?';
  }
  if (code !== undefined) return `${known[code] ?? code} (${code})`;
  if (typeof cause?.message === 'string' && cause.message !== '') {
    // fetch refuses some ports outright (e.g. 1, 25, 6000), saying only "bad port".
    return cause.message === 'bad port' ? 'fetch refuses to use this port ("bad port")' : cause.message;
  }
  return err instanceof Error ? err.message : String(err);
}

async function fetchStatus(admin: string, timeoutMs: number): Promise<string> {
  parseHostPort(admin, false);
  const url = `http://${admin}/status`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new PeerpostError('ERR_CONNECT_FAILED', `cannot fetch ${url}: ${whyFetchFailed(err, timeoutMs)}`, {
      cause: err,
    });
  }
  if (res.status !== 200 || res.body === null) {
    await res.body?.cancel();
    throw new PeerpostError('ERR_CONNECT_FAILED', `${url} answered HTTP ${res.status}`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > MAX_STATUS_BYTES) {
      throw new PeerpostError(
        'ERR_FRAME_TOO_LARGE',
        `${url}: the status is larger than ${MAX_STATUS_BYTES} bytes`,
      );
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export const registerStatus: RegisterCommand = (program, ctx) => {
  program
    .command('status')
    .description(
      "show a running node's peers, addresses, connection states, queue depths, backoff and recent drops (from its admin /status)",
    )
    .requiredOption('--admin <host:port>', 'the admin address of the node')
    .option('--json', 'print the raw /status JSON')
    .option('--timeout <ms>', 'HTTP timeout', '5000')
    .action(async (flags: StatusFlags) => {
      const timeoutMs = intFlag(ctx, '--timeout', flags.timeout, 5000);
      if (timeoutMs === undefined) return;
      try {
        const body = await fetchStatus(flags.admin, timeoutMs);
        let parsed: unknown;
        try {
          parsed = JSON.parse(body);
        } catch (err) {
          throw new PeerpostError('ERR_INVALID_OPTION', `${flags.admin}/status did not answer JSON`, {
            cause: err,
          });
        }
        ctx.io.stdout.write(flags.json ? `${JSON.stringify(parsed, null, 2)}\n` : formatStatus(parsed));
      } catch (err) {
        reportError(ctx, err);
      }
    });
};

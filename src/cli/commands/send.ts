import { Buffer } from 'node:buffer';
import { readFile, stat } from 'node:fs/promises';
import process from 'node:process';
import { addressProblem } from '../../config/address.js';
import { loadNodeConfig } from '../../config/load.js';
import { ERROR_CODES, type ErrorCode, PeerpostError } from '../../errors.js';
import {
  DEFAULT_RESOLVE_WAIT_MS,
  type ReceivedReply,
  type SendOnceResult,
  sendOnce,
} from '../../node/send-once.js';
import { formatOutcome } from '../../sender/outcome.js';
import { DEFAULT_LIMITS } from '../../transport/limits.js';
import { createLogger } from '../../util/log.js';
import type { CliContext, RegisterCommand } from '../context.js';
import { intFlag, reportError } from './node.js';

interface SendFlags {
  config?: string;
  via?: string;
  tokenFile?: string;
  to: string;
  label: string;
  data: string;
  waitReply?: string;
  acks?: boolean;
  waitResolve?: string;
  timeout?: string;
  json?: boolean;
}

/** `@file` reads the file (at most `maxBytes`), anything else is the text itself (UTF-8). */
async function readData(spec: string, maxBytes: number): Promise<Uint8Array> {
  if (!spec.startsWith('@')) return new TextEncoder().encode(spec);
  const file = spec.slice(1);
  const info = await stat(file);
  if (info.size > maxBytes) {
    throw new PeerpostError(
      'ERR_INVALID_OPTION',
      `--data ${spec}: ${info.size} bytes is more than ${maxBytes}`,
    );
  }
  return readFile(file);
}

/** Printable UTF-8 text, or undefined when the bytes are not (binary payloads print as base64). */
function asText(data: Uint8Array): string | undefined {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(data);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: binary detection
    return /[\u0000-\u0008\u000b-\u001f\u007f]/.test(text) ? undefined : text;
  } catch {
    return undefined;
  }
}

function replyJson(reply: ReceivedReply): object {
  const text = asText(reply.data);
  return {
    type: 'reply',
    id: reply.id,
    label: reply.label,
    from: reply.from,
    peerId: reply.peerId ?? null,
    identity: reply.identity,
    afterMs: reply.afterMs,
    bytes: reply.data.length,
    ...(text === undefined ? { dataBase64: Buffer.from(reply.data).toString('base64') } : { data: text }),
  };
}

function print(ctx: CliContext, result: SendOnceResult, flags: SendFlags, waitReplyMs: number): void {
  const out = ctx.io.stdout;
  if (flags.json) {
    for (const o of result.outcomes) {
      out.write(
        `${JSON.stringify({ type: 'outcome', messageId: o.messageId, label: o.label, peerId: result.peerId, address: o.address ?? null, outcome: formatOutcome(o.outcome) })}\n`,
      );
    }
    if (result.missing > 0) {
      out.write(
        `${JSON.stringify({ type: 'timeout', peerId: result.peerId, missingOutcomes: result.missing, waitedMs: result.timeoutMs, unresolved: result.unresolved })}\n`,
      );
    }
    if (result.reply) out.write(`${JSON.stringify(replyJson(result.reply))}\n`);
    else if (waitReplyMs > 0) out.write(`${JSON.stringify({ type: 'no-reply', waitedMs: waitReplyMs })}\n`);
    return;
  }
  for (const o of result.outcomes) {
    out.write(
      `${formatOutcome(o.outcome)}  ${o.label} ${o.messageId} -> ${result.peerId} (${o.address ?? '-'})\n`,
    );
  }
  if (result.unresolved) {
    out.write(
      result.missing > 0
        ? `no outcome within ${result.timeoutMs}ms for ${result.peerId}: it has no address in the topology\n`
        : `${result.peerId} has no address in the topology: nothing was sent\n`,
    );
  } else if (result.missing > 0) {
    out.write(
      `no outcome within ${result.timeoutMs}ms for ${result.missing} address(es) of ${result.peerId}\n`,
    );
  }
  const r = result.reply;
  if (r) {
    const text = asText(r.data);
    const body = text ?? `base64:${Buffer.from(r.data).toString('base64')}`;
    out.write(
      `reply  ${r.label} ${r.id} from ${r.peerId ?? '-'} (${r.from}, identity ${r.identity}) after ${r.afterMs}ms: ${body}\n`,
    );
  } else if (waitReplyMs > 0) {
    out.write(`no reply within ${waitReplyMs}ms\n`);
  }
}

/**
 * `--via`: one `POST /send` to a running node's control path (docs/operations.md); the
 * answer has the shape of a one-shot send's result, payloads in base64.
 */
async function sendVia(flags: SendFlags, waitReplyMs: number, timeoutMs: number): Promise<SendOnceResult> {
  if (flags.tokenFile === undefined) {
    throw new PeerpostError(
      'ERR_INVALID_OPTION',
      "--via needs --token-file <file> (the node's controlTokenFile)",
    );
  }
  const problem = addressProblem(flags.via as string);
  if (problem !== undefined) throw new PeerpostError('ERR_INVALID_ADDRESS', `--via ${flags.via}: ${problem}`);
  const token = (await readFile(flags.tokenFile, 'utf8')).trim();
  const data = await readData(flags.data, DEFAULT_LIMITS.maxFrameBytes);
  let res: Response;
  try {
    res = await fetch(`http://${flags.via}/send`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        to: flags.to,
        label: flags.label,
        dataBase64: Buffer.from(data).toString('base64'),
        waitReplyMs,
        timeoutMs,
      }),
      signal: AbortSignal.timeout(timeoutMs + 5_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    throw new PeerpostError(
      'ERR_CONNECT_FAILED',
      `--via ${flags.via}: ${cause === 'ECONNREFUSED' ? 'connection refused (is the node running with admin there?)' : (err as Error).message}`,
    );
  }
  const body = (await res.json()) as Record<string, unknown>;
  if (!res.ok) {
    const code =
      typeof body.code === 'string' && body.code in ERROR_CODES
        ? (body.code as ErrorCode)
        : 'ERR_INVALID_OPTION';
    throw new PeerpostError(code, `--via ${flags.via}: ${String(body.message)}`);
  }
  const r = body.reply as (Omit<ReceivedReply, 'data'> & { dataBase64: string }) | undefined;
  return {
    ...(body as unknown as SendOnceResult),
    reply: r === undefined ? undefined : { ...r, data: Buffer.from(r.dataBase64, 'base64') },
  };
}

export const registerSend: RegisterCommand = (program, ctx) => {
  program
    .command('send')
    .description(
      'send one message with the identity of a node config (listening on 127.0.0.1:0), print its outcome and any reply; exit 0 when written or delivered (and answered, with --wait-reply)',
    )
    .option('--config <file>', 'node config file: node id, credentials, trust, topology and limits are used')
    .option(
      '--via <host:port>',
      "send through that running node's control path (its admin address) instead of a config",
    )
    .option('--token-file <file>', "with --via: the file holding the node's control token")
    .requiredOption(
      '--to <peer|host:port>',
      'a peer id of the topology, or an address (sent to as peer "addr:<host:port>")',
    )
    .requiredOption('--label <label>', 'message label')
    .requiredOption('--data <@file|text>', 'payload: @path reads a file, anything else is sent as UTF-8 text')
    .option('--wait-reply <ms>', 'wait up to <ms> for a reply and print it; exit 1 without one')
    .option(
      '--wait-resolve <ms>',
      'for a peer with no address in the topology: wait up to <ms> for one, then report dropped:unresolved_expired',
      String(DEFAULT_RESOLVE_WAIT_MS),
    )
    .option('--timeout <ms>', 'give up waiting for the outcome after <ms>', '15000')
    .option(
      '--acks',
      "acknowledged delivery: the outcome is delivered once the peer's application has the message (default: the config's acks.enabled)",
    )
    .option('--json', 'print JSON lines (outcome, reply) instead of text')
    .action(async (flags: SendFlags) => {
      const waitReplyMs = intFlag(ctx, '--wait-reply', flags.waitReply, 0);
      const resolveWaitMs = intFlag(ctx, '--wait-resolve', flags.waitResolve, DEFAULT_RESOLVE_WAIT_MS);
      const timeoutMs = intFlag(ctx, '--timeout', flags.timeout, 15_000);
      if (waitReplyMs === undefined || resolveWaitMs === undefined || timeoutMs === undefined) return;
      try {
        if (flags.via !== undefined) {
          const result = await sendVia(flags, waitReplyMs, timeoutMs);
          print(ctx, result, flags, waitReplyMs);
          ctx.setExitCode(result.ok ? 0 : 1);
          return;
        }
        if (flags.config === undefined) {
          throw new PeerpostError(
            'ERR_INVALID_OPTION',
            'give --config <file>, or --via <host:port> with --token-file',
          );
        }
        const config = await loadNodeConfig(flags.config);
        const data = await readData(flags.data, config.limits.maxFrameBytes);
        const result = await sendOnce({
          config,
          to: flags.to,
          label: flags.label,
          data,
          waitReplyMs,
          resolveWaitMs,
          timeoutMs,
          ...(flags.acks === true ? { acks: true } : {}),
          logger: createLogger({ level: 'warn', destination: process.stderr }),
          ...(ctx.io.signal === undefined ? {} : { signal: ctx.io.signal }),
        });
        print(ctx, result, flags, waitReplyMs);
        ctx.setExitCode(result.ok ? 0 : 1);
      } catch (err) {
        reportError(ctx, err);
      }
    });
};

import { Buffer } from 'node:buffer';
import { readFile, stat } from 'node:fs/promises';
import process from 'node:process';
import { loadNodeConfig } from '../../config/load.js';
import { PeerpostError } from '../../errors.js';
import {
  DEFAULT_RESOLVE_WAIT_MS,
  type ReceivedReply,
  type SendOnceResult,
  sendOnce,
} from '../../node/send-once.js';
import { formatOutcome } from '../../sender/outcome.js';
import { createLogger } from '../../util/log.js';
import type { CliContext, RegisterCommand } from '../context.js';
import { intFlag, reportError } from './node.js';

interface SendFlags {
  config: string;
  to: string;
  label: string;
  data: string;
  waitReply?: string;
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

export const registerSend: RegisterCommand = (program, ctx) => {
  program
    .command('send')
    .description(
      'send one message with the identity of a node config (listening on 127.0.0.1:0), print its outcome and any reply; exit 0 when written (and answered, with --wait-reply)',
    )
    .requiredOption(
      '--config <file>',
      'node config file: node id, credentials, trust, topology and limits are used',
    )
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
    .option('--json', 'print JSON lines (outcome, reply) instead of text')
    .action(async (flags: SendFlags) => {
      const waitReplyMs = intFlag(ctx, '--wait-reply', flags.waitReply, 0);
      const resolveWaitMs = intFlag(ctx, '--wait-resolve', flags.waitResolve, DEFAULT_RESOLVE_WAIT_MS);
      const timeoutMs = intFlag(ctx, '--timeout', flags.timeout, 15_000);
      if (waitReplyMs === undefined || resolveWaitMs === undefined || timeoutMs === undefined) return;
      try {
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

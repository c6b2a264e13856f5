import process from 'node:process';
import { isPeerpostError } from '../../errors.js';
import { type NodeService, startNodeService } from '../../node/service.js';
import type { CreateLoggerOptions } from '../../util/log.js';
import type { CliContext, CliIo, RegisterCommand } from '../context.js';

interface NodeFlags {
  config: string;
  echo: string[];
  heartbeat?: string;
  subscribe: string[];
}

/** Commander collector for repeatable options. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Writes `error CODE: message` for a PeerpostError (or a Node error with a code) and sets exit code 1; rethrows others. */
export function reportError(ctx: CliContext, err: unknown): void {
  const code = isPeerpostError(err) ? err.code : (err as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string') throw err;
  ctx.io.stderr.write(`error ${code}: ${(err as Error).message}\n`);
  ctx.setExitCode(1);
}

/** Parses a non-negative integer flag, or reports it and returns undefined. */
export function intFlag(ctx: CliContext, name: string, value: string | undefined, fallback: number) {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    ctx.io.stderr.write(`error ERR_INVALID_OPTION: ${name} expects a non-negative integer, got ${value}\n`);
    ctx.setExitCode(1);
    return undefined;
  }
  return n;
}

/** The log destination for a CLI run: the process's stdout as pino's default, else the given stream. */
export function logDestination(io: CliIo): CreateLoggerOptions['destination'] | undefined {
  return io.stdout === process.stdout ? undefined : (io.stdout as CreateLoggerOptions['destination']);
}

/**
 * Resolves when the run should stop: `io.signal` aborts, or, when the caller gives none,
 * SIGTERM/SIGINT arrive. SIGHUP calls `onHangup`. `dispose()` removes every listener.
 */
function stopSignals(io: CliIo, onHangup: () => void): { stopped: Promise<string>; dispose(): void } {
  const cleanups: (() => void)[] = [];
  let resolveStop!: (why: string) => void;
  const stopped = new Promise<string>((resolve) => {
    resolveStop = resolve;
  });
  if (io.signal !== undefined) {
    const onAbort = () => resolveStop('abort');
    if (io.signal.aborted) onAbort();
    io.signal.addEventListener('abort', onAbort, { once: true });
    cleanups.push(() => io.signal?.removeEventListener('abort', onAbort));
  } else {
    for (const name of ['SIGTERM', 'SIGINT'] as const) {
      const handler = () => resolveStop(name);
      process.on(name, handler);
      cleanups.push(() => process.off(name, handler));
    }
  }
  process.on('SIGHUP', onHangup);
  cleanups.push(() => process.off('SIGHUP', onHangup));
  return {
    stopped,
    dispose: () => {
      for (const c of cleanups) c();
    },
  };
}

export const registerNode: RegisterCommand = (program, ctx) => {
  program
    .command('node')
    .description(
      'run a node from a YAML config: listens, serves /metrics /healthz /readyz /status on the admin address, reloads live (file changes, SIGHUP), drains on SIGTERM/SIGINT',
    )
    .requiredOption('--config <file>', 'the node config file (YAML)')
    .option(
      '--echo <label>',
      'reply to messages with this label with the same label and data (repeatable)',
      collect,
      [],
    )
    .option(
      '--heartbeat <ms>',
      'send a "heartbeat" message to every peer of the topology every <ms> (0: never)',
    )
    .option(
      '--subscribe <peer>',
      'subscribe to the broadcasts of this peer id or host:port (repeatable)',
      collect,
      [],
    )
    .action(async (flags: NodeFlags) => {
      const heartbeatMs = intFlag(ctx, '--heartbeat', flags.heartbeat, 0);
      if (heartbeatMs === undefined) return;
      let service: NodeService;
      try {
        const destination = logDestination(ctx.io);
        service = await startNodeService({
          configPath: flags.config,
          echoLabels: flags.echo,
          heartbeatMs,
          subscribe: flags.subscribe,
          ...(destination === undefined ? {} : { logDestination: destination }),
        });
      } catch (err) {
        reportError(ctx, err);
        return;
      }
      const signals = stopSignals(ctx.io, () => {
        service.logger.info({ nodeId: service.config.nodeId }, 'SIGHUP: reloading the configuration');
        service.reload().catch(() => {});
      });
      try {
        const why = await signals.stopped;
        service.logger.info({ nodeId: service.config.nodeId, signal: why }, 'shutting down');
        await service.close();
      } finally {
        signals.dispose();
      }
    });
};

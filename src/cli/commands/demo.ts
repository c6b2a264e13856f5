import process from 'node:process';
import { formatReport } from '../../demo/format.js';
import { lineProgress, terminalProgress } from '../../demo/progress.js';
import type { DemoReport } from '../../demo/report.js';
import { runDemo } from '../../demo/run.js';
import { isPeerpostError, PeerpostError } from '../../errors.js';
import { systemClock } from '../../util/clock.js';
import type { CliIo, RegisterCommand } from '../context.js';

interface DemoFlags {
  nodes: string;
  messages?: string;
  duration?: string;
  seed: string;
  json?: boolean;
}

function number(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) {
    throw new PeerpostError(
      'ERR_INVALID_OPTION',
      `invalid option \`--${name}\`: expected a number, got ${text}`,
    );
  }
  return value;
}

/** Follows the caller's signal, or SIGINT/SIGTERM of this process; `done()` removes the listeners. */
function stopSignal(signal: AbortSignal | undefined): { signal: AbortSignal; done(): void } {
  if (signal !== undefined) return { signal, done: () => {} };
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return {
    signal: controller.signal,
    done: () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
  };
}

/**
 * Prints the report (a table, or one JSON object on stdout with `json`) and returns the
 * exit code: 0 when everything balances, otherwise 1 after naming what does not.
 */
export function printReport(report: DemoReport, json: boolean, io: Pick<CliIo, 'stdout' | 'stderr'>): number {
  if (json) {
    io.stdout.write(`${JSON.stringify(report)}\n`);
    if (!report.ok) io.stderr.write(`NOT BALANCED:\n${report.problems.map((p) => `  - ${p}`).join('\n')}\n`);
  } else {
    io.stdout.write(formatReport(report));
  }
  return report.ok ? 0 : 1;
}

export const registerDemo: RegisterCommand = (program, ctx) => {
  program
    .command('demo')
    .description(
      'run a local cluster over mutual TLS through every feature (direct, reply, broadcast, send modes, ' +
        'topology change, restart) and check that every message is accounted for',
    )
    .option('--nodes <n>', 'nodes in the cluster (2-64)', '3')
    .option('--messages <n>', 'messages to send in all (default 2000; unbounded with --duration alone)')
    .option('--duration <seconds>', 'time bound: each phase sends for at most its share of it')
    .option('--seed <n>', 'seed of the workload plan and of backoff jitter', '1')
    .option('--json', 'print the report as one JSON object on stdout (progress goes to stderr)')
    .action(async (flags: DemoFlags) => {
      const { stdout, stderr } = ctx.io;
      const progressOut = flags.json ? stderr : stdout;
      const stop = stopSignal(ctx.io.signal);
      try {
        const duration = number('duration', flags.duration);
        const report = await runDemo({
          nodes: number('nodes', flags.nodes)!,
          ...(flags.messages === undefined ? {} : { messages: number('messages', flags.messages)! }),
          ...(duration === undefined ? {} : { durationMs: duration * 1000 }),
          seed: number('seed', flags.seed)!,
          signal: stop.signal,
          progress: progressOut.isTTY
            ? terminalProgress(progressOut, systemClock)
            : lineProgress(progressOut),
        });
        ctx.setExitCode(printReport(report, flags.json === true, ctx.io));
      } catch (err) {
        if (!isPeerpostError(err)) throw err;
        stderr.write(`error ${err.code}: ${err.message}\n`);
        ctx.setExitCode(err.code === 'ERR_ABORTED' ? 130 : 1);
      } finally {
        stop.done();
      }
    });
};

import { Command, CommanderError } from 'commander';
import { registerConfig } from './commands/config.js';
import { registerDecode } from './commands/decode.js';
import { registerDemo } from './commands/demo.js';
import { registerKeygen } from './commands/keygen.js';
import { registerNode } from './commands/node.js';
import { registerPeers } from './commands/peers.js';
import { registerSend } from './commands/send.js';
import { registerStatus } from './commands/status.js';
import { type CliContext, type CliIo, processIo, type RegisterCommand } from './context.js';

/** Every command of the CLI, in help order. */
const COMMANDS: readonly RegisterCommand[] = [
  registerConfig,
  registerDecode,
  registerDemo,
  registerKeygen,
  registerNode,
  registerPeers,
  registerSend,
  registerStatus,
];

/** Runs the CLI with `argv` (without the node and script paths) and returns the exit code. */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  let exitCode = 0;
  const ctx: CliContext = {
    io,
    setExitCode: (code) => {
      exitCode = code;
    },
  };
  const program = new Command('peerpost')
    .description('peerpost: direct peer-to-peer messaging over mutual TLS')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
  for (const register of COMMANDS) register(program, ctx);
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    io.stderr.write(`error: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
  return exitCode;
}

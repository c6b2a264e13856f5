import { Buffer } from 'node:buffer';
import process from 'node:process';
import type { Command } from 'commander';

/** Where a CLI run reads and writes: the process's streams, or buffers in tests. */
export interface CliIo {
  stdin: NodeJS.ReadableStream;
  stdout: { write(chunk: string): unknown; isTTY?: boolean };
  stderr: { write(chunk: string): unknown; isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM); long-running commands watch it. */
  signal?: AbortSignal;
}

export interface CliContext {
  io: CliIo;
  /** Sets the exit code `main` returns. */
  setExitCode(code: number): void;
}

/** Each command module registers itself on the program. */
export type RegisterCommand = (program: Command, ctx: CliContext) => void;

export function processIo(): CliIo {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env };
}

/** Reads a whole stream into one buffer. */
export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

import { readFile, stat } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError, type ConfigIssue, locate } from './issues.js';
import { type NodeConfig, parseNodeConfig, parseTopology } from './parse.js';

/** A config with everything it refers to read from disk. */
export interface LoadedNodeConfig extends NodeConfig {
  /** PEM text of the credentials. Never log it. */
  readonly pem: { readonly key: string; readonly cert: string };
}

/** Largest config or topology file read: 64 MiB (a topology of 100,000 peers fits). */
export const MAX_CONFIG_FILE_BYTES = 64 * 1024 * 1024;
/** Largest PEM file read. */
export const MAX_PEM_FILE_BYTES = 1024 * 1024;

async function readBounded(path: string, max: number): Promise<string> {
  const info = await stat(path);
  if (!info.isFile()) throw new Error('not a regular file');
  if (info.size > max) throw new Error(`larger than ${max} bytes`);
  return readFile(path, 'utf8');
}

function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? e.message ?? String(err);
}

function lineOf(text: string, path: readonly string[]): { line?: number; column?: number } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  const pos = locate(doc.contents, lineCounter, path);
  return pos === undefined ? {} : { line: pos.line, column: pos.column };
}

function issueAt(file: string, text: string, path: readonly string[], message: string): ConfigIssue {
  const { line, column } = lineOf(text, path);
  return { file, path: path.join('.'), line, column, message };
}

/**
 * Reads and validates a `peerpost node` config file, then the topology file and the
 * credential files it names. Throws a {@link ConfigError} (`ERR_INVALID_CONFIG`) naming
 * the file, key and line of every problem, including files that cannot be read.
 */
export async function loadNodeConfig(path: string): Promise<LoadedNodeConfig> {
  let text: string;
  try {
    text = await readBounded(path, MAX_CONFIG_FILE_BYTES);
  } catch (err) {
    throw new ConfigError(
      [{ file: path, path: '', line: undefined, column: undefined, message: `cannot read: ${reason(err)}` }],
      { cause: err },
    );
  }
  let config = parseNodeConfig(text, { path });

  if (config.topologyFile !== undefined) {
    let topologyText: string;
    try {
      topologyText = await readBounded(config.topologyFile, MAX_CONFIG_FILE_BYTES);
    } catch (err) {
      throw new ConfigError(
        [issueAt(path, text, ['topologyFile'], `cannot read ${config.topologyFile}: ${reason(err)}`)],
        {
          cause: err,
        },
      );
    }
    config = { ...config, topology: parseTopology(topologyText, { path: config.topologyFile }) };
  }

  const issues: ConfigIssue[] = [];
  const read = async (file: string, key: 'key' | 'cert'): Promise<string> => {
    try {
      const pem = await readBounded(file, MAX_PEM_FILE_BYTES);
      if (!pem.includes('-----BEGIN '))
        issues.push(issueAt(path, text, ['credentials', key], `${file} is not a PEM file`));
      return pem;
    } catch (err) {
      issues.push(issueAt(path, text, ['credentials', key], `cannot read ${file}: ${reason(err)}`));
      return '';
    }
  };
  const [key, cert] = await Promise.all([
    read(config.credentials.keyFile, 'key'),
    read(config.credentials.certFile, 'cert'),
  ]);
  if (issues.length > 0) throw new ConfigError(issues);
  return { ...config, pem: { key, cert } };
}

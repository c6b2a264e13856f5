import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import process from 'node:process';
import { LineCounter, parseDocument } from 'yaml';
import { parseHostPort } from '../../config/address.js';
import { ConfigError, type ConfigIssue, formatIssue, locate } from '../../config/issues.js';
import { type LoadedNodeConfig, loadNodeConfig, MAX_PEM_FILE_BYTES } from '../../config/load.js';
import { identityOfCredentials, validateCredentials } from '../../identity/credentials.js';
import type { RegisterCommand } from '../context.js';
import { reportError } from './node.js';

/** What `peerpost config check` found in a valid config. */
export interface ConfigCheckReport {
  readonly config: LoadedNodeConfig;
  /** The node's identity: the certificate's SHA-256 and the owner keys that signed it. */
  readonly identity: { readonly certHash: string; readonly ownerKeys: readonly string[] };
  /** The listen and admin addresses: `free` (bound and released), or `skipped` (port 0, or not checked). */
  readonly ports: readonly {
    readonly key: 'listen' | 'admin';
    readonly address: string;
    readonly state: 'free' | 'skipped';
  }[];
  /** Problems that do not stop the node (an expired certificate, a key file others can read, ...). */
  readonly warnings: readonly ConfigIssue[];
}

export interface CheckNodeConfigOptions {
  /** Bind the listen and admin ports to check that they are free, then release them. @default true */
  ports?: boolean;
}

/** Locates key paths of the config file, for issues in the loader's `file:line:col` form. */
class Locator {
  readonly #file: string;
  readonly #doc: ReturnType<typeof parseDocument>;
  readonly #lines = new LineCounter();

  constructor(file: string, text: string) {
    this.#file = file;
    this.#doc = parseDocument(text, { lineCounter: this.#lines });
  }

  issue(path: readonly string[], message: string): ConfigIssue {
    const pos = locate(this.#doc.contents, this.#lines, path);
    return { file: this.#file, path: path.join('.'), line: pos?.line, column: pos?.column, message };
  }
}

function errorCode(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? e.message ?? String(err);
}

function firstLine(err: unknown): string {
  return ((err as Error).message ?? String(err)).split('\n')[0]!;
}

/** Binds `address` (as the node would) and returns the server, or why it cannot. */
function bind(address: string): Promise<Server | NodeJS.ErrnoException> {
  const { host, port } = parseHostPort(address, true);
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    server.listen({ host, port, exclusive: true }, () => resolve(server));
  });
}

function bindProblem(address: string, err: NodeJS.ErrnoException, other?: string): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return other === undefined
        ? `${address} is in use by another process (EADDRINUSE)`
        : `${address} is in use (EADDRINUSE): listen (${other}) binds the same port`;
    case 'EACCES':
      return `cannot bind ${address}: permission denied (EACCES; ports below 1024 need privileges)`;
    case 'EADDRNOTAVAIL':
      return `cannot bind ${address}: the host is not an address of this machine (EADDRNOTAVAIL)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot bind ${address}: the host name does not resolve (${err.code})`;
    default:
      return `cannot bind ${address}: ${errorCode(err)}`;
  }
}

async function checkCredentials(
  config: LoadedNodeConfig,
  at: Locator,
  issues: ConfigIssue[],
  warnings: ConfigIssue[],
  now: Date,
): Promise<ConfigCheckReport['identity'] | undefined> {
  const { keyFile, certFile } = config.credentials;
  let cert: X509Certificate | undefined;
  try {
    cert = new X509Certificate(config.pem.cert);
  } catch (err) {
    issues.push(
      at.issue(['credentials', 'cert'], `${certFile} is not a valid certificate: ${firstLine(err)}`),
    );
  }
  let keyOk = false;
  try {
    createPrivateKey(config.pem.key);
    keyOk = true;
  } catch (err) {
    issues.push(at.issue(['credentials', 'key'], `${keyFile} is not a valid private key: ${firstLine(err)}`));
  }
  if (cert === undefined || !keyOk) return undefined;
  const credentials = { keyPem: config.pem.key, certPem: config.pem.cert };
  try {
    validateCredentials(credentials, { keyFile, certFile });
  } catch (err) {
    issues.push(at.issue(['credentials', 'key'], (err as Error).message));
    return undefined;
  }
  const validFrom = new Date(cert.validFrom);
  const validTo = new Date(cert.validTo);
  if (validTo.getTime() < now.getTime()) {
    warnings.push(
      at.issue(['credentials', 'cert'], `the certificate in ${certFile} expired on ${validTo.toISOString()}`),
    );
  } else if (validFrom.getTime() > now.getTime()) {
    warnings.push(
      at.issue(
        ['credentials', 'cert'],
        `the certificate in ${certFile} is not valid before ${validFrom.toISOString()}`,
      ),
    );
  }
  if (process.platform !== 'win32') {
    const mode = (await stat(keyFile)).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      warnings.push(
        at.issue(
          ['credentials', 'key'],
          `${keyFile} can be read by other users (mode 0${mode.toString(8)}; chmod 600 it)`,
        ),
      );
    }
  }
  let identity: ConfigCheckReport['identity'];
  try {
    const id = identityOfCredentials(credentials);
    identity = { certHash: id.certHash, ownerKeys: id.ownerKeys };
  } catch (err) {
    issues.push(at.issue(['credentials', 'cert'], `${certFile}: ${(err as Error).message}`));
    return undefined;
  }
  return identity;
}

/** The PEM files of `registry.etcd.tls`, which the loader does not read. */
async function checkRegistryFiles(
  config: LoadedNodeConfig,
  at: Locator,
  issues: ConfigIssue[],
): Promise<void> {
  const tls = config.registry?.etcd.tls;
  if (tls === undefined) return;
  const files: [string, string | undefined][] = [
    ['ca', tls.caFile],
    ['cert', tls.certFile],
    ['key', tls.keyFile],
  ];
  for (const [key, file] of files) {
    if (file === undefined) continue;
    const path = ['registry', 'etcd', 'tls', key];
    try {
      const info = await stat(file);
      if (!info.isFile()) throw new Error('not a regular file');
      if (info.size > MAX_PEM_FILE_BYTES) throw new Error(`larger than ${MAX_PEM_FILE_BYTES} bytes`);
      if (!(await readFile(file, 'utf8')).includes('-----BEGIN '))
        issues.push(at.issue(path, `${file} is not a PEM file`));
    } catch (err) {
      issues.push(at.issue(path, `cannot read ${file}: ${errorCode(err)}`));
    }
  }
}

async function checkPorts(
  config: LoadedNodeConfig,
  at: Locator,
  issues: ConfigIssue[],
  enabled: boolean,
): Promise<ConfigCheckReport['ports']> {
  const targets: { key: 'listen' | 'admin'; address: string }[] = [{ key: 'listen', address: config.listen }];
  if (config.admin !== undefined) targets.push({ key: 'admin', address: config.admin });
  const ports: { key: 'listen' | 'admin'; address: string; state: 'free' | 'skipped' }[] = [];
  const held: Server[] = [];
  try {
    for (const { key, address } of targets) {
      if (!enabled || parseHostPort(address, true).port === 0) {
        ports.push({ key, address, state: 'skipped' });
        continue;
      }
      // Both stay bound until the end, so an admin port equal to the listen port is found too.
      const result = await bind(address);
      if (result instanceof Error) {
        const sameAsListen =
          key === 'admin' && parseHostPort(address).port === parseHostPort(config.listen).port
            ? config.listen
            : undefined;
        issues.push(at.issue([key], bindProblem(address, result, sameAsListen)));
      } else {
        held.push(result);
        ports.push({ key, address, state: 'free' });
      }
    }
  } finally {
    await Promise.all(held.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
  return ports;
}

/**
 * Validates a `peerpost node` config file without starting the node: the YAML and every
 * key (the loader's checks), the topology and credential files, that the certificate
 * parses and the key belongs to it, the `registry.etcd.tls` files, and that the listen
 * and admin ports are free (bound, then released). Throws a {@link ConfigError}
 * (`ERR_INVALID_CONFIG`) with every problem as `file:line:col: key: problem`.
 */
export async function checkNodeConfig(
  path: string,
  options: CheckNodeConfigOptions = {},
): Promise<ConfigCheckReport> {
  const config = await loadNodeConfig(path);
  const at = new Locator(path, await readFile(path, 'utf8'));
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const identity = await checkCredentials(config, at, issues, warnings, new Date());
  await checkRegistryFiles(config, at, issues);
  const ports = await checkPorts(config, at, issues, options.ports !== false);
  if (config.trust.certHashes.length === 0 && config.trust.ownerKeys.length === 0) {
    warnings.push(at.issue(['trust'], 'no certHashes and no ownerKeys: every peer that connects is trusted'));
  }
  if (issues.length > 0 || identity === undefined) {
    throw new ConfigError(
      issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0)),
    );
  }
  return { config, identity, ports, warnings };
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The "ok" summary of a valid config. */
export function formatConfigReport(path: string, report: ConfigCheckReport): string {
  const { config, identity } = report;
  const peers = [...config.topology.keys()].filter((p) => p !== config.nodeId).length;
  const lines = [
    `ok: ${path}`,
    `  node      ${config.nodeId}`,
    `  identity  ${identity.certHash} (owner keys: ${identity.ownerKeys.join(', ') || 'none'})`,
    ...report.ports.map(
      (p) =>
        `  ${p.key.padEnd(9)} ${p.address} (${p.state === 'free' ? 'free' : parseHostPort(p.address).port === 0 ? 'any free port' : 'not checked'})`,
    ),
    `  peers     ${peers}${config.topologyFile === undefined ? '' : ` (from ${config.topologyFile})`}`,
    `  trust     ${plural(config.trust.certHashes.length, 'certificate hash', 'certificate hashes')}, ${plural(config.trust.ownerKeys.length, 'owner key')}`,
  ];
  if (config.registry !== undefined)
    lines.push(`  registry  etcd ${config.registry.etcd.endpoints.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

interface CheckFlags {
  config: string;
  ports: boolean;
}

export const registerConfig: RegisterCommand = (program, ctx) => {
  const config = program.command('config').description('work with node config files');
  config
    .command('check')
    .description(
      'validate a node config without starting the node: keys, topology and credential files, certificate and key match, listen and admin ports free',
    )
    .requiredOption('--config <file>', 'the node config file (YAML)')
    .option(
      '--no-ports',
      'do not bind the listen and admin ports (e.g. to check the config of a running node)',
    )
    .action(async (flags: CheckFlags) => {
      let report: ConfigCheckReport;
      try {
        report = await checkNodeConfig(flags.config, { ports: flags.ports });
      } catch (err) {
        reportError(ctx, err);
        return;
      }
      for (const w of report.warnings) ctx.io.stderr.write(`warning: ${formatIssue(w)}\n`);
      ctx.io.stdout.write(formatConfigReport(flags.config, report));
    });
};

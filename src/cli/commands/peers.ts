import { loadNodeConfig } from '../../config/load.js';
import { PeerpostError } from '../../errors.js';
import { tlsOptions } from '../../registry/node.js';
import { type ListedEntry, type RegistryListing, readRegistry } from '../../registry/read.js';
import type { PeerAddress } from '../../topology/types.js';
import type { RegisterCommand } from '../context.js';
import { intFlag, reportError } from './node.js';

interface PeersFlags {
  config: string;
  json?: boolean;
  timeout?: string;
}

function identityText(a: PeerAddress): string {
  const id = a.expectedIdentity;
  if (id === undefined) return '-';
  return 'certHash' in id ? `cert:${id.certHash.slice(0, 16)}` : `owner:${id.ownerKey.slice(0, 16)}`;
}

function ttlText(e: ListedEntry): string {
  if (e.lease === '0') return 'none';
  if (e.ttlSeconds === undefined) return '?';
  return e.ttlSeconds < 0 ? 'expired' : `${e.ttlSeconds}s`;
}

/** A table with one line per address (a peer's other addresses under its first line). */
export function formatPeers(listing: RegistryListing, endpoints: readonly string[], nodeId: string): string {
  const n = listing.entries.length;
  const lines = [
    `registry ${listing.prefix} on ${endpoints.join(', ')}, revision ${listing.revision}: ${n} ${n === 1 ? 'entry' : 'entries'}`,
  ];
  const rows: string[][] = [['PEER', 'ADDRESS', 'IDENTITY', 'LEASE', 'TTL', 'REVISION']];
  for (const e of listing.entries) {
    e.addresses.forEach((a, i) => {
      rows.push(
        i === 0
          ? [
              e.peerId === nodeId ? `${e.peerId} (this node)` : e.peerId,
              a.address,
              identityText(a),
              e.lease,
              ttlText(e),
              String(e.modRevision),
            ]
          : ['', a.address, identityText(a), '', '', ''],
      );
    });
  }
  if (n > 0) {
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    for (const r of rows)
      lines.push(
        r
          .map((cell, c) => cell.padEnd(widths[c]!))
          .join('  ')
          .trimEnd(),
      );
  }
  for (const bad of listing.ignored) lines.push(`ignored ${bad.key}: ${bad.problem}`);
  return `${lines.join('\n')}\n`;
}

export const registerPeers: RegisterCommand = (program, ctx) => {
  program
    .command('peers')
    .description(
      "list what the etcd registry holds (peer id, addresses, identity, lease and its TTL, revision), read from etcd with a node's config (registry.etcd)",
    )
    .requiredOption('--config <file>', 'the node config file (YAML) with registry.etcd')
    .option('--json', 'print JSON')
    .option('--timeout <ms>', 'deadline of each etcd request', '5000')
    .action(async (flags: PeersFlags) => {
      const timeoutMs = intFlag(ctx, '--timeout', flags.timeout, 5000);
      if (timeoutMs === undefined) return;
      try {
        const config = await loadNodeConfig(flags.config);
        const etcd = config.registry?.etcd;
        if (etcd === undefined) {
          throw new PeerpostError('ERR_INVALID_CONFIG', `${flags.config} has no registry.etcd`);
        }
        const listing = await readRegistry({
          endpoints: etcd.endpoints,
          prefix: etcd.prefix,
          tls: await tlsOptions(etcd),
          username: etcd.username,
          password: etcd.password,
          timeoutMs: Math.max(1, timeoutMs),
        });
        ctx.io.stdout.write(
          flags.json
            ? `${JSON.stringify({ endpoints: etcd.endpoints, ...listing }, null, 2)}\n`
            : formatPeers(listing, etcd.endpoints, config.nodeId),
        );
      } catch (err) {
        reportError(ctx, err);
      }
    });
};

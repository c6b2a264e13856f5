/**
 * A node in its own process for test/registry/etcd.test.ts: starts a TLS network on
 * 127.0.0.1:0, registers it in etcd (endpoint, prefix, node id and lease TTL from argv),
 * prints `registered <address>` and runs until it is killed.
 */
import process from 'node:process';
import { certificateHash, generateCredentials } from '../../src/identity/credentials.js';
import { createNetwork } from '../../src/network/network.js';
import { startEtcdRegistry } from '../../src/registry/etcd.js';
import type { Logger } from '../../src/util/logger.js';

/** Log lines go to stderr, which the test shows when the child does not register. */
const line = (level: string) => (obj: object, msg?: string) =>
  process.stderr.write(`${JSON.stringify({ level, msg, ...obj })}\n`);
const logger: Logger = {
  debug: line('debug'),
  info: line('info'),
  warn: line('warn'),
  error: line('error'),
  child: () => logger,
};

const [endpoint, prefix, nodeId, ttl] = process.argv.slice(2);
if (endpoint === undefined || prefix === undefined || nodeId === undefined || ttl === undefined) {
  throw new Error('usage: registered-node.ts ENDPOINT PREFIX NODE_ID TTL_SECONDS');
}
const credentials = await generateCredentials({ commonName: nodeId });
const network = await createNetwork({ nodeId, credentials, listen: '127.0.0.1:0' });
const registry = await startEtcdRegistry({
  network,
  endpoints: [endpoint],
  prefix,
  leaseTtlSeconds: Number(ttl),
  identity: { certHash: certificateHash(credentials.certPem) },
  logger,
});
const timer = setInterval(() => {
  if (registry.stats().registered) {
    clearInterval(timer);
    process.stdout.write(`registered ${network.address}\n`);
  }
}, 10);

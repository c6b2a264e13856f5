/**
 * The receiver of test/sim/stall-process.test.ts, as its own process:
 * `node --import tsx test/sim/stall-receiver.ts <config.json>`.
 *
 * A peerpost node on real mutual TLS (127.0.0.1:0) whose `onMessage` handler, on the
 * message labelled `Block`, keeps the event loop busy for `blockMs` (longer than the idle
 * timeout): the node itself is late, not its peer. It reports over IPC: `ready` with its
 * address, then on `report` the ids it delivered and how long it blocked; on `close` it
 * closes and exits by itself.
 */
import { readFileSync } from 'node:fs';
import process from 'node:process';
import type { Metrics } from '../../src/metrics/types.js';
import { createNetwork } from '../../src/network/network.js';

export interface StallConfig {
  readonly keyPem: string;
  readonly certPem: string;
  /** The sender's certificate hash: the only peer trusted. */
  readonly trustCertHash: string;
  readonly idleTimeoutMs: number;
  readonly blockMs: number;
}

export type StallToChild = { readonly type: 'report' } | { readonly type: 'close' };
export type StallFromChild =
  | { readonly type: 'ready'; readonly address: string }
  | {
      readonly type: 'report';
      readonly delivered: readonly string[];
      readonly blockedMs: number;
      /** Connections of this node that failed with ERR_IDLE_TIMEOUT, from its metrics. */
      readonly idleTimeouts: number;
    };

const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as StallConfig;
let idleTimeouts = 0;
const metrics: Metrics = {
  inc(name, labels) {
    if (name === 'peerpost_errors_total' && labels?.['kind'] === 'idle_timeout') idleTimeouts++;
  },
  set() {},
  observe() {},
};
const network = await createNetwork({
  nodeId: 'receiver',
  credentials: { keyPem: config.keyPem, certPem: config.certPem },
  trust: { certHashes: [config.trustCertHash] },
  limits: { idleTimeoutMs: config.idleTimeoutMs },
  metrics,
});
const delivered: string[] = [];
let blockedMs = 0;
network.onMessage((msg) => {
  delivered.push(msg.id);
  if (msg.label === 'Block') {
    const start = Date.now();
    while (Date.now() - start < config.blockMs) {
      // The node's own stall: a handler that does not return.
    }
    blockedMs = Date.now() - start;
  }
});
const send = (m: StallFromChild, then?: () => void) => process.send!(m, undefined, undefined, () => then?.());
process.on('message', (raw) => {
  const m = raw as StallToChild;
  if (m.type === 'report') send({ type: 'report', delivered, blockedMs, idleTimeouts });
  else {
    void network.close().then(() => process.disconnect());
  }
});
send({ type: 'ready', address: network.address });

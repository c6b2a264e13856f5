/**
 * The receiver of test/sim/acks-processes.test.ts, as its own process:
 * `node --import tsx test/sim/acks-receiver.ts <config.json> <out-file>`.
 *
 * It loads, says `loaded`, and waits for `listen` (so that a second incarnation can be
 * started while the first still holds the address, and take the address over at once
 * when the first is killed). Then it is a peerpost node on real mutual TLS at that
 * address (`127.0.0.1:0` for a free port), trusting only the sender's certificate, with
 * acknowledged delivery accepted (the default). Its `onMessage` appends each message id
 * as one line to `<out-file>` with a synchronous write: the handler returns (and only
 * then may the node acknowledge the message) after the id is in the file, so a SIGKILL
 * loses nothing the application was handed. On `close` it closes and exits by itself.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import process from 'node:process';
import { createNetwork, type Network } from '../../src/network/network.js';

export interface AcksReceiverConfig {
  readonly keyPem: string;
  readonly certPem: string;
  /** The sender's certificate hash: the only peer trusted. */
  readonly trustCertHash: string;
  readonly idleTimeoutMs: number;
}

export type AcksToChild = { readonly type: 'listen'; readonly address: string } | { readonly type: 'close' };
export type AcksFromChild =
  | { readonly type: 'loaded' }
  | { readonly type: 'ready'; readonly address: string }
  | { readonly type: 'closed'; readonly delivered: number };

const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as AcksReceiverConfig;
const fd = openSync(process.argv[3]!, 'a');
let network: Network | undefined;
let delivered = 0;

const send = (m: AcksFromChild, then?: () => void) => process.send!(m, undefined, undefined, () => then?.());
process.on('disconnect', () => {
  // The parent went away without closing us: do not outlive it.
  process.exit(3);
});
process.on('message', (raw) => {
  const m = raw as AcksToChild;
  if (m.type === 'listen') {
    void (async () => {
      network = await createNetwork({
        nodeId: 'receiver',
        listen: m.address,
        credentials: { keyPem: config.keyPem, certPem: config.certPem },
        trust: { certHashes: [config.trustCertHash] },
        limits: { idleTimeoutMs: config.idleTimeoutMs },
      });
      network.onMessage((msg) => {
        writeSync(fd, `${msg.id}\n`);
        delivered++;
      });
      send({ type: 'ready', address: network.address });
    })();
  } else {
    void (async () => {
      await network?.close();
      closeSync(fd);
      process.removeAllListeners('disconnect');
      send({ type: 'closed', delivered }, () => process.disconnect());
    })();
  }
});
send({ type: 'loaded' });

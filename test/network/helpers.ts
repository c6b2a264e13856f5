import { type Credentials, certificateHash, generateCredentials } from '../../src/identity/credentials.js';
import { createNetwork, type Network, type NetworkMessage } from '../../src/network/network.js';
import type { NetworkOptions } from '../../src/network/options.js';
import type { OutcomeEvent } from '../../src/sender/outcome.js';

export interface TestNode {
  id: string;
  credentials: Credentials;
  certHash: string;
  network: Network;
  received: NetworkMessage[];
  outcomes: OutcomeEvent[];
}

export async function makeCredentials(n: number): Promise<Credentials[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => generateCredentials({ commonName: `node-${i}` })));
}

/** Starts a node on 127.0.0.1:0 over real mutual TLS, recording what it receives and every outcome. */
export async function startNode(
  id: string,
  credentials: Credentials,
  options: Partial<NetworkOptions> = {},
): Promise<TestNode> {
  const network = await createNetwork({ nodeId: id, credentials, listen: '127.0.0.1:0', ...options });
  const node: TestNode = {
    id,
    credentials,
    certHash: certificateHash(credentials.certPem),
    network,
    received: [],
    outcomes: [],
  };
  network.onMessage((m) => node.received.push(m));
  network.onOutcome((o) => node.outcomes.push(o));
  return node;
}

/** Polls `check` every 10 ms until it is true, failing after `timeoutMs` with `what`. */
export async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function topologyOf(nodes: readonly TestNode[], pin = true) {
  return Object.fromEntries(
    nodes.map((n) => [
      n.id,
      [pin ? { address: n.network.address, certHash: n.certHash } : n.network.address],
    ]),
  );
}

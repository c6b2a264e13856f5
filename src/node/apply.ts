import type { ConfigChange } from '../config/diff.js';
import type { LoadedNodeConfig } from '../config/load.js';
import { type Credentials, validateCredentials } from '../identity/credentials.js';
import type { Network } from '../network/network.js';
import type { AckOptions } from '../network/options.js';
import type { LoggerLevel } from '../util/log.js';

/** What a reload did, for the "configuration reloaded" log line. */
export interface ApplyReport {
  /** Descriptions of the changes now in effect. */
  readonly applied: readonly string[];
  /** Descriptions of the changes that need a restart (not in effect). */
  readonly notApplied: readonly string[];
}

/** The parts of a running node a reload touches. */
export interface ApplyTarget {
  readonly network: Pick<Network, 'updateConfig' | 'updateTopology' | 'updateTrust' | 'updateCredentials'>;
  /** Changes the log level of the node's logger. */
  setLogLevel(level: LoggerLevel): void;
  /** Called after new credentials are in use. */
  onCredentials?(credentials: Credentials): void;
}

/**
 * Applies a reloaded config to a running node: send mode and sender limits
 * (`updateConfig`), topology, trust, credentials (validated first, so a key that does not
 * match its certificate changes nothing) and log level. Restart-only keys are reported,
 * not applied. Throws a `PeerpostError` when the new values are rejected.
 */
export function applyConfig(
  target: ApplyTarget,
  next: LoadedNodeConfig,
  changes: readonly ConfigChange[],
): ApplyReport {
  const applied: string[] = [];
  const notApplied: string[] = [];
  const has = (pred: (key: string) => boolean) => changes.some((c) => !c.needsRestart && pred(c.key));

  const credentialsChanged = has((k) => k.startsWith('credentials.'));
  const credentials: Credentials = { keyPem: next.pem.key, certPem: next.pem.cert };
  if (credentialsChanged) validateCredentials(credentials);

  if (has((k) => k === 'directSendMode' || k.startsWith('limits.'))) {
    target.network.updateConfig({ directSendMode: next.directSendMode, limits: next.limits });
  }
  if (has((k) => k.startsWith('acks.'))) target.network.updateConfig({ acks: networkAcks(next.acks) });
  if (has((k) => k === 'topologyFile' || k === 'topology' || k.startsWith('topology.'))) {
    target.network.updateTopology(next.topology);
  }
  if (has((k) => k.startsWith('trust.'))) {
    target.network.updateTrust({ certHashes: next.trust.certHashes, ownerKeys: next.trust.ownerKeys });
  }
  if (credentialsChanged) {
    target.network.updateCredentials(credentials);
    target.onCredentials?.(credentials);
  }
  if (has((k) => k === 'logLevel')) target.setLogLevel(next.logLevel);

  for (const change of changes) {
    if (change.needsRestart) notApplied.push(change.description);
    else applied.push(change.description);
  }
  return { applied, notApplied };
}

/** The `acks` of a node config as the Network option (an empty `peers` list: every peer). */
export function networkAcks(acks: LoadedNodeConfig['acks']): AckOptions {
  return {
    enabled: acks.enabled,
    ...(acks.peers.length === 0 ? {} : { peers: acks.peers }),
    window: acks.window,
    windowBytes: acks.windowBytes,
    accept: acks.accept,
    streams: acks.streams,
  };
}

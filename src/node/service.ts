import type { Logger as PinoLogger } from 'pino';
import { type AdminServer, startAdminServer } from '../admin/server.js';
import type { ConfigChange } from '../config/diff.js';
import type { LoadedNodeConfig } from '../config/load.js';
import { loadNodeConfig } from '../config/load.js';
import { ConfigWatcher, type ReloadResult } from '../config/watch.js';
import { PeerpostError } from '../errors.js';
import { type Credentials, identityOfCredentials, validateCredentials } from '../identity/credentials.js';
import { createPrometheusMetrics, type PrometheusMetrics } from '../metrics/prometheus.js';
import { createNetwork, type Network, type NetworkMessage } from '../network/network.js';
import type { EtcdRegistry } from '../registry/etcd.js';
import { NodeRegistry, reloadTarget } from '../registry/node.js';
import type { OutcomeEvent } from '../sender/outcome.js';
import { type Clock, systemClock, type TimerHandle } from '../util/clock.js';
import { type CreateLoggerOptions, createLogger } from '../util/log.js';
import type { Logger } from '../util/logger.js';
import { applyConfig, networkAcks } from './apply.js';
import { controlSend, parseControlSend, readControlToken } from './control.js';
import { DropRing } from './drops.js';
import { MARKING_STATE_WINDOW_MS, watchMarkingState } from './marking-state.js';
import { buildStatus, type NodeStatus } from './status.js';

/** Label of the messages sent by {@link NodeServiceOptions.heartbeatMs}. */
export const HEARTBEAT_LABEL = 'heartbeat';

export interface NodeServiceOptions {
  /** The YAML config file: loaded and validated at start, then watched for changes. Required. */
  configPath: string;
  /** Answer messages with these labels by replying with the same label and data. @default [] */
  echoLabels?: readonly string[];
  /** Send a `heartbeat` message to every peer of the topology this often; 0 sends none. @default 0 */
  heartbeatMs?: number;
  /** Subscribe to the broadcasts of these peers (ids in the topology, or `host:port`). @default [] */
  subscribe?: readonly string[];
  /** Where log lines go. @default process.stdout */
  logDestination?: CreateLoggerOptions['destination'];
  /** Pretty log lines instead of JSON. @default true when the destination is a TTY */
  prettyLogs?: boolean;
  /** Recent drop outcomes kept for `/status`. @default 100 */
  recentDrops?: number;
  /** @default systemClock */
  clock?: Clock;
}

/** Logged (warn) when the process's mark-compacts reach the rate of V8's marking state. */
export const MARKING_STATE_MESSAGE =
  'V8 is marking the old generation almost without pause: about twice the CPU per message';
/** The `remedy` field of that line. */
export const MARKING_STATE_REMEDY =
  'node --heap-growing-percent=300 (docs/operations.md, "Heavy receivers: the old generation\'s growth")';

/**
 * A running `peerpost node`: the network built from a config file, Prometheus metrics,
 * pino logs, the admin server (`/metrics`, `/healthz`, `/readyz`, `/status`) and live
 * reload. Start it with {@link startNodeService}; `close()` drains and stops it.
 */
export class NodeService {
  readonly logger: PinoLogger & Logger;
  readonly metrics: PrometheusMetrics;
  readonly network: Network;
  /** The node's etcd registry (`registry.etcd`), replaced when a reload changes its settings. */
  readonly #registry: NodeRegistry | undefined;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #options: NodeServiceOptions;
  readonly #drops: DropRing;
  readonly #startedAtMs: number;
  readonly #echo: ReadonlySet<string>;
  #config: LoadedNodeConfig;
  #identity: { certHash: string; shortId: string };
  #admin: AdminServer | undefined;
  #watcher: ConfigWatcher | undefined;
  #heartbeat: TimerHandle | undefined;
  #heartbeatSeq = 0;
  /** Stops watching the process's mark-compacts (see {@link watchMarkingState}). */
  #stopGcWatch: (() => void) | undefined;
  #ready = false;
  #closing: Promise<void> | undefined;
  /** Set by a failed reload, cleared by the next good one (which then logs that it is repaired). */
  #lastReloadFailure: PeerpostError | undefined;

  /** Use {@link startNodeService}. */
  constructor(
    config: LoadedNodeConfig,
    network: Network,
    metrics: PrometheusMetrics,
    logger: PinoLogger & Logger,
    options: NodeServiceOptions,
    registry?: NodeRegistry,
  ) {
    this.#config = config;
    this.network = network;
    this.#registry = registry;
    this.metrics = metrics;
    this.logger = logger;
    this.#log = logger.child({ nodeId: config.nodeId });
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#startedAtMs = this.#clock.now();
    this.#drops = new DropRing(options.recentDrops ?? 100);
    this.#echo = new Set(options.echoLabels ?? []);
    this.#identity = identityOf({ keyPem: config.pem.key, certPem: config.pem.cert });
    network.onOutcome((event) => this.#onOutcome(event));
    network.onMessage((message) => this.#onMessage(message));
  }

  /** The etcd registry in use, when the config has `registry.etcd`. */
  get registry(): EtcdRegistry | undefined {
    return this.#registry?.registry;
  }

  /** The running config (restart-only keys keep their start values). */
  get config(): LoadedNodeConfig {
    return this.#config;
  }

  /** The bound `host:port` of the peer listener. */
  get address(): string {
    return this.network.address;
  }

  /** The bound `host:port` of the admin server, when the config names one. */
  get adminAddress(): string | undefined {
    return this.#admin?.address;
  }

  get ready(): boolean {
    return this.#ready && this.#closing === undefined;
  }

  /** Reloads the config files now (SIGHUP). An invalid file keeps the running config. */
  reload(): Promise<ReloadResult> {
    if (this.#watcher === undefined || this.#closing !== undefined) {
      return Promise.reject(new PeerpostError('ERR_CLOSED', 'the node is not running'));
    }
    return this.#watcher.reload();
  }

  status(): NodeStatus {
    return buildStatus({
      stats: this.network.stats(),
      topology: this.network.topology,
      identity: this.#identity,
      admin: this.#admin?.address,
      ready: this.ready,
      startedAtMs: this.#startedAtMs,
      nowMs: this.#clock.now(),
      directSendMode: this.#config.directSendMode,
      configFile: this.#config.path,
      drops: this.#drops.summary(),
      registry: this.registry?.stats(),
    });
  }

  /**
   * Stops gracefully: no more reloads or heartbeats, then the network drains its queues
   * for up to `limits.drainTimeoutMs` (the rest end as `dropped:shutdown`), then the
   * admin server closes. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Binds the admin server, subscribes, starts the watcher and the heartbeat. */
  async start(): Promise<this> {
    const config = this.#config;
    try {
      if (config.admin !== undefined) {
        this.#admin = await startAdminServer({
          address: config.admin,
          metrics: () => {
            this.network.stats(); // refreshes the queue-depth gauges, kept off the send path
            return this.metrics.metricsText();
          },
          metricsContentType: this.metrics.contentType,
          health: () => this.#closing === undefined,
          ready: () => this.ready,
          status: () => this.status(),
          ...(config.controlTokenFile === undefined
            ? {}
            : {
                control: {
                  token: await readControlToken(config.controlTokenFile),
                  send: (body: unknown) => controlSend(this.network, parseControlSend(body), this.#clock),
                },
              }),
          logger: this.#log,
        });
      }
      for (const target of this.#options.subscribe ?? []) this.network.subscribe(target);
      this.#watcher = new ConfigWatcher({
        path: config.path ?? this.#options.configPath,
        initial: config,
        clock: this.#clock,
        onChange: (next, changes) => this.#apply(next, changes),
        onError: (error) => this.#reloadFailed(error),
        onUnchanged: () => this.#reloadedUnchanged(),
      });
    } catch (err) {
      await this.close();
      throw err;
    }
    this.#ready = true;
    this.#scheduleHeartbeat();
    this.#stopGcWatch = watchMarkingState((perSecond) =>
      this.#log.warn(
        { markCompactsPerSecond: perSecond, windowMs: MARKING_STATE_WINDOW_MS, remedy: MARKING_STATE_REMEDY },
        MARKING_STATE_MESSAGE,
      ),
    );
    this.#log.info(
      {
        address: this.network.address,
        admin: this.#admin?.address,
        identity: this.#identity.shortId,
        certHash: this.#identity.certHash,
        directSendMode: config.directSendMode,
        peers: this.network.topology.size,
        ...(this.registry === undefined ? {} : { registry: this.registry.stats().state }),
      },
      'node ready',
    );
    return this;
  }

  async #apply(next: LoadedNodeConfig, changes: readonly ConfigChange[]): Promise<void> {
    // Registry settings are checked (and the new registry built) before anything changes.
    const registrySwitch = await this.#registry?.prepare(next);
    let report: ReturnType<typeof applyConfig>;
    try {
      report = applyConfig(
        {
          network: reloadTarget(this.network, this.registry),
          setLogLevel: (level) => {
            this.logger.level = level;
          },
          onCredentials: (credentials) => {
            this.#identity = identityOf(credentials);
          },
        },
        next,
        changes,
      );
    } catch (err) {
      await registrySwitch?.discard();
      throw err;
    }
    await registrySwitch?.commit();
    this.#config = next;
    const failed = this.#takeReloadFailure();
    if (failed !== undefined) {
      this.#log.info(
        {
          changes: report.applied,
          identity: this.#identity.shortId,
          repaired: true,
          failedWith: failed.code,
        },
        'configuration reloaded: repaired after a failed reload',
      );
    } else if (report.applied.length > 0) {
      this.#log.info({ changes: report.applied, identity: this.#identity.shortId }, 'configuration reloaded');
    }
    if (report.notApplied.length > 0) {
      this.#log.warn({ changes: report.notApplied }, 'configuration changes need a restart: not applied');
    }
  }

  /** A reload found nothing to change: said so, and when it follows a failed one, that it is repaired. */
  #reloadedUnchanged(): void {
    const failed = this.#takeReloadFailure();
    if (failed === undefined) {
      this.#log.info({ identity: this.#identity.shortId }, 'configuration reloaded: nothing changed');
      return;
    }
    this.#log.info(
      { identity: this.#identity.shortId, repaired: true, failedWith: failed.code },
      'configuration reloaded: repaired after a failed reload, nothing changed',
    );
  }

  /** The failure of the last reload, if the last one failed; cleared, as this reload succeeded. */
  #takeReloadFailure(): PeerpostError | undefined {
    const failed = this.#lastReloadFailure;
    this.#lastReloadFailure = undefined;
    return failed;
  }

  #reloadFailed(error: PeerpostError): void {
    this.#lastReloadFailure = error;
    this.#log.error(
      { code: error.code, problem: error.message },
      'configuration reload failed: keeping the running configuration',
    );
  }

  #onOutcome(event: OutcomeEvent): void {
    if (event.outcome.kind !== 'dropped') return;
    this.#drops.record(event, this.#clock.now());
    this.#log.debug(
      {
        messageId: event.messageId,
        label: event.label,
        peerId: event.receiver,
        address: event.address,
        reason: event.outcome.reason,
      },
      'message dropped',
    );
  }

  #onMessage(message: NetworkMessage): void {
    const from = message.from;
    this.#log.debug(
      {
        label: message.label,
        messageId: message.id,
        peerId: from.peerId,
        address: from.address,
        identity: from.identity.shortId,
        bytes: message.data.length,
      },
      'message received',
    );
    if (!this.#echo.has(message.label) || this.#closing !== undefined) return;
    try {
      message.reply(message.label, message.data);
    } catch (err) {
      this.#log.warn(
        { messageId: message.id, address: from.address, code: (err as PeerpostError).code },
        'cannot answer the message',
      );
    }
  }

  #scheduleHeartbeat(): void {
    const every = this.#options.heartbeatMs ?? 0;
    if (every <= 0 || this.#closing !== undefined) return;
    this.#heartbeat = this.#clock.setTimeout(() => {
      this.#heartbeat = undefined;
      const data = new TextEncoder().encode(String(this.#heartbeatSeq++));
      for (const peerId of this.network.topology.keys()) {
        if (peerId !== this.network.nodeId) this.network.send(peerId, HEARTBEAT_LABEL, data);
      }
      this.#scheduleHeartbeat();
    }, every);
  }

  async #close(): Promise<void> {
    this.#ready = false;
    if (this.#heartbeat !== undefined) this.#clock.clearTimeout(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#stopGcWatch?.();
    this.#stopGcWatch = undefined;
    await this.#watcher?.close();
    // First leave the registry (the lease is revoked, peers stop sending here), then drain.
    await this.#registry?.close();
    const drainTimeoutMs = this.#config.limits.drainTimeoutMs;
    this.#log.info({ drainTimeoutMs }, 'node stopping: draining queues');
    await this.network.close({ drainTimeoutMs });
    await this.#admin?.close();
    this.#log.info({ outcomes: this.network.stats().outcomes }, 'node stopped');
  }
}

function identityOf(credentials: Credentials): { certHash: string; shortId: string } {
  const id = identityOfCredentials(credentials);
  return { certHash: id.certHash, shortId: id.shortId };
}

/**
 * Loads and validates the config file (a {@link ConfigError} names file:line:col, key and
 * problem), then starts the node: network, metrics, logs, admin server, live reload.
 */
export async function startNodeService(options: NodeServiceOptions): Promise<NodeService> {
  const config = await loadNodeConfig(options.configPath);
  const credentials: Credentials = { keyPem: config.pem.key, certPem: config.pem.cert };
  validateCredentials(credentials);
  const logger = createLogger({
    level: config.logLevel,
    ...(options.logDestination === undefined ? {} : { destination: options.logDestination }),
    ...(options.prettyLogs === undefined ? {} : { pretty: options.prettyLogs }),
  });
  const metrics = createPrometheusMetrics();
  const network = await createNetwork({
    nodeId: config.nodeId,
    listen: config.listen,
    credentials,
    trust: { certHashes: config.trust.certHashes, ownerKeys: config.trust.ownerKeys },
    topology: config.topology,
    directSendMode: config.directSendMode,
    limits: config.limits,
    acks: networkAcks(config.acks),
    knownLabels: [...new Set([...(options.echoLabels ?? []), HEARTBEAT_LABEL])],
    metrics,
    logger,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  let registry: NodeRegistry;
  try {
    registry = await NodeRegistry.start(config, network, logger, metrics);
  } catch (err) {
    await network.close();
    throw err;
  }
  return new NodeService(config, network, metrics, logger, options, registry).start();
}

/**
 * One peerpost node of the multi-process, real-TLS run (test/sim/tls-processes.test.ts),
 * as its own Node.js process: `node --import tsx test/sim/tls-node.ts <config.json> <index> <incarnation>`.
 *
 * It listens on 127.0.0.1:0 with its own mutual-TLS credentials (trusting the certificates
 * of the run), taps its transport, and appends every observation ({@link OracleEvent}) as
 * one JSON line to `<dir>/<peerId>#<incarnation>.log` with a synchronous write, so that a
 * SIGKILL loses at most the event being written. The parent drives it over the IPC
 * channel ({@link ToChild}, {@link FromChild}); after `close` it records `node-closed` and
 * its `final` state, lets go of the channel and exits by itself: if a socket or a timer
 * were left, it would not exit.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { createNetwork, type NetworkMessage } from '../../src/network/network.js';
import { formatOutcome } from '../../src/sender/outcome.js';
import { addr, peer } from '../../src/sender/receiver.js';
import { TlsTransport } from '../../src/transport/tls/tls-transport.js';
import type { OracleEvent } from '../oracle/oracle.js';
import { TapTransport } from '../oracle/tap.js';

export interface NodesConfig {
  /** Where the logs go. */
  readonly dir: string;
  readonly nodes: readonly {
    readonly peerId: string;
    readonly keyPem: string;
    readonly certPem: string;
    readonly certHash: string;
  }[];
}

/** A peer table: peer id -> addresses with the certificate pinned. */
export type PinnedTable = Record<string, { address: string; certHash: string }[]>;

export type ToChild =
  | { readonly type: 'topology'; readonly table: PinnedTable }
  /** Sends `burst` messages to every peer of its table every `everyMs`, and answers every `replyEvery`th request. */
  | { readonly type: 'start'; readonly burst: number; readonly everyMs: number; readonly replyEvery: number }
  | { readonly type: 'stop'; readonly rid: number }
  | { readonly type: 'stats'; readonly rid: number }
  /**
   * Hands `burst` more messages to every peer at once, answers `frozen` and stops its event
   * loop (until killed): no write callback runs, so none of the burst is reported flushed,
   * written or otherwise. The parent SIGKILLs it then, at the moment that loses the most.
   */
  | { readonly type: 'freeze'; readonly rid: number; readonly burst: number }
  | { readonly type: 'close'; readonly rid: number; readonly drainTimeoutMs: number };

export interface ChildStats {
  readonly key: string;
  /** Messages accepted (sent and answered). */
  readonly accepted: number;
  /** Deliveries by sender node key (from the message id, `<key>-<n>`). */
  readonly deliveredFrom: Readonly<Record<string, number>>;
  /** Tapped outbound connections closed, by remote address. */
  readonly closedTo: Readonly<Record<string, number>>;
  /** Outcomes by `<address>|<outcome>`. */
  readonly outcomes: Readonly<Record<string, number>>;
}

export type FromChild =
  | { readonly type: 'ready'; readonly key: string; readonly address: string }
  | { readonly type: 'stats'; readonly rid: number; readonly stats: ChildStats }
  | { readonly type: 'stopped'; readonly rid: number; readonly stats: ChildStats }
  | { readonly type: 'frozen'; readonly rid: number; readonly stats: ChildStats }
  | {
      readonly type: 'closed';
      readonly rid: number;
      readonly final: Extract<OracleEvent, { t: 'final' }>;
      /** What `process.getActiveResourcesInfo()` listed after close. */
      readonly resources: readonly string[];
    };

/** The key of the node that sent message `id` (ids are `<key>-<n>`). */
export const senderOf = (id: string): string => id.slice(0, id.lastIndexOf('-'));

const LIMITS = {
  // Short, so that peers of a killed node give up on its address (connect_failed) while it is down.
  backoff: { initialMs: 50, deadlineMs: 800, jitter: 0.2 },
  peerQueueCapacity: 1000,
  handshakeTimeoutMs: 3000,
  writeTimeoutMs: 5000,
  idleTimeoutMs: 10_000,
};
const PAYLOAD = new Uint8Array(16);
/** A frozen node waits this long for its SIGKILL, then exits (it never should). */
const FROZEN_MS = 30_000;

async function main(): Promise<void> {
  const [configPath, indexArg, incarnationArg] = process.argv.slice(2);
  const config = JSON.parse(readFileSync(configPath!, 'utf8')) as NodesConfig;
  const index = Number(indexArg);
  const incarnation = Number(incarnationArg);
  const me = config.nodes[index]!;
  const key = `${me.peerId}#${incarnation}`;

  const fd = openSync(join(config.dir, `${key}.log`), 'w');
  // One write per event: a SIGKILL loses at most the line being written.
  const record = (event: OracleEvent): void => {
    writeSync(fd, `${JSON.stringify(event)}\n`);
  };
  /** Tapped outbound connections closed, by remote address (for the parent to wait on). */
  const closedTo: Record<string, number> = {};
  const outboundTo = new Map<number, string>();
  const tapSink = (event: OracleEvent): void => {
    record(event);
    if (event.t === 'open' && event.direction === 'outbound') outboundTo.set(event.conn, event.remote);
    else if (event.t === 'closed') {
      const remote = outboundTo.get(event.conn);
      if (remote !== undefined) closedTo[remote] = (closedTo[remote] ?? 0) + 1;
    }
  };

  const tls = new TlsTransport({
    credentials: { keyPem: me.keyPem, certPem: me.certPem },
    trust: { certHashes: config.nodes.map((n) => n.certHash) },
    handshakeTimeoutMs: LIMITS.handshakeTimeoutMs,
    writeTimeoutMs: LIMITS.writeTimeoutMs,
    idleTimeoutMs: LIMITS.idleTimeoutMs,
  });
  // Connection numbers unique over the run: every process (and incarnation) has its own range.
  const tap = new TapTransport(tls, key, tapSink, {
    next: (index + 1) * 10_000_000 + incarnation * 1_000_000,
  });
  const network = await createNetwork({
    nodeId: me.peerId,
    transport: tap,
    listen: '127.0.0.1:0',
    limits: LIMITS,
  });

  let accepted = 0;
  let messageNo = 0;
  const deliveredFrom: Record<string, number> = {};
  const outcomes: Record<string, number> = {};
  const stats = (): ChildStats => ({ key, accepted, deliveredFrom, closedTo, outcomes });
  /** The accept is recorded before the send, with the id the send then uses. */
  const accept = (to: string): string => {
    const id = `${key}-${++messageNo}`;
    accepted++;
    record({ t: 'accept', node: key, id, to, mode: 'direct' });
    return id;
  };

  record({ t: 'node', node: key, peerId: me.peerId, address: network.address });

  network.onOutcome((e) => {
    const outcome = formatOutcome(e.outcome);
    const k = `${e.address ?? ''}|${outcome}`;
    outcomes[k] = (outcomes[k] ?? 0) + 1;
    record({ t: 'outcome', node: key, id: e.messageId, address: e.address ?? null, mode: e.mode, outcome });
  });

  let table: PinnedTable = {};
  let sending: { timer: NodeJS.Timeout; replyEvery: number } | undefined;
  let requests = 0;

  /**
   * msg.reply('rep', ...) with an id the oracle knows before the send: the same path as
   * NetworkMessage.reply (by address on a connection the peer opened, to the peer's
   * senders on one this node opened), through send(..., { id }).
   */
  const reply = (msg: NetworkMessage): void => {
    if (msg.from.direction === 'inbound') {
      const id = accept(`addr:${msg.from.address}`);
      network.send(addr(msg.from.address), 'rep', PAYLOAD, { id });
    } else if (msg.from.peerId !== undefined) {
      const id = accept(`peer:${msg.from.peerId}`);
      network.send(peer(msg.from.peerId), 'rep', PAYLOAD, { id });
    }
  };

  network.onMessage((msg) => {
    record({ t: 'deliver', node: key, id: msg.id });
    const from = senderOf(msg.id);
    deliveredFrom[from] = (deliveredFrom[from] ?? 0) + 1;
    if (sending !== undefined && msg.label === 'req' && ++requests % sending.replyEvery === 0) reply(msg);
  });

  const sendBurst = (burst: number): void => {
    for (const peerId of Object.keys(table)) {
      for (let i = 0; i < burst; i++) {
        const id = accept(`peer:${peerId}`);
        network.send(peerId, 'req', PAYLOAD, { id });
      }
    }
  };

  const stopSending = (): void => {
    if (sending === undefined) return;
    clearInterval(sending.timer);
    sending = undefined;
  };

  const send = (message: FromChild, then?: () => void): void => {
    process.send!(message, undefined, undefined, () => then?.());
  };

  let closing = false;
  process.on('disconnect', () => {
    // The parent went away without closing us: do not outlive it.
    if (!closing) process.exit(3);
  });
  process.on('message', (raw) => {
    const m = raw as ToChild;
    switch (m.type) {
      case 'topology': {
        table = m.table;
        const plain = Object.fromEntries(
          Object.entries(table).map(([id, list]) => [id, list.map((a) => a.address)]),
        );
        // Recorded first: the change may end messages before updateTopology returns.
        record({ t: 'topology', node: key, table: plain });
        network.updateTopology(table);
        break;
      }
      case 'start': {
        stopSending();
        const timer = setInterval(() => sendBurst(m.burst), m.everyMs);
        sending = { timer, replyEvery: m.replyEvery };
        break;
      }
      case 'freeze': {
        // Quiet first (no sends, no answers), so that the writes before are done and the
        // burst goes to the sockets at once; then the loop stops behind the connections'
        // flushes (next ticks queued by the burst): the bytes leave, no write callback runs.
        stopSending();
        setImmediate(() => {
          sendBurst(m.burst);
          process.nextTick(() => {
            // The IPC write goes out at once (the channel is idle); its callback would need the loop.
            send({ type: 'frozen', rid: m.rid, stats: stats() });
            Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, FROZEN_MS);
            process.exit(4);
          });
        });
        break;
      }
      case 'stop':
        stopSending();
        send({ type: 'stopped', rid: m.rid, stats: stats() });
        break;
      case 'stats':
        send({ type: 'stats', rid: m.rid, stats: stats() });
        break;
      case 'close': {
        if (closing) break;
        closing = true;
        stopSending();
        void (async () => {
          await network.close({ drainTimeoutMs: m.drainTimeoutMs });
          record({ t: 'node-closed', node: key });
          await tls.close();
          // Let the sockets' close callbacks run before looking at what is left.
          for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
          const resources = process.getActiveResourcesInfo();
          const final: Extract<OracleEvent, { t: 'final' }> = {
            t: 'final',
            node: key,
            openConnections: tap.open.size,
            pendingTimers: resources.filter((r) => r === 'Timeout').length,
            openSockets: resources.filter((r) => /TCP|TLS|Connect/.test(r)).length,
          };
          record(final);
          closeSync(fd);
          // Then the channel goes, and with nothing else left the process ends by itself.
          send({ type: 'closed', rid: m.rid, final, resources }, () => process.disconnect());
        })();
        break;
      }
    }
  });
  send({ type: 'ready', key, address: network.address });
}

await main();

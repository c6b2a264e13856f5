import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real etcd process (the Debian `etcd-server` package, installed by .ci/run) for tests:
 * one member on free loopback ports with its own data directory (alone, or one of a
 * cluster started by {@link startEtcdCluster}). `kill()` SIGKILLs it,
 * `restart()` starts it again on the same ports and data, `remove()` stops it and deletes
 * the directory.
 */
export interface EtcdServer {
  /** `http://127.0.0.1:port` */
  readonly endpoint: string;
  readonly dataDir: string;
  /** SIGKILL; resolves when the process is gone. */
  kill(): Promise<void>;
  /** Starts the process again with the same ports and data directory; resolves when it answers. */
  restart(): Promise<void>;
  /** Stops the process (if running) and deletes the data directory. */
  remove(): Promise<void>;
}

export const ETCD_BINARY = ['/usr/bin/etcd', '/usr/local/bin/etcd'].find((p) => existsSync(p)) ?? 'etcd';

/** Ports {@link freePort} handed out in this process: never handed out twice. */
const handedOut = new Set<number>();

/**
 * A free TCP port on 127.0.0.1 (bind port 0, read it, release it), never one this process
 * was given before: the kernel may give a port just released to the next bind to port 0,
 * and two members of one cluster on one port fail at start ("has duplicate url").
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (typeof address !== 'object' || address === null) throw new Error('no port');
    if (handedOut.has(address.port)) continue;
    handedOut.add(address.port);
    return address.port;
  }
}

async function healthy(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { health?: string };
    return res.ok && body.health === 'true';
  } catch {
    return false;
  }
}

/** One member's name, ports and data directory. */
interface MemberPlan {
  readonly name: string;
  readonly dataDir: string;
  readonly clientPort: number;
  readonly peerPort: number;
}

async function planMember(name: string): Promise<MemberPlan> {
  const dataDir = await mkdtemp(join(tmpdir(), 'peerpost-etcd-'));
  return { name, dataDir, clientPort: await freePort(), peerPort: await freePort() };
}

const peerUrlOf = (m: MemberPlan) => `http://127.0.0.1:${m.peerPort}`;

/**
 * An etcd process for `member` of the cluster `all` (itself included), not started yet:
 * `restart()` starts it (and resolves when it answers `/health`, which needs a quorum).
 */
function etcdMember(member: MemberPlan, all: readonly MemberPlan[]): EtcdServer {
  const endpoint = `http://127.0.0.1:${member.clientPort}`;
  const peerUrl = peerUrlOf(member);
  const args = [
    '--name',
    member.name,
    '--data-dir',
    member.dataDir,
    '--listen-client-urls',
    endpoint,
    '--advertise-client-urls',
    endpoint,
    '--listen-peer-urls',
    peerUrl,
    '--initial-advertise-peer-urls',
    peerUrl,
    '--initial-cluster',
    all.map((m) => `${m.name}=${peerUrlOf(m)}`).join(','),
    '--initial-cluster-token',
    `peerpost-test-${all[0]!.clientPort}`,
    // Ignored when the data directory has a member already (a restart).
    '--initial-cluster-state',
    'new',
    // Loopback members elect a leader quickly with short timers.
    '--heartbeat-interval',
    '50',
    '--election-timeout',
    '500',
    '--logger',
    'zap',
    '--log-level',
    'error',
  ];
  let child: ChildProcess | undefined;
  let output = '';

  const launch = async (): Promise<void> => {
    output = '';
    const proc = spawn(ETCD_BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    let exited = false;
    proc.once('exit', () => {
      exited = true;
    });
    proc.once('error', (err) => {
      exited = true;
      output += String(err);
    });
    const end = Date.now() + 15_000;
    while (!(await healthy(endpoint))) {
      if (exited) throw new Error(`etcd ${member.name} exited at start: ${output}`);
      if (Date.now() > end) {
        proc.kill('SIGKILL');
        throw new Error(`etcd ${member.name} did not become healthy within 15 s: ${output}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const stop = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    child = undefined;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    await gone;
  };

  return {
    endpoint,
    dataDir: member.dataDir,
    kill: () => stop('SIGKILL'),
    restart: async () => {
      await stop('SIGKILL');
      await launch();
    },
    remove: async () => {
      await stop('SIGKILL');
      await rm(member.dataDir, { recursive: true, force: true });
    },
  };
}

/** A one-member etcd on free loopback ports with its own data directory. */
export async function startEtcd(): Promise<EtcdServer> {
  const plan = await planMember('test');
  const server = etcdMember(plan, [plan]);
  await server.restart().catch(async (err) => {
    await server.remove();
    throw err;
  });
  return server;
}

/**
 * An etcd cluster of `size` members on free loopback ports (`--initial-cluster` names them
 * all), each with its own data directory. A member can be killed and restarted on its own
 * (`members[i]`); `kill()` and `restart()` act on all of them at once (a lone member of a
 * cluster is not healthy until a quorum runs, so they start together).
 */
export interface EtcdCluster {
  readonly members: readonly EtcdServer[];
  /** Every member's client URL. */
  readonly endpoints: readonly string[];
  kill(): Promise<void>;
  restart(): Promise<void>;
  remove(): Promise<void>;
}

export async function startEtcdCluster(size = 3): Promise<EtcdCluster> {
  const plans: MemberPlan[] = [];
  for (let i = 0; i < size; i++) plans.push(await planMember(`m${i}`));
  const members = plans.map((plan) => etcdMember(plan, plans));
  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.endpoint),
    kill: async () => {
      await Promise.all(members.map((m) => m.kill()));
    },
    restart: async () => {
      await Promise.all(members.map((m) => m.restart()));
    },
    remove: async () => {
      await Promise.all(members.map((m) => m.remove()));
    },
  };
  await cluster.restart().catch(async (err) => {
    await cluster.remove();
    throw err;
  });
  return cluster;
}

/**
 * A TCP proxy in front of etcd for one client: `cut()` drops every connection and refuses
 * new ones (a network partition between that client and etcd), `restore()` ends it.
 */
export class CuttableProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #cut = false;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(target: string): Promise<{ proxy: CuttableProxy; endpoint: string }> {
    const url = new URL(target);
    const server = createServer();
    const proxy = new CuttableProxy(server);
    server.on('connection', (client) => {
      if (proxy.#cut) {
        client.destroy();
        return;
      }
      const upstream = connect(Number(url.port), url.hostname);
      for (const s of [client, upstream]) {
        proxy.#sockets.add(s);
        s.on('close', () => proxy.#sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const { port } = server.address() as AddressInfo;
    return { proxy, endpoint: `http://127.0.0.1:${port}` };
  }

  cut(): void {
    this.#cut = true;
    for (const s of this.#sockets) s.destroy();
  }

  restore(): void {
    this.#cut = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

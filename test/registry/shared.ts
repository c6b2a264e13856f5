import { after, before } from 'node:test';
import { Etcd3 } from 'etcd3';
import { resolveTopology, type TopologyInput } from '../../src/network/options.js';
import type { RegistryNetwork } from '../../src/registry/etcd.js';
import type { Topology } from '../../src/topology/types.js';
import { type EtcdServer, startEtcd } from './etcd-server.js';

/**
 * One real etcd for the tests of a file: started before them (with a plain client to
 * look at and write to it directly, handed to `use`), stopped and removed after them.
 */
export function useEtcd(use: (etcd: EtcdServer, admin: Etcd3) => void): void {
  let server: EtcdServer | undefined;
  let client: Etcd3 | undefined;
  before(async () => {
    server = await startEtcd();
    client = new Etcd3({ hosts: [server.endpoint] });
    use(server, client);
  });
  after(async () => {
    client?.close();
    await server?.remove();
  });
}

/** A network stand-in that records the tables it is given. */
export class FakeNetwork implements RegistryNetwork {
  tables: Topology[] = [];
  constructor(
    readonly nodeId: string,
    readonly address: string,
  ) {}
  updateTopology(topology: TopologyInput): void {
    this.tables.push(resolveTopology(topology));
  }
  get topology(): Topology {
    return this.tables.at(-1) ?? new Map();
  }
}

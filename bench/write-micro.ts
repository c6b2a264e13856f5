/**
 * Micro-benchmark of the TLS write path (issue 16): a TLS 1.3 socket pair in one process
 * (127.0.0.1, port 0, certificates from `generateCredentials`), the client writing the
 * same bytes per batch (1 MiB by default) in different shapes:
 *
 * - `one reused`: one contiguous buffer, the same one every batch;
 * - `one fresh`: one buffer allocated per batch (what a per-flush buffer costs);
 * - `corked NxK`: N chunks of K bytes, written corked (node makes one writev), by reference.
 *
 * It reports, per MB written, the time spent inside the synchronous `socket.write()` /
 * `uncork()` calls (node's TLSWrap encrypts there: SSL_write, plus for several buffers
 * the copy into one new buffer), the process CPU time (both ends: the reader's share is
 * the same for every shape) and the minor page faults.
 *
 *   npx tsx bench/write-micro.ts [--mb=256] [--batch=1048576] [--repeat=3]
 */
import { Buffer } from 'node:buffer';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import process from 'node:process';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { generateCredentials } from '../src/index.js';

function flag(name: string, dflt: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg === undefined ? dflt : Number(arg.slice(name.length + 3));
}

const TOTAL_MB = flag('mb', 256);
const BATCH = flag('batch', 1024 * 1024);
const REPEAT = flag('repeat', 3);

interface Shape {
  name: string;
  /** The chunks of one batch (called once per batch). */
  chunks(): Buffer[];
}

function shapes(): Shape[] {
  const reused = Buffer.alloc(BATCH, 7);
  const corked = (n: number): Shape => {
    const size = Math.ceil(BATCH / n);
    const parts = Array.from({ length: n }, () => Buffer.alloc(size, 7));
    return { name: `corked ${n}x${size}`, chunks: () => parts };
  };
  return [
    { name: 'one reused', chunks: () => [reused] },
    {
      name: 'one fresh',
      chunks: () => {
        const b = Buffer.allocUnsafeSlow(BATCH);
        reused.copy(b);
        return [b];
      },
    },
    corked(16),
    corked(32),
  ];
}

async function pair(): Promise<{ client: TLSSocket; close: () => void }> {
  const [server, client] = await Promise.all([generateCredentials(), generateCredentials()]);
  const srv = createServer(
    {
      key: server.keyPem,
      cert: server.certPem,
      minVersion: 'TLSv1.3',
      requestCert: true,
      rejectUnauthorized: false,
    },
    (socket) => {
      socket.on('data', () => {});
      socket.on('error', () => {});
    },
  );
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  const socket = connect({
    socket: netConnect({ host: '127.0.0.1', port, noDelay: true }),
    key: client.keyPem,
    cert: client.certPem,
    minVersion: 'TLSv1.3',
    rejectUnauthorized: false,
  });
  await once(socket, 'secureConnect');
  const pinned = new X509Certificate(server.certPem).fingerprint256;
  if (socket.getPeerX509Certificate()?.fingerprint256 !== pinned) throw new Error('unexpected server');
  return {
    client: socket,
    close: () => {
      socket.destroy();
      srv.close();
    },
  };
}

async function run(
  socket: TLSSocket,
  shape: Shape,
): Promise<{ writeMsPerMB: number; cpuMsPerMB: number; faultsPerMB: number }> {
  const batches = Math.ceil((TOTAL_MB * 1024 * 1024) / BATCH);
  let inWrite = 0;
  const cpu0 = process.cpuUsage();
  const faults0 = process.resourceUsage().minorPageFault;
  for (let i = 0; i < batches; i++) {
    const chunks = shape.chunks();
    const t0 = performance.now();
    let ok: boolean;
    if (chunks.length === 1) {
      ok = socket.write(chunks[0] as Buffer);
    } else {
      socket.cork();
      ok = true;
      for (const c of chunks) ok = socket.write(c);
      socket.uncork();
    }
    inWrite += performance.now() - t0;
    // Wait until the batch is written (as peerpost and the raw baseline do on backpressure).
    if (!ok || socket.writableLength > 0) await once(socket, 'drain');
  }
  const cpu = process.cpuUsage(cpu0);
  const mb = (batches * BATCH) / (1024 * 1024);
  return {
    writeMsPerMB: inWrite / mb,
    cpuMsPerMB: (cpu.user + cpu.system) / 1000 / mb,
    faultsPerMB: (process.resourceUsage().minorPageFault - faults0) / mb,
  };
}

const { client, close } = await pair();
const list = shapes();
const results = new Map<string, { write: number[]; cpu: number[]; faults: number[] }>();
for (const s of list) results.set(s.name, { write: [], cpu: [], faults: [] });
await run(client, list[0] as Shape); // warm up
for (let r = 0; r < REPEAT; r++) {
  for (const s of r % 2 === 0 ? list : [...list].reverse()) {
    const res = await run(client, s);
    const acc = results.get(s.name)!;
    acc.write.push(res.writeMsPerMB);
    acc.cpu.push(res.cpuMsPerMB);
    acc.faults.push(res.faultsPerMB);
  }
}
close();
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
console.log(
  `TLS write shapes: ${TOTAL_MB} MB per run in batches of ${BATCH} bytes, median of ${REPEAT}, Node ${process.version}`,
);
console.log('| shape | ms/MB in write() | process CPU ms/MB (both ends) | minor faults/MB |');
console.log('| --- | --- | --- | --- |');
for (const [name, r] of results) {
  console.log(
    `| ${name} | ${med(r.write).toFixed(3)} | ${med(r.cpu).toFixed(2)} | ${med(r.faults).toFixed(1)} |`,
  );
}

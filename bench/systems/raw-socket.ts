/**
 * The raw baselines over one kind of socket (plain TCP or node:tls): length-prefixed
 * frames, all frames of a tick in one write, a minimal reader on the other side.
 * raw-tcp.ts and raw-tls.ts only say how to listen and connect.
 */
import type { Server, Socket } from 'node:net';
import { FrameCounter, FrameReader } from './frames.js';
import { BatchPump, type Sink, socketSink } from './pump.js';
import type { BenchSystem, FanoutGroup, IdleConnections, RpcPair, StreamPair } from './types.js';

export interface SocketKind {
  /** Starts a server on 127.0.0.1 port 0; `onSocket` gets each accepted (authenticated) socket. */
  listen(onSocket: (socket: Socket) => void): Promise<{ server: Server; port: number }>;
  /** Connects to the server; resolves once the connection is ready for application data. */
  connect(port: number): Promise<Socket>;
}

/** Tracks sockets and the server so close() resolves only when all of them are gone. */
class Scope {
  readonly sockets = new Set<Socket>();
  server: Server | undefined;

  track(socket: Socket): Socket {
    socket.setNoDelay(true);
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    // Errors after close (ECONNRESET while tearing down) are expected, not failures.
    socket.on('error', () => {});
    return socket;
  }

  async close(): Promise<void> {
    const gone = [...this.sockets].map(
      (s) => new Promise<void>((resolve) => s.once('close', () => resolve())),
    );
    for (const s of this.sockets) s.destroy();
    await Promise.all(gone);
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function pairOf(kind: SocketKind, scope: Scope): Promise<{ client: Socket; accepted: Socket }> {
  let accept!: (s: Socket) => void;
  const accepted = new Promise<Socket>((resolve) => {
    accept = resolve;
  });
  const { server, port } = await kind.listen((s) => accept(scope.track(s)));
  scope.server = server;
  const client = scope.track(await kind.connect(port));
  return { client, accepted: await accepted };
}

export function multiSink(sockets: readonly Socket[]): Sink {
  return {
    write(buf, done) {
      let ok = true;
      let writing = sockets.length;
      const one = done && (() => --writing === 0 && done());
      for (const s of sockets) if (!s.write(buf, one)) ok = false;
      return ok;
    },
    onceDrain(cb) {
      let waiting = 0;
      const one = () => {
        if (--waiting === 0) cb();
      };
      for (const s of sockets) {
        if (s.writableNeedDrain) {
          waiting++;
          s.once('drain', one);
        }
      }
      if (waiting === 0) setImmediate(cb);
    },
  };
}

export function rawSocketSystem(name: string, kind: SocketKind): BenchSystem {
  return {
    name,
    async openStream(): Promise<StreamPair> {
      const scope = new Scope();
      const { client, accepted } = await pairOf(kind, scope);
      const counter = new FrameCounter();
      accepted.on('data', (chunk: Buffer) => counter.reader.push(chunk));
      const pump = new BatchPump(socketSink(client));
      return {
        transfer(count, payload) {
          const done = counter.expect(count);
          pump.start(count, payload);
          return done;
        },
        close: () => scope.close(),
      };
    },

    async openRpc(): Promise<RpcPair> {
      const scope = new Scope();
      const { client, accepted } = await pairOf(kind, scope);
      const echo = new FrameReader((frame) => {
        const out = Buffer.allocUnsafe(4 + frame.length);
        out.writeUInt32BE(frame.length, 0);
        frame.copy(out, 4);
        accepted.write(out);
      });
      accepted.on('data', (chunk: Buffer) => echo.push(chunk));
      let reply: (() => void) | undefined;
      const replies = new FrameReader(() => {
        const r = reply;
        reply = undefined;
        r?.();
      });
      client.on('data', (chunk: Buffer) => replies.push(chunk));
      return {
        roundTrip(payload) {
          const out = Buffer.allocUnsafe(4 + payload.length);
          out.writeUInt32BE(payload.length, 0);
          payload.copy(out, 4);
          const p = new Promise<void>((resolve) => {
            reply = resolve;
          });
          client.write(out);
          return p;
        },
        close: () => scope.close(),
      };
    },

    async openFanout(subscribers): Promise<FanoutGroup> {
      const scope = new Scope();
      const accepted: Socket[] = [];
      let allAccepted!: () => void;
      const ready = new Promise<void>((resolve) => {
        allAccepted = resolve;
      });
      const { server, port } = await kind.listen((s) => {
        accepted.push(scope.track(s));
        if (accepted.length === subscribers) allAccepted();
      });
      scope.server = server;
      const counters: FrameCounter[] = [];
      for (let i = 0; i < subscribers; i++) {
        const client = scope.track(await kind.connect(port));
        const counter = new FrameCounter();
        client.on('data', (chunk: Buffer) => counter.reader.push(chunk));
        counters.push(counter);
      }
      await ready;
      const pump = new BatchPump(multiSink(accepted));
      return {
        async broadcast(count, payload) {
          const done = Promise.all(counters.map((c) => c.expect(count)));
          pump.start(count, payload);
          await done;
        },
        close: () => scope.close(),
      };
    },

    async openIdle(count, concurrency): Promise<IdleConnections> {
      const scope = new Scope();
      let acceptedCount = 0;
      let allAccepted!: () => void;
      const ready = new Promise<void>((resolve) => {
        allAccepted = resolve;
      });
      const { server, port } = await kind.listen((s) => {
        scope.track(s);
        if (++acceptedCount === count) allAccepted();
      });
      scope.server = server;
      let next = 0;
      const worker = async () => {
        while (next < count) {
          next++;
          scope.track(await kind.connect(port));
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
      await ready;
      return { close: () => scope.close() };
    },
  };
}

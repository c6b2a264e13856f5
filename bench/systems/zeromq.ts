/**
 * ZeroMQ (`zeromq` v6) over tcp://127.0.0.1: PUSH/PULL for throughput, REQ/REP for round
 * trips. One message per send() call, as the library is meant to be used; its I/O runs on
 * ZeroMQ's own threads.
 */
import type { BenchSystem, RpcPair, StreamPair } from './types.js';

type Zmq = typeof import('zeromq');

async function load(): Promise<Zmq> {
  return import('zeromq');
}

/** The endpoint a socket bound to (`tcp://127.0.0.1:PORT`). */
export function endpointOf(socket: { readonly lastEndpoint: string | null }): string {
  const e = socket.lastEndpoint;
  if (!e) throw new Error('zeromq: socket has no bound endpoint');
  return e;
}

export const zeromq: BenchSystem = {
  name: 'ZeroMQ',
  alternative: true,

  async openStream(): Promise<StreamPair> {
    const zmq = await load();
    const pull = new zmq.Pull({ linger: 0 });
    await pull.bind('tcp://127.0.0.1:*');
    const push = new zmq.Push({ linger: 0 });
    push.connect(endpointOf(pull));
    let count = 0;
    let target = Number.POSITIVE_INFINITY;
    let done: (() => void) | undefined;
    const receiving = (async () => {
      try {
        for await (const _ of pull) {
          if (++count >= target && done) {
            const d = done;
            done = undefined;
            d();
          }
        }
      } catch {
        // The iterator throws once the socket is closed: the end of the run.
      }
    })();
    return {
      async transfer(n, payload) {
        count = 0;
        target = n;
        const received = new Promise<void>((resolve) => {
          done = resolve;
        });
        for (let i = 0; i < n; i++) await push.send(payload);
        await received;
      },
      async close() {
        push.close();
        pull.close();
        await receiving;
      },
    };
  },

  async openRpc(): Promise<RpcPair> {
    const zmq = await load();
    const rep = new zmq.Reply({ linger: 0 });
    await rep.bind('tcp://127.0.0.1:*');
    const req = new zmq.Request({ linger: 0 });
    req.connect(endpointOf(rep));
    const serving = (async () => {
      try {
        for await (const [msg] of rep) await rep.send(msg!);
      } catch {
        // Closed.
      }
    })();
    return {
      async roundTrip(payload) {
        await req.send(payload);
        await req.receive();
      },
      async close() {
        req.close();
        rep.close();
        await serving;
      },
    };
  },
};

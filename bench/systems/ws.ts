/**
 * `ws` WebSocket, binary messages, no compression. The sender keeps writing while the
 * socket's buffer is under a high-water mark, then yields a tick (ws has no drain event).
 */
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import type { BenchSystem, RpcPair, StreamPair } from './types.js';

const HIGH_WATER = 1024 * 1024;

async function pair(): Promise<{ client: WebSocket; accepted: WebSocket; close(): Promise<void> }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const accepted = new Promise<WebSocket>((resolve) => server.once('connection', resolve));
  const { port } = server.address() as AddressInfo;
  const client = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    client.once('open', resolve);
    client.once('error', reject);
  });
  const serverSide = await accepted;
  return {
    client,
    accepted: serverSide,
    async close() {
      const closed = [client, serverSide].map(
        (w) =>
          new Promise<void>((resolve) =>
            w.readyState === WebSocket.CLOSED ? resolve() : w.once('close', resolve),
          ),
      );
      client.terminate();
      serverSide.terminate();
      await Promise.all(closed);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export const ws: BenchSystem = {
  name: 'ws',
  alternative: true,

  async openStream(): Promise<StreamPair> {
    const p = await pair();
    let count = 0;
    let target = Number.POSITIVE_INFINITY;
    let done: (() => void) | undefined;
    p.accepted.on('message', () => {
      if (++count >= target && done) {
        const d = done;
        done = undefined;
        d();
      }
    });
    return {
      transfer(n, payload) {
        count = 0;
        target = n;
        const received = new Promise<void>((resolve) => {
          done = resolve;
        });
        let sent = 0;
        const pump = () => {
          while (sent < n && p.client.bufferedAmount < HIGH_WATER) {
            p.client.send(payload, { binary: true });
            sent++;
          }
          if (sent < n) setImmediate(pump);
        };
        pump();
        return received;
      },
      close: () => p.close(),
    };
  },

  async openRpc(): Promise<RpcPair> {
    const p = await pair();
    p.accepted.on('message', (data: Buffer) => p.accepted.send(data, { binary: true }));
    let reply: (() => void) | undefined;
    p.client.on('message', () => {
      const r = reply;
      reply = undefined;
      r?.();
    });
    return {
      roundTrip(payload) {
        const done = new Promise<void>((resolve) => {
          reply = resolve;
        });
        p.client.send(payload, { binary: true });
        return done;
      },
      close: () => p.close(),
    };
  },
};

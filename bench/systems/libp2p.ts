/**
 * libp2p over TCP with noise + yamux, one stream between two nodes, length-prefixed
 * messages on it (a yamux stream is a byte stream). As a libp2p application sends:
 * one `stream.send()` per message, waiting for `drain` when it returns false.
 */
import type { Libp2p, Stream } from '@libp2p/interface';
import { FrameCounter, FrameReader } from './frames.js';
import { polyfillPromiseWithResolvers } from './polyfill.js';
import type { BenchSystem, RpcPair, StreamPair } from './types.js';

const PROTOCOL = '/peerpost-bench/1.0.0';

type Chunk = Uint8Array | { subarray(): Uint8Array };

export function bytesOf(data: Chunk): Uint8Array {
  return data instanceof Uint8Array ? data : data.subarray();
}

/** One length-prefixed message (a fresh buffer per message, as an application makes). */
export function framed(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, 4);
  return out;
}

/** A started libp2p node: TCP, noise, yamux; listening on 127.0.0.1 (a free port) when `listen`. */
export async function libp2pNode(listen: boolean): Promise<Libp2p> {
  polyfillPromiseWithResolvers();
  const [{ createLibp2p }, { tcp }, { noise }, { yamux }] = await Promise.all([
    import('libp2p'),
    import('@libp2p/tcp'),
    import('@chainsafe/libp2p-noise'),
    import('@chainsafe/libp2p-yamux'),
  ]);
  return createLibp2p({
    addresses: { listen: listen ? ['/ip4/127.0.0.1/tcp/0'] : [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
  });
}

/** Two started nodes, a stream from `a` to `b`, and `b`'s side of it. */
async function streamPair(): Promise<{ out: Stream; inbound: Stream; close(): Promise<void> }> {
  const b = await libp2pNode(true);
  const a = await libp2pNode(false);
  let accept!: (s: Stream) => void;
  const inbound = new Promise<Stream>((resolve) => {
    accept = resolve;
  });
  await b.handle(PROTOCOL, (stream) => accept(stream));
  const addr = b.getMultiaddrs()[0];
  if (!addr) throw new Error('libp2p: listener has no address');
  const out = await a.dialProtocol(addr, PROTOCOL);
  return {
    out,
    inbound: await inbound,
    async close() {
      await Promise.all([a.stop(), b.stop()]);
    },
  };
}

export const libp2p: BenchSystem = {
  name: 'libp2p',
  alternative: true,

  async openStream(): Promise<StreamPair> {
    const p = await streamPair();
    const counter = new FrameCounter();
    p.inbound.addEventListener('message', (evt) => counter.reader.push(bytesOf(evt.data)));
    const out = p.out;
    let left = 0;
    let payload: Buffer = Buffer.alloc(0);
    const pump = () => {
      while (left > 0) {
        left--;
        if (!out.send(framed(payload))) {
          if (left > 0) out.addEventListener('drain', pump, { once: true });
          return;
        }
      }
    };
    return {
      transfer(count, data) {
        const done = counter.expect(count);
        payload = data;
        left = count;
        pump();
        return done;
      },
      close: () => p.close(),
    };
  },

  async openRpc(): Promise<RpcPair> {
    const p = await streamPair();
    const inbound = p.inbound;
    const echo = new FrameReader((frame) => inbound.send(framed(frame)));
    inbound.addEventListener('message', (evt) => echo.push(bytesOf(evt.data)));
    let reply: (() => void) | undefined;
    const replies = new FrameReader(() => {
      const r = reply;
      reply = undefined;
      r?.();
    });
    p.out.addEventListener('message', (evt) => replies.push(bytesOf(evt.data)));
    return {
      roundTrip(payload) {
        const out = framed(payload);
        const done = new Promise<void>((resolve) => {
          reply = resolve;
        });
        p.out.send(out);
        return done;
      },
      close: () => p.close(),
    };
  },
};

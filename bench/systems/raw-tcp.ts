/** Raw TCP with batched writes: the physical limit of the loopback without encryption. */
import { connect, createServer, type Socket } from 'node:net';
import { listenLoopback } from '../lib.js';
import { rawSocketSystem } from './raw-socket.js';

export const rawTcp = rawSocketSystem('raw TCP', {
  listen(onSocket) {
    const server = createServer({ noDelay: true }, onSocket);
    return listenLoopback(server).then((port) => ({ server, port }));
  },
  connect(port) {
    return new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, noDelay: true }, () => {
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', reject);
    });
  },
});

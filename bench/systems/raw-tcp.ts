/** Raw TCP with batched writes: the physical limit of the loopback without encryption. */
import { connect, createServer, type Socket } from 'node:net';
import { rawSocketSystem } from './raw-socket.js';

export const rawTcp = rawSocketSystem('raw TCP', {
  listen(onSocket) {
    const server = createServer({ noDelay: true }, onSocket);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        resolve({ server, port: typeof address === 'object' && address ? address.port : 0 });
      });
    });
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

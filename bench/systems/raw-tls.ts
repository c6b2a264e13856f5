/**
 * Raw node:tls 1.3 with mutual authentication and batched writes: the baseline every
 * ratio in BENCHMARKS.md is taken against. Self-signed Ed25519 certificates; each side
 * checks the other's certificate fingerprint (trust by pinned hash, as peerpost can).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect, createSecureContext, createServer, type SecureContext, type TLSSocket } from 'node:tls';
import { listenLoopback } from '../lib.js';
import { benchCredentials } from './certs.js';
import { rawSocketSystem } from './raw-socket.js';

const ALPN = ['bench/1'];

let clientContext: SecureContext | undefined;

/** One secure context for all clients (as a long-lived node would keep), made on first use. */
function clientSecureContext(): SecureContext {
  const { client } = benchCredentials();
  clientContext ??= createSecureContext({
    key: client.key,
    cert: client.cert,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
  });
  return clientContext;
}

export const rawTls = rawSocketSystem('raw TLS', {
  listen(onSocket) {
    const { server: own, client: peer } = benchCredentials();
    const server = createServer(
      {
        key: own.key,
        cert: own.cert,
        minVersion: 'TLSv1.3',
        maxVersion: 'TLSv1.3',
        requestCert: true,
        rejectUnauthorized: false,
        ALPNProtocols: ALPN,
        // Without it the handshake's small writes wait on delayed ACKs (Nagle).
        noDelay: true,
      },
      (socket: TLSSocket) => {
        if (socket.getPeerX509Certificate()?.fingerprint256 !== peer.fingerprint256) {
          socket.destroy();
          return;
        }
        onSocket(socket);
      },
    );
    // A failed handshake (e.g. a client torn down mid-handshake at close) is not fatal here.
    server.on('tlsClientError', () => {});
    return listenLoopback(server).then((port) => ({ server, port }));
  },
  connect(port) {
    const { server: peer } = benchCredentials();
    return new Promise<Socket>((resolve, reject) => {
      const socket = connect(
        {
          // node:tls has no noDelay option: hand it a TCP socket that has it.
          socket: netConnect({ host: '127.0.0.1', port, noDelay: true }),
          secureContext: clientSecureContext(),
          rejectUnauthorized: false,
          ALPNProtocols: ALPN,
        },
        () => {
          socket.off('error', reject);
          if (socket.getPeerX509Certificate()?.fingerprint256 !== peer.fingerprint256) {
            socket.destroy();
            reject(new Error('raw TLS: unexpected server certificate'));
            return;
          }
          resolve(socket);
        },
      );
      socket.once('error', reject);
    });
  },
});

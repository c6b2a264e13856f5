import { generateCredentials } from '../../src/identity/credentials.js';
import { TlsTransport } from '../../src/transport/tls/tls-transport.js';
import { runConformanceSuite } from './conformance.js';

// Credentials are generated once for the file; every test gets fresh transports.
const [serverCredentials, clientCredentials] = await Promise.all([
  generateCredentials(),
  generateCredentials(),
]);

runConformanceSuite('tls', async ({ limits }) => {
  const server = new TlsTransport({ credentials: serverCredentials, ...limits });
  const client = new TlsTransport({ credentials: clientCredentials, ...limits });
  return {
    server,
    client,
    serverIdentity: server.identity,
    clientIdentity: client.identity,
    listenAddress: () => '127.0.0.1:0',
    // Real sockets: let real time pass.
    advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    close: async () => {
      await Promise.all([server.close(), client.close()]);
    },
    firstWriteAtOnce: true,
  };
});

// Two peerpost nodes on this machine over mutual TLS: "client" asks "server" questions
// with `request()`, and gets each answer matched to its question (the server answers
// with `msg.reply()`, whose id names the question). A question nobody answers ends with
// a coded error instead of hanging.
import { certificateHash, createNetwork, generateCredentials, isPeerpostError } from '../src/index.js';

const [serverCreds, clientCreds] = await Promise.all([generateCredentials(), generateCredentials()]);
// Each side trusts exactly the other's certificate.
const server = await createNetwork({
  nodeId: 'server',
  credentials: serverCreds,
  trust: { certHashes: [certificateHash(clientCreds.certPem)] },
});
const client = await createNetwork({
  nodeId: 'client',
  credentials: clientCreds,
  trust: { certHashes: [certificateHash(serverCreds.certPem)] },
  // The server's address, pinned to its certificate: nobody else can answer there.
  topology: { server: [{ address: server.address, certHash: certificateHash(serverCreds.certPem) }] },
});

server.onMessage((msg) => {
  console.log(`server got ${msg.label} "${Buffer.from(msg.data)}" from ${msg.from.address}`);
  msg.reply('Answer', Buffer.from(`pong: ${Buffer.from(msg.data)}`));
});

// Three questions at once: each answer goes to its own question, whatever the order.
const answers = await Promise.all(
  ['ping', 'ping 2', 'ping 3'].map((q) =>
    client.request('server', 'Question', Buffer.from(q), { timeoutMs: 5_000 }),
  ),
);
for (const a of answers)
  console.log(`client got ${a.label} "${Buffer.from(a.data)}" from peer ${a.from.peerId}`);

// A peer not (yet) in the client's table: the request waits for it, then times out.
try {
  await client.request('nobody', 'Question', Buffer.from('anyone?'), { timeoutMs: 500 });
} catch (err) {
  if (!isPeerpostError(err)) throw err;
  console.log(`client: request to nobody failed: ${err.code} (${err.message})`);
}

await Promise.all([client.close(), server.close()]);

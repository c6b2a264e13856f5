// Two peerpost nodes on this machine over mutual TLS: "client" asks "server" a question
// by peer id, and the server answers by address on the same connection.
import { certificateHash, createNetwork, generateCredentials } from '../src/index.js';

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

const answered = new Promise<string>((resolve) => {
  client.onMessage((msg) => resolve(`${msg.label} "${Buffer.from(msg.data)}" from peer ${msg.from.peerId}`));
});
client.onOutcome((o) => console.log(`client: message ${o.messageId} to ${o.receiver} -> ${o.outcome.kind}`));

client.send('server', 'Question', Buffer.from('ping'));
console.log(`client got ${await answered}`);

await Promise.all([client.close(), server.close()]);

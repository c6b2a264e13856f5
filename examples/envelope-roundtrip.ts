// Encodes a few messages the way a peerpost node puts them on the wire, frames them into
// one stream, and decodes the stream back, printing what travelled and how big it was.
import {
  createEnvelope,
  decodeEnvelope,
  encodeEnvelopeFrame,
  FrameDecoder,
  payloadOf,
} from '../src/index.js';

const messages = [
  { label: 'Ping', data: Buffer.from('hello, peer') },
  {
    label: 'MsgType::Block',
    data: Buffer.from(JSON.stringify({ height: 22222, txs: Array(300).fill('tx') })),
  },
  { label: 'Vote', data: Buffer.alloc(32, 7), directReceiver: 'peer-42' },
];

const frames = messages.map((m, i) =>
  encodeEnvelopeFrame(createEnvelope({ id: `msg-${i}`, nowMs: Date.now(), ...m })),
);
const stream = Buffer.concat(frames);
console.log(`encoded ${messages.length} messages into a ${stream.length}-byte framed stream`);

const decoder = new FrameDecoder();
let n = 0;
decoder.push(stream, (frame) => {
  const { envelope, version } = decodeEnvelope(frame);
  const payload = payloadOf(envelope);
  const original = messages[n++]!;
  const same = Buffer.compare(Buffer.from(payload), original.data) === 0;
  console.log(
    `v${version} ${envelope.id} ${envelope.label}: ${payload.byteLength} B payload, ` +
      `${frame.length} B on the wire${envelope.compressed ? ' (zstd)' : ''}` +
      `${envelope.directReceiver ? `, for ${envelope.directReceiver}` : ''} - ${same ? 'intact' : 'CORRUPTED'}`,
  );
  if (!same) process.exitCode = 1;
});
decoder.end();
if (n !== messages.length) process.exitCode = 1;

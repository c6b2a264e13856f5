/** Envelope encode+decode round trips per second vs JSON.stringify+JSON.parse of the same object. */
import { decodeEnvelope, type Envelope, encodeEnvelope } from '../src/wire/envelope.js';
import { type Figure, median, opsPerSecond, quick } from './lib.js';

export function benchCodec(): Figure[] {
  const figures: Figure[] = [];
  const rounds = quick ? 3 : 7;
  const ms = quick ? 150 : 500;
  for (const [name, size] of [
    ['64B', 64],
    ['1KiB', 1024],
    ['64KiB', 65536],
  ] as const) {
    const env: Envelope = {
      deliveryStartTimestampMs: 1_700_000_000_123n,
      id: 'node-7-000000000042',
      label: 'MsgType::Block',
      compressed: false,
      data: Buffer.alloc(size, 0x5a),
      lastSenderIsProxy: false,
      directReceiver: 'peer-42',
    };
    // The JSON baseline must carry the same information: bytes as base64, u64 as a string.
    const jsonObj = { ...env, deliveryStartTimestampMs: env.deliveryStartTimestampMs.toString(), data: '' };
    const dataB64Source = Buffer.from(env.data);
    let sink = 0;
    const peerpost: number[] = [];
    const json: number[] = [];
    for (let r = 0; r < rounds; r++) {
      peerpost.push(
        opsPerSecond(() => {
          sink += decodeEnvelope(encodeEnvelope(env)).envelope.data.byteLength;
        }, ms),
      );
      json.push(
        opsPerSecond(() => {
          jsonObj.data = dataB64Source.toString('base64');
          const back = JSON.parse(JSON.stringify(jsonObj)) as {
            data: string;
            deliveryStartTimestampMs: string;
          };
          sink +=
            Buffer.from(back.data, 'base64').byteLength + Number(BigInt(back.deliveryStartTimestampMs) & 1n);
        }, ms),
      );
    }
    if (sink < 0) console.log(sink);
    figures.push({
      suite: 'codec',
      name: `JSON ${name}`,
      value: median(json),
      unit: 'round trips/s',
      rounds: json,
    });
    figures.push({
      suite: 'codec',
      name: `peerpost ${name}`,
      value: median(peerpost),
      unit: 'round trips/s',
      rounds: peerpost,
      baseline: `JSON ${name}`,
    });
  }
  return figures;
}

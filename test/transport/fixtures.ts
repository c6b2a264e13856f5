import type { Envelope } from '../../src/wire/envelope.js';

/** An envelope whose id and payload identify it; labels and directReceiver vary with `index`. */
export function envelopeOf(index: number, size: number): Envelope {
  return {
    deliveryStartTimestampMs: BigInt(1_700_000_000_000 + index),
    id: `m-${index}`,
    label: index % 2 ? 'Odd' : 'Even',
    compressed: false,
    data: Buffer.alloc(size, index & 0xff),
    lastSenderIsProxy: false,
    directReceiver: index % 3 === 0 ? 'peer-x' : undefined,
  };
}

/** Bodies as whole frames, back to back (what `Connection.writeFrames` takes). */
export function framesOf(bodies: readonly Uint8Array[]): Buffer {
  return Buffer.concat(
    bodies.flatMap((b) => {
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32BE(b.byteLength);
      return [prefix, b];
    }),
  );
}

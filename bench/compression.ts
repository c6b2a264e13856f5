/**
 * zstd on vs off for compressible payloads (4 KiB and 64 KiB of JSON-like text): bytes on
 * the wire (frame prefix + encoded envelope) and time per message for the whole path a
 * message takes: createEnvelope (compresses) -> encodeEnvelope -> decodeEnvelope -> payloadOf
 * (decompresses). Baseline: the same with compression off.
 */
import { createEnvelope, decodeEnvelope, encodeEnvelope, payloadOf } from '../src/wire/index.js';
import { type Figure, median, opsPerSecond, quick } from './lib.js';

/** Deterministic, compressible text: JSON records of a block-gossip kind with varying fields. */
export function compressiblePayload(bytes: number): Buffer {
  let seed = 0x2545f491;
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const rec = `{"height":${1_000_000 + i},"hash":"${next().toString(16).padStart(8, '0')}","txs":${next() % 500},"miner":"node-${next() % 16}","ok":true}\n`;
    parts.push(rec);
    size += rec.length;
  }
  return Buffer.from(parts.join('')).subarray(0, bytes);
}

export function benchCompression(): Figure[] {
  const figures: Figure[] = [];
  const rounds = quick ? 2 : 5;
  const ms = quick ? 100 : 400;
  for (const [label, bytes] of [
    ['4KiB', 4096],
    ['64KiB', 65536],
  ] as const) {
    const data = compressiblePayload(bytes);
    for (const on of [false, true]) {
      const options = { compressThresholdBytes: on ? 1000 : Number.POSITIVE_INFINITY };
      const input = { id: 'node-7-000000000042', label: 'MsgType::Block', data, nowMs: 1_700_000_000_123 };
      const wire = 4 + encodeEnvelope(createEnvelope(input, options)).length;
      let sink = 0;
      const times: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const ops = opsPerSecond(() => {
          const bytesOut = encodeEnvelope(createEnvelope(input, options));
          sink += payloadOf(decodeEnvelope(bytesOut).envelope).byteLength;
        }, ms);
        times.push(1e6 / ops);
      }
      if (sink < 0) console.log(sink);
      const system = on ? 'zstd on' : 'zstd off';
      figures.push({
        suite: 'compression',
        name: `${system} ${label} time`,
        system,
        case: `${label} time`,
        value: median(times),
        unit: 'µs/msg',
        rounds: times,
        baseline: `zstd off ${label} time`,
        lowerIsBetter: true,
      });
      figures.push({
        suite: 'compression',
        name: `${system} ${label} wire`,
        system,
        case: `${label} wire`,
        value: wire,
        unit: 'bytes',
        rounds: [wire],
        baseline: `zstd off ${label} wire`,
        lowerIsBetter: true,
      });
    }
  }
  return figures;
}

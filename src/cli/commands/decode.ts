import { Buffer } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { isPeerpostError, PeerpostError } from '../../errors.js';
import { decodeEnvelope, type Envelope, type EnvelopeVersion } from '../../wire/envelope.js';
import { FRAME_PREFIX_BYTES, FrameDecoder } from '../../wire/framing.js';
import { payloadOf } from '../../wire/message.js';
import { type CliContext, type RegisterCommand, readAll } from '../context.js';

interface DecodeFlags {
  hex?: boolean;
  raw?: boolean;
  decompress?: boolean;
  maxFrameBytes?: string;
}

function toJson(envelope: Envelope, version: EnvelopeVersion, offset: number, decompress: boolean): string {
  const out: Record<string, unknown> = {
    offset,
    version,
    deliveryStartTimestampMs: envelope.deliveryStartTimestampMs.toString(),
    id: envelope.id,
    label: envelope.label,
    compressed: envelope.compressed,
    data: Buffer.from(envelope.data).toString('hex'),
    lastSenderIsProxy: envelope.lastSenderIsProxy,
    directReceiver: envelope.directReceiver ?? null,
  };
  if (decompress && envelope.compressed) out['payload'] = Buffer.from(payloadOf(envelope)).toString('hex');
  return JSON.stringify(out);
}

function parseHex(text: string): Buffer {
  const clean = text.replace(/\s+/g, '').replace(/^0x/i, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new PeerpostError('ERR_INVALID_OPTION', 'input is not an even-length hex string');
  }
  return Buffer.from(clean, 'hex');
}

/** Decodes captured bytes; returns the exit code. */
export function decodeBytes(bytes: Buffer, flags: DecodeFlags, ctx: CliContext): number {
  const { stdout, stderr } = ctx.io;
  const decompress = flags.decompress === true;
  let frameStart = 0;
  try {
    if (flags.raw) {
      const { envelope, version } = decodeEnvelope(bytes);
      stdout.write(`${toJson(envelope, version, 0, decompress)}\n`);
      return 0;
    }
    const maxFrameBytes = flags.maxFrameBytes === undefined ? undefined : Number(flags.maxFrameBytes);
    const decoder = new FrameDecoder(maxFrameBytes === undefined ? {} : { maxFrameBytes });
    decoder.push(bytes, (frame) => {
      const { envelope, version } = decodeEnvelope(frame);
      stdout.write(`${toJson(envelope, version, frameStart, decompress)}\n`);
      frameStart += FRAME_PREFIX_BYTES + frame.length;
    });
    decoder.end();
    return 0;
  } catch (err) {
    if (!isPeerpostError(err)) throw err;
    // Offsets inside a frame body are relative to the body: report them in stream bytes.
    const inBody = !flags.raw && err.code !== 'ERR_FRAME_TOO_LARGE' && err.code !== 'ERR_FRAME_INCOMPLETE';
    const offset = inBody ? frameStart + FRAME_PREFIX_BYTES + (err.offset ?? 0) : (err.offset ?? 0);
    stderr.write(`error ${err.code} at byte ${offset}: ${err.message}\n`);
    return 1;
  }
}

export const registerDecode: RegisterCommand = (program, ctx) => {
  program
    .command('decode')
    .description(
      'decode captured peerpost bytes (a framed stream by default) and print one JSON object per message',
    )
    .argument('[file]', 'file to read; stdin when absent or "-"')
    .option('--hex', 'the input is hex text instead of binary')
    .option('--raw', 'the input is one unframed envelope')
    .option('--decompress', 'also print the decompressed payload of compressed messages')
    .option('--max-frame-bytes <n>', 'largest accepted frame body', '16777216')
    .action(async (file: string | undefined, flags: DecodeFlags) => {
      const input = file === undefined || file === '-' ? ctx.io.stdin : createReadStream(file);
      let bytes = await readAll(input);
      try {
        if (flags.hex) bytes = parseHex(bytes.toString('utf8'));
      } catch (err) {
        ctx.io.stderr.write(`error ${(err as PeerpostError).code}: ${(err as Error).message}\n`);
        ctx.setExitCode(1);
        return;
      }
      ctx.setExitCode(decodeBytes(bytes, flags, ctx));
    });
};

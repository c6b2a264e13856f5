import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The shared wire vectors, read in place from ../shared/vectors (never copied into the project). */
export const VECTORS_PATH = join(
  dirname(fileURLToPath(import.meta.url)),
  '../../../shared/vectors/netmessage.json',
);

export interface PositiveVector {
  name: string;
  negative: false;
  fields: {
    delivery_start_timestamp_ms: string;
    id: string;
    label: string;
    compressed: boolean;
    data: string;
    last_sender_is_proxy: boolean;
    direct_receiver: string | null;
  };
  v1_hex: string;
  v0_hex: string;
  v1_framed_hex: string;
  uncompressed_hex?: string;
}

export interface NegativeVector {
  name: string;
  negative: true;
  layer: 'bincode' | 'framing';
  hex: string;
  len: number;
}

const all = JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as (PositiveVector | NegativeVector)[];
export const positiveVectors = all.filter((v): v is PositiveVector => !v.negative);
export const negativeVectors = all.filter((v): v is NegativeVector => v.negative);

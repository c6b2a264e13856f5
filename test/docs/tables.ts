/**
 * Reads the reference tables of README.md and docs/*.md for test/docs: Markdown tables
 * outside code fences, rows found by the backticked names of their first cell.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { section } from '../../scripts/readme.js';

const ROOT = new URL('../../', import.meta.url);

/** The keys of `export interface NAME { ... }` in src/FILE (one member per line). */
export function interfaceKeys(file: string, name: string): string[] {
  const text = readFileSync(new URL(`src/${file}`, ROOT), 'utf8');
  const start = text.indexOf(`export interface ${name} {`);
  assert.ok(start >= 0, `src/${file} has no interface ${name}`);
  const body = text.slice(start, text.indexOf('\n}', start));
  const keys = [...body.matchAll(/^ {2}(?:readonly )?(\w+)\??:/gm)].map((m) => m[1]!);
  assert.ok(keys.length > 0, `src/${file}: interface ${name} has members`);
  return keys;
}

export function readDoc(path: string): string {
  return readFileSync(new URL(path, ROOT), 'utf8');
}

/** README.md, RELIABILITY.md, BENCHMARKS.md, bench/HISTORY.md and every docs/*.md, by path. */
export function allDocs(): Map<string, string> {
  const paths = [
    'README.md',
    'RELIABILITY.md',
    'BENCHMARKS.md',
    'bench/HISTORY.md',
    ...readdirSync(new URL('docs/', ROOT))
      .filter((f) => f.endsWith('.md'))
      .sort()
      .map((f) => `docs/${f}`),
  ];
  return new Map(paths.map((p) => [p, readDoc(p)]));
}

/** The body of the section of `file` headed `heading` (to the next heading of its level or above). */
export function docSection(file: string, heading: string): string {
  return section(file, heading);
}

export interface Table {
  readonly header: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

/** The cells of a table line; `\|` inside a cell is a literal `|`. */
export function cells(line: string): string[] {
  const inner = line
    .trim()
    .replace(/^\|/, '')
    .replace(/(?<!\\)\|$/, '');
  return inner.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
}

/** Every Markdown table of `text` that is not inside a ``` fence. */
export function tables(text: string): Table[] {
  const out: Table[] = [];
  const lines = text.split('\n');
  let fenced = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line.startsWith('```')) fenced = !fenced;
    if (fenced || !line.startsWith('|')) continue;
    const separator = lines[i + 1]?.trim() ?? '';
    if (!/^\|[\s:|-]+\|$/.test(separator)) continue;
    const rows: string[][] = [];
    let j = i + 2;
    for (; j < lines.length && lines[j]!.trim().startsWith('|'); j++) rows.push(cells(lines[j]!));
    out.push({ header: cells(line), rows });
    i = j - 1;
  }
  return out;
}

/** The one table of `text` whose header is `header` (column names, in order). */
export function table(text: string, header: readonly string[], where: string): Table {
  const found = tables(text).filter((t) => t.header.join('|') === header.join('|'));
  assert.equal(
    found.length,
    1,
    `${where}: expected one table | ${header.join(' | ')} |, found ${found.length}`,
  );
  return found[0]!;
}

/** The backticked names in a cell: "`clock`, `random`" -> ['clock', 'random']. */
export function names(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
}

/**
 * The rows of `t` by the backticked names of their first cell (a row naming several
 * gets an entry for each); rows whose first cell has no backticked name are ignored.
 * A name documented twice fails.
 */
export function rowsByName(t: Table, where: string): Map<string, readonly string[]> {
  const out = new Map<string, readonly string[]>();
  for (const row of t.rows) {
    for (const name of names(row[0] ?? '')) {
      assert.ok(!out.has(name), `${where}: \`${name}\` is documented twice`);
      out.set(name, row);
    }
  }
  return out;
}

/** Asserts that two sets of names are equal, naming what is missing on either side. */
export function assertSameNames(
  documented: Iterable<string>,
  inCode: Iterable<string>,
  where: string,
  code: string,
): void {
  const doc = new Set(documented);
  const src = new Set(inCode);
  const undocumented = [...src].filter((n) => !doc.has(n)).sort();
  const unknown = [...doc].filter((n) => !src.has(n)).sort();
  assert.deepEqual(
    { undocumented, unknown },
    { undocumented: [], unknown: [] },
    `${where} vs ${code}: undocumented = in the code but not in the docs; unknown = in the docs but not in the code`,
  );
}

const MIB = 1024 * 1024;

/**
 * A documented default as a value: `100`, `12 000`, `16MiB`, `16 MiB`, `0.2`, `'direct'`,
 * `[]`, `{}`, `0 (never)`; `none`, `—`, `-` are undefined. Anything else stays text.
 */
export function parseDefault(cell: string): unknown {
  const text = cell
    .replace(/`/g, '')
    .replace(/\s*\(.*\)\s*$/, '')
    .trim();
  if (text === 'none' || text === '—' || text === '-' || text === '') return undefined;
  if (text === '[]') return [];
  if (text === 'true' || text === 'false') return text === 'true';
  if (text === '{}') return {};
  const bytes = /^(\d+)\s*(KiB|MiB|GiB)$/.exec(text);
  if (bytes) return Number(bytes[1]) * { KiB: 1024, MiB: MIB, GiB: 1024 * MIB }[bytes[2] as 'KiB'];
  if (/^\d{1,3}( \d{3})+$/.test(text)) return Number(text.replace(/ /g, ''));
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const quoted = /^'([^']*)'$/.exec(text);
  return quoted ? quoted[1] : text;
}

/** A resolved value in the form parseDefault gives: Sets and arrays as arrays, Maps as objects. */
export function plain(value: unknown): unknown {
  if (value instanceof Set) return [...value];
  if (value instanceof Map) return Object.fromEntries(value);
  return value;
}

/** `{ a: { b: 1 } }` -> [['prefix.a.b', 1]] (arrays, Sets and Maps are leaves). */
export function leaves(prefix: string, value: object): [string, unknown][] {
  return Object.entries(value).flatMap(([k, v]) => {
    const key = prefix === '' ? k : `${prefix}.${k}`;
    return typeof v === 'object' &&
      v !== null &&
      !Array.isArray(v) &&
      !(v instanceof Set) &&
      !(v instanceof Map)
      ? leaves(key, v)
      : [[key, v] as [string, unknown]];
  });
}

/**
 * The Node and V8 flags docs/operations.md tells operators to run with ("Heavy senders",
 * "Heavy receivers") work as it says: each `node --flag` line of its code blocks starts
 * this Node (and, with `peerpost`, the real CLI: bin/peerpost.js), each
 * `NODE_OPTIONS=--flag` line is accepted in NODE_OPTIONS, and a flag the text says Node
 * refuses there is refused. And `v8.setFlagsFromString`, which the text offers instead,
 * changes the limit V8 sets after a mark-compact. And the page quotes the line `peerpost node`
 * logs in that state as the code writes it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { MARKING_STATE_PER_S, MARKING_STATE_WINDOW_MS } from '../../src/node/marking-state.js';
import { MARKING_STATE_MESSAGE } from '../../src/node/service.js';
import { assertBuilt, BIN } from '../node/cli-harness.js';

const OPERATIONS = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');

/** The lines inside the ``` blocks of `text`. */
function codeLines(text: string): string[] {
  const lines: string[] = [];
  let inside = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) inside = !inside;
    else if (inside) lines.push(line.trim());
  }
  return lines;
}

const run = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
  spawnSync(process.execPath, args, { env, encoding: 'utf8', timeout: 30_000, maxBuffer: 256 * 1024 * 1024 });

const commands = codeLines(OPERATIONS);
const nodeLines = commands.filter((l) => /^node --/.test(l));
const envLines = commands.filter((l) => /^NODE_OPTIONS=--/.test(l));

test('operations.md gives node flags for heavy senders and heavy receivers', () => {
  assert.ok(nodeLines.some((l) => l.includes('--max-semi-space-size=')));
  assert.ok(nodeLines.some((l) => l.includes('--heap-growing-percent=')));
  assert.ok(
    nodeLines.some((l) => l.includes('peerpost')),
    'a line that runs the CLI with a flag',
  );
  assert.ok(envLines.length > 0);
});

test('every `node --flag ...` line of operations.md starts this Node, the CLI with it', () => {
  assertBuilt();
  for (const line of nodeLines) {
    // The flags: the words right after `node` that start with `--` (not the script's own).
    const words = line.split(/\s+/).slice(1);
    const flags = words.slice(
      0,
      words.findIndex((w) => !w.startsWith('--')),
    );
    assert.ok(flags.length > 0, line);
    // The script the line runs: the CLI (`$(command -v peerpost)`) as bin/peerpost.js, asked for its help.
    const target = line.includes('peerpost') ? [BIN, '--help'] : ['-e', 'process.exit(0)'];
    const r = run([...flags, ...target]);
    assert.equal(r.status, 0, `${line}: exit ${r.status}\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /bad option|unknown|not allowed/i, line);
  }
});

test('every NODE_OPTIONS line of operations.md is accepted in NODE_OPTIONS', () => {
  for (const line of envLines) {
    const options = line.slice('NODE_OPTIONS='.length).split(/\s+/)[0] as string;
    const r = run(['-e', 'process.exit(0)'], { ...process.env, NODE_OPTIONS: options });
    assert.equal(r.status, 0, `${line}: ${r.stderr}`);
  }
});

test('--heap-growing-percent is refused in NODE_OPTIONS, as operations.md says', () => {
  assert.match(OPERATIONS, /Node does not accept this flag in\s+`NODE_OPTIONS`/);
  const r = run(['-e', 'process.exit(0)'], { ...process.env, NODE_OPTIONS: '--heap-growing-percent=300' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /not allowed in NODE_OPTIONS/);
});

test('v8.setFlagsFromString(--heap-growing-percent=300) at run time sets the limit V8 grows the old generation to', () => {
  assert.match(OPERATIONS, /v8\.setFlagsFromString\('--heap-growing-percent=300'\)/);
  // An old generation of ~50 MB kept alive, then garbage that dies young and full
  // collections: V8 picks a small factor for that (the old generation does not grow),
  // and the flag set at run time replaces it with 4.
  const script = `
    const v8 = require('node:v8');
    if (process.argv[1] === 'set') v8.setFlagsFromString('--heap-growing-percent=300');
    const kept = Array.from({ length: 1e6 }, (_, i) => ({ i, next: null }));
    let x;
    for (let round = 0; round < 14; round++) {
      const t0 = Date.now();
      while (Date.now() - t0 < 80) for (let i = 0; i < 1e5; i++) x = { a: i, b: [i] };
      globalThis.gc();
    }
    if (kept.length !== 1e6) throw new Error('kept');`;
  /** The last limit V8 set, as a multiple of the old generation's size then. */
  const growth = (mode: string): number => {
    const r = run(['--expose-gc', '--trace-gc-verbose', '-e', script, mode]);
    assert.equal(r.status, 0, r.stderr);
    const limits = [
      ...r.stdout.matchAll(/\[HeapController\] Limit: old size: (\d+) KB, new limit: (\d+) KB/g),
    ];
    assert.ok(limits.length >= 3, `limits traced: ${limits.length}`);
    const last = limits.at(-1)!;
    return Number(last[2]) / Number(last[1]);
  };
  const set = growth('set');
  const unset = growth('unset');
  assert.ok(set >= 3.5, `with the flag the limit is ~4x the old generation: ${set.toFixed(2)}x`);
  assert.ok(
    unset <= set - 1,
    `without it V8 grows it by less: ${unset.toFixed(2)}x against ${set.toFixed(2)}x`,
  );
});

test('operations.md quotes the line peerpost node logs in the marking state, with its rate and window', () => {
  const flat = OPERATIONS.replace(/\s+/g, ' ');
  assert.ok(flat.includes(`\`${MARKING_STATE_MESSAGE}\``), 'the message, verbatim');
  assert.ok(
    flat.includes(`reach ${MARKING_STATE_PER_S} a second over ${MARKING_STATE_WINDOW_MS / 1000} s`),
    'the rate and the window',
  );
});

/**
 * The reference tables of README.md and docs/*.md against the code, both ways: every
 * outcome reason, error kind, error code, metric, configuration key and default in the
 * code is documented, and everything documented exists in the code with that value.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseNodeConfig } from '../../src/config/parse.js';
import { nodeConfigSchema } from '../../src/config/schema.js';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';
import { resolveHubLimits } from '../../src/hub/options.js';
import { connectionErrorKind, ERROR_KINDS } from '../../src/metrics/error-kinds.js';
import { METRICS } from '../../src/metrics/types.js';
import { resolveLimits as resolveNetworkLimits } from '../../src/network/options.js';
import { resolveSenderConfig } from '../../src/sender/config.js';
import { DROP_REASONS, SKIP_REASONS } from '../../src/sender/outcome.js';
import { CLOSE_GRACE_MS, resolveLimits as resolveTransportLimits } from '../../src/transport/limits.js';
import { DEFAULT_MAX_CONNECTIONS } from '../../src/transport/tls/tls-listener.js';
import { CONNECTION_KINDS } from '../../src/transport/types.js';
import {
  allDocs,
  assertSameNames,
  docSection,
  interfaceKeys,
  leaves,
  names,
  parseDefault,
  plain,
  readDoc,
  rowsByName,
  table,
} from './tables.js';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** Every src/**\/*.ts file, by path relative to src/. */
function sources(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts')) out.set(path.slice(SRC.length), readFileSync(path, 'utf8'));
    }
  };
  walk(SRC);
  return out;
}

function get(value: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], value);
}

const metricsDoc = 'docs/metrics.md';

describe('outcome reasons', () => {
  test('docs/metrics.md lists every drop and skip reason with its outcome, and no other', () => {
    const rows = rowsByName(
      table(docSection(metricsDoc, 'Outcome reasons'), ['reason', 'outcome', 'meaning'], metricsDoc),
      metricsDoc,
    );
    assertSameNames(
      rows.keys(),
      [...DROP_REASONS, ...SKIP_REASONS],
      metricsDoc,
      'DROP_REASONS + SKIP_REASONS',
    );
    for (const reason of DROP_REASONS) assert.equal(rows.get(reason)![1], 'dropped', `${reason}: outcome`);
    for (const reason of SKIP_REASONS) assert.equal(rows.get(reason)![1], 'skipped', `${reason}: outcome`);
    for (const [reason, row] of rows) assert.ok((row[2] ?? '').length > 10, `${reason}: meaning`);
  });

  test('every `dropped:<reason>` and `skipped:<reason>` in the docs is a reason of the code', () => {
    const known = { dropped: new Set<string>(DROP_REASONS), skipped: new Set<string>(SKIP_REASONS) };
    let seen = 0;
    for (const [path, text] of allDocs()) {
      for (const m of text.matchAll(/\b(dropped|skipped):([a-z_]+)/g)) {
        seen++;
        const outcome = m[1] as 'dropped' | 'skipped';
        assert.ok(
          known[outcome].has(m[2]!),
          `${path}: \`${m[0]}\` is not an outcome of src/sender/outcome.ts`,
        );
      }
    }
    assert.ok(seen > 20, 'the docs name outcomes');
  });
});

/** `'kind'` literals of every place in src/ that counts `peerpost_errors_total`. */
function countedKinds(): { kinds: Set<string>; uncheckedSites: string[] } {
  const kinds = new Set<string>();
  const uncheckedSites: string[] = [];
  for (const [file, text] of sources()) {
    // Calls whose argument is a kind: Accounting.error(kind), IncomingReader.countError(kind), errorLabels(kind).
    for (const m of text.matchAll(/(?:accounting\.error|countError|errorLabels)\(([^()]*)\)/g)) {
      for (const lit of m[1]!.matchAll(/(?<!=== )'([a-z_]+)'/g)) kinds.add(lit[1]!);
    }
    for (const m of text.matchAll(/'peerpost_errors_total',\s*\{\s*kind:\s*'([a-z_]+)'\s*\}/g))
      kinds.add(m[1]!);
    // Every other call site must take its kind from one of the forms above (typed ErrorKind, or a literal).
    text.split('\n').forEach((line, i) => {
      if (!line.includes("'peerpost_errors_total'") || file === 'metrics/types.ts') return;
      if (/\{\s*kind:\s*'[a-z_]+'\s*\}|errorLabels\(|#labels\('e', kind/.test(line)) return;
      if (file === 'hub/incoming-reader.ts' && /inc\('peerpost_errors_total', labels\)/.test(line)) return;
      uncheckedSites.push(`src/${file}:${i + 1}: ${line.trim()}`);
    });
  }
  return { kinds, uncheckedSites };
}

describe('error kinds (peerpost_errors_total{kind})', () => {
  test('docs/metrics.md lists every kind of ERROR_KINDS, and no other', () => {
    const rows = rowsByName(
      table(docSection(metricsDoc, 'Error kinds'), ['kind', 'counted when'], metricsDoc),
      metricsDoc,
    );
    assertSameNames(rows.keys(), ERROR_KINDS, metricsDoc, 'ERROR_KINDS (src/metrics/error-kinds.ts)');
    for (const [kind, row] of rows) assert.ok((row[1] ?? '').length > 10, `${kind}: meaning`);
  });

  test('every kind counted in src/ is in ERROR_KINDS, and every kind there is counted somewhere', () => {
    const { kinds, uncheckedSites } = countedKinds();
    assert.deepEqual(uncheckedSites, [], 'peerpost_errors_total counted with a kind this test cannot see');
    for (const expected of [
      'fwd_to_peer_unresolved',
      'in_queue_overflow',
      'subscriber_lagged',
      'max_conn_reached',
    ]) {
      assert.ok(kinds.has(expected), `the scan finds ${expected}`);
    }
    const unknown = [...kinds].filter((k) => !(ERROR_KINDS as readonly string[]).includes(k));
    assert.deepEqual(unknown, [], 'kinds counted in src/ but missing from ERROR_KINDS');
    // Connection failures count their code's kind (see transport-tls.md, Bad input).
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) kinds.add(connectionErrorKind(code));
    assert.equal(connectionErrorKind('ERR_IDLE_TIMEOUT'), 'idle_timeout');
    const neverCounted = ERROR_KINDS.filter((k) => !kinds.has(k));
    assert.deepEqual(neverCounted, [], 'kinds of ERROR_KINDS that nothing in src/ counts');
  });

  test('kinds named elsewhere in the docs exist', () => {
    for (const [path, text] of allDocs()) {
      for (const m of text.matchAll(/peerpost_errors_total\{kind="([^"]*)"\}/g)) {
        assert.ok(
          (ERROR_KINDS as readonly string[]).includes(m[1]!),
          `${path}: \`${m[1]}\` is not an error kind`,
        );
      }
    }
    const hub = readDoc('docs/hub.md');
    const paragraph = hub.slice(hub.indexOf('`peerpost_errors_total{kind}`:'));
    const inHub = names(paragraph.slice(0, paragraph.indexOf('\n\n'))).filter((n) => /^[a-z_]+$/.test(n));
    assert.ok(inHub.length >= 5, 'docs/hub.md lists the hub kinds');
    const tls = table(readDoc('docs/transport-tls.md'), ['input', 'code', 'kind'], 'docs/transport-tls.md');
    const inTls = tls.rows.flatMap((r) => names(r[2]!));
    for (const kind of [...inHub, ...inTls]) {
      assert.ok((ERROR_KINDS as readonly string[]).includes(kind), `\`${kind}\` is not an error kind`);
    }
    for (const row of tls.rows) {
      const code = names(row[1]!)[0] as ErrorCode;
      assert.ok(code in ERROR_CODES, `${code} is an error code`);
      if (names(row[0]!).includes('updateTrust') || /idle|frame|stalled/.test(row[0]!)) {
        assert.equal(names(row[2]!)[0], connectionErrorKind(code), `docs/transport-tls.md: ${row[0]}`);
      }
    }
  });
});

describe('error codes', () => {
  test('docs/errors.md has every code of ERROR_CODES with its meaning, and no other', () => {
    const doc = 'docs/errors.md';
    const rows = rowsByName(table(readDoc(doc), ['code', 'meaning'], doc), doc);
    assertSameNames(rows.keys(), Object.keys(ERROR_CODES), doc, 'ERROR_CODES (src/errors.ts)');
    for (const [code, row] of rows) {
      assert.equal(row[1], ERROR_CODES[code as ErrorCode], `${code}: meaning as in src/errors.ts`);
    }
  });

  test('every ERR_ code named anywhere in the docs exists', () => {
    for (const [path, text] of allDocs()) {
      for (const m of text.matchAll(/\bERR_[A-Z0-9_]*[A-Z0-9]\b/g)) {
        assert.ok(m[0] in ERROR_CODES, `${path}: ${m[0]} is not in src/errors.ts`);
      }
    }
  });
});

describe('metrics', () => {
  const doc = readDoc(metricsDoc);

  test('docs/metrics.md has every metric of METRICS with its type and labels, and no other', () => {
    const rows = rowsByName(table(doc, ['metric', 'type', 'labels', 'meaning'], metricsDoc), metricsDoc);
    assertSameNames(rows.keys(), Object.keys(METRICS), metricsDoc, 'METRICS (src/metrics/types.ts)');
    for (const [name, def] of Object.entries(METRICS)) {
      const row = rows.get(name)!;
      assert.equal(row[1], def.type, `${name}: type`);
      assert.deepEqual(names(row[2]!), [...def.labels], `${name}: labels`);
    }
  });

  test('the label values table covers every label, with the values the code uses', () => {
    const t = table(doc, ['label', 'values'], metricsDoc);
    const byLabel = new Map(t.rows.map((r) => [r[0]!, r[1]!]));
    const documented = [...byLabel.keys()].map((c) => names(c)[0]!);
    assertSameNames(
      documented,
      new Set(Object.values(METRICS).flatMap((d) => d.labels)),
      metricsDoc,
      'METRICS labels',
    );
    // The backticked values of a row, without the explanations in parentheses.
    const values = (label: string): string[] =>
      names((byLabel.get(label) ?? assert.fail(`no row ${label}`)).replace(/\([^)]*\)/g, ''));
    assert.deepEqual(values('`kind` (connections)'), [...CONNECTION_KINDS]);
    // Labels set from literals in src/: `queue: 'unresolved'`, `stage: 'compressed'`, 'OutgoingBuffer', ...
    const literals = (re: RegExp): Set<string> => {
      const out = new Set<string>();
      for (const text of sources().values()) for (const m of text.matchAll(re)) out.add(m[1]!);
      assert.ok(out.size >= 2, `src/ has ${re}`);
      return out;
    };
    assertSameNames(values('`queue`'), literals(/\bqueue: '([a-z_]+)'/g), `${metricsDoc} queue`, 'src/');
    assertSameNames(values('`stage`'), literals(/\bstage: '([a-z_]+)'/g), `${metricsDoc} stage`, 'src/');
    assertSameNames(
      values('`direction`'),
      literals(/\bdirection: '([a-z_]+)'/g),
      `${metricsDoc} direction`,
      'src/',
    );
    assertSameNames(
      values('`phase`'),
      literals(/'((?:Outgoing|Incoming)(?:Buffer|Transfer))'/g),
      `${metricsDoc} phase`,
      'src/',
    );
    for (const reason of values('`reason`')) {
      assert.ok([...DROP_REASONS, ...SKIP_REASONS].includes(reason as never), `reason \`${reason}\` exists`);
    }
    for (const kind of values('`kind` (errors)')) {
      assert.ok((ERROR_KINDS as readonly string[]).includes(kind), `error kind \`${kind}\` exists`);
    }
    assert.match(byLabel.get('`reason`')!, /\(#outcome-reasons\)/);
    assert.match(byLabel.get('`kind` (errors)')!, /\(#error-kinds\)/);
  });

  test('every peerpost_ metric named in the docs exists', () => {
    const all = Object.keys(METRICS);
    for (const [path, text] of allDocs()) {
      for (const m of text.matchAll(/\bpeerpost_[a-z_]+(\*)?/g)) {
        const ok = m[1] ? all.some((n) => n.startsWith(m[0].slice(0, -1))) : m[0] in METRICS;
        assert.ok(ok, `${path}: ${m[0]} is not a metric of src/metrics/types.ts`);
      }
    }
  });
});

describe('configuration keys and defaults', () => {
  const minimalYaml = 'nodeId: a\nlisten: 127.0.0.1:0\ncredentials: { key: k.pem, cert: c.pem }\n';
  const minimal = { nodeId: 'a', listen: '127.0.0.1:0', credentials: { key: 'k.pem', cert: 'c.pem' } };
  const config = parseNodeConfig(minimalYaml, { path: '/etc/peerpost/node.yaml' });
  const raw = nodeConfigSchema.parse(minimal) as Record<string, unknown>;
  const codeKeys = Object.keys(nodeConfigSchema.shape).flatMap((key) => {
    const v = raw[key];
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? leaves(key, v).map(([k]) => k) : [key];
  });

  test('a node and a Network resolve the same limits', () => {
    assert.deepEqual(config.limits, resolveNetworkLimits({}));
    assert.deepEqual(raw['limits'], resolveNetworkLimits({}));
  });

  for (const file of ['docs/configuration.md', 'README.md']) {
    test(`${file}: every key with its default, and no other`, () => {
      const rows = rowsByName(
        table(readDoc(file), ['key', 'type', 'default', 'live', 'meaning'], file),
        file,
      );
      assertSameNames(rows.keys(), codeKeys, file, 'nodeConfigSchema (src/config/schema.ts)');
      for (const [key, row] of rows) {
        if (row[2] === 'required') {
          const input = structuredClone(minimal) as Record<string, unknown>;
          const [first, second] = key.split('.') as [string, string | undefined];
          if (second === undefined) delete input[first];
          else delete (input[first] as Record<string, unknown>)[second];
          const result = nodeConfigSchema.safeParse(input);
          assert.ok(!result.success, `${key} is required`);
          assert.ok(
            result.error.issues.some((i) => i.path.join('.') === key),
            `${key}: the error names it`,
          );
          continue;
        }
        const actual = key.startsWith('limits.')
          ? get(resolveNetworkLimits({}), key.slice(7))
          : get(config, key);
        assert.deepEqual(parseDefault(row[2]!), plain(actual), `${file}: default of ${key}`);
      }
    });
  }

  test('docs/direct-sender.md: every DirectSenderConfig option with its default', () => {
    const doc = 'docs/direct-sender.md';
    const rows = rowsByName(table(readDoc(doc), ['option', 'default', 'meaning'], doc), doc);
    const resolved = resolveSenderConfig({});
    const keys = leaves('', resolved).map(([k]) => k);
    assertSameNames(rows.keys(), keys, doc, 'resolveSenderConfig({})');
    for (const [key, row] of rows) {
      assert.deepEqual(parseDefault(row[1]!), plain(get(resolved, key)), `${doc}: default of ${key}`);
    }
  });

  test('docs/hub.md: every ConnectionHub option and limit with its default', () => {
    const doc = 'docs/hub.md';
    const rows = rowsByName(table(readDoc(doc), ['option', 'default', 'meaning'], doc), doc);
    const limits = resolveHubLimits({});
    const keys = [
      ...interfaceKeys('hub/hub.ts', 'ConnectionHubOptions').filter((k) => k !== 'limits'),
      ...leaves('limits', limits).map(([k]) => k),
    ];
    assertSameNames(rows.keys(), keys, doc, 'ConnectionHubOptions and resolveHubLimits({})');
    for (const [key, value] of leaves('limits', limits)) {
      assert.deepEqual(parseDefault(rows.get(key)![1]!), value, `${doc}: default of ${key}`);
    }
  });

  test('docs/transport-tls.md: every transport limit with its default', () => {
    const doc = 'docs/transport-tls.md';
    const rows = rowsByName(table(readDoc(doc), ['limit', 'default', 'failure'], doc), doc);
    const defaults: Record<string, number> = {
      ...resolveTransportLimits({}),
      CLOSE_GRACE_MS,
      maxConnections: DEFAULT_MAX_CONNECTIONS,
    };
    assertSameNames(rows.keys(), Object.keys(defaults), doc, 'resolveLimits({}) of src/transport/limits.ts');
    for (const [key, value] of Object.entries(defaults)) {
      assert.equal(parseDefault(rows.get(key)![1]!), value, `${doc}: default of ${key}`);
    }
  });
});

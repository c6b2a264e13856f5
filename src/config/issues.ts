import { isMap, isPair, isScalar, isSeq, type LineCounter, type Node, type Pair } from 'yaml';
import type { z } from 'zod';
import { PeerpostError } from '../errors.js';
import { show } from './schema.js';

/** One problem found in a configuration file. */
export interface ConfigIssue {
  /** The file, as given by the caller (`<config>` when parsed from a string). */
  readonly file: string;
  /** Key path, e.g. `limits.peerQueueCapacity` or `topology.bob[0].address`; empty for the whole document. */
  readonly path: string;
  /** 1-based line of the key (or of the nearest enclosing node when the key is missing). */
  readonly line: number | undefined;
  /** 1-based column. */
  readonly column: number | undefined;
  /** What is wrong, e.g. `expected a positive integer, got -5`. */
  readonly message: string;
}

/** Renders an issue as `file:line:col: path: message`. */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line === undefined ? issue.file : `${issue.file}:${issue.line}:${issue.column ?? 1}`;
  return issue.path === '' ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}

/** An invalid configuration (`ERR_INVALID_CONFIG`), with every problem found. */
export class ConfigError extends PeerpostError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], options: { cause?: unknown } = {}) {
    super('ERR_INVALID_CONFIG', issues.map(formatIssue).join('\n'), options);
    this.issues = issues;
  }
}

export type PathSegment = string | number;

/** `['topology', 'a.b', 0, 'address']` -> `topology["a.b"][0].address`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg))
      out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}

/**
 * The 1-based line and column of `path` in a parsed document: the key of the deepest
 * pair found along the path (so a bad value points at its key, as an editor would), or
 * the enclosing node where the path leaves the document (a missing key).
 */
export function locate(
  root: unknown,
  lineCounter: LineCounter,
  path: readonly PropertyKey[],
): { line: number; column: number } | undefined {
  let node = root as Node | null | undefined;
  let offset: number | undefined = (node as Node | null | undefined)?.range?.[0];
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p: Pair) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      offset = isScalar(pair.key) ? pair.key.range?.[0] : offset;
      node = pair.value as Node | null;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item === undefined || isPair(item)) break;
      node = item as Node | null;
      offset = node?.range?.[0] ?? offset;
    } else {
      break;
    }
  }
  if (offset === undefined) return undefined;
  const pos = lineCounter.linePos(offset);
  return { line: pos.line, column: pos.col };
}

/** The candidate nearest to `word` (edit distance, case-insensitive), when one is near enough to be a typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

const TYPE_NAMES: Record<string, string> = { object: 'a mapping', array: 'a list', string: 'a string' };

/**
 * Converts zod issues to located config issues. `knownKeys` maps a formatted parent path
 * to its allowed keys, to suggest the intended key for a typo.
 */
export function toConfigIssues(
  zodIssues: readonly z.core.$ZodIssue[],
  file: string,
  root: unknown,
  lineCounter: LineCounter,
  knownKeys: ReadonlyMap<string, readonly string[]>,
): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const add = (path: readonly PropertyKey[], message: string) => {
    const pos = locate(root, lineCounter, path);
    out.push({ file, path: formatPath(path), line: pos?.line, column: pos?.column, message });
  };
  for (const issue of zodIssues) {
    if (issue.code === 'unrecognized_keys') {
      const allowed = knownKeys.get(formatPath(issue.path)) ?? [];
      for (const key of issue.keys) {
        const guess = closest(key, allowed);
        add(
          [...issue.path, key],
          guess === undefined ? 'unknown key' : `unknown key (did you mean ${guess}?)`,
        );
      }
    } else if (issue.code === 'invalid_type' && issue.message.startsWith('Invalid input')) {
      // zod's default wording; ours names the expected shape and what was found.
      const input = (issue as { input?: unknown }).input;
      add(
        issue.path,
        input === undefined
          ? 'required key is missing'
          : `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}, got ${show(input)}`,
      );
    } else {
      add(issue.path, issue.message);
    }
  }
  return out;
}

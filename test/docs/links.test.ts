/**
 * Every relative link of README.md, RELIABILITY.md, BENCHMARKS.md, bench/HISTORY.md and
 * docs/*.md leads somewhere: the file exists (relative to the linking file's folder), and
 * a `#fragment` is the anchor GitHub gives a heading of that file (or an explicit
 * `<a id>` / `<a name>`). Links inside code (fences and inline code) are not links.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { test } from 'node:test';
import { allDocs } from './tables.js';

const ROOT = new URL('../../', import.meta.url);

/**
 * GitHub's anchor for a heading's text: links reduced to their text, tags dropped,
 * lowercased, every character but letters (any script), digits, spaces, hyphens and
 * underscores dropped, spaces made hyphens.
 */
export function slug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]*>/g, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

/** The lines of `text` with those of ``` / ~~~ fences (fence lines included) blanked. */
function unfenced(text: string): string[] {
  let fence: string | undefined;
  return text.split('\n').map((line) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === undefined && marker) fence = marker[0]!.repeat(marker.length);
    else if (fence !== undefined && marker?.startsWith(fence)) fence = undefined;
    else if (fence === undefined) return line;
    return '';
  });
}

/** The anchors of a Markdown file: its headings' (a repeated one gets -1, -2, ...) and explicit ones. */
export function anchors(text: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of unfenced(text)) {
    const heading = /^#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line);
    if (heading) {
      const base = slug(heading[1]!);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      out.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const m of line.matchAll(/<a\s[^>]*?\b(?:id|name)\s*=\s*["']([^"']+)["']/gi)) out.add(m[1]!);
  }
  return out;
}

export interface Link {
  readonly line: number;
  readonly source: string;
  readonly target: string;
}

/** The `[text](target)` links of a Markdown file outside code, with their line (text may wrap). */
export function links(text: string): Link[] {
  const lines = unfenced(text).map((l) => l.replace(/`[^`]*`/g, (code) => ' '.repeat(code.length)));
  const body = lines.join('\n');
  const out: Link[] = [];
  for (const m of body.matchAll(/!?\[([^\]]*)\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) {
    out.push({
      line: body.slice(0, m.index).split('\n').length,
      source: m[0].replace(/\s*\n\s*/g, ' '),
      target: m[2]!,
    });
  }
  return out;
}

/**
 * Every broken relative link of `docs` (path -> text), as "path:line: [text](target): why".
 * `read` gives the text of a file by its path from the root, or undefined if there is none.
 */
export function brokenLinks(docs: Map<string, string>, read: (path: string) => string | undefined): string[] {
  const anchorsOf = new Map<string, Set<string> | undefined>();
  const fileAnchors = (path: string): Set<string> | undefined => {
    if (!anchorsOf.has(path)) {
      const text = docs.get(path) ?? read(path);
      anchorsOf.set(path, text === undefined ? undefined : anchors(text));
    }
    return anchorsOf.get(path);
  };
  const broken: string[] = [];
  for (const [from, text] of docs) {
    for (const link of links(text)) {
      if (/^(https?|mailto):/i.test(link.target)) continue;
      const hash = link.target.indexOf('#');
      const file = decodeURI(hash < 0 ? link.target : link.target.slice(0, hash));
      const fragment = hash < 0 ? undefined : decodeURIComponent(link.target.slice(hash + 1));
      const path = file === '' ? from : posix.normalize(posix.join(posix.dirname(from), file));
      const where = `${from}:${link.line}: ${link.source}`;
      if (path.startsWith('../') || (file !== '' && read(path.replace(/\/$/, '')) === undefined)) {
        broken.push(`${where}: no file ${path}`);
        continue;
      }
      if (fragment === undefined) continue;
      if (!path.endsWith('.md')) broken.push(`${where}: #${fragment} into a file that is not Markdown`);
      else if (!fileAnchors(path)?.has(fragment))
        broken.push(`${where}: ${path} has no heading #${fragment}`);
    }
  }
  return broken;
}

/** A file (its text; '' for a folder) of the repository, by its path from the root. */
function readRepoFile(path: string): string | undefined {
  const url = new URL(path, ROOT);
  if (!existsSync(url)) return undefined;
  try {
    return readFileSync(url, 'utf8');
  } catch {
    return '';
  }
}

test("headings' anchors follow GitHub's rule", () => {
  assert.equal(slug('Two processes (as deployed)'), 'two-processes-as-deployed');
  assert.equal(
    slug('Round 22 of issue 16, measured before and after (2026-12-07)'),
    'round-22-of-issue-16-measured-before-and-after-2026-12-07',
  );
  assert.equal(
    slug('`peerpost_errors_total` and µs: [the kinds](#x)'),
    'peerpost_errors_total-and-µs-the-kinds',
  );
  assert.equal(slug('Größe — über'), 'größe--über');
  const text = '# A\n\n## Notes\n\n```\n## Not a heading\n```\n\n### Notes\n\n<a id="kept"></a>\n';
  assert.deepEqual([...anchors(text)].sort(), ['a', 'kept', 'notes', 'notes-1']);
});

test('a missing file, a missing heading and a link into a fence are told apart', () => {
  const docs = new Map([
    [
      'docs/a.md',
      [
        '# A',
        '',
        'See [b](b.md#two), [the top](#a), [gone](#nope), [readme](../README.md#top) and',
        '[a wrapped',
        'link](missing.md), `[code](nowhere.md)`, [site](https://example.com/x#y).',
        '```',
        '[in a fence](nowhere.md)',
        '```',
      ].join('\n'),
    ],
    ['docs/b.md', '# B\n\n## Two\n'],
  ]);
  const files = new Map([...docs, ['README.md', '# Readme\n']]);
  assert.deepEqual(
    brokenLinks(docs, (p) => files.get(p)),
    [
      'docs/a.md:3: [gone](#nope): docs/a.md has no heading #nope',
      'docs/a.md:3: [readme](../README.md#top): README.md has no heading #top',
      'docs/a.md:4: [a wrapped link](missing.md): no file docs/missing.md',
    ],
  );
});

test('every relative link and anchor of the docs leads somewhere', () => {
  const docs = allDocs();
  assert.ok(docs.has('bench/HISTORY.md') && docs.size >= 10, 'the docs are read');
  const count = [...docs.values()].reduce((n, text) => n + links(text).length, 0);
  assert.ok(count > 100, `the docs have links (${count})`);
  const broken = brokenLinks(docs, readRepoFile);
  assert.deepEqual(broken, [], `${broken.length} broken link(s):\n${broken.join('\n')}`);
});

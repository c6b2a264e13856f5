/**
 * Keeps the README's reference sections identical to docs/: every block between
 *   <!-- from docs/FILE.md#Heading text -->   and   <!-- end -->
 * is the named section of that file (headings one level deeper, links made relative to
 * the repository root). `tsx scripts/readme.ts` rewrites README.md; test/readme.test.ts
 * fails when the README is out of date.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BLOCK = /(<!-- from (docs\/[\w.-]+\.md)#([^\n]*?) -->\n)[\s\S]*?(<!-- end -->)/g;

/** Lines of `text` with a flag telling whether each is inside a ``` fence. */
function lines(text: string): { line: string; fenced: boolean }[] {
  let fenced = false;
  return text.split('\n').map((line) => {
    const toggles = line.trimStart().startsWith('```');
    const out = { line, fenced: fenced || toggles };
    if (toggles) fenced = !fenced;
    return out;
  });
}

function level(line: string): number {
  const m = /^(#+) /.exec(line);
  return m ? m[1]!.length : 0;
}

/** The body of the section headed `heading` (without the heading line). */
export function section(file: string, heading: string): string {
  const all = lines(readFileSync(join(ROOT, file), 'utf8'));
  const start = all.findIndex(
    (l) => !l.fenced && level(l.line) > 0 && l.line.replace(/^#+ /, '') === heading,
  );
  if (start < 0) throw new Error(`${file} has no heading "${heading}"`);
  const depth = level(all[start]!.line);
  let end = all.length;
  for (let i = start + 1; i < all.length; i++) {
    const l = all[i]!;
    if (!l.fenced && level(l.line) > 0 && level(l.line) <= depth) {
      end = i;
      break;
    }
  }
  return all
    .slice(start + 1, end)
    .map((l) => (!l.fenced && level(l.line) > 0 ? `#${l.line}` : l.line))
    .join('\n')
    .replace(/\]\((?!https?:|#|\/|docs\/)([\w.-]+\.md)/g, '](docs/$1')
    .trim();
}

export function renderReadme(readme: string): string {
  return readme.replace(BLOCK, (_m, open: string, file: string, heading: string, close: string) => {
    return `${open}\n${section(file, heading)}\n\n${close}`;
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const path = join(ROOT, 'README.md');
  const before = readFileSync(path, 'utf8');
  const after = renderReadme(before);
  if (after !== before) writeFileSync(path, after);
  console.log(after === before ? 'README.md is up to date' : 'README.md updated');
}

/**
 * Every citation resolves inside the repository: relative Markdown links in README.md and docs/
 * point at files that exist (and at headings that exist, for `#anchor`s), source comments that
 * cite `docs/<file>.md#anchor` name a real heading, and nothing cites documents that are not in
 * the repository (an outside specification or style guide).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tracked = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' })
  .split('\n')
  .filter((f) => /\.(ts|mjs|md|py|sh)$/.test(f) && !f.includes('node_modules') && existsSync(join(root, f)));

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string): string =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
const anchorsCache = new Map<string, Set<string>>();
function anchors(file: string): Set<string> {
  let a = anchorsCache.get(file);
  if (!a) {
    const text = readFileSync(join(root, file), 'utf8').replace(/```[\s\S]*?```/g, '');
    a = new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1])));
    anchorsCache.set(file, a);
  }
  return a;
}

/** '' when `target` (a repo-relative path, optionally with #anchor) resolves, else why not. */
function resolve(target: string): string {
  const [path, anchor] = target.split('#');
  if (!existsSync(join(root, path))) return `no file ${path}`;
  if (anchor && path.endsWith('.md') && !anchors(path).has(anchor)) return `no heading #${anchor} in ${path}`;
  return '';
}

t.test('relative Markdown links in README.md and docs/ resolve', async (t) => {
  const bad: string[] = [];
  for (const f of tracked.filter((f) => f.endsWith('.md') && (f === 'README.md' || f.startsWith('docs/')))) {
    const text = readFileSync(join(root, f), 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
      const full = target.startsWith('#') ? `${f}${target}` : normalize(join(dirname(f), target));
      const why = resolve(full);
      if (why) bad.push(`${f}: ${target}: ${why}`);
    }
  }
  t.same(bad, []);
});

t.test('source comments citing docs/*.md#anchor name real headings', async (t) => {
  const bad: string[] = [];
  let cites = 0;
  for (const f of tracked.filter((f) => !f.endsWith('.md'))) {
    for (const [target] of readFileSync(join(root, f), 'utf8').matchAll(/docs\/[a-z_]+\.md(#[a-z0-9-]+)?/g)) {
      cites++;
      const why = resolve(target);
      if (why) bad.push(`${f}: ${target}: ${why}`);
    }
  }
  t.ok(cites > 10, `${cites} citations checked`);
  t.same(bad, []);
});

t.test('nothing cites a document outside the repository', async (t) => {
  const outside = /\bspec (Part )?[A-F][0-9]|\bspec's\b|shared\/reference|STYLE\.md|models\.md/;
  const bad = tracked
    .filter((f) => f !== 'test/docs.test.ts')
    .flatMap((f) =>
      readFileSync(join(root, f), 'utf8')
        .split('\n')
        .map((line, i) => [f, i + 1, line] as const),
    )
    .filter(([, , line]) => outside.test(line))
    .map(([f, n, line]) => `${f}:${n}: ${line.trim()}`);
  t.same(bad, []);
});

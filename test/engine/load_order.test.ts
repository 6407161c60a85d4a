/**
 * Any engine file can be the first module a program imports. Each file is imported first in a fresh
 * Node process, then the package root is imported and one op runs forwards and backwards, so a
 * module left half-initialized by a cycle would also show up. The rule that makes this hold is in
 * docs/architecture.md, "Load order".
 *
 * The sources are transpiled once, file by file, with esbuild (what tsx does per process, with the
 * same tsconfig), into a temporary tree that keeps every file and import as it is; each child is
 * then a plain `node` process. That keeps ESM's real evaluation order (no bundling, which would
 * reorder and hoist modules) while sparing each process tsx's start-up, most of the cost.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';
import t from 'tap';

t.setTimeout(600_000); // the runner's per-file limit (package.json) applies as well
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tsFiles = (dir: string): string[] =>
  readdirSync(join(root, dir))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `${dir}/${f}`);
const files = ['engine', 'engine/ops'].flatMap(tsFiles);

/** Every source the engine can reach (engine/ and kernels/, recursively), relative to the root. */
function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(`${dir}/${e.name}`) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : [],
  );
}

/** Transpiles engine/ and kernels/ to `out` as tsx would (same tsconfig), one .js per .ts. */
function transpile(out: string): void {
  const tsconfigRaw = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')) as object;
  for (const f of ['engine', 'kernels'].flatMap(sources)) {
    const { code } = transformSync(readFileSync(join(root, f), 'utf8'), {
      loader: 'ts',
      format: 'esm',
      target: 'es2022',
      sourcefile: f,
      tsconfigRaw,
    });
    mkdirSync(dirname(join(out, f)), { recursive: true });
    writeFileSync(join(out, f.replace(/\.ts$/, '.js')), code);
  }
  writeFileSync(join(out, 'package.json'), '{"type":"module"}');
  symlinkSync(join(root, 'node_modules'), join(out, 'node_modules'), 'dir');
}

/** Imports `file` first, then uses the engine; resolves to '' on success or the process's output. */
function importFirst(tree: string, file: string): Promise<string> {
  const script = `await import('./${file.replace(/\.ts$/, '.js')}');
const vg = await import('./engine/index.js');
const x = vg.tensor([1, 2, 3], { requiresGrad: true });
x.mul(x).sum().backward();
if (x.grad.toArray().join() !== '2,4,6') throw new Error('wrong gradient ' + x.grad.toArray());`;
  return new Promise((resolve) => {
    // A plain Node: tap's process tracking re-adds its hook to NODE_OPTIONS on every spawn (it costs
    // more than the check), so `env -u` drops it in the child itself.
    const args = ['-u', 'NODE_OPTIONS', process.execPath, '--input-type=module', '-e', script];
    const child = spawn('env', args, { cwd: tree });
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

t.test('a module left half-initialized by a cycle fails the check (the harness is not vacuous)', async (t) => {
  const tree = mkdtempSync(join(tmpdir(), 'vlgrad-load-order-'));
  t.teardown(() => rmSync(tree, { recursive: true, force: true }));
  writeFileSync(join(tree, 'package.json'), '{"type":"module"}');
  // b.js runs a's function at load time, before a.js (which imported b.js first) has defined it.
  writeFileSync(join(tree, 'a.js'), "import { two } from './b.js';\nexport const one = () => 1;\nexport { two };\n");
  writeFileSync(join(tree, 'b.js'), "import { one } from './a.js';\nexport const two = one() + 1;\n");
  t.match(await importFirst(tree, 'a.ts'), /ReferenceError/, 'a.js first: ReferenceError');
});

// ~0.3 CPU-s per process; the limit leaves room for a loaded machine.
t.test('every engine file imports first in a fresh process', { timeout: 600_000 }, async (t) => {
  const tree = mkdtempSync(join(tmpdir(), 'vlgrad-load-order-'));
  t.teardown(() => rmSync(tree, { recursive: true, force: true }));
  transpile(tree);
  const results = new Map<string, string>();
  const queue = [...files];
  await Promise.all(
    [0, 1].map(async () => {
      for (let f = queue.shift(); f; f = queue.shift()) results.set(f, await importFirst(tree, f));
    }),
  );
  for (const f of files) t.equal(results.get(f), '', `${f} imports first`);
});

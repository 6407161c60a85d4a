/**
 * The published types need no @types/node: the declarations `npm run build` emits for the
 * browser-safe entry points type-check in a consumer project with `skipLibCheck: false`, no
 * `types` (so no Node globals) and the plain ES2022 library (no DOM either). The consumer imports
 * the package by name through package.json "exports", as an installed copy would be. One
 * declaration emit (about a minute) serves both checks.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';

const ROOT = resolve(import.meta.dirname, '../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const BROWSER_ENTRIES = ['vlgrad', 'vlgrad/nn', 'vlgrad/models', 'vlgrad/data', 'vlgrad/kernels'];

function tsc(args: string[]): { ok: boolean; out: string } {
  try {
    return {
      ok: true,
      out: execFileSync(process.execPath, [TSC, ...args], { cwd: ROOT, encoding: 'utf8', stdio: 'pipe' }),
    };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

const COMPILER = {
  strict: true,
  noEmit: true,
  skipLibCheck: false,
  types: [],
  lib: ['ES2022'],
  target: 'ES2022',
  module: 'NodeNext',
  moduleResolution: 'NodeNext',
};

/** Type-checks a consumer file importing `entries` from the emitted package in `dir`. */
function consumer(dir: string, name: string, entries: readonly string[]): { ok: boolean; out: string } {
  writeFileSync(
    join(dir, `${name}.ts`),
    entries.map((e, i) => `import * as m${i} from '${e}';\nexport const used${i} = Object.keys(m${i});\n`).join(''),
  );
  writeFileSync(join(dir, `${name}.json`), JSON.stringify({ compilerOptions: COMPILER, files: [`${name}.ts`] }));
  return tsc(['-p', join(dir, `${name}.json`)]);
}

t.test('declarations of the entry points, checked as an installed package without @types/node', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vlgrad-types-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pkg = join(dir, 'node_modules/vlgrad');
  const emit = tsc([
    '-p',
    'tsconfig.build.json',
    '--emitDeclarationOnly',
    '--declarationMap',
    'false',
    '--sourceMap',
    'false',
    '--outDir',
    join(pkg, 'dist'),
  ]);
  t.ok(emit.ok, `declarations emitted${emit.ok ? '' : `: ${emit.out.slice(0, 2000)}`}`);
  if (!emit.ok) return;
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: unknown };
  writeFileSync(
    join(pkg, 'package.json'),
    JSON.stringify({ name: 'vlgrad', type: 'module', exports: manifest.exports }),
  );

  const browser = consumer(dir, 'browser', BROWSER_ENTRIES);
  t.ok(
    browser.ok,
    `${BROWSER_ENTRIES.join(', ')} type-check with skipLibCheck false, no types, lib ES2022` +
      `${browser.ok ? '' : `:\n${browser.out.split('\n').slice(0, 40).join('\n')}`}`,
  );
  // Guards the check above against passing vacuously: the Node entry point does need Node's types.
  const node = consumer(dir, 'node', ['vlgrad/node']);
  t.notOk(node.ok, 'vlgrad/node does not type-check without @types/node');
  t.match(node.out, /'node:|process|Buffer|NodeJS/, 'because of Node modules or globals');
});

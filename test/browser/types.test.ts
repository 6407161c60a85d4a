/**
 * The published types need no @types/node: the declarations `npm run build` emits for the
 * browser-safe entry points type-check in a consumer project with `skipLibCheck: false`, no
 * `types` (so no Node globals) and the plain ES2022 library (no DOM either). The consumer imports
 * the package by name through package.json "exports", as an installed copy would be.
 *
 * Everything runs in this process through the TypeScript API: the declarations are emitted for the
 * entry points and what they import, with `noCheck` (declaration emit without the full type-check,
 * which is `tsc --noEmit -p .`'s job), and the two consumer programs share one cache of parsed files.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import ts from 'typescript';

const ROOT = resolve(import.meta.dirname, '../..');
const BROWSER_ENTRIES = ['vlgrad', 'vlgrad/nn', 'vlgrad/models', 'vlgrad/data', 'vlgrad/kernels'];

const COMPILER: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  skipLibCheck: false,
  types: [],
  lib: ['lib.es2022.d.ts'],
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
};

/** Diagnostics as tsc prints them. */
function format(diags: readonly ts.Diagnostic[]): string {
  return ts.formatDiagnostics(diags, {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => ROOT,
    getNewLine: () => '\n',
  });
}

/** The .ts sources of the package.json "exports" entries ("./dist/engine/index.js" -> engine/index.ts). */
function entrySources(exports: Record<string, { default: string }>): string[] {
  return Object.values(exports).map((e) => join(ROOT, e.default.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts')));
}

/** Emits the declarations of `roots` (and what they import) with tsconfig.build.json's options into `outDir`. */
function emitDeclarations(roots: string[], outDir: string): readonly ts.Diagnostic[] {
  const file = join(ROOT, 'tsconfig.build.json');
  const parsed = ts.parseJsonConfigFileContent(ts.readConfigFile(file, ts.sys.readFile).config, ts.sys, ROOT);
  // noCheck: only what the declarations need is type-checked (the same output; emit errors are still reported).
  const options = {
    ...parsed.options,
    noCheck: true,
    emitDeclarationOnly: true,
    declarationMap: false,
    sourceMap: false,
    outDir,
  };
  const program = ts.createProgram(roots, options);
  return [...program.getOptionsDiagnostics(), ...program.getSyntacticDiagnostics(), ...program.emit().diagnostics];
}

t.test('declarations of the entry points, checked as an installed package without @types/node', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vlgrad-types-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pkg = join(dir, 'node_modules/vlgrad');
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    exports: Record<string, { default: string }>;
  };
  const emitted = emitDeclarations(entrySources(manifest.exports), join(pkg, 'dist'));
  t.same(format(emitted), '', 'declarations emitted');
  if (emitted.length > 0) return;
  writeFileSync(
    join(pkg, 'package.json'),
    JSON.stringify({ name: 'vlgrad', type: 'module', exports: manifest.exports }),
  );

  // One host for both consumers: the lib files and the package's declarations are parsed once.
  const host = ts.createCompilerHost(COMPILER);
  const cache = new Map<string, ts.SourceFile | undefined>();
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => {
    if (!cache.has(name)) cache.set(name, getSourceFile(name, lang, ...rest));
    return cache.get(name);
  };
  /** Type-checks a consumer file importing `entries` from the emitted package; returns tsc's report. */
  const consumer = (name: string, entries: readonly string[]): string => {
    const file = join(dir, `${name}.ts`);
    writeFileSync(
      file,
      entries.map((e, i) => `import * as m${i} from '${e}';\nexport const used${i} = Object.keys(m${i});\n`).join(''),
    );
    return format(ts.getPreEmitDiagnostics(ts.createProgram([file], COMPILER, host)));
  };

  const browser = consumer('browser', BROWSER_ENTRIES);
  t.ok(
    browser === '',
    `${BROWSER_ENTRIES.join(', ')} type-check with skipLibCheck false, no types, lib ES2022` +
      `${browser === '' ? '' : `:\n${browser.split('\n').slice(0, 40).join('\n')}`}`,
  );
  // Guards the check above against passing vacuously: the Node entry point does need Node's types.
  const node = consumer('node', ['vlgrad/node']);
  t.not(node, '', 'vlgrad/node does not type-check without @types/node');
  t.match(node, /'node:|process|Buffer|NodeJS/, 'because of Node modules or globals');
});

/**
 * Builds the demo page: esbuild bundles web/main.ts (the page) and web/worker.ts (the engine) into
 * web/dist/ for platform 'browser'. The build fails if a Node built-in is on either import path.
 *
 *   npx tsx web/build.ts        (npm run demo builds first, then serves)
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { recordNodeImports, type NodeImport } from '../test/browser/node_imports.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

/** Bundles the page into web/dist; returns the output files' sizes in bytes. */
export async function buildDemo(): Promise<Record<string, number>> {
  const found: NodeImport[] = [];
  const result = await build({
    entryPoints: ['web/main.ts', 'web/worker.ts'],
    absWorkingDir: ROOT,
    outdir: 'web/dist',
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    sourcemap: true,
    logLevel: 'warning',
    metafile: true,
    plugins: [recordNodeImports(found, ROOT)],
  });
  if (found.length > 0) {
    throw new Error(
      `demo build: Node built-ins on the page's import path: ${found.map((f) => `${f.module} <- ${f.importer}`).join(', ')}`,
    );
  }
  return Object.fromEntries(Object.entries(result.metafile.outputs).map(([k, v]) => [k, v.bytes]));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const sizes = await buildDemo();
  for (const [file, bytes] of Object.entries(sizes))
    if (file.endsWith('.js')) console.log(`${file}: ${(bytes / 1024).toFixed(0)} KiB`);
}

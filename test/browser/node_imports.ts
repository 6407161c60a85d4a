/**
 * Bundles a source entry point with esbuild for platform 'browser' and lists every Node built-in on
 * its import path (with the file that imports it), instead of stopping at esbuild's first
 * "Could not resolve". Shared by the bundle test and the demo build.
 */
import { builtinModules } from 'node:module';
import { build, type Plugin } from 'esbuild';

/** One Node built-in import found on a browser entry point's import path. */
export interface NodeImport {
  module: string;
  importer: string;
}

const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** An esbuild plugin that records every import of a Node built-in (and leaves it external, so the build goes on). */
export function recordNodeImports(found: NodeImport[], root: string): Plugin {
  return {
    name: 'record-node-imports',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        if (!BUILTINS.has(args.path)) return undefined;
        found.push({ module: args.path, importer: args.importer.replace(`${root}/`, '') });
        return { path: args.path, external: true };
      });
    },
  };
}

/** The Node built-ins reachable from `entry` in a browser bundle (empty when it is browser-safe). */
export async function nodeImportsOf(entry: string, root = process.cwd()): Promise<NodeImport[]> {
  const found: NodeImport[] = [];
  await build({
    entryPoints: [entry],
    absWorkingDir: root,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    logLevel: 'silent',
    plugins: [recordNodeImports(found, root)],
  });
  return found;
}

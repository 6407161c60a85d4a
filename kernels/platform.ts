/**
 * What the engine needs from its host, without importing Node: an environment variable, the core
 * count and Node's built-in modules. Every browser-safe module reads the host through here, so a
 * browser bundle contains no `node:` import (bundlers follow static imports and literal dynamic
 * imports; `process.getBuiltinModule` is a plain call they leave alone). In a browser the
 * variables are unset, the core count is `navigator.hardwareConcurrency` and no built-in loads.
 */

interface NodeProcessLike {
  env?: Record<string, string | undefined>;
  versions?: { node?: string };
  getBuiltinModule?: (id: string) => unknown;
}

function nodeProcess(): NodeProcessLike | undefined {
  const p = (globalThis as { process?: NodeProcessLike }).process;
  return p?.versions?.node ? p : undefined;
}

/** True when running under Node.js (not a browser, not a Web Worker). */
export function isNode(): boolean {
  return nodeProcess() !== undefined;
}

/** `process.env[name]` under Node; undefined elsewhere. */
export function envVar(name: string): string | undefined {
  return nodeProcess()?.env?.[name];
}

/**
 * A Node built-in module (e.g. 'node:os') loaded synchronously with `process.getBuiltinModule`
 * (Node >= 20.16); undefined outside Node or on an older Node. The caller gives the type.
 */
export function nodeBuiltin<T>(id: string): T | undefined {
  const get = nodeProcess()?.getBuiltinModule;
  return get ? (get(id) as T) : undefined;
}

/** Logical cores: `os.availableParallelism()` under Node, `navigator.hardwareConcurrency` elsewhere, else 1. */
export function coreCount(): number {
  const os = nodeBuiltin<{ availableParallelism?: () => number; cpus(): unknown[] }>('node:os');
  if (os) return os.availableParallelism?.() ?? os.cpus().length;
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  return nav?.hardwareConcurrency ?? 1;
}

/** Writes a warning: `process.emitWarning` under Node (so --no-warnings silences it), `console.warn` elsewhere. */
export function warn(message: string): void {
  const p = (globalThis as { process?: { emitWarning?: (m: string) => void } }).process;
  if (nodeProcess() && p?.emitWarning) p.emitWarning(message);
  else console.warn(message);
}

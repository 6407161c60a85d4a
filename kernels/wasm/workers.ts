/**
 * Worker threads for the GEMM pool, on either platform: Node's worker_threads (loaded with
 * `process.getBuiltinModule`, so browser bundles carry no Node import) or a browser's Web Workers
 * (started from a Blob URL; the compiled module and the shared memory travel by postMessage).
 */
import { nodeBuiltin } from '../platform.js';

/** A started worker thread, whichever platform made it. */
export interface ThreadHandle {
  terminate(): void;
}
interface NodeWorkerThreads {
  Worker: new (
    src: string,
    o: { eval: true; execArgv: string[]; workerData: unknown },
  ) => ThreadHandle & { unref(): void; on(event: 'error' | 'exit' | 'message', fn: (e: unknown) => void): void };
}
interface WebWorkerLike extends ThreadHandle {
  onmessage: ((e: { data: unknown }) => void) | null;
  onerror: ((e: unknown) => void) | null;
  postMessage(data: unknown): void;
}
type WebWorkerCtor = new (url: string) => WebWorkerLike;

/** Node's worker_threads, or undefined outside Node (or on a Node without `process.getBuiltinModule`). */
function nodeWorkers(): NodeWorkerThreads | undefined {
  return nodeBuiltin<NodeWorkerThreads>('node:worker_threads');
}

/**
 * Whether this thread can run a pool with workers: under Node, always (where worker_threads
 * loads); in a browser, only inside a Worker of a cross-origin isolated page.
 */
export function workersAvailable(): boolean {
  if (nodeWorkers()) return true;
  const g = globalThis as {
    crossOriginIsolated?: boolean;
    Worker?: unknown;
    WorkerGlobalScope?: unknown;
    Blob?: unknown;
  };
  return (
    g.crossOriginIsolated === true &&
    typeof g.Worker === 'function' &&
    g.WorkerGlobalScope !== undefined &&
    typeof g.Blob === 'function'
  );
}

/**
 * Starts one worker running `source.node` (a Node worker_threads eval script, which reads
 * `workerData`) or `source.web` (a Web Worker script, which gets `data` as its first message).
 * `onReady` fires when the worker posts the message 'ready' (on this thread's event loop);
 * `onFail` if it cannot start or throws; `onExit` (Node only) when its thread ends, whatever
 * the reason.
 */
export function spawn(
  source: { node: string; web: string },
  data: Record<string, unknown>,
  onReady: () => void,
  onFail: (e: unknown) => void,
  onExit: () => void = () => {},
): ThreadHandle {
  const node = nodeWorkers();
  if (node) {
    // execArgv: [] because no TS loader is needed: the worker is plain JS.
    const w = new node.Worker(source.node, { eval: true, execArgv: [], workerData: data });
    // Referenced until it reports ready, so `await pool.whenReady` keeps the process alive; idle
    // workers after that must not. Events arrive on this thread's event loop, i.e. between
    // synchronous calls, never during one.
    w.on('error', onFail);
    w.on('exit', onExit);
    w.on('message', (m) => {
      if (m !== 'ready') return;
      w.unref();
      onReady();
    });
    return w;
  }
  const g = globalThis as unknown as {
    Worker: WebWorkerCtor;
    Blob: new (parts: string[], o: { type: string }) => unknown;
    URL: { createObjectURL(b: unknown): string; revokeObjectURL(u: string): void };
  };
  const url = g.URL.createObjectURL(new g.Blob([source.web], { type: 'text/javascript' }));
  const w = new g.Worker(url);
  w.onmessage = () => {
    w.onmessage = null;
    g.URL.revokeObjectURL(url);
    onReady();
  };
  w.onerror = (e) => onFail(e);
  w.postMessage(data); // the compiled module and the shared memory are cloned to the worker
  return w;
}

/**
 * Synchronous multi-threading for the GEMM: N-1 worker_threads instantiate the same compiled
 * module on the same shared memory. A call publishes the job, wakes the workers and joins them:
 * every thread claims chunks of work units (MR-row tiles across the batch) from a shared counter
 * with Atomics.add until none are left, then the caller blocks in `Atomics.wait` until every
 * worker is done. The caller sees an ordinary synchronous function, as the engine's CPU backend
 * requires. Claiming (instead of a fixed split) matters on a shared machine: when the OS
 * parks one thread, the others take its chunks instead of waiting for it.
 *
 * Control words live at the bottom of the shared memory (memory.ts: CONTROL_BYTES):
 *   GEN      bumped once per job; workers sleep on it
 *   PENDING  workers still running the current job; the caller sleeps on it
 *   EPOCH    which pool owns the workers; a worker whose pool was shut down exits
 *   FAILED   set by a worker whose job threw (the caller rethrows)
 *   NEXT     the next unclaimed work unit
 *   UNITS, CHUNK, DESC, ACTIVE   the job: unit count, units per claim, descriptor address,
 *            threads taking part (workers with id >= ACTIVE sit this job out)
 *   SLOT+t   thread t's scratch address
 *
 * Threads are Node worker_threads under Node and Web Workers in a browser. A browser gives
 * workers only where shared memory exists (the page is `crossOriginIsolated`) and blocking is
 * allowed (`Atomics.wait` throws on a page's main thread, so the caller must itself be a
 * Worker); elsewhere the pool has no workers and every job runs on the calling thread. Web
 * Workers start asynchronously and need their creator's event loop to do so: until every worker
 * has reported in (`whenReady`), jobs run on the calling thread alone, never waiting on them.
 */
import { spawn, workersAvailable, type ThreadHandle } from './workers.js';
import type { WasmHeap } from './memory.js';

const GEN = 0;
const PENDING = 1;
const EPOCH = 2;
const FAILED = 3;
const NEXT = 4;
const UNITS = 5;
const CHUNK = 6;
const DESC = 7;
const ACTIVE = 8;
const SLOT = 16;
/** Most threads the control block has slots for. */
export const MAX_THREADS = 64;

/**
 * How long a thread polls before sleeping in Atomics.wait. A futex wake-up costs tens of
 * microseconds; back-to-back matmuls (a training step) mostly find the next job while polling.
 */
export const SPIN_MS = 0.05;
/**
 * Chunks per thread. Each chunk re-packs B (O(KN)), so fewer is cheaper on an idle machine;
 * more balances better when threads get preempted. Two costs ~2% at 512^2.
 */
const CHUNKS_PER_THREAD = 2;

/** The signature of the module's exported `gemm(desc, u0, u1, scratch)`. */
export type GemmFn = (desc: number, u0: number, u1: number, scratch: number) => void;

// Plain JS evaluated inside each worker (no TS loader there). Its claim loop mirrors `claim`.
// WORKER_BODY runs with `workerData` bound; each platform's prelude binds it.
const NODE_PRELUDE = `const { workerData } = require('node:worker_threads');`;
const WEB_PRELUDE = `self.onmessage = (e) => { self.onmessage = null; self.postMessage('ready'); run(e.data); };`;
const WORKER_BODY = `
function run(workerData) {
const { module, memory, id, gen, epoch } = workerData;
const gemm = new WebAssembly.Instance(module, { env: { memory } }).exports.gemm;
const ctl = new Int32Array(memory.buffer, 0, ${SLOT + MAX_THREADS});
let seen = gen;
for (;;) {
  const until = performance.now() + ${SPIN_MS};
  while (Atomics.load(ctl, ${GEN}) === seen && performance.now() < until);
  Atomics.wait(ctl, ${GEN}, seen);
  seen = Atomics.load(ctl, ${GEN});
  if (Atomics.load(ctl, ${EPOCH}) !== epoch) break;
  try {
    if (id < ctl[${ACTIVE}]) {
      const units = ctl[${UNITS}], chunk = ctl[${CHUNK}], desc = ctl[${DESC}], scratch = ctl[${SLOT} + id];
      for (let u0; (u0 = Atomics.add(ctl, ${NEXT}, chunk)) < units;) gemm(desc, u0, Math.min(units, u0 + chunk), scratch);
    }
  } catch (e) {
    Atomics.store(ctl, ${FAILED}, 1);
  }
  if (Atomics.sub(ctl, ${PENDING}, 1) === 1) Atomics.notify(ctl, ${PENDING});
}
}
`;

/** A fixed set of threads (the caller plus `size - 1` workers) that run GEMM jobs. */
export class GemmPool {
  private readonly workers: ThreadHandle[] = [];
  private readonly scratch: number[] = [];
  private readonly ctl: Int32Array;
  private started = 0;
  /** Resolves once every worker runs its loop (at once under Node); rejects if one fails to start. */
  readonly whenReady: Promise<void>;

  /**
   * @param size total threads including the caller (1 = no workers)
   * @param scratchBytes per-thread scratch each thread's GEMM needs
   */
  constructor(
    private readonly heap: WasmHeap,
    module: WebAssembly.Module,
    private readonly gemm: GemmFn,
    readonly size: number,
    scratchBytes: number,
  ) {
    if (!(Number.isInteger(size) && size >= 1 && size <= MAX_THREADS)) {
      throw new RangeError(`thread count ${size} outside [1, ${MAX_THREADS}]`);
    }
    this.ctl = heap.i32(0, SLOT + MAX_THREADS);
    for (let t = 0; t < size; t++) this.scratch.push(heap.alloc(scratchBytes));
    this.scratch.forEach((p, t) => {
      this.ctl[SLOT + t] = p;
    });
    const gen = Atomics.load(this.ctl, GEN);
    const epoch = Atomics.load(this.ctl, EPOCH);
    if (size > 1 && !workersAvailable()) {
      throw new RangeError(
        `GemmPool: ${size} threads need workers, which this context lacks ` +
          '(a browser page must be crossOriginIsolated and the pool must live in a Worker); use 1 thread',
      );
    }
    let ready = (): void => {},
      fail = (_e: unknown): void => {};
    this.whenReady = new Promise<void>((resolve, reject) => {
      ready = resolve;
      fail = reject;
    });
    const onReady = (): void => {
      if (++this.started === size - 1) ready();
    };
    const onFail = (e: unknown): void =>
      fail(new Error(`GemmPool: a worker failed to start (${String((e as { message?: string }).message ?? e)})`));
    if (size === 1) ready();
    for (let id = 1; id < size; id++) {
      const data = { module, memory: heap.memory, id, gen, epoch };
      this.workers.push(
        spawn(
          { node: `${NODE_PRELUDE}\n${WORKER_BODY}\nrun(workerData);`, web: `${WEB_PRELUDE}\n${WORKER_BODY}` },
          data,
          onReady,
          onFail,
        ),
      );
    }
    this.whenReady.catch(() => {}); // a failed start leaves jobs on the calling thread; callers that await see it
  }

  /** Whether every worker has started, so jobs may use them. */
  get ready(): boolean {
    return this.started === this.workers.length;
  }

  /**
   * Runs job `desc` over work units [0, units) on up to `threads` threads and returns when it
   * is done. Chunks are contiguous unit ranges of at least `minChunk` units; whichever thread
   * computes a unit computes it exactly as a single thread would.
   */
  run(desc: number, units: number, threads = this.size, minChunk = 1): void {
    const n = this.ready ? Math.max(1, Math.min(threads, this.size, Math.ceil(units / minChunk))) : 1;
    const ctl = this.ctl;
    if (n === 1) return this.gemm(desc, 0, units, this.scratch[0]!);
    ctl[UNITS] = units;
    ctl[CHUNK] = Math.max(minChunk, Math.ceil(units / (n * CHUNKS_PER_THREAD)));
    ctl[DESC] = desc;
    ctl[ACTIVE] = n;
    Atomics.store(ctl, NEXT, 0);
    Atomics.store(ctl, FAILED, 0);
    Atomics.store(ctl, PENDING, this.workers.length);
    Atomics.add(ctl, GEN, 1);
    Atomics.notify(ctl, GEN);
    try {
      this.claim();
    } finally {
      // Even if our share threw, the workers must finish before the next job reuses the slots.
      this.join();
    }
    if (Atomics.load(ctl, FAILED) !== 0) throw new Error('wasm GEMM failed in a worker thread');
  }

  /** Blocks until every worker has finished the current job. */
  private join(): void {
    const ctl = this.ctl;
    const until = performance.now() + SPIN_MS;
    while (Atomics.load(ctl, PENDING) !== 0 && performance.now() < until);
    for (let p = Atomics.load(ctl, PENDING); p !== 0; p = Atomics.load(ctl, PENDING)) {
      Atomics.wait(ctl, PENDING, p);
    }
  }

  /** The caller's share: claim chunks until the job's units run out. */
  private claim(): void {
    const ctl = this.ctl;
    const units = ctl[UNITS]!,
      chunk = ctl[CHUNK]!,
      desc = ctl[DESC]!;
    for (let u0: number; (u0 = Atomics.add(ctl, NEXT, chunk)) < units; ) {
      this.gemm(desc, u0, Math.min(units, u0 + chunk), this.scratch[0]!);
    }
  }

  /** Stops the workers and frees the scratch. The pool is unusable afterwards. */
  shutdown(): void {
    Atomics.add(this.ctl, EPOCH, 1);
    Atomics.add(this.ctl, GEN, 1);
    Atomics.notify(this.ctl, GEN);
    for (const w of this.workers) void w.terminate();
    this.workers.length = 0;
    for (const p of this.scratch) this.heap.free(p);
    this.scratch.length = 0;
  }
}

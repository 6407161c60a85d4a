/**
 * Synchronous multi-threading for the GEMM: N-1 worker_threads instantiate the same compiled
 * module on the same shared memory; a call splits the job's work units (MR-row tiles across
 * the batch) into N contiguous ranges, wakes the workers, computes range 0 on the calling
 * thread and then blocks in `Atomics.wait` until every worker is done. The caller sees an
 * ordinary synchronous function, as the engine's CPU backend requires.
 *
 * Control words live at the bottom of the shared memory (memory.ts: CONTROL_BYTES):
 *   GEN      bumped once per job; workers sleep on it
 *   PENDING  workers still running the current job; the caller sleeps on it
 *   EPOCH    which pool owns the workers; a worker whose pool was shut down exits
 *   FAILED   set by a worker whose job threw (the caller rethrows)
 *   SLOT+4t  thread t's (u0, u1, scratch, desc)
 */
import { Worker } from 'node:worker_threads';
import type { WasmHeap } from './memory.js';

const GEN = 0;
const PENDING = 1;
const EPOCH = 2;
const FAILED = 3;
const SLOT = 16;
/** Most threads the control block has slots for. */
export const MAX_THREADS = 64;

/**
 * How long a thread polls before sleeping in Atomics.wait. A futex wake-up costs tens of
 * microseconds; back-to-back matmuls (a training step) mostly find the next job while polling.
 */
export const SPIN_MS = 0.05;

/** The signature of the module's exported `gemm(desc, u0, u1, scratch)`. */
export type GemmFn = (desc: number, u0: number, u1: number, scratch: number) => void;

// Plain JS evaluated inside each worker (no TS loader there). It mirrors `run` below.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, id, gen, epoch } = workerData;
const gemm = new WebAssembly.Instance(module, { env: { memory } }).exports.gemm;
const ctl = new Int32Array(memory.buffer, 0, ${SLOT + 4 * MAX_THREADS});
const s = ${SLOT} + 4 * id;
let seen = gen;
for (;;) {
  const until = performance.now() + ${SPIN_MS};
  while (Atomics.load(ctl, ${GEN}) === seen && performance.now() < until);
  Atomics.wait(ctl, ${GEN}, seen);
  seen = Atomics.load(ctl, ${GEN});
  if (Atomics.load(ctl, ${EPOCH}) !== epoch) break;
  try {
    if (ctl[s] < ctl[s + 1]) gemm(ctl[s + 3], ctl[s], ctl[s + 1], ctl[s + 2]);
  } catch (e) {
    Atomics.store(ctl, ${FAILED}, 1);
  }
  if (Atomics.sub(ctl, ${PENDING}, 1) === 1) Atomics.notify(ctl, ${PENDING});
}
`;

/** A fixed set of threads (the caller plus `size - 1` workers) that run GEMM jobs. */
export class GemmPool {
  private readonly workers: Worker[] = [];
  private readonly scratch: number[] = [];
  private readonly ctl: Int32Array;

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
    this.ctl = heap.i32(0, SLOT + 4 * MAX_THREADS);
    for (let t = 0; t < size; t++) this.scratch.push(heap.alloc(scratchBytes));
    const gen = Atomics.load(this.ctl, GEN);
    const epoch = Atomics.load(this.ctl, EPOCH);
    for (let id = 1; id < size; id++) {
      const w = new Worker(WORKER_SOURCE, {
        eval: true,
        execArgv: [], // no TS loaders: the worker is plain JS
        workerData: { module, memory: heap.memory, id, gen, epoch },
      });
      w.unref(); // idle workers must not keep the process alive
      this.workers.push(w);
    }
  }

  /**
   * Runs job `desc` over work units [0, units) on all threads and returns when it is done.
   * Thread t takes the contiguous range [t*units/size, (t+1)*units/size), so each output
   * element is computed by one thread exactly as a single thread would.
   */
  run(desc: number, units: number, threads = this.size): void {
    const n = Math.max(1, Math.min(threads, this.size, units));
    const ctl = this.ctl;
    for (let t = 0; t < this.size; t++) {
      const s = SLOT + 4 * t;
      ctl[s] = t < n ? Math.floor((t * units) / n) : 0;
      ctl[s + 1] = t < n ? Math.floor(((t + 1) * units) / n) : 0;
      ctl[s + 2] = this.scratch[t]!;
      ctl[s + 3] = desc;
    }
    if (n > 1) {
      Atomics.store(ctl, FAILED, 0);
      Atomics.store(ctl, PENDING, this.workers.length);
      Atomics.add(ctl, GEN, 1);
      Atomics.notify(ctl, GEN);
    }
    this.gemm(desc, ctl[SLOT]!, ctl[SLOT + 1]!, this.scratch[0]!);
    if (n > 1) {
      const until = performance.now() + SPIN_MS;
      while (Atomics.load(ctl, PENDING) !== 0 && performance.now() < until);
      for (let p = Atomics.load(ctl, PENDING); p !== 0; p = Atomics.load(ctl, PENDING)) {
        Atomics.wait(ctl, PENDING, p);
      }
      if (Atomics.load(ctl, FAILED) !== 0) throw new Error('wasm GEMM failed in a worker thread');
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

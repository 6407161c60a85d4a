/**
 * Synchronous multi-threading for the GEMM: N-1 worker_threads instantiate the same compiled
 * module on the same shared memory. A call publishes the job, wakes the workers and joins them:
 * every thread claims chunks of work units (MR-row tiles across the batch) from a shared counter
 * with Atomics.add until none are left, then the caller blocks in `Atomics.wait` until every
 * worker is done. The caller sees an ordinary synchronous function, as the engine's CPU backend
 * requires. Claiming (instead of a fixed split) matters on a shared machine: when the OS
 * parks one thread, the others take its chunks instead of waiting for it.
 *
 * Each pool owns a control block allocated from the heap (never freed, never shared with
 * another pool, so a worker of a retired pool can never touch a later pool's job):
 *   GEN      bumped once per job; workers sleep on it
 *   PENDING  workers still running the current job; the caller sleeps on it
 *   EPOCH    bumped when the pool is shut down; a worker that sees it change exits
 *   FAILED   set by a worker whose job threw (the caller rethrows)
 *   NEXT     the next unclaimed work unit
 *   UNITS, CHUNK, DESC, ACTIVE   the job: unit count, units per claim, descriptor address,
 *            threads taking part (workers with id >= ACTIVE sit this job out)
 *   SLOT+t   thread t's scratch address
 *   CLAIM+t  the first unit of the chunk worker t is computing, -1 while it computes none
 *   DONE+t   the last job (GEN value) worker t finished; -1 until it has started
 *
 * Watchdog. Twice a long training run under heavy load hung with every thread asleep and the
 * caller waiting on PENDING. Review found no lost wake-up among live threads (GEN and PENDING
 * are only changed by atomic read-modify-writes, both waits re-check their word, and a worker
 * that finishes before the caller waits leaves PENDING at 0, which `Atomics.wait` sees). What
 * does hang the old protocol is a worker that is gone: one that died or never started leaves
 * PENDING above 0 forever, and under Node the 'error'/'exit' events that would say so are
 * delivered on the caller's event loop, which the blocked caller never runs. So the caller now
 * waits in bounded slices; when no worker has made progress for the stall limit it names the
 * stalled workers and their job on stderr, computes the chunks they had claimed itself (a
 * chunk computed again from scratch gives the same bits; a job that accumulates into C cannot
 * be redone and throws instead), and retires the pool; the next call starts fresh workers.
 * This is a watchdog, not a proof that the cause was a dead worker.
 *
 * Threads are Node worker_threads under Node and Web Workers in a browser. A browser gives
 * workers only where shared memory exists (the page is `crossOriginIsolated`) and blocking is
 * allowed (`Atomics.wait` throws on a page's main thread, so the caller must itself be a
 * Worker); elsewhere the pool has no workers and every job runs on the calling thread.
 *
 * Start-up. Workers boot asynchronously (a Node worker takes ~50-100 ms on a loaded 2-core
 * machine; a Web Worker needs its creator's event loop). Each one instantiates the module, runs
 * an optional warm-up job (so V8 has compiled and tiered up the kernel and the worker's scratch
 * is faulted in), then checks in by writing DONE+t and posting 'ready' (`whenReady`). Until every worker has checked in, jobs run
 * on the calling thread alone and never wait for a booting worker: the first calls of a process
 * used to wait for the boot, which made the first 512^3 product on 2 threads ~4x slower than on 1.
 */
import { spawn, workersAvailable, type ThreadHandle } from './workers.js';
import type { WasmHeap } from './memory.js';
import { envVar } from '../platform.js';

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
const CLAIM = SLOT + MAX_THREADS;
const DONE = CLAIM + MAX_THREADS;
const CONTROL_WORDS = DONE + MAX_THREADS;

/**
 * How long a thread polls before sleeping in Atomics.wait. A futex wake-up costs tens of
 * microseconds; back-to-back matmuls mostly find the next job while polling. In a transformer
 * layer step the products are 0.2-2 ms apart (GELU, layer norm, attention run between them), so a
 * 0.05 ms poll missed most of them: 0.5 ms took the step from ~47 to ~46 ms on an idle 2-core box
 * (two rounds; 2 ms gained nothing more). Workers poll only after a job that woke them (products
 * too small to share run on the caller alone), so a step of small products keeps them asleep.
 */
export const SPIN_MS = 0.5;
/**
 * Chunks per thread. Each chunk re-packs B (O(KN)), so fewer is cheaper on an idle machine;
 * more balances better when threads get preempted. Two costs ~2% at 512^2.
 */
const CHUNKS_PER_THREAD = 2;
/** The caller re-checks the workers this often while it waits (ms). */
const JOIN_SLICE_MS = 250;
/**
 * Default stall limit (ms): how long the caller waits without any worker making progress
 * before the watchdog acts. A preempted thread on a machine at load 20 still runs within a
 * second; the limit also grows with the caller's own share of the job (see `join`).
 */
export const DEFAULT_STALL_MS = 30_000;

/** The signature of the module's exported `gemm(desc, u0, u1, scratch)`. */
export type GemmFn = (desc: number, u0: number, u1: number, scratch: number) => void;

/** Pool options beyond the thread count. */
export interface GemmPoolOptions {
  /** Watchdog stall limit in ms (default: VLGRAD_POOL_STALL_MS, else DEFAULT_STALL_MS). */
  stallMs?: number;
  /** Where watchdog reports go (default: console.error). */
  report?: (message: string) => void;
  /**
   * A job each worker runs `reps` times before it checks in, on units [id * units, (id + 1) *
   * units) of descriptor `desc` (its output is scratch): the worker's first real job then finds
   * the kernel compiled and tiered up and its scratch memory faulted in.
   */
  warmUp?: { desc: number; units: number; reps: number };
}

// Plain JS evaluated inside each worker (no TS loader there). Its claim loop mirrors `claim`.
// WORKER_BODY runs with `workerData` bound; each platform's prelude binds it.
// `checkedIn` tells the creator (by message: `whenReady`) that the worker runs its loop.
const NODE_PRELUDE = `const { workerData, parentPort } = require('node:worker_threads');
const checkedIn = () => parentPort.postMessage('ready');`;
const WEB_PRELUDE = `const checkedIn = () => self.postMessage('ready');
self.onmessage = (e) => { self.onmessage = null; run(e.data); };`;
const WORKER_BODY = `
function run(workerData) {
const { module, memory, id, gen, epoch, at, warm } = workerData;
const gemm = new WebAssembly.Instance(module, { env: { memory } }).exports.gemm;
const ctl = new Int32Array(memory.buffer, at, ${CONTROL_WORDS});
if (warm) {
  // Before checking in: compile and tier up the kernel, fault in this thread's scratch.
  try {
    for (let r = 0; r < warm.reps; r++) gemm(warm.desc, id * warm.units, (id + 1) * warm.units, ctl[${SLOT} + id]);
  } catch (e) {} // a warm-up is an optimisation: a real job reports any failure
}
let seen = gen;
Atomics.store(ctl, ${DONE} + id, gen); // checked in: from now on jobs may count on this worker
checkedIn();
for (;;) {
  const until = performance.now() + ${SPIN_MS};
  while (Atomics.load(ctl, ${GEN}) === seen && performance.now() < until);
  Atomics.wait(ctl, ${GEN}, seen);
  const now = Atomics.load(ctl, ${GEN});
  if (now === seen) continue; // woken without a new job: nothing to do
  seen = now;
  if (Atomics.load(ctl, ${EPOCH}) !== epoch) break;
  try {
    if (id < ctl[${ACTIVE}]) {
      const units = ctl[${UNITS}], chunk = ctl[${CHUNK}], desc = ctl[${DESC}], scratch = ctl[${SLOT} + id];
      for (let u0; (u0 = Atomics.add(ctl, ${NEXT}, chunk)) < units;) {
        Atomics.store(ctl, ${CLAIM} + id, u0);
        gemm(desc, u0, Math.min(units, u0 + chunk), scratch);
      }
    }
  } catch (e) {
    Atomics.store(ctl, ${FAILED}, 1);
  }
  Atomics.store(ctl, ${CLAIM} + id, -1);
  Atomics.store(ctl, ${DONE} + id, seen);
  if (Atomics.sub(ctl, ${PENDING}, 1) === 1) Atomics.notify(ctl, ${PENDING});
}
}
`;

/** A fixed set of threads (the caller plus `size - 1` workers) that run GEMM jobs. */
export class GemmPool {
  private readonly workers: ThreadHandle[] = [];
  private readonly scratch: number[] = [];
  private readonly ctl: Int32Array;
  private readonly stallMs: number;
  private readonly report: (message: string) => void;
  private started = 0;
  /** Set once every worker has checked in (read from shared memory, so no event loop is needed). */
  private checkedIn = false;
  private readonly createdAt = performance.now();
  private slowStartReported = false;
  /** Workers known to have exited (Node delivers this between calls, on the event loop). */
  private readonly exited = new Set<number>();
  private isRetired = false;
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
    options: GemmPoolOptions = {},
  ) {
    if (!(Number.isInteger(size) && size >= 1 && size <= MAX_THREADS)) {
      throw new RangeError(`thread count ${size} outside [1, ${MAX_THREADS}]`);
    }
    if (size > 1 && !workersAvailable()) {
      throw new RangeError(
        `GemmPool: ${size} threads need workers, which this context lacks ` +
          '(a browser page must be crossOriginIsolated and the pool must live in a Worker); use 1 thread',
      );
    }
    const env = Number(envVar('VLGRAD_POOL_STALL_MS') ?? NaN);
    this.stallMs = options.stallMs ?? (env > 0 ? env : DEFAULT_STALL_MS);
    this.report = options.report ?? ((m) => console.error(m));
    // A fresh block per pool, never freed: a straggler of a retired pool may still read its own.
    const at = heap.alloc(4 * CONTROL_WORDS);
    this.ctl = heap.i32(at, CONTROL_WORDS);
    this.ctl.fill(0);
    for (let t = 0; t < size; t++) this.scratch.push(heap.alloc(scratchBytes));
    this.scratch.forEach((p, t) => {
      this.ctl[SLOT + t] = p;
      this.ctl[CLAIM + t] = -1;
      this.ctl[DONE + t] = -1;
    });
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
      const data = { module, memory: heap.memory, id, gen: 0, epoch: 0, at, warm: options.warmUp };
      this.workers.push(
        spawn(
          { node: `${NODE_PRELUDE}\n${WORKER_BODY}\nrun(workerData);`, web: `${WEB_PRELUDE}\n${WORKER_BODY}` },
          data,
          onReady,
          onFail,
          () => this.exited.add(id),
        ),
      );
    }
    this.whenReady.catch(() => {}); // a failed start leaves jobs on the calling thread; callers that await see it
  }

  /**
   * Whether every worker has checked in (started, warmed up, and waiting for jobs), so jobs may
   * use them. Until then jobs run on the calling thread alone: a call never waits for a worker
   * to boot (~50-100 ms for a Node worker on a loaded machine).
   */
  get ready(): boolean {
    if (!this.checkedIn) {
      const ctl = this.ctl;
      this.checkedIn = this.workers.every((_, i) => Atomics.load(ctl, DONE + i + 1) !== -1);
    }
    return this.checkedIn;
  }

  /** True once the pool has been shut down or retired by the watchdog: the owner must make a new one. */
  get retired(): boolean {
    return this.isRetired;
  }

  /** Thread t's scratch address (0 = the caller). For tests of the protocol. */
  scratchAddress(t: number): number {
    return this.scratch[t]!;
  }

  /**
   * Runs job `desc` over work units [0, units) on up to `threads` threads and returns when it
   * is done. Chunks are contiguous unit ranges of at least `minChunk` units; whichever thread
   * computes a unit computes it exactly as a single thread would. `redoable`: whether a chunk
   * may be computed a second time from scratch (false when the job accumulates into its
   * output), which is what the watchdog does for a stalled worker's chunk.
   */
  run(desc: number, units: number, threads = this.size, minChunk = 1, redoable = true): void {
    if (this.isRetired) throw new Error('GemmPool.run: the pool was shut down');
    if (this.exited.size > 0) {
      // A worker is gone (Node told us between calls): never wait for it.
      this.report(
        `vlgrad: wasm GEMM pool: worker(s) ${[...this.exited].join(', ')} exited; ` +
          'this job runs on the calling thread and the next call starts new workers',
      );
      try {
        return this.gemm(desc, 0, units, this.scratch[0]!);
      } finally {
        this.shutdown();
      }
    }
    const ready = this.ready;
    if (!ready) this.reportSlowStart();
    const n = ready ? Math.max(1, Math.min(threads, this.size, Math.ceil(units / minChunk))) : 1;
    const ctl = this.ctl;
    if (n === 1) return this.gemm(desc, 0, units, this.scratch[0]!);
    ctl[UNITS] = units;
    ctl[CHUNK] = Math.max(minChunk, Math.ceil(units / (n * CHUNKS_PER_THREAD)));
    ctl[DESC] = desc;
    ctl[ACTIVE] = n;
    Atomics.store(ctl, NEXT, 0);
    Atomics.store(ctl, FAILED, 0);
    Atomics.store(ctl, PENDING, this.workers.length);
    const gen = Atomics.add(ctl, GEN, 1) + 1;
    Atomics.notify(ctl, GEN);
    const t0 = performance.now();
    try {
      this.claim();
    } finally {
      // Even if our share threw, the workers must finish before the next job reuses the slots.
      this.join(gen, performance.now() - t0, redoable);
    }
    if (Atomics.load(ctl, FAILED) !== 0) throw new Error('wasm GEMM failed in a worker thread');
  }

  /**
   * Blocks until every worker has finished job `gen`, in bounded slices. Progress is any change
   * of PENDING or of a worker's claim; after `stallMs` (plus 20x the caller's own share, so a
   * huge job on a loaded machine is not mistaken for a stall) without any, the watchdog acts.
   */
  private join(gen: number, ownShareMs: number, redoable: boolean): void {
    const ctl = this.ctl;
    const until = performance.now() + SPIN_MS;
    while (Atomics.load(ctl, PENDING) !== 0 && performance.now() < until);
    const limit = this.stallMs + 20 * ownShareMs;
    let state = this.progressKey();
    let since = performance.now();
    for (let p = Atomics.load(ctl, PENDING); p !== 0; p = Atomics.load(ctl, PENDING)) {
      Atomics.wait(ctl, PENDING, p, Math.min(JOIN_SLICE_MS, limit));
      const now = performance.now();
      const key = this.progressKey();
      if (key !== state) {
        state = key;
        since = now;
      } else if (now - since >= limit && Atomics.load(ctl, PENDING) !== 0) {
        return this.rescue(gen, now - since, redoable);
      }
    }
  }

  /** Says once if the workers have not checked in within the stall limit (jobs then stay on this thread). */
  private reportSlowStart(): void {
    const waited = performance.now() - this.createdAt;
    if (this.slowStartReported || this.isRetired || waited < this.stallMs) return;
    this.slowStartReported = true;
    const missing = this.workers.map((_, i) => i + 1).filter((id) => Atomics.load(this.ctl, DONE + id) === -1);
    this.report(
      `vlgrad: wasm GEMM pool: worker(s) ${missing.join(', ')} not started after ${(waited / 1000).toFixed(1)} s; ` +
        'jobs run on the calling thread until they are',
    );
  }

  private progressKey(): string {
    const ctl = this.ctl;
    let key = String(Atomics.load(ctl, PENDING));
    for (let id = 1; id <= this.workers.length; id++) key += `,${Atomics.load(ctl, CLAIM + id)}`;
    return key;
  }

  /** The watchdog: report the stalled workers, finish their chunks here, retire the pool. */
  private rescue(gen: number, stalledMs: number, redoable: boolean): void {
    const ctl = this.ctl;
    const units = ctl[UNITS]!,
      chunk = ctl[CHUNK]!;
    const stalled: { id: number; claim: number; done: number }[] = [];
    for (let id = 1; id <= this.workers.length; id++) {
      const done = Atomics.load(ctl, DONE + id);
      if (done !== gen) stalled.push({ id, claim: Atomics.load(ctl, CLAIM + id), done });
    }
    const held = stalled.filter((s) => s.claim >= 0);
    const who = stalled
      .map(({ id, claim, done }) =>
        claim >= 0
          ? `${id} (inside units [${claim}, ${Math.min(units, claim + chunk)}))`
          : done < 0
            ? `${id} (never started)`
            : `${id} (idle since job ${done})`,
      )
      .join(', ');
    const what =
      `vlgrad: wasm GEMM pool watchdog: worker(s) ${who} made no progress for ${(stalledMs / 1000).toFixed(1)} s ` +
      `on job ${gen} (${units} units, chunks of ${chunk}, ${ctl[ACTIVE]} threads)`;
    const mine = this.scratch[0]!;
    // The stalled workers' scratch may still be in use by them: leak it rather than free it.
    for (const { id } of stalled) this.scratch[id] = 0;
    if (held.length > 0 && !redoable) {
      this.shutdown();
      throw new Error(`${what}; the job accumulates into its output, so it cannot be redone here`);
    }
    this.report(`${what}; finishing the job on the calling thread and starting new workers on the next call`);
    for (const { claim } of held) this.gemm(ctl[DESC]!, claim, Math.min(units, claim + chunk), mine);
    this.shutdown();
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

  /** Stops the workers and frees the scratch. The pool is unusable afterwards (`retired`). */
  shutdown(): void {
    if (this.isRetired) return;
    this.isRetired = true;
    Atomics.add(this.ctl, EPOCH, 1);
    Atomics.add(this.ctl, GEN, 1);
    Atomics.notify(this.ctl, GEN);
    for (const w of this.workers) void w.terminate();
    this.workers.length = 0;
    for (const p of this.scratch) if (p !== 0) this.heap.free(p);
    this.scratch.length = 0;
  }
}

/**
 * vlgrad's fast CPU kernels. `matmul` sends float32 products big enough to pay for it to an
 * emitted WebAssembly SIMD GEMM (matmul_kernel.ts) running on `threads()` threads over a shared
 * memory (pool.ts), and everything else (float64, tiny float32, no WASM SIMD) to the plain-TS
 * fallback. Results do not depend on the thread count. `softmax`, `layerNorm` and their backwards
 * are fused row-wise kernels on the same heap, single-threaded (rowwise.ts, re-exported here).
 *
 * Operands that live outside the wasm heap are copied in and out per call (O(MK + KN + MN)
 * against O(MKN) of work); arrays from `alloc` already live there and are used in place.
 * The heap and the worker pool are process-wide (one per thread count), created on first use.
 */
import { moduleBytes } from './module_bytes.js';
import { f32, f32x4, ModuleBuilder } from './emit.js';
import { matmulFallback } from './fallback.js';
import type { GeluFns } from './gelu_kernel.js';
import {
  buildGemmModule,
  DEFAULT_CONFIG,
  Desc,
  DESC_BYTES,
  GELU_KINDS,
  GELU_UNIT,
  scratchBytes,
  writeDesc,
} from './matmul_kernel.js';
import { poolWarmUp, prefault, warmUpHere, warmUpJob } from './warm_up.js';
import { runStartHooks } from './start_hooks.js';
import { HeapLimitError, WasmHeap } from './memory.js';
import { ResidentArrays } from './resident.js';
import { extents, isEmptyMatmul, planMatmul, type FloatArray, type MatmulOptions, type MatmulPlan } from './options.js';
import { GemmPool, MAX_THREADS, type GemmFn } from './pool.js';
import { workersAvailable } from './workers.js';
import { coreCount, envVar, isNode } from '../platform.js';

export type { FloatArray, MatmulOptions } from './options.js';
export { matmulFallback } from './fallback.js';
export { workersAvailable } from './workers.js';
export { onStartThreads } from './start_hooks.js';
export { layerNorm, layerNormBackward, softmax, softmaxBackward } from './rowwise.js';

/**
 * Below this many multiply-adds (m*n*k) plain loops beat entering WASM, whose fixed cost
 * (staging, descriptor, call) is 2-6 us. Measured crossover: 12^3 (docs/fast_cpu.md).
 */
export const WASM_MIN_WORK = 12 * 12 * 12;
/**
 * From this many floats GELU runs on the GEMM's threads (its kernels are in the same module). A
 * pool call costs tens of microseconds while the workers poll, and ~50-100 us more to wake them
 * when they sleep (a step of small products never wakes them): ALBEF-tiny's 70k-float GELUs got
 * ~2 ms slower a step on 2 threads, the layer bench's 524k-float ones ~0.9 ms faster.
 */
export const GELU_PARALLEL_MIN = 262144;
/** Below this many elements the row-wise kernels run in plain TS. */
export const ROWWISE_MIN_ELEMENTS = 256;
/**
 * Below this many multiply-adds (batch*m*n*k, the whole call) the calling thread runs the product
 * alone. (Counting one batch item only, as this once did, kept every batched head product of
 * attention on one thread: the transformer layer's 32 x 64^3 products ran at 40 GFLOP/s on 1 or 2.)
 * A parallel call waits for every worker to wake and check in, so on a loaded machine (the 2-core
 * box these numbers come from ran at load 4-5) 2 threads lost to 1 at every size measured from
 * 64^3 to 384^3 (1.1-4x); on an idle one the win below ~192^3 is at most ~1.5x of a sub-0.3 ms
 * call. ALBEF-tiny's products (up to 272x256x64) all stay on one thread. See docs/fast_cpu.md.
 */
export const PARALLEL_MIN_WORK = 192 * 192 * 192;

interface Runtime {
  heap: WasmHeap;
  module: WebAssembly.Module;
  gemm: GemmFn;
  desc: number; // byte address of the job descriptor
  warmDesc: number; // the workers' warm-up job (WARM_UP)
  warmedHere?: boolean; // startThreads(1) ran the warm-up on this thread
  prefaulted?: boolean; // startThreads faulted in the heap's first PREFAULT_BYTES
  pool?: GemmPool;
  gelu: GeluFns; // the GEMM module's GELU kernels (this thread's instance)
  geluDesc: number; // byte address of the GELU job descriptor (a job the pool's threads share)
  extra?: Map<string, unknown>;
}
let runtime: Runtime | undefined;
let simd: boolean | undefined;
let threadCount = threadsFromEnv();

/** Every core where workers can run; 1 in a browser until `startThreads` (workers start asynchronously there). */
function defaultThreads(): number {
  return isNode() ? coreCount() : 1;
}

function threadsFromEnv(): number {
  const env = envVar('VLGRAD_THREADS');
  const n = env === undefined ? NaN : Number(env);
  return Math.min(MAX_THREADS, Number.isInteger(n) && n >= 1 ? n : defaultThreads());
}

/** True when this runtime can validate and run WASM SIMD with shared memory (Node >= 16 can). */
export function wasmSimdAvailable(): boolean {
  if (simd === undefined) {
    const probe = new ModuleBuilder();
    probe.func([], ['f32']).body = f32x4.extract_lane(f32x4.splat(f32.const(1)), 0);
    try {
      new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
      simd = WebAssembly.validate(probe.build());
    } catch {
      simd = false;
    }
  }
  return simd;
}

let fma: boolean | undefined;
/**
 * Whether the GEMM accumulates with relaxed SIMD's `f32x4.relaxed_madd` (fused on x86 with FMA3):
 * where the runtime validates it (Node 20 only under --experimental-wasm-relaxed-simd; newer V8
 * ships it), unless VLGRAD_WASM_FMA=0. Products then differ from the mul + add kernel (and from
 * `cpu-ref`) in the last bits; they still do not depend on the thread count.
 */
export function wasmFma(): boolean {
  if (fma === undefined) {
    const probe = new ModuleBuilder();
    const one = f32x4.splat(f32.const(1));
    probe.func([], ['f32']).body = f32x4.extract_lane(f32x4.relaxed_madd(one, one, one), 0);
    fma = envVar('VLGRAD_WASM_FMA') !== '0' && wasmSimdAvailable() && WebAssembly.validate(probe.build());
  }
  return fma;
}

/** Sets how many threads (the caller included) large float32 matmuls use. */
export function setThreads(n: number): void {
  if (!(Number.isInteger(n) && n >= 1 && n <= MAX_THREADS)) {
    throw new RangeError(`setThreads(${n}): need an integer in [1, ${MAX_THREADS}]`);
  }
  if (n > 1 && !workersAvailable()) {
    throw new RangeError(
      `setThreads(${n}): no worker threads here (a browser page must be crossOriginIsolated and ` +
        'the engine must run in a Worker, where blocking is allowed); use 1',
    );
  }
  if (runtime?.pool && runtime.pool.size !== n) shutdown();
  threadCount = n;
  if (runtime && wasmSimdAvailable()) livePool(runtime); // the new workers boot in the background
}

/**
 * Sets the thread count (default: every core), compiles the kernels and starts the workers,
 * resolving with the count in use once every worker has warmed up and checked in; with 1 thread
 * the warm-up runs here. Call it at start-up and the first matmul runs at full speed (without
 * it, the first calls pay for compilation, V8's tier-up and page faults, and use the workers
 * only from the call after they check in). Then it runs, once, what the layers above registered
 * with `onStartThreads` (the engine compiles its matmul path: engine/warm_up.ts), so the first
 * Tensor-API matmul runs at full speed too. In a browser this is how threads start: there
 * workers boot asynchronously. Where workers are unavailable (a page that is not cross-origin
 * isolated, or a page's main thread) it resolves to 1 and matmuls stay on this thread.
 */
export async function startThreads(n = coreCount()): Promise<number> {
  const count = workersAvailable() ? Math.max(1, Math.min(n, MAX_THREADS)) : 1;
  setThreads(count);
  if (wasmSimdAvailable()) {
    const rt = ensureRuntime();
    const pool = livePool(rt);
    if (pool.size === 1 && !rt.warmedHere) {
      warmUpHere(rt.gemm, rt.warmDesc, pool.scratchAddress(0));
      rt.warmedHere = true;
    }
    if (!rt.prefaulted) prefault(rt.heap); // while the workers boot
    rt.prefaulted = true;
    await pool.whenReady;
  }
  runStartHooks();
  return count;
}

/** The thread count large float32 matmuls use (default: VLGRAD_THREADS, else availableParallelism()). */
export function threads(): number {
  return threadCount;
}

/** Stops the worker threads. Heap arrays stay valid; the next matmul starts workers again. */
export function shutdown(): void {
  runtime?.pool?.shutdown();
  if (runtime) delete runtime.pool;
}

/**
 * A zero-filled Float32Array of `n` elements inside the wasm heap: matmul reads and writes it
 * in place, without staging copies. Release it with `free`.
 */
export function alloc(n: number): Float32Array {
  const rt = ensureRuntime();
  const view = rt.heap.f32(rt.heap.alloc(4 * n), n);
  view.fill(0);
  return view;
}

/** Returns an array from `alloc` to the heap. Using it afterwards corrupts other data. */
export function free(view: Float32Array): void {
  const rt = ensureRuntime();
  const ptr = rt.heap.addressOf(view);
  if (ptr === undefined) throw new Error('free: array was not allocated by kernels/wasm alloc');
  rt.heap.free(ptr);
}

let resident: ResidentArrays | null | undefined;

/** The resident-array allocator over the heap (resident.ts), or null where there is no WASM SIMD or VLGRAD_RESIDENT_MB=0. */
function residents(): ResidentArrays | null {
  if (resident === undefined) {
    const env = envVar('VLGRAD_RESIDENT_MB');
    const mb = env === undefined || env === '' ? 256 : Number(env);
    if (!(Number.isFinite(mb) && mb >= 0)) throw new RangeError(`VLGRAD_RESIDENT_MB=${env}: need a number of MiB >= 0`);
    resident = mb > 0 && wasmSimdAvailable() ? new ResidentArrays(ensureRuntime().heap, mb * 1024 * 1024) : null;
  }
  return resident;
}

/**
 * A Float32Array of `n` elements inside the wasm heap, contents arbitrary, that every kernel here
 * uses in place; null where residency is off or its budget is spent (use a host array then).
 * Return it with `giveResident` once nothing reads it; an array that is garbage-collected instead
 * returns on its own.
 */
export function takeResident(n: number): Float32Array | null {
  return residents()?.take(n) ?? null;
}

/** Returns an array from `takeResident`; false (and nothing done) for any other array. */
export function giveResident(view: Float32Array): boolean {
  return resident?.give(view) ?? false;
}

/** Resident-array accounting: bytes live and cached (`cached` of them waiting for reuse), and takes served from the cache or not. */
export interface ResidentStats {
  bytes: number;
  cached: number;
  hits: number;
  misses: number;
}

/** Resident bytes (live and cached) and reuse counts; null where residency is off. */
export function residentStats(): ResidentStats | null {
  return residents()?.stats() ?? null;
}

/** Heap size and live bytes, for tests and memory diagnostics. */
export function heapStats(): { byteLength: number; liveBytes: number } {
  const heap = ensureRuntime().heap;
  return { byteLength: heap.byteLength, liveBytes: heap.liveBytes };
}

/**
 * out = op(A) @ op(B) (+ out), batched. See MatmulOptions for shapes, transposes and
 * broadcasting strides. Shapes: a [batch, m, k] (or [batch, k, m] with transA),
 * b [batch, k, n] (or [batch, n, k] with transB) -> out [batch, m, n].
 */
export function matmul(a: FloatArray, b: FloatArray, out: FloatArray, options: MatmulOptions): void {
  const p = planMatmul(a, b, out, options);
  if (a instanceof Float32Array && !isEmptyMatmul(p) && p.m * p.n * p.k >= WASM_MIN_WORK && wasmSimdAvailable()) {
    gemmWasm(a, b as Float32Array, out as Float32Array, p);
  } else {
    matmulFallback(a, b, out, p);
  }
}

/** The runtime's pool, started anew when there is none or the last one was retired (shut down, or by its watchdog). */
function livePool(rt: Runtime): GemmPool {
  if (!rt.pool || rt.pool.retired) {
    const warmUp = poolWarmUp(rt.warmDesc);
    rt.pool = new GemmPool(rt.heap, rt.module, rt.gemm, threadCount, scratchBytes(DEFAULT_CONFIG), { warmUp });
  }
  return rt.pool;
}

/**
 * The heap, the compiled GEMM and the job descriptors; created on the first use of any kernel
 * here, which also starts the worker pool in the background (its workers join jobs once warm).
 */
function ensureRuntime(): Runtime {
  if (!runtime) {
    const maxMb = Number(envVar('VLGRAD_WASM_MAX_MB') ?? 1024);
    const heap = new WasmHeap(maxMb * 1024 * 1024);
    const fma = wasmFma(); // only the plain mul + add build is prebuilt
    const module = new WebAssembly.Module(
      fma ? buildGemmModule({ ...DEFAULT_CONFIG, fma }) : moduleBytes('gemm', () => buildGemmModule(DEFAULT_CONFIG)),
    );
    const exports = new WebAssembly.Instance(module, { env: { memory: heap.memory } }).exports;
    runtime = {
      heap,
      module,
      gemm: exports['gemm'] as GemmFn,
      gelu: exports as unknown as GeluFns,
      desc: heap.alloc(DESC_BYTES),
      geluDesc: heap.alloc(DESC_BYTES),
      warmDesc: warmUpJob(heap),
    };
    livePool(runtime);
  }
  return runtime;
}

/** Copies `src[0, len)` into the heap unless it already lives there; returns [address, owned]. */
function place(heap: WasmHeap, src: Float32Array, len: number, copy: boolean): [number, boolean] {
  const at = heap.addressOf(src);
  if (at !== undefined) return [at, false];
  const ptr = heap.alloc(4 * len);
  if (copy) heap.f32(ptr, len).set(src.subarray(0, len));
  return [ptr, true];
}

/**
 * `matmul` forced onto the WASM SIMD path whatever the size (float32 only; throws where WASM
 * SIMD is unavailable). For tests of the kernel's edge cases and for benchmarks.
 */
export function matmulWasm(a: Float32Array, b: Float32Array, out: Float32Array, options: MatmulOptions): void {
  if (!wasmSimdAvailable()) throw new Error('matmulWasm: WebAssembly SIMD is not available');
  const p = planMatmul(a, b, out, options);
  if (isEmptyMatmul(p))
    matmulFallback(a, b, out, p); // nothing for the kernel to do: zeros or nothing
  else gemmWasm(a, b, out, p);
}

function gemmWasm(a: Float32Array, b: Float32Array, out: Float32Array, p: MatmulPlan): void {
  const rt = ensureRuntime();
  const { heap } = rt;
  const len = extents(p);
  // Output rows narrower than their stride leave gaps the staged copy must carry through unchanged.
  const cGaps = p.cRowStride !== p.n || p.inner > 1 || p.cBatchStride !== p.m * p.n;
  const owned: number[] = [];
  try {
    const [aPtr, aOwned] = place(heap, a, len.a, true);
    if (aOwned) owned.push(aPtr);
    const [bPtr, bOwned] = place(heap, b, len.b, true);
    if (bOwned) owned.push(bPtr);
    const [cPtr, cOwned] = place(heap, out, len.c, p.accumulate || cGaps);
    if (cOwned) owned.push(cPtr);
    writeDesc(heap, rt.desc, p, aPtr, bPtr, cPtr);
    const pool = livePool(rt);
    const units = p.batch * Math.ceil(p.m / DEFAULT_CONFIG.MR);
    // A chunk of at least one MC block of rows keeps B re-packing per chunk cheap.
    const minChunk = DEFAULT_CONFIG.MC / DEFAULT_CONFIG.MR;
    pool.run(rt.desc, units, p.batch * p.m * p.n * p.k >= PARALLEL_MIN_WORK ? threadCount : 1, minChunk, !p.accumulate);
    if (cOwned) out.set(heap.f32(cPtr, len.c));
  } catch (e) {
    if (!(e instanceof HeapLimitError)) throw e;
    // Staging copies would pass the heap limit: halve the batch, or compute in plain TS.
    for (const ptr of owned.splice(0)) heap.free(ptr);
    splitOrFallback(a, b, out, p);
  } finally {
    for (const ptr of owned) heap.free(ptr);
  }
}

function splitOrFallback(a: Float32Array, b: Float32Array, out: Float32Array, p: MatmulPlan): void {
  if (p.batch === 1) return matmulFallback(a, b, out, p);
  if (p.inner > 1) {
    // Split a two-level batch into its groups, each a plain batch of `inner` items.
    const groups = p.batch / p.inner;
    for (let g = 0; g < groups; g++) {
      gemmWasm(a.subarray(g * p.aBatchStride), b.subarray(g * p.bBatchStride), out.subarray(g * p.cBatchStride), {
        ...p,
        batch: p.inner,
        inner: 1,
        aBatchStride: p.aInnerStride,
        bBatchStride: p.bInnerStride,
        cBatchStride: p.cInnerStride,
      });
    }
    return;
  }
  const half = p.batch >> 1;
  const part = (from: number, count: number): void =>
    gemmWasm(
      a.subarray(from * p.aBatchStride),
      b.subarray(from * p.bBatchStride),
      out.subarray(from * p.cBatchStride),
      { ...p, batch: count },
    );
  part(0, half);
  part(half, p.batch - half);
}

/**
 * Float32 GELU in WASM SIMD (gelu_kernel.ts): out = gelu(x), or out = g · gelu'(x) when `g` is
 * given; `approximate` picks the erf form ('none') or the tanh form. Within ~1e-6 of the plain-TS
 * float32 scalar functions. Returns false, computing nothing, where the kernel does not apply
 * (no WASM SIMD, or fewer than ROWWISE_MIN_ELEMENTS elements): the caller runs its own loop.
 */
export function geluWasm(x: Float32Array, out: Float32Array, approximate: 'none' | 'tanh', g?: Float32Array): boolean {
  const len = x.length;
  if (out.length !== len || (g && g.length !== len))
    throw new RangeError(`gelu: x, out${g ? ', g' : ''} lengths differ`);
  if (len < ROWWISE_MIN_ELEMENTS || !wasmSimdAvailable()) return false;
  const rt = ensureRuntime(),
    { heap } = rt;
  // Lengths padded to a multiple of 4 lanes, so the kernel needs no scalar tail.
  const n4 = (len + 3) & ~3;
  const name = `${approximate === 'tanh' ? 'geluTanh' : 'geluErf'}${g ? 'Bwd' : ''}` as const;
  try {
    inHeap(
      heap,
      g
        ? [
            [x, n4],
            [g, n4],
          ]
        : [[x, n4]],
      out,
      n4,
      ([px, pg], py) => {
        if (threadCount > 1 && n4 >= GELU_PARALLEL_MIN) {
          // Shared with the GEMM's threads: units of GELU_UNIT floats claimed like row tiles.
          const d = heap.i32(rt.geluDesc, DESC_BYTES / 4);
          d[Desc.kind] = GELU_KINDS.indexOf(name) + 1;
          d[Desc.geluX] = px!;
          d[Desc.geluG] = pg ?? 0;
          d[Desc.geluY] = py;
          d[Desc.geluN4] = n4;
          // A unit computed again from scratch gives the same bits, unless it overwrote its input.
          const redoable = py !== px && py !== pg;
          livePool(rt).run(rt.geluDesc, Math.ceil(n4 / GELU_UNIT), threadCount, 1, redoable);
        } else if (g) rt.gelu[name as 'geluErfBwd' | 'geluTanhBwd'](pg!, px!, py, n4);
        else rt.gelu[name as 'geluErf' | 'geluTanh'](px!, py, n4);
      },
    );
  } catch (e) {
    if (e instanceof HeapLimitError) return false; // too large for the heap: the caller's loop
    throw e;
  }
  return true;
}

/**
 * What a kernel in a file of its own needs of the shared heap. Structural, so the published
 * declarations never name `WebAssembly` (absent from a consumer's lib without DOM or Node types).
 */
export interface HeapArena {
  alloc(bytes: number): number;
  free(ptr: number): void;
  f32(ptr: number, n: number): Float32Array;
  readableAt(view: Float32Array, floats: number): number | undefined;
  writableAt(view: Float32Array, floats: number): number | undefined;
}

/**
 * Heap addresses for a kernel that reads `inputs` (each with the number of floats the kernel
 * reads, its length rounded up to whole vectors) and writes `outFloats` floats of `out`: arrays
 * already in the heap are used in place (resident.ts), the others are staged into temporary
 * blocks, inputs copied in and zero-padded. `run` gets the addresses; a staged output is copied
 * back to `out` afterwards. Throws HeapLimitError (nothing computed) when a staging block does
 * not fit.
 */
export function inHeap(
  heap: HeapArena,
  inputs: readonly (readonly [Float32Array, number])[],
  out: Float32Array,
  outFloats: number,
  run: (ptrs: number[], out: number) => void,
): void {
  const staged: number[] = [];
  try {
    const ptrs = inputs.map(([x, floats]) => {
      const at = heap.readableAt(x, floats);
      if (at !== undefined) return at;
      const p = heap.alloc(4 * floats);
      staged.push(p);
      const v = heap.f32(p, floats);
      v.set(x);
      v.fill(0, x.length);
      return p;
    });
    let py = heap.writableAt(out, outFloats);
    const stagedOut = py === undefined;
    if (stagedOut) staged.push((py = heap.alloc(4 * outFloats)));
    run(ptrs, py!);
    if (stagedOut) out.set(heap.f32(py!, out.length));
  } finally {
    for (const p of staged) heap.free(p);
  }
}

/**
 * The shared heap and the exports of a module built by `build`, instantiated on that heap once
 * per process and kept under `key` (for kernels in files of their own, such as arith.ts).
 */
export function heapModule<T>(key: string, build: () => Uint8Array<ArrayBuffer>): { heap: HeapArena; fns: T } {
  const rt = ensureRuntime();
  rt.extra ??= new Map();
  let fns = rt.extra.get(key);
  if (!fns) {
    const module = new WebAssembly.Module(moduleBytes(key, build));
    fns = new WebAssembly.Instance(module, { env: { memory: rt.heap.memory } }).exports;
    rt.extra.set(key, fns);
  }
  return { heap: rt.heap, fns: fns as T };
}

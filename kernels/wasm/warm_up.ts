/**
 * The GEMM's warm start. A fresh process's first matmuls used to pay for V8 compiling the
 * kernel with Liftoff and tiering it up to TurboFan, for page faults on every new heap page
 * (~3.5 ms per MiB on the KVM guest measured: a 512^3 product stages 3 MiB), and on 2 threads
 * for the worker's boot. So every worker runs a small job before it checks in with the pool
 * (pool.ts), off the calling thread; `startThreads` faults in the first PREFAULT_BYTES of the
 * heap (`prefault`), and with 1 thread runs the job on the calling thread (`warmUpHere`).
 */
import { DEFAULT_CONFIG, DESC_BYTES, writeDesc, type GemmConfig } from './matmul_kernel.js';
import type { WasmHeap } from './memory.js';
import { planMatmul } from './options.js';
import { MAX_THREADS, type GemmFn, type GemmPoolOptions } from './pool.js';

/**
 * The warm-up job: `reps` products [60 x 128] @ [128 x 260] (one MC block, edge tiles included),
 * 4 MFLOP each. Checked with --trace-wasm-compilation-times: it runs the micro-kernel, both
 * packings and the loop nest often enough that V8 tiers them up to TurboFan before the first
 * real job (the compiled code is shared by all threads; with 4 reps of [60 x 256] @ [256 x 68]
 * the loop nest and B's packing still tiered up inside the first 512^3 call). A few ms.
 */
export const WARM_UP = { m: 60, k: 128, n: 260, reps: 12 };
/**
 * Heap bytes `startThreads` faults in, so the first calls' staging copies find their pages
 * mapped. The process's resident memory grows by this much. Not done without `startThreads`:
 * a worker faulting pages in the background delayed its first job by ~30 ms on the loaded
 * 2-core box, while the caller's first call faulted its own staging pages anyway.
 */
export const PREFAULT_BYTES = 8 * 1024 * 1024;

const units = (c: GemmConfig): number => Math.ceil(WARM_UP.m / c.MR);

/**
 * Allocates the warm-up's operands and returns its descriptor: a batch of MAX_THREADS items
 * that all share one A, B and C (batch strides 0), so worker t can run item t. Threads warming
 * up at once write the same C, whose contents are never read. Never freed (a booting worker of
 * a retired pool may still run it).
 */
export function warmUpJob(heap: WasmHeap): number {
  const { m, k, n } = WARM_UP;
  const [a, b, c] = [m * k, k * n, m * n].map((len) => {
    const ptr = heap.alloc(4 * len);
    heap.f32(ptr, len).fill(0); // zeros: no denormals to slow it down
    return [ptr, heap.f32(ptr, len)] as const;
  });
  const plan = planMatmul(a![1], b![1], c![1], {
    ...{ m, k, n, batch: MAX_THREADS },
    ...{ aBatchStride: 0, bBatchStride: 0, cBatchStride: 0 },
  });
  const desc = heap.alloc(DESC_BYTES);
  writeDesc(heap, desc, plan, a![0], b![0], c![0]);
  return desc;
}

/** A new pool's `warmUp` option: the job above, run by each worker before it checks in. */
export function poolWarmUp(desc: number): NonNullable<GemmPoolOptions['warmUp']> {
  return { desc, units: units(DEFAULT_CONFIG), reps: WARM_UP.reps };
}

/** The workers' warm-up job, run on the calling thread (a pool of 1 has no workers). */
export function warmUpHere(gemm: GemmFn, desc: number, scratch: number): void {
  for (let r = 0; r < WARM_UP.reps; r++) gemm(desc, 0, units(DEFAULT_CONFIG), scratch);
}

/**
 * Faults in the heap up to PREFAULT_BYTES: one `Atomics.add(x, 0)` per 4 KiB page, an atomic
 * read-modify-write that leaves live blocks unchanged even if a straggling worker of a retired
 * pool still writes its scratch.
 */
export function prefault(heap: WasmHeap): void {
  heap.reserve(PREFAULT_BYTES);
  const words = heap.i32(0, Math.min(PREFAULT_BYTES, heap.byteLength) >> 2);
  for (let w = 0; w < words.length; w += 1024) Atomics.add(words, w, 0);
}

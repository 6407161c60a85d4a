/**
 * The GEMM's warm start. A fresh process's first matmuls used to pay for V8 compiling the
 * kernel with Liftoff and tiering it up to TurboFan, for page faults on every new heap page
 * (~3.5 ms per MiB on the KVM guest measured: a 512^3 product stages 3 MiB), and on 2 threads
 * for the worker's boot. So every worker runs a small job before it checks in with the pool
 * (pool.ts) and faults in the first PREFAULT_BYTES of the heap, off the calling thread;
 * `startThreads(1)` runs the same warm-up on the calling thread (`warmUpHere`).
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
 * Heap bytes faulted in by the warm-up, so the first calls' staging copies find their pages
 * mapped. The process's resident memory grows by this much.
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

/**
 * A new pool's `warmUp` option: the job, and the heap range its workers fault in, from the
 * first unused byte up to PREFAULT_BYTES. Grows the memory over that range first (growing costs
 * nothing until pages are touched), since a worker may start touching it at once.
 */
export function poolWarmUp(heap: WasmHeap, desc: number): NonNullable<GemmPoolOptions['warmUp']> {
  const from = heap.end;
  heap.reserve(PREFAULT_BYTES);
  const to = Math.max(from, Math.min(PREFAULT_BYTES, heap.byteLength));
  return { desc, units: units(DEFAULT_CONFIG), reps: WARM_UP.reps, touch: [from, to] };
}

/** The workers' warm-up run on the calling thread: the job, and every page up to PREFAULT_BYTES. */
export function warmUpHere(gemm: GemmFn, heap: WasmHeap, desc: number, scratch: number): void {
  for (let r = 0; r < WARM_UP.reps; r++) gemm(desc, 0, units(DEFAULT_CONFIG), scratch);
  heap.reserve(PREFAULT_BYTES);
  const words = heap.i32(0, Math.min(PREFAULT_BYTES, heap.byteLength) >> 2);
  for (let w = 0; w < words.length; w += 1024) Atomics.add(words, w, 0); // leaves live data unchanged
}

/**
 * The job descriptor the emitted GEMM module reads (matmul_kernel.ts): a block of i32 words in the
 * shared heap holding one product's sizes, byte addresses and byte strides, or one GELU job's
 * arrays. The calling thread writes it; every pool thread reads it.
 */
import type { WasmHeap } from './memory.js';
import type { MatmulPlan } from './options.js';

/** Word offsets (i32) of the job descriptor fields; all pointers and strides are in bytes. */
export const Desc = {
  m: 0,
  n: 1,
  k: 2,
  accumulate: 3,
  aPtr: 4,
  aRowStride: 5,
  aColStride: 6,
  aBatchStride: 7,
  bPtr: 8,
  bRowStride: 9,
  bColStride: 10,
  bBatchStride: 11,
  cPtr: 12,
  cRowStride: 13,
  cBatchStride: 14,
  // Two-level batch: item bi is (bi / inner, bi % inner), at batchStride * (bi / inner) +
  // innerStride * (bi % inner); inner = 1 is the plain batch.
  inner: 15,
  aInnerStride: 16,
  bInnerStride: 17,
  cInnerStride: 18,
  // Job kind (0: GEMM, the fields above; else GELU_KINDS[kind - 1] over the fields below).
  kind: 24,
  geluX: 25,
  geluG: 26,
  geluY: 27,
  geluN4: 28,
} as const;
/** The GELU kernels a job of kind k + 1 runs (gelu_kernel.ts), each over units of GELU_UNIT floats. */
export const GELU_KINDS = ['geluErf', 'geluTanh', 'geluErfBwd', 'geluTanhBwd'] as const;
/** Floats per work unit of a GELU job (a multiple of 16: whole unrolled vector groups). */
export const GELU_UNIT = 8192;
/** Bytes reserved for one descriptor. */
export const DESC_BYTES = 128;

/** Fills the job descriptor read by the emitted `gemm` (byte addresses and byte strides). */
export function writeDesc(heap: WasmHeap, at: number, p: MatmulPlan, aPtr: number, bPtr: number, cPtr: number): void {
  const d = heap.i32(at, DESC_BYTES / 4);
  d[Desc.m] = p.m;
  d[Desc.n] = p.n;
  d[Desc.k] = p.k;
  d[Desc.accumulate] = p.accumulate ? 1 : 0;
  d[Desc.kind] = 0;
  // op(A)[i][k] at a + i*rowStride + k*colStride: a transposed A swaps the strides.
  d[Desc.aPtr] = aPtr;
  d[Desc.aBatchStride] = 4 * p.aBatchStride;
  d[Desc.aRowStride] = 4 * (p.transA ? 1 : p.aRowStride);
  d[Desc.aColStride] = 4 * (p.transA ? p.aRowStride : 1);
  d[Desc.bPtr] = bPtr;
  d[Desc.bBatchStride] = 4 * p.bBatchStride;
  d[Desc.bRowStride] = 4 * (p.transB ? 1 : p.bRowStride);
  d[Desc.bColStride] = 4 * (p.transB ? p.bRowStride : 1);
  d[Desc.cPtr] = cPtr;
  d[Desc.cRowStride] = 4 * p.cRowStride;
  d[Desc.cBatchStride] = 4 * p.cBatchStride;
  d[Desc.inner] = p.inner;
  d[Desc.aInnerStride] = 4 * p.aInnerStride;
  d[Desc.bInnerStride] = 4 * p.bInnerStride;
  d[Desc.cInnerStride] = 4 * p.cInnerStride;
}

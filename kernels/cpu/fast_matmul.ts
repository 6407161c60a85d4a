/**
 * The CPU backend's fast matmul: adapts the engine's per-batch offsets to kernels/wasm's batch
 * strides. Offsets that form a one- or two-level arithmetic progression (contiguous batches, a
 * broadcast operand, attention's [B, H] heads read in place from [B, T, H*D]) become one call;
 * irregular ones (broadcasting over several batch dims) run one call per batch item.
 */
import { matmulStrides, type MatmulParams, type TypedArray } from '../backend.js';
import { matmul as wasmMatmul, type MatmulOptions } from '../wasm/index.js';
import { matmulRef } from './matmul.js';

/** Where a progression first changes step (its length if it never does). */
function period(offsets: Int32Array): number {
  const s = offsets[1] - offsets[0];
  for (let i = 2; i < offsets.length; i++) if (offsets[i] - offsets[i - 1] !== s) return i;
  return offsets.length;
}

/** [batchStride, innerStride] when offsets[i] = offsets[0] + (i / inner) * batch + (i % inner) * inner, else null. */
function twoLevel(offsets: Int32Array, inner: number): [number, number] | null {
  const n = offsets.length,
    o0 = offsets[0];
  const si = inner > 1 ? offsets[1] - o0 : 0,
    so = n > inner ? offsets[inner] - o0 : 0;
  if (si < 0 || so < 0) return null;
  for (let i = 0; i < n; i++) {
    const g = Math.floor(i / inner);
    if (offsets[i] !== o0 + g * so + (i - g * inner) * si) return null;
  }
  return [so, si];
}

/** The wasm call's batch layout for the three offset arrays, or null if they are irregular. */
function batchLayout(
  p: MatmulParams,
  cOffsets: Int32Array,
): Pick<
  MatmulOptions,
  'inner' | 'aBatchStride' | 'bBatchStride' | 'cBatchStride' | 'aInnerStride' | 'bInnerStride' | 'cInnerStride'
> | null {
  const all = [p.aOffsets, p.bOffsets, cOffsets];
  // The inner count is where the first of the three progressions breaks; one level if none does.
  const inner = p.batch < 3 ? 1 : Math.min(...all.map(period));
  const size = inner === p.batch ? 1 : inner;
  if (p.batch % size !== 0) return null;
  const [a, b, c] = all.map((o) => twoLevel(o, size));
  if (!a || !b || !c) return null;
  return {
    inner: size,
    aBatchStride: a[0],
    aInnerStride: a[1],
    bBatchStride: b[0],
    bInnerStride: b[1],
    cBatchStride: c[0],
    cInnerStride: c[1],
  };
}

/** C = op(A) @ op(B) into `out` (`cSize` elements; its contents on entry do not matter). */
export function matmulFast(a: TypedArray, b: TypedArray, p: MatmulParams, result: TypedArray): TypedArray {
  if (result instanceof Int32Array || a instanceof Int32Array || b instanceof Int32Array)
    return matmulRef(a, b, p, result);
  const out = result as Float32Array | Float64Array;
  // A zero size: the result is empty, or all zeros when K = 0 (an empty sum), as in PyTorch.
  if (p.batch * p.m * p.n * p.k === 0) return out.fill(0);
  const fa = a as Float32Array | Float64Array,
    fb = b as Float32Array | Float64Array;
  const { lda, ldb, ldc } = matmulStrides(p);
  const mn = p.m * p.n;
  const cOffsets = p.cOffsets ?? Int32Array.from({ length: p.batch }, (_, i) => i * mn);
  const opts = {
    m: p.m,
    k: p.k,
    n: p.n,
    transA: p.transA,
    transB: p.transB,
    aRowStride: lda,
    bRowStride: ldb,
    cRowStride: ldc,
  };
  const a0 = p.aOffsets[0],
    b0 = p.bOffsets[0],
    c0 = cOffsets[0];
  const layout = batchLayout(p, cOffsets);
  if (layout) {
    wasmMatmul(fa.subarray(a0), fb.subarray(b0), out.subarray(c0), { ...opts, ...layout, batch: p.batch });
    return out;
  }
  for (let i = 0; i < p.batch; i++) {
    wasmMatmul(fa.subarray(p.aOffsets[i]), fb.subarray(p.bOffsets[i]), out.subarray(cOffsets[i]), opts);
  }
  return out;
}

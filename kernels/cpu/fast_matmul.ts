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
  const s = offsets[1]! - offsets[0]!;
  for (let i = 2; i < offsets.length; i++) if (offsets[i]! - offsets[i - 1]! !== s) return i;
  return offsets.length;
}

/**
 * [batchStride, innerStride] when offsets[i] = offsets[0] + (i / inner) * batch + (i % inner) * inner
 * (for c without offsets, i * mn), else null.
 */
function twoLevel(offsets: Int32Array | null, n: number, mn: number, inner: number): [number, number] | null {
  if (!offsets) return inner === 1 ? [mn, 0] : [inner * mn, mn];
  const o0 = offsets[0]!;
  const si = inner > 1 ? offsets[1]! - o0 : 0,
    so = n > inner ? offsets[inner]! - o0 : 0;
  if (si < 0 || so < 0) return null;
  for (let g = 0, i = 0; i < n; g++) {
    for (let j = 0; j < inner; j++, i++) if (offsets[i] !== o0 + g * so + j * si) return null;
  }
  return [so, si];
}

/** Where a batch's items lie for the wasm call (its two-level strides). */
type Layout = Pick<
  MatmulOptions,
  'inner' | 'aBatchStride' | 'bBatchStride' | 'cBatchStride' | 'aInnerStride' | 'bInnerStride' | 'cInnerStride'
>;

/** The wasm call's batch layout for the three offset arrays (c's null: contiguous), or null if irregular. */
function batchLayout(p: MatmulParams, cOffsets: Int32Array | null, mn: number): Layout | null {
  const n = p.batch;
  // The inner count is where the first of the three progressions breaks; one level if none does.
  const inner = n < 3 ? 1 : Math.min(period(p.aOffsets), period(p.bOffsets), cOffsets ? period(cOffsets) : n);
  const size = inner === n ? 1 : inner;
  if (n % size !== 0) return null;
  const a = twoLevel(p.aOffsets, n, mn, size),
    b = a && twoLevel(p.bOffsets, n, mn, size),
    c = b && twoLevel(cOffsets, n, mn, size);
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

/** The wasm call's options: `p`'s sizes and row strides, `batch` items laid out as `layout` says. */
function wasmOptions(p: MatmulParams, mn: number, layout: Layout | null, batch: number): MatmulOptions {
  const { lda, ldb, ldc } = matmulStrides(p);
  return {
    m: p.m,
    k: p.k,
    n: p.n,
    transA: p.transA,
    transB: p.transB,
    aRowStride: lda,
    bRowStride: ldb,
    cRowStride: ldc,
    batch,
    inner: layout?.inner ?? 1,
    aBatchStride: layout?.aBatchStride ?? 0,
    bBatchStride: layout?.bBatchStride ?? 0,
    cBatchStride: layout?.cBatchStride ?? mn,
    aInnerStride: layout?.aInnerStride ?? 0,
    bInnerStride: layout?.bInnerStride ?? 0,
    cInnerStride: layout?.cInnerStride ?? 0,
  };
}

/** x from element `at` on (x itself when at = 0: no view object). */
function from<T extends Float32Array | Float64Array>(x: T, at: number): T {
  return at === 0 ? x : (x.subarray(at) as T);
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
  const mn = p.m * p.n;
  const cOffsets = p.cOffsets ?? null;
  const a0 = p.aOffsets[0]!,
    b0 = p.bOffsets[0]!,
    c0 = cOffsets ? cOffsets[0]! : 0;
  // One product (most calls): no batch layout to find.
  const layout = p.batch === 1 ? null : batchLayout(p, cOffsets, mn);
  if (p.batch === 1 || layout) {
    wasmMatmul(from(fa, a0), from(fb, b0), from(out, c0), wasmOptions(p, mn, layout, p.batch));
    return out;
  }
  const opts = wasmOptions(p, mn, null, 1); // irregular offsets: one call per item
  for (let i = 0; i < p.batch; i++) {
    const c = cOffsets ? cOffsets[i]! : i * mn;
    wasmMatmul(fa.subarray(p.aOffsets[i]!), fb.subarray(p.bOffsets[i]!), out.subarray(c), opts);
  }
  return out;
}

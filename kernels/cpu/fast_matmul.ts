/**
 * The CPU backend's fast matmul: adapts the engine's per-batch offsets to kernels/wasm's uniform
 * batch strides. Uniform offsets (contiguous batches, or one broadcast operand) become one call;
 * irregular ones (broadcasting over several batch dims) run one call per batch item.
 */
import type { MatmulParams, TypedArray } from '../backend.js';
import { matmul as wasmMatmul } from '../wasm/index.js';
import { matmulRef } from './matmul.js';

/** The common stride of an arithmetic progression of offsets, or null. */
function uniformStride(offsets: Int32Array): number | null {
  if (offsets.length < 2) return 0;
  const s = offsets[1] - offsets[0];
  if (s < 0) return null;
  for (let i = 2; i < offsets.length; i++) if (offsets[i] - offsets[i - 1] !== s) return null;
  return s;
}

/** C = op(A) @ op(B) into `out` ([batch, m, n]; its contents on entry do not matter). */
export function matmulFast(a: TypedArray, b: TypedArray, p: MatmulParams, result: TypedArray): TypedArray {
  if (result instanceof Int32Array || a instanceof Int32Array || b instanceof Int32Array)
    return matmulRef(a, b, p, result);
  const out = result as Float32Array | Float64Array;
  // A zero size: the result is empty, or all zeros when K = 0 (an empty sum), as in PyTorch.
  if (p.batch * p.m * p.n * p.k === 0) return out.fill(0);
  const fa = a as Float32Array | Float64Array,
    fb = b as Float32Array | Float64Array;
  const opts = { m: p.m, k: p.k, n: p.n, transA: p.transA, transB: p.transB };
  const sa = uniformStride(p.aOffsets),
    sb = uniformStride(p.bOffsets);
  if (sa !== null && sb !== null) {
    wasmMatmul(fa.subarray(p.aOffsets[0]), fb.subarray(p.bOffsets[0]), out, {
      ...opts,
      batch: p.batch,
      aBatchStride: sa,
      bBatchStride: sb,
    });
    return out;
  }
  const mn = p.m * p.n;
  for (let i = 0; i < p.batch; i++) {
    wasmMatmul(fa.subarray(p.aOffsets[i]), fb.subarray(p.bOffsets[i]), out.subarray(i * mn, (i + 1) * mn), opts);
  }
  return out;
}

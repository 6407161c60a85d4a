/**
 * The `cpu` backend's float32 elementwise fast path: stages operands into the wasm heap and runs
 * the emitted kernels of arith_kernel.ts there (single-threaded). Bit-identical to plain loops.
 */
import { buildArithModule, type ArithFns, type ArithOp, type BLayout } from './arith_kernel.js';
import { heapModule, inHeap, wasmSimdAvailable } from './index.js';
import { HeapLimitError } from './memory.js';

export type { ArithOp, BLayout } from './arith_kernel.js';

/** Below this many elements the elementwise kernels leave the work to the caller's loop. */
export const ARITH_MIN_ELEMENTS = 4096;

/**
 * Float32 out = a ⊕ b over [rows, n] (arith_kernel.ts), a = a[0, rows*n) and b in `layout`:
 * 'Full' b[0, rows*n), 'Row' b[0, n), 'Col' b[0, rows), 'Scalar' b[0]. The same bits as a plain
 * loop. Returns false, computing nothing, where it does not apply (no WASM SIMD, fewer than
 * ARITH_MIN_ELEMENTS elements, rows not a multiple of 4 floats where b is per row, or no heap
 * room): the caller loops. Operands already in the heap are used in place, others staged (inHeap).
 */
export function arithWasm(
  op: ArithOp,
  a: Float32Array,
  b: Float32Array,
  layout: BLayout,
  out: Float32Array,
  rows: number,
  n: number,
  groups = 1,
  bGroupStride = 0,
): boolean {
  if (groups !== 1) return rowGroups(op, a, b, layout, out, groups, rows, n, bGroupStride);
  const len = rows * n;
  if (len < ARITH_MIN_ELEMENTS || !wasmSimdAvailable()) return false;
  // Flat operands (Full, Scalar) run as one padded row; per-row layouts need whole vectors per row.
  const flat = layout === 'Full' || layout === 'Scalar';
  if (!flat && n % 4 !== 0) return false;
  const [r, n4] = flat ? [1, (len + 3) >> 2] : [rows, n >> 2];
  const bLen = { Full: len, Row: n, Col: rows, Scalar: 1 }[layout];
  const padded = 4 * r * n4; // a, out (and a full b) as the kernel walks them
  return staged(
    [
      [a.subarray(0, len), padded],
      [b.subarray(0, bLen), layout === 'Full' ? padded : bLen],
    ],
    out,
    padded,
    (fns, [pa, pb], py) => fns[`${op}${layout}`](pa!, pb!, py, r, n4),
  );
}

/**
 * `groups` blocks of [rows, n] one after another, block g with b's row at b[g·bGroupStride, +n):
 * one staging of all three operands, then the 'Row' kernel once per block. The same bits as one
 * call per block. False where it does not apply (as arithWasm, and n not a whole number of vectors).
 */
function rowGroups(
  op: ArithOp,
  a: Float32Array,
  b: Float32Array,
  layout: BLayout,
  out: Float32Array,
  groups: number,
  rows: number,
  n: number,
  bGroupStride: number,
): boolean {
  const len = groups * rows * n;
  if (layout !== 'Row' || len < ARITH_MIN_ELEMENTS || n % 4 !== 0 || bGroupStride < n || !wasmSimdAvailable())
    return false;
  const bLen = (groups - 1) * bGroupStride + n,
    block = 4 * rows * n;
  return staged(
    [
      [a.subarray(0, len), len],
      [b.subarray(0, bLen), bLen],
    ],
    out,
    len,
    (fns, [pa, pb], py) => {
      for (let g = 0; g < groups; g++)
        fns[`${op}Row`](pa! + g * block, pb! + 4 * g * bGroupStride, py + g * block, rows, n >> 2);
    },
  );
}

/** Float32 out[j] = Σ_r x[r, j] over [rows, n] (n a multiple of 4), summed in float64 in row
 * order; false where it does not apply (as arithWasm). */
export function sumRowsWasm(x: Float32Array, out: Float32Array, rows: number, n: number): boolean {
  if (rows * n < ARITH_MIN_ELEMENTS || n % 4 !== 0 || !wasmSimdAvailable()) return false;
  return staged([[x.subarray(0, rows * n), rows * n]], out.subarray(0, n), n, (fns, [px], py) =>
    fns.sumRows(px!, py, rows, n >> 2),
  );
}

/** Runs `run` on the arith module with the operands in the heap (inHeap); false, computing
 * nothing, when staging them would pass the heap's limit. */
function staged(
  inputs: readonly (readonly [Float32Array, number])[],
  out: Float32Array,
  outFloats: number,
  run: (fns: ArithFns, ptrs: number[], out: number) => void,
): boolean {
  const { heap, fns } = heapModule<ArithFns>('arith', buildArithModule);
  try {
    inHeap(heap, inputs, out, outFloats, (ptrs, py) => run(fns, ptrs, py));
  } catch (e) {
    if (e instanceof HeapLimitError) return false;
    throw e;
  }
  return true;
}

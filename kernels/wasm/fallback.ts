/**
 * The plain-TS matmul behind the WASM one: the float64 path, the float32 path for tiny inputs
 * (where entering WASM costs more than the math) and the whole float32 path where WebAssembly SIMD
 * is unavailable. (The plain row-wise kernels are kernels/cpu/rowwise.ts.)
 *
 * Matmul loop order i-k-j: the innermost loop runs along contiguous rows of B and C, which V8
 * compiles to a tight scalar loop. K and N are blocked so the KB x NB block of B being reused
 * by every row stays in L2. A transposed B is copied to row-major first (O(KN) against the
 * O(MKN) product); a transposed A only changes A's strides, read once per (i, k).
 */
import { itemOffset, type FloatArray, type MatmulPlan } from './options.js';

const KB = 128; // 128 x 512 float64 = 512 KiB: the L2 of one Zen 3 core
const NB = 512;

/** out = op(A) @ op(B) (+ out) for a validated plan. Shapes: see MatmulOptions. */
export function matmulFallback(a: FloatArray, b: FloatArray, out: FloatArray, p: MatmulPlan): void {
  const { batch, m, k, n } = p;
  // op(A)[i][p] = a[off + i*ars + p*acs]
  const [ars, acs] = p.transA ? [1, p.aRowStride] : [p.aRowStride, 1];
  let bRowMajor: FloatArray | undefined;
  let lastB = -1;
  for (let bi = 0; bi < batch; bi++) {
    let bArr = b;
    let bOff = itemOffset(p, bi, p.bBatchStride, p.bInnerStride);
    let ldb = p.bRowStride;
    if (p.transB) {
      // A B shared by consecutive items (broadcast, stride 0) is transposed once.
      if (bRowMajor === undefined || bOff !== lastB) bRowMajor = transposed(b, bOff, n, k, ldb, bRowMajor);
      lastB = bOff;
      bArr = bRowMajor;
      bOff = 0;
      ldb = n;
    }
    const aOff = itemOffset(p, bi, p.aBatchStride, p.aInnerStride);
    const cOff = itemOffset(p, bi, p.cBatchStride, p.cInnerStride);
    gemmBlock(a, aOff, ars, acs, bArr, bOff, ldb, out, cOff, p.cRowStride, m, k, n, p.accumulate);
  }
}

/** The [cols, rows] transpose of the rows x cols matrix at x[off..] (row stride ld), reusing `into` if given. */
function transposed(x: FloatArray, off: number, rows: number, cols: number, ld: number, into?: FloatArray): FloatArray {
  const t = into ?? (x instanceof Float64Array ? new Float64Array(rows * cols) : new Float32Array(rows * cols));
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) t[c * rows + r] = x[off + r * ld + c]!;
  }
  return t;
}

/** C[m, n] (+)= A[m, k] @ B[k, n] with A strided and B, C row-major with row strides ldb, ldc. */
function gemmBlock(
  a: FloatArray,
  aOff: number,
  ars: number,
  acs: number,
  b: FloatArray,
  bOff: number,
  ldb: number,
  c: FloatArray,
  cOff: number,
  ldc: number,
  m: number,
  k: number,
  n: number,
  accumulate: boolean,
): void {
  if (!accumulate) for (let i = 0; i < m; i++) c.fill(0, cOff + i * ldc, cOff + i * ldc + n);
  for (let k0 = 0; k0 < k; k0 += KB) {
    const k1 = Math.min(k, k0 + KB);
    for (let j0 = 0; j0 < n; j0 += NB) {
      const j1 = Math.min(n, j0 + NB);
      for (let i = 0; i < m; i++) {
        const cRow = cOff + i * ldc;
        for (let p = k0; p < k1; p++) {
          const aip = a[aOff + i * ars + p * acs]!;
          const bRow = bOff + p * ldb;
          for (let j = j0; j < j1; j++) c[cRow + j]! += aip * b[bRow + j]!;
        }
      }
    }
  }
}

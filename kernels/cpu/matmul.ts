/** Reference batched matmul: blocked i-k-j loops on typed arrays, transposes and row strides read in place. */
import { matmulStrides, type MatmulParams, type TypedArray } from '../backend.js';

/** C[b] = op(A[b]) @ op(B[b]) into `out` (`cSize` elements, default [batch, m, n]; every element
 * written, so it may hold anything on entry); a plain loop, written for clarity and used as the oracle. */
export function matmulRef(a: TypedArray, b: TypedArray, p: MatmulParams, out: TypedArray): TypedArray {
  const { batch, m, k, n, transA, transB } = p;
  const { lda, ldb, ldc } = matmulStrides(p);
  const row = new Float64Array(n);
  // A[i, kk] at aOff + (transA ? kk*lda + i : i*lda + kk); B[kk, j] at bOff + (transB ? j*ldb + kk : kk*ldb + j)
  const asi = transA ? 1 : lda,
    ask = transA ? lda : 1;
  const bsk = transB ? 1 : ldb,
    bsj = transB ? ldb : 1;
  for (let bi = 0; bi < batch; bi++) {
    const ao = p.aOffsets[bi],
      bo = p.bOffsets[bi],
      co = p.cOffsets ? p.cOffsets[bi] : bi * m * n;
    for (let i = 0; i < m; i++) {
      row.fill(0);
      for (let kk = 0; kk < k; kk++) {
        const av = a[ao + i * asi + kk * ask];
        const bb = bo + kk * bsk;
        for (let j = 0; j < n; j++) row[j] += av * b[bb + j * bsj];
      }
      for (let j = 0; j < n; j++) out[co + i * ldc + j] = row[j];
    }
  }
  return out;
}

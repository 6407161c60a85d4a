/** Reference batched matmul: blocked i-k-j loops on typed arrays, transposes read in place. */
import type { MatmulParams, TypedArray } from '../backend.js';

/** C[b] = op(A[b]) @ op(B[b]) into `out` ([batch, m, n], every element written, so it may hold
 * anything on entry); a plain loop, written for clarity and used as the oracle. */
export function matmulRef(a: TypedArray, b: TypedArray, p: MatmulParams, out: TypedArray): TypedArray {
  const { batch, m, k, n, transA, transB } = p;
  const row = new Float64Array(n);
  // A[i, kk] at aOff + (transA ? kk*m + i : i*k + kk); B[kk, j] at bOff + (transB ? j*k + kk : kk*n + j)
  const asi = transA ? 1 : k,
    ask = transA ? m : 1;
  const bsk = transB ? 1 : n,
    bsj = transB ? k : 1;
  for (let bi = 0; bi < batch; bi++) {
    const ao = p.aOffsets[bi],
      bo = p.bOffsets[bi],
      co = bi * m * n;
    for (let i = 0; i < m; i++) {
      row.fill(0);
      for (let kk = 0; kk < k; kk++) {
        const av = a[ao + i * asi + kk * ask];
        const bb = bo + kk * bsk;
        for (let j = 0; j < n; j++) row[j] += av * b[bb + j * bsj];
      }
      for (let j = 0; j < n; j++) out[co + i * n + j] = row[j];
    }
  }
  return out;
}

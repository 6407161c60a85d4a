/** Deterministic float32 values in [-1, 1) from a 32-bit LCG: test data for matmul kernels, the same in every process. */
export function lcgFloats(n: number, seed: number): Float32Array {
  const x = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    x[i] = s / 2 ** 31 - 1;
  }
  return x;
}

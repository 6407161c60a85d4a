/**
 * Row-wise softmax, log-softmax and layer norm in plain TS, for float32 and float64: `cpu-ref`'s
 * kernels, and what `cpu`'s WASM versions (kernels/wasm) fall back to for tiny inputs, float64, or
 * where WebAssembly SIMD is unavailable.
 */
import type { FloatArray } from '../wasm/options.js';

/** Row-wise softmax in plain TS: y = e^(x - max x) / sum e^(x - max x). Shapes: [rows, n] -> [rows, n]. */
export function softmaxFallback(x: FloatArray, out: FloatArray, rows: number, n: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * n;
    let max = -Infinity;
    for (let j = 0; j < n; j++) max = Math.max(max, x[o + j]!);
    let sum = 0;
    for (let j = 0; j < n; j++) sum += out[o + j] = Math.exp(x[o + j]! - max);
    const inv = 1 / sum;
    for (let j = 0; j < n; j++) out[o + j]! *= inv;
  }
}

/** Row-wise log-softmax in plain TS: y = x - max x - log sum e^(x - max x). Shapes: [rows, n] -> [rows, n]. */
export function logSoftmaxFallback(x: FloatArray, out: FloatArray, rows: number, n: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * n;
    let max = -Infinity;
    for (let j = 0; j < n; j++) max = Math.max(max, x[o + j]!);
    let sum = 0;
    for (let j = 0; j < n; j++) sum += Math.exp(x[o + j]! - max);
    const shift = max + Math.log(sum);
    for (let j = 0; j < n; j++) out[o + j] = x[o + j]! - shift;
  }
}

/** Mean and 1/sqrt(var + eps) of x[o, o + n) (biased variance, two passes, as PyTorch's layer norm). */
function rowStats(x: FloatArray, o: number, n: number, eps: number): [number, number] {
  let mean = 0;
  for (let j = 0; j < n; j++) mean += x[o + j]!;
  mean /= n;
  let v = 0;
  for (let j = 0; j < n; j++) v += (x[o + j]! - mean) ** 2;
  return [mean, 1 / Math.sqrt(v / n + eps)];
}

/** Row-wise layer norm in plain TS: y = (x - mean) / sqrt(var + eps) * gamma + beta. Shapes: [rows, n], gamma/beta [n]. */
export function layerNormFallback(
  x: FloatArray,
  gamma: FloatArray,
  beta: FloatArray,
  out: FloatArray,
  rows: number,
  n: number,
  eps: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * n;
    const [mean, rstd] = rowStats(x, o, n, eps);
    for (let j = 0; j < n; j++) out[o + j] = (x[o + j]! - mean) * rstd * gamma[j]! + beta[j]!;
  }
}

/**
 * Layer norm's backward over rows of n, all three gradients in one pass per row. Writes
 * out[0, rows*n) = dx, then dweight (n) and dbias (n): out has (rows + 2) * n elements.
 * With x̂ = (x - mean) rstd and gw = g w: dx = (gw - mean(gw) - x̂ mean(gw x̂)) rstd,
 * dweight = Σ_rows g x̂, dbias = Σ_rows g (sums in float64).
 */
export function layerNormBackwardFallback(
  g: FloatArray,
  x: FloatArray,
  gamma: FloatArray,
  out: FloatArray,
  rows: number,
  n: number,
  eps: number,
): void {
  const dw = new Float64Array(n),
    db = new Float64Array(n),
    xhat = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    const o = r * n;
    const [mean, rstd] = rowStats(x, o, n, eps);
    let a = 0,
      b = 0;
    for (let j = 0; j < n; j++) {
      const xh = (x[o + j]! - mean) * rstd,
        gj = g[o + j]!,
        gw = gj * gamma[j]!;
      xhat[j] = xh;
      a += gw;
      b += gw * xh;
      dw[j] += gj * xh;
      db[j] += gj;
    }
    a /= n;
    b /= n;
    for (let j = 0; j < n; j++) out[o + j] = (g[o + j]! * gamma[j]! - a - xhat[j]! * b) * rstd;
  }
  out.set(dw, rows * n);
  out.set(db, (rows + 1) * n);
}

/**
 * Softmax's backward in one pass, y = p ⊙ (d − Σ_row d ⊙ p) with d = g (⊙ keep), rounded op by op
 * as the tensor-op chain `p.mul(d.sub(d.mul(p).sum(-1, true)))` is on the same dtype (each product
 * and difference rounded to the storage type, the row sum accumulated in float64 in order and then
 * rounded), so the result is the same bits. Shapes: p, g, keep, out [rows, n].
 */
export function softmaxBackwardRows(
  p: FloatArray,
  g: FloatArray,
  keep: FloatArray | null,
  out: FloatArray,
  rows: number,
  n: number,
): void {
  if (keep) {
    // The masked gradient d = g ⊙ keep is staged in `out`, then overwritten row by row.
    for (let i = 0; i < rows * n; i++) out[i] = g[i]! * keep[i]!; // the store rounds to the dtype
    return softmaxBackwardRows(p, out, null, out, rows, n);
  }
  const f32 = p instanceof Float32Array;
  for (let r = 0; r < rows; r++) {
    const o = r * n;
    let acc = 0;
    if (f32) for (let j = o; j < o + n; j++) acc += Math.fround(g[j]! * p[j]!);
    else for (let j = o; j < o + n; j++) acc += g[j]! * p[j]!;
    const s = f32 ? Math.fround(acc) : acc;
    for (let j = o; j < o + n; j++) out[j] = p[j]! * (f32 ? Math.fround(g[j]! - s) : g[j]! - s); // the store rounds the product
  }
}

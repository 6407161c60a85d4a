/**
 * Row-wise float32 kernels on the shared wasm heap (rowwise_kernel.ts), single-threaded: softmax,
 * layer norm and their backwards, one row of n at a time. Float64, small inputs (fewer than
 * ROWWISE_MIN_ELEMENTS) and runtimes without WASM SIMD run the plain-TS loops of cpu/rowwise.ts.
 * Operands already in the heap are used in place, others staged (inHeap).
 */
import { layerNormBackwardFallback, layerNormFallback, softmaxBackwardRows, softmaxFallback } from '../cpu/rowwise.js';
import { type HeapArena, heapModule, inHeap, ROWWISE_MIN_ELEMENTS, wasmSimdAvailable } from './index.js';
import { HeapLimitError } from './memory.js';
import type { FloatArray } from './options.js';
import { buildRowwiseModule } from './rowwise_kernel.js';

interface RowwiseFns {
  softmaxRows(x: number, y: number, rows: number, n: number): void;
  layerNormRows(x: number, y: number, gamma: number, beta: number, rows: number, n: number, eps: number): void;
  softmaxBackwardRows(p: number, g: number, keep: number, y: number, rows: number, n: number): void;
  layerNormBackwardRows(
    g: number,
    x: number,
    gamma: number,
    y: number,
    rows: number,
    n: number,
    eps: number,
    acc: number,
  ): void;
}

/**
 * Row-wise softmax: out = e^(x - max x) / sum e^(x - max x) over each row of n.
 * Shapes: x [rows, n] -> out [rows, n]; out may be x. Float32 uses a WASM SIMD polynomial e^x
 * (within 1e-6 relative of Math.exp on the same float32 differences); float64 uses Math.exp.
 */
export function softmax(x: FloatArray, out: FloatArray, rows: number, n: number): void {
  checkRows('softmax', [x, out], rows, n);
  if (!fast(x, rows, n)) {
    return softmaxFallback(x, out, rows, n);
  }
  const len = rows * n,
    { heap, fns } = rowwise();
  inHeap(heap, [[x.subarray(0, len), len]], (out as Float32Array).subarray(0, len), len, ([px], py) =>
    fns.softmaxRows(px!, py, rows, n),
  );
}

/**
 * Row-wise layer norm: out = (x - mean) / sqrt(var + eps) * gamma + beta, with the biased
 * variance (as PyTorch). Shapes: x [rows, n], gamma [n], beta [n] -> out [rows, n]; out may be x.
 */
export function layerNorm(
  x: FloatArray,
  gamma: FloatArray,
  beta: FloatArray,
  out: FloatArray,
  rows: number,
  n: number,
  eps = 1e-5,
): void {
  checkRows('layerNorm', [x, out], rows, n);
  if (gamma.length < n || beta.length < n) throw new RangeError(`layerNorm: gamma and beta need ${n} elements`);
  if (!fast(x, rows, n)) {
    return layerNormFallback(x, gamma, beta, out, rows, n, eps);
  }
  if (!(gamma instanceof Float32Array && beta instanceof Float32Array)) throw new TypeError('layerNorm: mixed dtypes');
  const len = rows * n;
  const inputs: [Float32Array, number][] = [
    [x.subarray(0, len), len],
    [gamma.subarray(0, n), n],
    [beta.subarray(0, n), n],
  ];
  const { heap, fns } = rowwise();
  inHeap(heap, inputs, (out as Float32Array).subarray(0, len), len, ([px, pg, pb], py) =>
    fns.layerNormRows(px!, py, pg!, pb!, rows, n, eps),
  );
}

/**
 * Row-wise layer norm's backward: with x̂ the normalized x (the forward's statistics), out holds
 * dx [rows, n], then dgamma [n] = Σ_rows g·x̂ and dbeta [n] = Σ_rows g: [(rows + 2) * n] in all.
 * Float32 runs in WASM (float64 scalar arithmetic in the plain-TS loop's order: the same bits);
 * float64 and small inputs run the plain-TS loop itself.
 */
export function layerNormBackward(
  g: FloatArray,
  x: FloatArray,
  gamma: FloatArray,
  out: FloatArray,
  rows: number,
  n: number,
  eps = 1e-5,
): void {
  checkRows('layerNormBackward', [g, x], rows, n);
  if (gamma.length < n || out.length < (rows + 2) * n)
    throw new RangeError(`layerNormBackward: gamma needs ${n} elements, out ${(rows + 2) * n}`);
  if (!fast(x, rows, n)) {
    return layerNormBackwardFallback(g, x, gamma, out, rows, n, eps);
  }
  if (!(g instanceof Float32Array && gamma instanceof Float32Array && out instanceof Float32Array))
    throw new TypeError('layerNormBackward: mixed dtypes');
  const len = rows * n,
    { heap, fns } = rowwise();
  try {
    inHeap(
      heap,
      [
        [g.subarray(0, len), len],
        [x.subarray(0, len), len],
        [gamma.subarray(0, n), n],
      ],
      out.subarray(0, len + 2 * n),
      len + 2 * n,
      ([pg, px, pgamma], py) => {
        const acc = heap.alloc(16 * n); // dgamma and dbeta in float64
        try {
          fns.layerNormBackwardRows(pg!, px!, pgamma!, py, rows, n, eps, acc);
        } finally {
          heap.free(acc);
        }
      },
    );
  } catch (e) {
    if (!(e instanceof HeapLimitError)) throw e;
    layerNormBackwardFallback(g, x, gamma, out, rows, n, eps);
  }
}

/**
 * Softmax's backward per row: out = p ⊙ (d − Σ_row d ⊙ p), d = g (⊙ keep). Float32 runs in WASM,
 * the same bits as the plain-TS loop (kernels/cpu/rowwise.ts), which float64 and small inputs run.
 * Shapes: p, g, keep, out [rows, n].
 */
export function softmaxBackward(
  p: FloatArray,
  g: FloatArray,
  keep: FloatArray | null,
  out: FloatArray,
  rows: number,
  n: number,
): void {
  checkRows('softmaxBackward', keep ? [p, g, keep, out] : [p, g, out], rows, n);
  if (!fast(p, rows, n)) {
    return softmaxBackwardRows(p, g, keep, out, rows, n);
  }
  const len = rows * n;
  const inputs: [Float32Array, number][] = [
    [p.subarray(0, len), len],
    [(g as Float32Array).subarray(0, len), len],
  ];
  if (keep) inputs.push([(keep as Float32Array).subarray(0, len), len]);
  const { heap, fns } = rowwise();
  try {
    inHeap(heap, inputs, (out as Float32Array).subarray(0, len), len, ([pp, pg, pk], py) =>
      fns.softmaxBackwardRows(pp!, pg!, pk ?? 0, py, rows, n),
    );
  } catch (e) {
    if (!(e instanceof HeapLimitError)) throw e;
    softmaxBackwardRows(p, g, keep, out, rows, n);
  }
}

function checkRows(name: string, arrays: FloatArray[], rows: number, n: number): void {
  if (!(Number.isInteger(rows) && rows >= 1 && Number.isInteger(n) && n >= 1))
    throw new RangeError(`${name}: bad rows=${rows} n=${n}`);
  if (arrays.some((a) => a.length < rows * n)) throw new RangeError(`${name}: arrays need ${rows * n} elements`);
  if (arrays.some((a) => a.constructor !== arrays[0]!.constructor)) throw new TypeError(`${name}: mixed dtypes`);
}

/** Whether the WASM kernel takes these rows: float32, at least ROWWISE_MIN_ELEMENTS, WASM SIMD present. */
function fast(x: FloatArray, rows: number, n: number): x is Float32Array {
  return x instanceof Float32Array && rows * n >= ROWWISE_MIN_ELEMENTS && wasmSimdAvailable();
}

/** The shared heap and this thread's instance of the row-wise module on it (built on first use). */
function rowwise(): { heap: HeapArena; fns: RowwiseFns } {
  return heapModule<RowwiseFns>('rowwise', buildRowwiseModule);
}

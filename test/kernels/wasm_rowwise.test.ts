// Fused row-wise softmax and layer norm (WASM SIMD for float32, plain TS for float64) against
// float64 references.
//
// Softmax tolerance: 1e-6 relative to Math.exp, plus 1e-30 absolute for outputs below
// float32's normal range. The reference takes e^ of the same differences the kernel does: the
// float32 fround(x - max) for WASM, the exact float64 x - max for the TS fallback (small
// inputs). Layer norm: 5e-6 * (|ref| + 1), plus the conditioning term 4 * 2^-24 * |mean| * |gamma| / std:
// float32 cannot hold the mean of x = -50 +- 0.1 exactly, and x - mean inherits that rounding.
import t from 'tap';
import fc from 'fast-check';
import {
  layerNorm,
  layerNormBackward,
  softmax,
  softmaxBackward,
  alloc,
  free,
  shutdown,
  ROWWISE_MIN_ELEMENTS,
} from '../../kernels/wasm/index.js';
import {
  layerNormBackwardFallback,
  layerNormFallback,
  softmaxBackwardRows,
  softmaxFallback,
} from '../../kernels/cpu/rowwise.js';

import { expLanes } from '../../kernels/wasm/rowwise_kernel.js';
import { get, v128, ModuleBuilder } from '../../kernels/wasm/emit.js';
import { cases, deepAdds } from '../helpers/deep.js';

deepAdds('5x the random softmax and layer-norm cases (300 each)');

t.teardown(shutdown);

t.test('the polynomial e^x is within 2e-7 relative of Math.exp on float32 inputs', async (t) => {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const mod = new ModuleBuilder();
  mod.importMemory('env', 'memory', 1, 1, true);
  const fn = mod.func(['i32'], [], 'exp4');
  fn.body = v128.store(get(0), expLanes(v128.load(get(0)), [fn.local('v128'), fn.local('v128'), fn.local('v128')]));
  const exp4 = new WebAssembly.Instance(new WebAssembly.Module(mod.build()), { env: { memory } }).exports['exp4'] as (
    p: number,
  ) => void;
  const h = new Float32Array(memory.buffer, 0, 4);
  let worst = 0;
  for (let i = 0; i < 20000; i++) {
    const xs = [0, 1, 2, 3].map((l) => Math.fround(-87 + 175 * ((i * 4 + l) / 80000)));
    h.set(xs);
    exp4(0);
    xs.forEach((x, l) => {
      worst = Math.max(worst, Math.abs(h[l]! - Math.exp(x)) / Math.exp(x));
    });
  }
  t.ok(worst <= 2e-7, `worst relative error ${worst}`);
  h.set([-88, -Infinity, 0, 1]);
  exp4(0);
  t.same([...h], [0, 0, 1, Math.fround(Math.E)], 'underflow to 0, exact at 0');
});

const f32 = Math.fround;

function softmaxRef(x: ArrayLike<number>, rows: number, n: number, round: (v: number) => number): Float64Array {
  const y = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let j = 0; j < n; j++) m = Math.max(m, x[r * n + j]!);
    let s = 0;
    for (let j = 0; j < n; j++) s += y[r * n + j] = Math.exp(round(x[r * n + j]! - m));
    for (let j = 0; j < n; j++) y[r * n + j]! /= s;
  }
  return y;
}

/** Returns [y, bound] with the per-element error bound described at the top. */
function layerNormRef(
  x: ArrayLike<number>,
  g: ArrayLike<number>,
  b: ArrayLike<number>,
  rows: number,
  n: number,
  eps: number,
): [Float64Array, Float64Array] {
  const y = new Float64Array(rows * n);
  const bound = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let j = 0; j < n; j++) mean += x[r * n + j]!;
    mean /= n;
    let v = 0;
    for (let j = 0; j < n; j++) v += (x[r * n + j]! - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / n + eps);
    for (let j = 0; j < n; j++) {
      y[r * n + j] = (x[r * n + j]! - mean) * rstd * g[j]! + b[j]!;
      bound[r * n + j] = 5e-6 * (Math.abs(y[r * n + j]!) + 1) + 4 * 2 ** -24 * Math.abs(mean * g[j]!) * rstd;
    }
  }
  return [y, bound];
}

const shape = fc.record({
  rows: fc.integer({ min: 1, max: 4 }),
  n: fc.oneof(fc.constantFrom(1, 3, 4, 5, 17, 63, 65, 127, 129, 768), fc.integer({ min: 1, max: 300 })),
  scale: fc.constantFrom(0.1, 1, 10, 40),
  offset: fc.constantFrom(0, 3, -50),
  masked: fc.boolean(),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
});

function values(len: number, scale: number, offset: number, seed: number): Float32Array {
  const x = new Float32Array(len);
  let s = seed;
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = (s / 2 ** 32 - 0.5) * 2 * scale + offset;
  }
  return x;
}

t.test('float32 softmax: within 1e-6 relative of Math.exp', async (t) => {
  fc.assert(
    fc.property(shape, ({ rows, n, scale, offset, masked, seed }) => {
      const x = values(rows * n, scale, offset, seed);
      if (masked && n > 2) for (let r = 0; r < rows; r++) x[r * n + 1] = -Infinity; // attention mask
      const y = new Float32Array(rows * n);
      softmax(x, y, rows, n);
      const ref = softmaxRef(x, rows, n, rows * n >= ROWWISE_MIN_ELEMENTS ? f32 : (v) => v);
      for (let i = 0; i < y.length; i++) {
        if (!(Math.abs(y[i]! - ref[i]!) <= 1e-6 * ref[i]! + 1e-30))
          throw new Error(`n=${n} i=${i}: ${y[i]} vs ${ref[i]}`);
      }
    }),
    { numRuns: cases(60, 300) },
  );
  t.pass();
});

t.test('float32 layer norm: within 5e-6 * (|ref| + 1) + conditioning', async (t) => {
  fc.assert(
    fc.property(shape, ({ rows, n, scale, offset, seed }) => {
      const x = values(rows * n, scale, offset, seed);
      const g = values(n, 1, 1, seed + 1);
      const b = values(n, 1, 0, seed + 2);
      const y = new Float32Array(rows * n);
      layerNorm(x, g, b, y, rows, n, 1e-5);
      const [ref, bound] = layerNormRef(x, g, b, rows, n, 1e-5);
      for (let i = 0; i < y.length; i++) {
        if (!(Math.abs(y[i]! - ref[i]!) <= bound[i]!)) throw new Error(`n=${n} i=${i}: ${y[i]} vs ${ref[i]}`);
      }
    }),
    { numRuns: cases(60, 300) },
  );
  t.pass();
});

/** The float32 layer-norm backward kernel computes what the plain-TS loop computes, bit for bit. */
t.test('float32 layer-norm backward: the same bits as the plain-TS loop', async (t) => {
  fc.assert(
    fc.property(shape, fc.integer({ min: 1, max: 40 }), ({ n, scale, offset, seed }, rows0) => {
      const rows = rows0 * n < ROWWISE_MIN_ELEMENTS ? Math.ceil(ROWWISE_MIN_ELEMENTS / n) : rows0; // the WASM path
      const x = values(rows * n, scale, offset, seed);
      const g = values(rows * n, 1, 0.2, seed + 3);
      const gamma = values(n, 1, 1, seed + 1);
      const got = new Float32Array((rows + 2) * n),
        want = new Float32Array((rows + 2) * n);
      layerNormBackward(g, x, gamma, got, rows, n, 1e-5);
      layerNormBackwardFallback(g, x, gamma, want, rows, n, 1e-5);
      for (let i = 0; i < got.length; i++) {
        if (!Object.is(got[i], want[i])) throw new Error(`rows=${rows} n=${n} i=${i}: ${got[i]} vs ${want[i]}`);
      }
    }),
    { numRuns: cases(60, 300) },
  );
  t.pass();
});

t.test('float32 softmax backward: the same bits as the plain-TS loop, with and without a keep-mask', async (t) => {
  fc.assert(
    fc.property(shape, fc.integer({ min: 1, max: 40 }), fc.boolean(), ({ n, scale, seed }, rows0, masked) => {
      const rows = rows0 * n < ROWWISE_MIN_ELEMENTS ? Math.ceil(ROWWISE_MIN_ELEMENTS / n) : rows0; // the WASM path
      const p = values(rows * n, 0.5, 0.5, seed).map(Math.abs);
      const g = values(rows * n, scale, 0, seed + 1);
      const keep = masked ? values(rows * n, 1, 0, seed + 2).map((v) => (v > 0 ? 1.25 : 0)) : null;
      const got = new Float32Array(rows * n),
        want = new Float32Array(rows * n);
      softmaxBackward(p, g, keep, got, rows, n);
      softmaxBackwardRows(p, g, keep, want, rows, n);
      for (let i = 0; i < got.length; i++) {
        if (!Object.is(got[i], want[i])) throw new Error(`rows=${rows} n=${n} i=${i}: ${got[i]} vs ${want[i]}`);
      }
    }),
    { numRuns: cases(60, 300) },
  );
  t.pass();
});

t.test('float64 and the TS fallbacks match the references to 1e-12', async (t) => {
  const rows = 3,
    n = 70;
  const x = Float64Array.from(values(rows * n, 5, 1, 9));
  const g = Float64Array.from(values(n, 1, 1, 10)),
    b = Float64Array.from(values(n, 1, 0, 11));
  const y = new Float64Array(rows * n);
  const close = (got: Float64Array, want: Float64Array): boolean =>
    got.every((v, i) => Math.abs(v - want[i]!) <= 1e-12 * (Math.abs(want[i]!) + 1));
  softmax(x, y, rows, n);
  t.ok(
    close(
      y,
      softmaxRef(x, rows, n, (v) => v),
    ),
    'softmax f64',
  );
  layerNorm(x, g, b, y, rows, n, 1e-5);
  t.ok(close(y, layerNormRef(x, g, b, rows, n, 1e-5)[0]), 'layerNorm f64');
  const x32 = values(rows * n, 5, 1, 12),
    y32 = new Float32Array(rows * n);
  softmaxFallback(x32, y32, rows, n);
  t.ok(
    y32.every((v, i) => Math.abs(v - softmaxRef(x32, rows, n, (u) => u)[i]!) <= 1e-6 * v + 1e-30),
    'softmaxFallback f32',
  );
  layerNormFallback(x, g, b, y, rows, n, 1e-5);
  t.ok(close(y, layerNormRef(x, g, b, rows, n, 1e-5)[0]), 'layerNormFallback');
});

t.test('in place, and on heap arrays', async (t) => {
  const rows = 8,
    n = 100;
  const x = values(rows * n, 3, 0, 5);
  const want = new Float32Array(rows * n);
  softmax(x, want, rows, n);
  const same = x.slice();
  softmax(same, same, rows, n);
  t.same([...same], [...want], 'out === x');
  const h = alloc(rows * n);
  h.set(x);
  softmax(h, h, rows, n);
  t.same([...h], [...want], 'heap, in place');
  free(h);
  t.throws(() => softmax(x, new Float32Array(3), rows, n), RangeError);
  t.throws(() => layerNorm(x, new Float32Array(2), new Float32Array(n), x, rows, n), RangeError);
});

t.test('softmax (WASM): a NaN makes its row NaN; -Infinity gives 0; other rows untouched', (t) => {
  const n = 16,
    rows = ROWWISE_MIN_ELEMENTS / n + 1;
  const x = new Float32Array(rows * n).map((_, i) => (i % 7) - 3);
  x[3] = Number.NaN; // row 0, in a full vector
  x[n + 15] = Number.NaN; // row 1, last lane
  x[2 * n + 4] = -Infinity;
  const y = new Float32Array(x.length);
  softmax(x, y, rows, n);
  t.ok(y.subarray(0, 2 * n).every(Number.isNaN), 'rows with a NaN are NaN throughout');
  t.equal(y[2 * n + 4], 0, 'e^-Infinity = 0');
  const row2 = y.subarray(2 * n, 3 * n);
  t.ok(Math.abs(row2.reduce((a, b) => a + b, 0) - 1) < 1e-6 && row2.every(Number.isFinite), 'the next row sums to 1');
  t.end();
});

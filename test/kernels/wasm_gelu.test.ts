// float32 GELU and its backward in WASM SIMD (kernels/wasm/gelu_kernel.ts) against the float64
// formulas (engine/ops/scalar_math.ts, erf to ~1e-15), on every length mod 4 and on inputs from
// tiny to far in both tails. The kernel uses float32 erf (a rational fit, |error| < 1e-7) and a
// polynomial e^x (2e-7 relative); the bound, 2e-6 · (1 + |ref|), is float32 rounding of a
// handful of operations on top of that.
import t from 'tap';
import {
  GELU_PARALLEL_MIN,
  geluWasm,
  ROWWISE_MIN_ELEMENTS,
  setThreads,
  shutdown,
  startThreads,
  takeResident,
  threads,
} from '../../kernels/wasm/index.js';
import { geluErf, geluErfGrad, geluTanh, geluTanhGrad } from '../../engine/ops/scalar_math.js';
import { Rng } from '../../engine/index.js';

t.teardown(shutdown);

function inputs(n: number, seed: number): Float32Array {
  const rng = new Rng(seed),
    x = new Float32Array(n);
  const specials = [0, -0, 1e-30, -1e-8, 3.5, -3.5, 5.7, -5.7, 9, -9, 40, -40, 1e4, -1e4, 88, -88, 100, -100];
  for (let i = 0; i < n; i++) x[i] = i < specials.length ? specials[i] : (rng.uniform() - 0.5) * 16;
  return x;
}

for (const approximate of ['none', 'tanh'] as const) {
  const f = approximate === 'tanh' ? geluTanh : geluErf,
    df = approximate === 'tanh' ? geluTanhGrad : geluErfGrad;
  t.test(`geluWasm(${approximate}): values and g · gelu' within 2e-6 (1 + |ref|) of float64`, async (t) => {
    for (const n of [ROWWISE_MIN_ELEMENTS, 257, 1030, 4099]) {
      const x = inputs(n, n),
        g = inputs(n, n + 1).map((v) => v / 8),
        y = new Float32Array(n),
        gy = new Float32Array(n);
      t.ok(geluWasm(x, y, approximate), `n=${n}: the kernel ran`);
      t.ok(geluWasm(x, gy, approximate, g), `n=${n}: the backward kernel ran`);
      let worst = 0,
        worstG = 0;
      for (let i = 0; i < n; i++) {
        const ref = f(x[i]),
          refG = g[i] * df(x[i]);
        worst = Math.max(worst, Math.abs(y[i] - ref) / (1 + Math.abs(ref)));
        worstG = Math.max(worstG, Math.abs(gy[i] - refG) / (1 + Math.abs(refG)));
      }
      t.ok(worst <= 2e-6, `n=${n}: gelu worst ${worst.toExponential(2)}`);
      t.ok(worstG <= 2e-6, `n=${n}: backward worst ${worstG.toExponential(2)}`);
      t.ok(y.every(Number.isFinite) && gy.every(Number.isFinite), 'finite everywhere, tails included');
    }
  });
}

t.test('geluWasm: NaN stays NaN, ±0 gives ±0 and +Infinity gives +Infinity (the clamps keep them)', async (t) => {
  for (const approximate of ['none', 'tanh'] as const) {
    const x = new Float32Array(ROWWISE_MIN_ELEMENTS).fill(0.5);
    x.set([Number.NaN, 0, -0, Infinity, 3, Number.NaN, 0, Infinity]); // across two vectors
    const g = new Float32Array(x.length).fill(1),
      y = new Float32Array(x.length),
      gy = new Float32Array(x.length);
    t.ok(geluWasm(x, y, approximate) && geluWasm(x, gy, approximate, g), `${approximate}: the kernels ran`);
    for (const i of [0, 5]) t.ok(Number.isNaN(y[i]!) && Number.isNaN(gy[i]!), `${approximate}: NaN at ${i} stays NaN`);
    t.ok(Object.is(y[1], 0) && Object.is(y[2], -0) && Object.is(y[6], 0), `${approximate}: gelu(±0) = ±0`);
    t.ok(y[3] === Infinity && y[7] === Infinity, `${approximate}: gelu(+Infinity) = +Infinity`);
    t.ok(Math.abs(gy[1]! - 0.5) < 1e-6, `${approximate}: gelu'(0) = 1/2`);
  }
});

t.test('geluWasm declines small inputs and checks lengths', async (t) => {
  const x = new Float32Array(ROWWISE_MIN_ELEMENTS - 1);
  t.notOk(geluWasm(x, new Float32Array(x.length), 'none'), 'below ROWWISE_MIN_ELEMENTS the caller loops');
  t.throws(() => geluWasm(new Float32Array(300), new Float32Array(299), 'none'), /gelu: x, out lengths differ/);
  t.throws(
    () => geluWasm(new Float32Array(300), new Float32Array(300), 'none', new Float32Array(3)),
    /gelu: x, out, g lengths differ/,
  );
});

t.test('large GELUs run on the GEMM threads: the same bits as on one thread, in place too', async (t) => {
  const before = threads();
  t.teardown(() => setThreads(before));
  const n = GELU_PARALLEL_MIN * 3 + 7; // several units, an odd tail
  const x = inputs(n, 5),
    g = inputs(n, 6).map((v) => v / 8);
  const run = (count: number) => {
    setThreads(count);
    const out: Float32Array[] = [];
    for (const approximate of ['none', 'tanh'] as const) {
      const y = new Float32Array(n),
        gy = new Float32Array(n);
      geluWasm(x, y, approximate);
      geluWasm(x, gy, approximate, g);
      const inPlace = takeResident(n)!; // resident and overwritten where it is read
      inPlace.set(x);
      geluWasm(inPlace, inPlace, approximate);
      out.push(y, gy, inPlace.slice());
    }
    return out;
  };
  const one = run(1);
  t.equal(await startThreads(2), 2, 'two threads started');
  const two = run(2);
  one.forEach((a, i) =>
    t.ok(
      a.every((v, j) => Object.is(v, two[i]![j])),
      `result ${i}: same bits on 1 and 2 threads`,
    ),
  );
});

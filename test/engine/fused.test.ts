/** Fused ops equal their composite oracles (values and gradients), in float64 and float32. */
import fc from 'fast-check';
import t from 'tap';
import * as vg from '../../engine/index.js';
import {
  geluComposite,
  layerNormComposite,
  logSoftmaxComposite,
  softmaxComposite,
} from '../../engine/nn_functional.js';
import { layerNormBackwardComposite } from '../../engine/ops/fused.js';
import { leaf, RUNS, seedArb, seedFor, seedNote, shapeArb } from '../helpers/arb.js';

t.comment(seedNote('fused ops'));

function maxRel(a: vg.Tensor, b: vg.Tensor): number {
  const x = a.dataSync(),
    y = b.dataSync();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]) / Math.max(1, Math.abs(y[i])));
  return m;
}

for (const approximate of ['none', 'tanh'] as const) {
  t.test(`gelu(${approximate}) fused = composite`, async (t) => {
    fc.assert(
      fc.property(shapeArb(1, 3), seedArb, (shape, seed) => {
        for (const dtype of ['float64', 'float32'] as const) {
          const x = leaf(shape, seed).mul(3).to(dtype).detach().requiresGrad_();
          const g = vg.randn(shape, { dtype, rng: new vg.Rng(seed) });
          const [fa] = vg.grad(vg.gelu(x, approximate), [x], { gradOutputs: [g], createGraph: true });
          const [fb] = vg.grad(geluComposite(x, approximate), [x], { gradOutputs: [g], createGraph: true });
          const tol = dtype === 'float64' ? 1e-12 : 1e-5;
          if (maxRel(vg.gelu(x, approximate), geluComposite(x, approximate)) > tol) throw new Error('values differ');
          if (maxRel(fa!, fb!) > tol) throw new Error('gradients differ');
          const [sa] = vg.grad(fa!.sum(), [x]),
            [sb] = vg.grad(fb!.sum(), [x]);
          if (maxRel(sa!, sb!) > tol * 10) throw new Error('second derivatives differ');
        }
      }),
      { numRuns: RUNS * 3, seed: seedFor('fused gelu') },
    );
    t.pass();
  });
}

// GELU on tensors large enough for cpu's WASM SIMD kernel (>= 256 float32 elements, any length
// mod 4): value, gradient (the fused geluBackward) and second derivative against the composite.
for (const device of ['cpu', 'cpu-ref']) {
  t.test(`gelu fused = composite on ${device}, float32 at kernel sizes`, async (t) => {
    const be = vg.getBackend(device);
    for (const approximate of ['none', 'tanh'] as const) {
      for (const n of [256, 301, 1027]) {
        const x = vg
          .randn([n], { rng: new vg.Rng(n) })
          .mul(3)
          .to(be)
          .requiresGrad_();
        const g = vg.randn([n], { rng: new vg.Rng(n + 1) }).to(be);
        const [fa] = vg.grad(vg.gelu(x, approximate), [x], { gradOutputs: [g], createGraph: true });
        const [fb] = vg.grad(geluComposite(x, approximate), [x], { gradOutputs: [g], createGraph: true });
        t.ok(maxRel(vg.gelu(x, approximate), geluComposite(x, approximate)) <= 2e-6, `${approximate} [${n}] values`);
        t.ok(maxRel(fa!, fb!) <= 2e-6, `${approximate} [${n}] gradients`);
        const [sa] = vg.grad(fa!.sum(), [x]),
          [sb] = vg.grad(fb!.sum(), [x]);
        t.ok(maxRel(sa!, sb!) <= 1e-4, `${approximate} [${n}] second derivatives`);
      }
    }
  });
}

// Row-wise fused ops (softmax, logSoftmax, layerNorm) against their composites on odd row lengths,
// on both CPU backends (cpu runs float32 rows of >= 256 elements in WASM SIMD, cpu-ref plain TS).
const N_SIZES = [1, 3, 17, 63, 65];
const ROW_COUNTS = [1, 5, 40];

/** Rows with masking values as attention uses them (-10000, -1e9, -inf) and large logits. */
function maskedRows(rows: number, n: number, seed: number): Float64Array {
  const r = new vg.Rng(seed);
  return Float64Array.from({ length: rows * n }, (_, i) => {
    const u = r.uniform();
    if (i % n === 0) return r.uniform() * 4 - 2; // every row keeps one finite entry
    return u < 0.1
      ? -10000
      : u < 0.2
        ? -1e9
        : u < 0.25
          ? -Infinity
          : u < 0.3
            ? 80 + r.uniform() * 5
            : r.uniform() * 8 - 4;
  });
}

for (const device of ['cpu', 'cpu-ref']) {
  t.test(`softmax/logSoftmax/layerNorm fused = composite on ${device}`, async (t) => {
    const be = vg.getBackend(device);
    for (const dtype of ['float64', 'float32'] as const) {
      const tol = dtype === 'float64' ? 1e-12 : 2e-6;
      for (const n of N_SIZES)
        for (const rows of ROW_COUNTS) {
          const x = vg.tensor(maskedRows(rows, n, n * 100 + rows), { shape: [rows, n], dtype }).to(be);
          t.ok(maxRel(x.softmax(-1), softmaxComposite(x, -1)) <= tol, `softmax ${dtype} [${rows}, ${n}]`);
          const finite = vg
            .tensor(
              maskedRows(rows, n, n + rows).map((v) => Math.max(v, -1e4)),
              { shape: [rows, n], dtype },
            )
            .to(be);
          t.ok(
            maxRel(finite.logSoftmax(-1), logSoftmaxComposite(finite, -1)) <= tol * 10,
            `logSoftmax ${dtype} [${rows}, ${n}]`,
          );
          const y = vg
            .randn([rows, n], { dtype, rng: new vg.Rng(n + rows) })
            .mul(3)
            .add(1)
            .to(be);
          const w = vg.randn([n], { dtype, rng: new vg.Rng(n) }).to(be),
            b = vg.randn([n], { dtype, rng: new vg.Rng(n + 1) }).to(be);
          t.ok(
            maxRel(vg.layerNorm(y, [n], w, b), layerNormComposite(y, [n], w, b)) <= tol * 5,
            `layerNorm ${dtype} [${rows}, ${n}]`,
          );
        }
    }
    // softmax of a fully masked (-inf) row is NaN in both, as in PyTorch.
    const dead = vg.tensor([-Infinity, -Infinity, -Infinity], { shape: [1, 3] }).to(be);
    t.ok(
      dead.softmax(-1).dataSync().every(Number.isNaN) && softmaxComposite(dead).dataSync().every(Number.isNaN),
      'all -inf row: NaN',
    );
  });
}

t.test('fused row-wise ops: gradients and second derivatives match the composites (float64)', async (t) => {
  fc.assert(
    fc.property(shapeArb(1, 3), seedArb, (shape, seed) => {
      const n = shape[shape.length - 1];
      const x = leaf(shape, seed).mul(2).detach().requiresGrad_();
      const w = leaf([n], seed + 1),
        b = leaf([n], seed + 2);
      const g = vg.randn(shape, { dtype: 'float64', rng: new vg.Rng(seed) });
      const pairs: [string, (a: vg.Tensor) => vg.Tensor, (a: vg.Tensor) => vg.Tensor][] = [
        ['softmax', (a) => a.softmax(-1), (a) => softmaxComposite(a, -1)],
        ['logSoftmax', (a) => a.logSoftmax(-1), (a) => logSoftmaxComposite(a, -1)],
        ['layerNorm', (a) => vg.layerNorm(a, [n], w, b), (a) => layerNormComposite(a, [n], w, b)],
      ];
      for (const [name, fused, comp] of pairs) {
        const [fa, fw] = vg.grad(fused(x), [x, w], { gradOutputs: [g], createGraph: true, allowUnused: true });
        const [ca, cw] = vg.grad(comp(x), [x, w], { gradOutputs: [g], createGraph: true, allowUnused: true });
        if (maxRel(fa!, ca!) > 1e-10) throw new Error(`${name}: gradients differ`);
        if (fw && maxRel(fw, cw!) > 1e-10) throw new Error(`${name}: weight gradients differ`);
        const [sa] = vg.grad(fa!.mul(fa!).sum(), [x]),
          [sb] = vg.grad(ca!.mul(ca!).sum(), [x]);
        if (maxRel(sa!, sb!) > 1e-9) throw new Error(`${name}: second derivatives differ`);
      }
    }),
    { numRuns: RUNS * 3, seed: seedFor('fused rows') },
  );
  for (const n of [1, 3, 17]) {
    const x = vg.tensor(
      maskedRows(2, n, n).map((v) => Math.max(v, -30)),
      { shape: [2, n], dtype: 'float64', requiresGrad: true },
    );
    const w = leaf([n], n),
      b = leaf([n], n + 1);
    t.ok(vg.gradgradcheck((a) => a.softmax(-1), [x]).ok, `softmax gradgradcheck [2, ${n}]`);
    t.ok(vg.gradgradcheck((a) => a.logSoftmax(-1), [x]).ok, `logSoftmax gradgradcheck [2, ${n}]`);
    t.ok(vg.gradgradcheck((a, c, d) => vg.layerNorm(a, [n], c, d), [x, w, b]).ok, `layerNorm gradgradcheck [2, ${n}]`);
  }
});

// layerNorm's plain backward runs the fused layerNormBackward op (one pass per row on cpu and
// cpu-ref); its dx, dweight and dbias must equal the composite formulas, in both dtypes, on
// shapes with several leading dims and odd row lengths.
for (const device of ['cpu', 'cpu-ref']) {
  t.test(`layerNorm backward: fused op = composite on ${device}`, async (t) => {
    const be = vg.getBackend(device);
    for (const dtype of ['float64', 'float32'] as const) {
      for (const [shape, eps] of [
        [[3, 5, 7], 1e-5],
        [[2, 1, 33], 1e-6],
        [[1, 1], 1e-5],
        [[64, 256], 1e-6],
      ] as const) {
        const n = shape[shape.length - 1]!;
        const mk = (s: readonly number[], seed: number) =>
          vg
            .randn([...s], { rng: new vg.Rng(seed), dtype })
            .to(be)
            .requiresGrad_();
        const x = mk(shape, 1),
          w = mk([n], 2),
          b = mk([n], 3);
        const g = vg.randn([...shape], { rng: new vg.Rng(4), dtype }).to(be);
        const [dx, dw, db] = vg.grad(vg.layerNorm(x, [n], w, b, eps), [x, w, b], { gradOutputs: [g] });
        const want = layerNormBackwardComposite(g, x.detach(), w.detach(), eps);
        const tol = dtype === 'float64' ? 1e-12 : 1e-4;
        [dx, dw, db].forEach((got, i) => {
          const err = maxRel(got!, want[i]!);
          t.ok(
            err <= tol,
            `${dtype} ${JSON.stringify(shape)} ${['dx', 'dweight', 'dbias'][i]}: ${err.toExponential(2)}`,
          );
        });
      }
    }
    const { stats } = vg.profile(() => {
      const x = vg.randn([4, 8], { requiresGrad: true }).to(be);
      vg.layerNorm(x, [8], vg.ones([8]).to(be).requiresGrad_(), vg.zeros([8]).to(be).requiresGrad_())
        .sum()
        .backward();
    });
    t.ok(
      stats.some((s) => s.op === 'layerNormBackward'),
      'the plain backward goes through the fused op',
    );
  });
}

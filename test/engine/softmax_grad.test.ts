/**
 * softmaxGrad (engine/ops/attention.ts): the backend's one-pass softmax backward gives the same
 * bits as the tensor ops it replaces, with and without a dropout keep-mask, in float32 and float64;
 * under createGraph the tensor ops run (and stay differentiable).
 */
import fc from 'fast-check';
import t from 'tap';
import * as vg from '../../engine/index.js';
import { softmaxGrad } from '../../engine/ops/attention.js';
import { RUNS, seedFor } from '../helpers/arb.js';

const same = (a: vg.Tensor, b: vg.Tensor): boolean => {
  const x = a.dataSync(),
    y = b.dataSync();
  return x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
};

t.test('the fused pass = p ⊙ (d − Σ d ⊙ p) by tensor ops, bit for bit', async (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 3 }),
      fc.integer({ min: 1, max: 70 }),
      fc.constantFrom('float32', 'float64' as const),
      fc.boolean(),
      fc.nat(),
      (lead, n, dtype, dropout, seed) => {
        const rng = new vg.Rng(seed);
        const shape = [...lead, n];
        const p = vg.randn(shape, { rng, dtype }).softmax(-1),
          gp = vg.randn(shape, { rng, dtype });
        const keep = dropout ? vg.dropoutMask(p, 0.3, rng) : null;
        const fused = vg.noGrad(() => softmaxGrad(p, gp, keep));
        const d = keep ? gp.mul(keep) : gp;
        const ops = p.mul(d.sub(d.mul(p).sum(-1, true)));
        return same(fused, ops);
      },
    ),
    { numRuns: RUNS * 3, seed: seedFor('softmax_grad') },
  );
  t.pass(`${RUNS * 3} random cases`);
});

t.test('with a graph recorded it is the tensor ops, so a second derivative flows', async (t) => {
  const p = vg.randn([3, 5], { dtype: 'float64' }).softmax(-1).requiresGrad_();
  const gp = vg.randn([3, 5], { dtype: 'float64' });
  const out = softmaxGrad(p, gp, null);
  t.ok(out.requiresGrad, 'the result carries a graph');
  out.sum().backward();
  t.ok(p.grad, 'p gets a gradient through it');
});

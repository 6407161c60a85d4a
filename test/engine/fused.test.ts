/** Fused ops equal their composite oracles (values and gradients), in float64 and float32. */
import fc from 'fast-check';
import t from 'tap';
import * as vg from '../../engine/index.js';
import { geluComposite } from '../../engine/nn_functional.js';
import { leaf, RUNS, seedArb, shapeArb } from '../helpers/arb.js';

function maxRel(a: vg.Tensor, b: vg.Tensor): number {
  const x = a.dataSync(), y = b.dataSync();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]) / Math.max(1, Math.abs(y[i])));
  return m;
}

for (const approximate of ['none', 'tanh'] as const) {
  t.test(`gelu(${approximate}) fused = composite`, async (t) => {
    fc.assert(fc.property(shapeArb(1, 3), seedArb, (shape, seed) => {
      for (const dtype of ['float64', 'float32'] as const) {
        const x = leaf(shape, seed).mul(3).to(dtype).detach().requiresGrad_();
        const g = vg.randn(shape, { dtype, rng: new vg.Rng(seed) });
        const [fa] = vg.grad(vg.gelu(x, approximate), [x], { gradOutputs: [g], createGraph: true });
        const [fb] = vg.grad(geluComposite(x, approximate), [x], { gradOutputs: [g], createGraph: true });
        const tol = dtype === 'float64' ? 1e-12 : 1e-5;
        if (maxRel(vg.gelu(x, approximate), geluComposite(x, approximate)) > tol) throw new Error('values differ');
        if (maxRel(fa!, fb!) > tol) throw new Error('gradients differ');
        const [sa] = vg.grad(fa!.sum(), [x]), [sb] = vg.grad(fb!.sum(), [x]);
        if (maxRel(sa!, sb!) > tol * 10) throw new Error('second derivatives differ');
      }
    }), { numRuns: RUNS * 3, seed: 4 });
    t.pass();
  });
}

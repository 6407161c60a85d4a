// Whole-model float64 gradient checks on the micro VLMo, with PyTorch's gradcheck tolerances
// (eps 1e-6, atol 1e-5, rtol 1e-3). The engine's gradcheck perturbs its inputs in place, so passing
// the model's own parameters checks every element of them against central differences of the
// stage-3 loss; every other parameter tensor gets a random-direction check (JAX check_grads style):
// d/dε L(θ + ε·d) at 0 against <∇L, d>.
import t from 'tap';
import { gradcheck, noGrad, randn, Rng, type Tensor } from '../../engine/index.js';
import { mimObjective, textMlmObjective, vlObjective } from '../../models/vlmo/objectives.js';
import { microSetup } from './vlmo_fixtures.js';

const EPS = 1e-6,
  ATOL = 1e-5,
  RTOL = 1e-3;

/**
 * For each group of parameters, <∇L, d> against the central difference of L along a random d that
 * touches only that group. One backward serves every group.
 */
function directional(loss: () => Tensor, groups: Tensor[][], rng: Rng): { analytic: number; numeric: number }[] {
  const all = groups.flat();
  for (const p of all) p.grad = null;
  loss().backward();
  return groups.map((params) => {
    const dirs = params.map((p) => randn(p.shape, { rng, dtype: 'float64' }));
    let analytic = 0;
    params.forEach((p, i) => {
      if (p.grad) analytic += p.grad.mul(dirs[i]).sum().item();
    });
    const shift = (s: number): void => noGrad(() => params.forEach((p, i) => p.assign(p.add(dirs[i].mul(s)))));
    const at = (s: number): number => {
      shift(s);
      const v = noGrad(loss).item();
      shift(-s);
      return v;
    };
    return { analytic, numeric: (at(EPS) - at(-EPS)) / (2 * EPS) };
  });
}

const close = ({ analytic, numeric }: { analytic: number; numeric: number }): boolean =>
  Math.abs(analytic - numeric) <= ATOL + RTOL * Math.abs(numeric);

t.test('stage 3 (ITC + ITM + 0.25 MLM): every element of the small tensors, by central differences', async (t) => {
  const { model, batch, negatives } = microSetup(2);
  const named = new Map(model.namedParameters());
  const small = [
    'relative_position_bias_table',
    'logit_scale',
    'logit_vl_scale',
    'transformer.blocks.1.attn.qBias',
    'itm_score.fc.bias',
  ].map((n) => named.get(n)!);
  const r = gradcheck(() => vlObjective(model, batch, { negatives }).total, small, {
    eps: EPS,
    atol: ATOL,
    rtol: RTOL,
  });
  t.ok(
    r.ok,
    `${small.reduce((n, p) => n + p.size, 0)} elements agree (largest error ${r.maxAbsError.toExponential(2)})`,
  );
});

t.test('stage 3: a random direction in every parameter tensor', async (t) => {
  const { model, batch, negatives } = microSetup(3);
  const rng = new Rng(7),
    loss = (): Tensor => vlObjective(model, batch, { negatives }).total;
  const named = model.namedParameters().filter(([n]) => !n.startsWith('mim_head') && n !== 'mask_token');
  const checks = directional(loss, [...named.map(([, p]) => [p]), named.map(([, p]) => p)], rng);
  let bad = 0;
  checks.forEach((d, i) => {
    if (!close(d)) {
      bad++;
      t.fail(`${named[i]?.[0] ?? 'all parameters'}: analytic ${d.analytic} vs numeric ${d.numeric}`);
    }
  });
  t.equal(bad, 0, `${named.length} parameter tensors, and one joint direction over all of them, agree`);
});

t.test('stages 1 and 2: one joint random direction over all parameters', async (t) => {
  const { model, batch, mimMask, codes } = microSetup(4);
  const params = model.parameters(),
    rng = new Rng(8);
  const [mim] = directional(() => mimObjective(model, { images: batch.images, mimMask, codes }).loss, [params], rng);
  t.ok(close(mim), `MIM: analytic ${mim.analytic} vs numeric ${mim.numeric}`);
  const [mlm] = directional(() => textMlmObjective(model, batch).loss, [params], rng);
  t.ok(close(mlm), `text MLM: analytic ${mlm.analytic} vs numeric ${mlm.numeric}`);
});

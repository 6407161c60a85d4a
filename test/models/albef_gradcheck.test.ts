// Whole-model float64 gradient check of ALBEF's total loss (ITC + ITM + MLM with momentum
// distillation) on the micro config, with dropout off and the hard negatives and MLM masks fixed.
// The loss is `Albef.losses` (no EMA update or enqueue between evaluations, so it is a pure function
// of the online parameters). Checked: (1) the engine's element-by-element gradcheck on the small
// tensors (temperature, heads, biases: every element; every third such tensor by default, all of them
// under VLGRAD_DEEP=1), (2) for every one of the 77 trainable tensors a random direction supported on
// that tensor alone, (3) random directions over all parameters at once (2 by default, 5 deep).
import t from 'tap';
import { gradcheck, noGrad, Rng, type Tensor } from '../../engine/index.js';
import { microSetup, onlineParams } from './albef_fixtures.js';
import { cases, DEEP, deepAdds } from '../helpers/deep.js';

deepAdds(
  'the element-by-element gradcheck of all 24 small tensors (8 by default), 3 more random all-parameter directions',
);

const { model, inputs, negatives, alpha } = microSetup();
// The momentum outputs (soft targets, banks) are computed once: in ALBEF they carry no gradient, so
// the loss as a function of the online parameters holds them fixed (including τ in the targets).
const momentum = model.momentumOutputs(inputs, alpha);
const loss = (): Tensor => model.losses(inputs, { alpha, negatives, momentum }).total;
const params = onlineParams(model);

/** f(θ + εd) with d given per parameter (host arrays are perturbed in place and restored). */
function shifted(dirs: Map<Tensor, Float64Array>, eps: number): number {
  const saved = new Map<Tensor, Float64Array>();
  for (const [p, d] of dirs) {
    const a = p.backend.readSync(p.raw);
    saved.set(p, Float64Array.from(a));
    for (let i = 0; i < a.length; i++) a[i] += eps * d[i];
  }
  const v = noGrad(() => loss().item());
  for (const [p, s] of saved) p.backend.readSync(p.raw).set(s);
  return v;
}

/** Analytic ∇f · d against the central difference (f(θ + εd) − f(θ − εd)) / 2ε. */
function directional(dirs: Map<Tensor, Float64Array>, grads: Map<Tensor, Float64Array>): { num: number; ana: number } {
  let ana = 0;
  for (const [p, d] of dirs) {
    const g = grads.get(p)!;
    for (let i = 0; i < d.length; i++) ana += g[i] * d[i];
  }
  const eps = 1e-6;
  return { num: (shifted(dirs, eps) - shifted(dirs, -eps)) / (2 * eps), ana };
}

for (const [, p] of params) p.grad = null;
loss().backward();
const grads = new Map(params.map(([, p]) => [p, Float64Array.from(p.grad!.dataSync())]));
const rng = new Rng(7);
const randomDir = (p: Tensor): Float64Array => Float64Array.from({ length: p.size }, () => rng.normal());

t.test('every element of the small tensors (engine gradcheck; every third one unless VLGRAD_DEEP=1)', async (t) => {
  const small = params
    .filter(([n, p]) => p.size <= 12 && !n.includes('LayerNorm') && !n.includes('norm'))
    .map(([, p]) => p)
    .filter((_, i) => DEEP || i % 3 === 0); // the directional checks below still cover every tensor
  const total = small.reduce((n, p) => n + p.size, 0);
  const r = gradcheck(loss, small, { raise: false });
  t.ok(
    r.ok,
    `${small.length} tensors, ${total} elements: ${r.message} (max |error| ${r.maxAbsError.toExponential(2)})`,
  );
});

t.test('a random direction on each trainable tensor separately', async (t) => {
  let bad = 0;
  for (const [name, p] of params) {
    const { num, ana } = directional(new Map([[p, randomDir(p)]]), grads);
    if (!(Math.abs(num - ana) <= 1e-6 + 1e-5 * Math.abs(num))) {
      bad++;
      t.fail(`${name}: analytic ${ana} vs numerical ${num}`);
    }
  }
  t.equal(bad, 0, `all ${params.length} tensors (${model.numParameters({ trainableOnly: true })} parameters) agree`);
  t.ok(
    params.some(([n]) => n.includes('crossattention')) && params.some(([n]) => n === 'temp'),
    'cross-attention and temperature are among them',
  );
});

t.test('random directions over all parameters at once', async (t) => {
  for (let k = 0; k < cases(2, 5); k++) {
    const { num, ana } = directional(new Map(params.map(([, p]) => [p, randomDir(p)])), grads);
    t.ok(
      Math.abs(num - ana) <= 1e-6 + 1e-5 * Math.abs(num),
      `direction ${k}: analytic ${ana.toFixed(9)} vs numerical ${num.toFixed(9)}`,
    );
  }
});

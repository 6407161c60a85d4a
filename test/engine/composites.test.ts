/**
 * The functional composites (softmax, layerNorm, losses, ...) are built from primitives; these
 * property tests gradcheck and gradgradcheck them on random shapes.
 */
import fc from 'fast-check';
import t from 'tap';
import * as vg from '../../engine/index.js';
import type { Tensor } from '../../engine/index.js';
import { indices, leaf, RUNS, seedArb, seedFor, seedNote, shapeArb } from '../helpers/arb.js';

t.comment(seedNote('composites'));

type Fn = (x: Tensor) => Tensor;
const rowShape = shapeArb(1, 3, 4).map((s) => s.map((n) => Math.max(n, 2))); // var of 1 element is NaN

const composites: [string, Fn, boolean][] = [
  // [name, function of one leaf, also second order]
  ['softmax', (x) => x.softmax(-1), true],
  ['softmax dim 0', (x) => x.softmax(0), true],
  ['logSoftmax', (x) => x.logSoftmax(-1), true],
  ['logsumexp', (x) => x.logsumexp(-1, true), true],
  ['gelu', (x) => x.gelu(), true],
  ['gelu tanh', (x) => x.gelu('tanh'), true],
  ['silu', (x) => x.silu(), true],
  ['mean', (x) => x.mean(-1), true],
  ['var', (x) => x.var(-1, { correction: 0 }).add(x.var()), true],
  [
    'std',
    (x) => x.add(vg.arange(x.size, undefined, 1, { dtype: 'float64' }).reshape(x.shape)).std(-1, { keepdim: true }),
    false,
  ],
  ['norm 2', (x) => x.norm(2, -1), false],
  ['norm 1', (x) => x.add(3).norm(1), true],
  ['max dim', (x) => x.max(-1), true],
  ['min dim keepdim', (x) => x.min(0, true), true],
  ['amin', (x) => x.amin(), true],
  ['layerNorm', (x) => vg.layerNorm(x, [x.shape[x.ndim - 1]], null, null, 1e-5), true],
  ['pad', (x) => x.pad([1, 2]), true],
  ['repeat', (x) => x.repeat(...x.shape.map(() => 2)), true],
  ['stack', (x) => vg.stack([x, x.mul(2)], -1), true],
  ['split', (x) => vg.concat(x.split(1, -1).reverse(), -1), true],
  ['chunk', (x) => vg.concat(x.chunk(2, 0).reverse(), 0), true],
  ['dropout (fixed mask)', (x) => vg.dropout(x, 0.3, true, new vg.Rng(5)), true],
  // targets depend on the shape only: a detached view of x would move with gradcheck's probes
  ['mseLoss', (x) => vg.mseLoss(x, vg.linspace(-1, 1, x.size, { dtype: 'float64' }).reshape(x.shape)), true],
  [
    'bceWithLogits',
    (x) => vg.binaryCrossEntropyWithLogits(x, vg.linspace(0, 1, x.size, { dtype: 'float64' }).reshape(x.shape)),
    true,
  ],
];

for (const [name, fn, second] of composites) {
  t.test(`${name}: gradcheck${second ? ' + gradgradcheck' : ''}`, async (t) => {
    fc.assert(
      fc.property(rowShape, seedArb, (shape, seed) => {
        const x = leaf(shape, seed, name.startsWith('norm') || name === 'std' ? 'nonzero' : 'any');
        vg.gradcheck(fn, [x]);
        if (second && x.size <= 12) vg.gradgradcheck(fn, [x]);
      }),
      { numRuns: RUNS, seed: seedFor('composites') },
    );
    t.pass();
  });
}

t.test('layerNorm with weight and bias', async (t) => {
  const x = leaf([3, 4], 1),
    w = leaf([4], 2),
    b = leaf([4], 3);
  t.ok(vg.gradcheck((a, ww, bb) => vg.layerNorm(a, [4], ww, bb, 1e-6), [x, w, b]).ok);
  t.ok(vg.gradgradcheck((a, ww, bb) => vg.layerNorm(a, [4], ww, bb, 1e-6), [x, w, b]).ok);
});

t.test('crossEntropy: indices, ignoreIndex, labelSmoothing, soft targets, [N,C,d]', async (t) => {
  const logits = leaf([5, 4], 1);
  const target = vg.tensor([0, 3, -100, 2, 1], { dtype: 'int32' });
  for (const labelSmoothing of [0, 0.2]) {
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      t.ok(
        vg.gradcheck((l) => vg.crossEntropy(l, target, { labelSmoothing, reduction }), [logits]).ok,
        `${reduction} ls=${labelSmoothing}`,
      );
    }
  }
  const soft = vg.softmax(leaf([5, 4], 2).detach(), -1);
  t.ok(vg.gradcheck((l) => vg.crossEntropy(l, soft, { labelSmoothing: 0.1 }), [logits]).ok, 'soft targets');
  const l3 = leaf([2, 3, 4], 3);
  t.ok(vg.gradcheck((l) => vg.crossEntropy(l, indices([2, 4], 3, 9)), [l3]).ok, '[N,C,d] layout');
  t.ok(vg.gradgradcheck((l) => vg.crossEntropy(l, target), [leaf([5, 4], 4)]).ok, 'second order');
});

t.test('klDiv reductions and logTarget', async (t) => {
  const input = leaf([3, 4], 1);
  const target = vg.softmax(leaf([3, 4], 2).detach(), -1);
  for (const reduction of ['mean', 'batchmean', 'sum', 'none'] as const) {
    t.ok(vg.gradcheck((i, q) => vg.klDiv(i.logSoftmax(-1), q, { reduction }), [input, target]).ok, reduction);
  }
  t.ok(vg.gradcheck((i) => vg.klDiv(i.logSoftmax(-1), target.log(), { logTarget: true }), [input]).ok, 'logTarget');
});

t.test('embedding and oneHot', async (t) => {
  const w = leaf([5, 3], 1);
  const ids = vg.tensor(
    [
      [0, 4, 4],
      [2, 1, 0],
    ],
    { dtype: 'int32' },
  );
  t.same(vg.embedding(w, ids).shape, [2, 3, 3]);
  t.ok(vg.gradcheck((ww) => vg.embedding(ww, ids), [w]).ok);
  t.same(vg.oneHot(vg.tensor([2, 0], { dtype: 'int32' }), 3).toArray(), [
    [0, 0, 1],
    [1, 0, 0],
  ]);
});

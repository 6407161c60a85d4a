/** Initializers: bounds and moments of PyTorch / timm / BERT conventions, seeded determinism. */
import fc from 'fast-check';
import t from 'tap';
import { Rng, zeros } from '../../engine/index.js';
import {
  constant_,
  fans,
  kaimingUniform_,
  normal_,
  ones_,
  truncNormal_,
  xavierUniform_,
  zeros_,
} from '../../nn/init.js';
import { Embedding, Linear } from '../../nn/layers.js';
import { PatchConv2d } from '../../nn/patch_embed.js';

function moments(xs: ArrayLike<number>): { mean: number; std: number; min: number; max: number } {
  let s = 0,
    s2 = 0,
    min = Infinity,
    max = -Infinity;
  for (let i = 0; i < xs.length; i++) {
    s += xs[i];
    s2 += xs[i] * xs[i];
    min = Math.min(min, xs[i]);
    max = Math.max(max, xs[i]);
  }
  const mean = s / xs.length;
  return { mean, std: Math.sqrt(s2 / xs.length - mean * mean), min, max };
}

t.test('fans follow torch.nn.init for Linear and conv weights', (tt) => {
  tt.same(fans(zeros([3, 5])), { fanIn: 5, fanOut: 3 });
  tt.same(fans(zeros([8, 3, 4, 4])), { fanIn: 48, fanOut: 128 });
  tt.throws(() => fans(zeros([3])), /2\+ dims/);
  tt.end();
});

t.test('property: Linear and PatchConv2d default init stays within ±1/sqrt(fan_in)', (tt) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 3 }),
      fc.integer(),
      (i, o, p, seed) => {
        const lin = new Linear(i, o, { rng: new Rng(seed) });
        const conv = new PatchConv2d(i, o, p, { rng: new Rng(seed) });
        const ok = (xs: ArrayLike<number>, fan: number) =>
          Array.from(xs).every((v) => Math.abs(v) <= 1 / Math.sqrt(fan) + 1e-7);
        return (
          ok(lin.weight.dataSync(), i) &&
          ok(lin.bias!.dataSync(), i) &&
          ok(conv.weight.dataSync(), i * p * p) &&
          ok(conv.bias!.dataSync(), i * p * p)
        );
      },
    ),
    { numRuns: 50 },
  );
  tt.pass('bounds hold');
  tt.end();
});

t.test('kaiming and xavier uniform: bound and variance', (tt) => {
  const w = kaimingUniform_(zeros([256, 64]), new Rng(1), { a: Math.sqrt(5) });
  const m = moments(w.dataSync()),
    bound = 1 / 8;
  tt.ok(m.max <= bound && m.min >= -bound && m.max > 0.99 * bound, `within ±${bound}`);
  tt.ok(Math.abs(m.std - bound / Math.sqrt(3)) < 0.002, `std ${m.std} ≈ bound/sqrt(3)`);
  const relu = moments(kaimingUniform_(zeros([256, 64]), new Rng(2)).dataSync());
  tt.ok(Math.abs(relu.std - Math.sqrt(2 / 64)) < 0.005, `a = 0 (ReLU gain): std ${relu.std} ≈ sqrt(2/fan_in)`);
  const x = moments(xavierUniform_(zeros([100, 300]), new Rng(3)).dataSync());
  const xb = Math.sqrt(6 / 400);
  tt.ok(x.max <= xb && x.min >= -xb && Math.abs(x.std - xb / Math.sqrt(3)) < 0.002, 'xavier: U(±sqrt(6/(in+out)))');
  tt.end();
});

t.test('normal and truncated normal (timm semantics: absolute bounds)', (tt) => {
  const n = moments(normal_(zeros([20000]), new Rng(4), { std: 0.02 }).dataSync());
  tt.ok(Math.abs(n.mean) < 1e-3 && Math.abs(n.std - 0.02) < 5e-4, `BERT normal std 0.02: ${n.std}`);
  const vit = moments(truncNormal_(zeros([20000], { dtype: 'float64' }), new Rng(5), { std: 0.02 }).dataSync());
  tt.ok(Math.abs(vit.std - 0.02) < 5e-4, 'ViT trunc_normal std 0.02 is (nearly) untruncated at ±2');
  const cut = moments(truncNormal_(zeros([20000], { dtype: 'float64' }), new Rng(6), { a: -0.5, b: 0.5 }).dataSync());
  // std of N(0,1) truncated to ±c: sqrt(1 - 2cφ(c) / (2Φ(c) - 1)) = 0.2838 for c = 0.5
  tt.ok(cut.min >= -0.5 && cut.max <= 0.5, 'within [a, b]');
  tt.ok(Math.abs(cut.std - 0.2838) < 0.005, `truncated std ${cut.std} ≈ 0.2838`);
  tt.throws(() => truncNormal_(zeros([4]), new Rng(7), { a: 50, b: 51 }), /too far in the tail/);
  tt.end();
});

t.test('constants, dtype preservation and seeded determinism', (tt) => {
  const z = zeros([2, 2], { dtype: 'float64' });
  tt.same(ones_(z).toArray(), [
    [1, 1],
    [1, 1],
  ]);
  tt.equal(z.dtype, 'float64');
  tt.same(
    constant_(z, 0.1).toArray(),
    [
      [0.1, 0.1],
      [0.1, 0.1],
    ],
    'float64 keeps the exact double',
  );
  tt.same(zeros_(z).toArray(), [
    [0, 0],
    [0, 0],
  ]);
  tt.same(
    new Linear(3, 4, { rng: new Rng(9) }).weight.toArray(),
    new Linear(3, 4, { rng: new Rng(9) }).weight.toArray(),
  );
  tt.notSame(
    new Linear(3, 4, { rng: new Rng(9) }).weight.toArray(),
    new Linear(3, 4, { rng: new Rng(10) }).weight.toArray(),
  );
  const emb = new Embedding(5, 3, { paddingIdx: -1, rng: new Rng(11) });
  tt.equal(emb.paddingIdx, 4);
  tt.same((emb.weight.toArray() as number[][])[4], [0, 0, 0], 'the padding row starts at zero');
  tt.end();
});

/** Layer behaviour beyond parity: masks and attention probabilities, dropout modes, errors. */
import t from 'tap';
import { Rng, randn, tensor, zeros } from '../../engine/index.js';
import { causalMask, keyPaddingMask, MultiHeadAttention } from '../../nn/attention.js';
import { DropPath, GELU, Identity, Linear, ModuleList, Sequential } from '../../nn/layers.js';
import { PatchConv2d, PatchEmbed } from '../../nn/patch_embed.js';
import { TransformerLayer } from '../../nn/transformer.js';

const rng = new Rng(3);

t.test('keyPaddingMask and causalMask', (tt) => {
  const keep = tensor(new Int32Array([1, 1, 0, 1, 0, 0]), { shape: [2, 3] });
  tt.same(
    keyPaddingMask(keep).toArray(),
    [[[[0, 0, -10000]]], [[[0, -10000, -10000]]]],
    'BERT: (1 - mask) * -10000 as [B, 1, 1, S]',
  );
  tt.same(
    keyPaddingMask(keep, -Infinity).reshape([6]).toArray(),
    [0, 0, -Infinity, 0, -Infinity, -Infinity],
    'VLMo: -inf',
  );
  tt.same(causalMask(3, zeros([1])).toArray(), [
    [0, -Infinity, -Infinity],
    [0, 0, -Infinity],
    [0, 0, 0],
  ]);
  tt.end();
});

t.test('attention probabilities: rows sum to 1, masked and future keys get 0', (tt) => {
  const mha = new MultiHeadAttention({ dim: 8, heads: 2, rng });
  const x = randn([2, 3, 8], { rng });
  const keep = tensor(new Int32Array([1, 1, 0, 1, 1, 1]), { shape: [2, 3] });
  const { out, probs } = mha.attend(x, { mask: keyPaddingMask(keep, -Infinity), causal: true });
  tt.same(out.shape, [2, 3, 8]);
  tt.same(probs.shape, [2, 2, 3, 3]);
  const p = probs.toArray() as number[][][][];
  for (const row of p.flat(2)) tt.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-6, 'row sums to 1');
  tt.ok(
    p[0].every((h) => h.every((row) => row[2] === 0)),
    'padded key 2 of sample 0 is never attended',
  );
  tt.ok(
    p[1].every((h) => h[0][1] === 0 && h[0][2] === 0 && h[1][2] === 0),
    'no attention to future keys',
  );
  const cross = new MultiHeadAttention({ dim: 8, heads: 4, kvDim: 5, rng });
  tt.same(
    cross.attend(x, { context: randn([2, 7, 5], { rng }) }).probs.shape,
    [2, 4, 3, 7],
    'cross-attention: [B, H, T, S]',
  );
  tt.end();
});

t.test('attention and layer configuration errors', (tt) => {
  tt.throws(() => new MultiHeadAttention({ dim: 6, heads: 4 }), /not divisible/);
  tt.throws(() => new MultiHeadAttention({ dim: 8, heads: 2, kvDim: 4, fusedQkv: true }), /fusedQkv needs kvDim = dim/);
  const fused = new MultiHeadAttention({ dim: 4, heads: 2, fusedQkv: true, qkvBias: [true, false, true] });
  tt.same(
    fused.namedParameters().map(([n]) => n),
    ['qBias', 'vBias', 'qkv.weight', 'proj.weight', 'proj.bias'],
    'VLMo layout: no k bias',
  );
  tt.throws(
    () => fused.forward(zeros([1, 2, 4]), { context: zeros([1, 3, 4]) }),
    /cannot attend to a separate context/,
  );
  const sep = new MultiHeadAttention({ dim: 4, heads: 2, kvDim: 6 });
  tt.throws(() => sep.forward(zeros([1, 2, 4]), { context: zeros([1, 3, 6]), causal: true }), /causal needs T = S/);
  const layer = new TransformerLayer({ dim: 4, heads: 2, mlpDim: 8, norm: 'post' });
  tt.throws(() => layer.forward(zeros([1, 2, 4]), { context: zeros([1, 2, 4]) }), /no cross-attention/);
  const crossLayer = new TransformerLayer({
    dim: 4,
    heads: 2,
    mlpDim: 8,
    norm: 'post',
    crossAttention: true,
    kvDim: 6,
  });
  tt.throws(() => crossLayer.forward(zeros([1, 2, 4])), /pass inputs.context/);
  const r = crossLayer.forwardWithAttention(zeros([1, 2, 4]), { context: zeros([1, 5, 6]) });
  tt.same(
    [r.out.shape, r.attn.shape, r.crossAttn?.shape],
    [
      [1, 2, 4],
      [1, 2, 2, 2],
      [1, 2, 2, 5],
    ],
  );
  tt.end();
});

t.test('DropPath drops whole samples in training only; layer scale starts at its init', (tt) => {
  const dp = new DropPath(0.5, new Rng(1));
  const x = tensor(new Float32Array(64 * 6).fill(1), { shape: [64, 2, 3] });
  const y = dp.forward(x).toArray() as number[][][];
  tt.ok(
    y.every((s) => s.flat().every((v) => v === s[0][0]) && (s[0][0] === 0 || s[0][0] === 2)),
    'per-sample 0 or 1/(1-p)',
  );
  const dropped = y.filter((s) => s[0][0] === 0).length;
  tt.ok(dropped > 16 && dropped < 48, `about half the samples dropped (${dropped}/64)`);
  tt.same(dp.eval().forward(x).toArray(), x.toArray(), 'identity in eval');
  const layer = new TransformerLayer({ dim: 4, heads: 2, mlpDim: 8, norm: 'pre', layerScale: 0.1, dropPath: 0.1 });
  tt.same(Array.from(layer.gamma1!.dataSync()), new Array(4).fill(Math.fround(0.1)), 'gamma1 starts at layerScale');
  tt.end();
});

t.test('PatchEmbed, GELU, containers', (tt) => {
  const pe = new PatchEmbed(4, 3, 8, { rng });
  tt.equal(pe.numPatches(32), 64);
  tt.same(pe.forward(zeros([2, 3, 32, 16])).shape, [2, 32, 8]);
  tt.same(pe.proj.forward(zeros([2, 3, 32, 16])).shape, [2, 8, 8, 4], 'conv layout [B, C, H/p, W/p]');
  tt.same(
    pe.namedParameters().map(([n]) => n),
    ['proj.weight', 'proj.bias'],
    'timm names: patch_embed.proj.*',
  );
  tt.throws(() => new PatchConv2d(3, 8, 4).forward(zeros([1, 3, 10, 8])), /multiples of 4/);
  const g = new GELU().forward(tensor([-1, 0, 1])).dataSync();
  tt.ok(
    Math.abs(g[0] + 0.15865525393145707) < 1e-6 && g[1] === 0 && Math.abs(g[2] - 0.8413447460685429) < 1e-6,
    'GELU(±1) = ±Φ(±1)',
  );
  const seq = new Sequential(new Linear(2, 3), new Identity(), new Linear(3, 1));
  tt.same(seq.forward(zeros([5, 2])).shape, [5, 1]);
  const list = new ModuleList([new Linear(1, 1), new Linear(1, 2)]);
  tt.equal(list.length, 2);
  tt.equal(list.at(-1).outFeatures, 2);
  tt.throws(() => list.at(2), /out of range/);
  tt.same(
    list.namedParameters().map(([n]) => n),
    ['0.weight', '0.bias', '1.weight', '1.bias'],
  );
  tt.end();
});

t.test('mixed dtypes: a float32 relative position bias feeding float64 attention gets a float32 gradient', (tt) => {
  const mha = new MultiHeadAttention({ dim: 4, heads: 2, rng }).to('float64');
  const rel = zeros([2, 3, 3], { requiresGrad: true });
  mha
    .forward(randn([1, 3, 4], { rng, dtype: 'float64' }), { relPosBias: rel })
    .sum()
    .backward();
  tt.equal(rel.grad?.dtype, 'float32', 'engine autograd casts each gradient to its input dtype');
  tt.equal(mha.proj.weight.grad?.dtype, 'float64');
  tt.end();
});

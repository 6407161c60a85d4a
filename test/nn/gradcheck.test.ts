/**
 * Float64 gradient checks (central differences, PyTorch's eps/atol/rtol) of every layer and loss,
 * through their parameters and inputs. Sizes are tiny: every element is perturbed.
 */
import t from 'tap';
import { gradcheck, Rng, tensor, type Tensor } from '../../engine/index.js';
import { keyPaddingMask, MultiHeadAttention } from '../../nn/attention.js';
import { DropPath, Dropout, Embedding, GELU, LayerNorm, Linear, Sequential } from '../../nn/layers.js';
import { BCEWithLogitsLoss, CrossEntropyLoss, infoNce, KLDivLoss, MSELoss } from '../../nn/losses.js';
import type { Module } from '../../nn/module.js';
import { PatchEmbed } from '../../nn/patch_embed.js';
import { FeedForward, TransformerLayer } from '../../nn/transformer.js';
import { randomF64, type TestT } from './nn_helpers.js';

const rng = new Rng(7);
const rand = (shape: number[], requiresGrad = true) => randomF64(shape, () => rng.uniform(), requiresGrad);

/** gradcheck of fn over its inputs and every parameter of m (moved to float64). */
function checkModule(tt: TestT, m: Module, inputs: Tensor[], fn: (...xs: Tensor[]) => Tensor): void {
  m.to('float64');
  const params = m.parameters();
  const res = gradcheck((...xs) => fn(...xs.slice(0, inputs.length)), [...inputs, ...params]);
  tt.ok(
    res.ok,
    `gradcheck over ${inputs.length} inputs and ${params.length} parameters (max err ${res.maxAbsError.toExponential(2)})`,
  );
}

t.test('Linear, LayerNorm, GELU, FeedForward, Sequential', (tt) => {
  const lin = new Linear(3, 2, { rng });
  checkModule(tt, lin, [rand([2, 2, 3])], (x) => lin.forward(x));
  const ln = new LayerNorm(4, 1e-12);
  checkModule(tt, ln, [rand([3, 4])], (x) => ln.forward(x));
  for (const a of ['none', 'tanh'] as const) {
    const g = new GELU(a);
    checkModule(tt, g, [rand([2, 3])], (x) => g.forward(x));
  }
  const ff = new FeedForward(3, 5, { rng });
  checkModule(tt, ff, [rand([2, 3])], (x) => ff.forward(x));
  const seq = new Sequential(new Linear(3, 4, { rng }), new GELU(), new LayerNorm(4), new Linear(4, 2, { rng }));
  checkModule(tt, seq, [rand([2, 3])], (x) => seq.forward(x));
  tt.end();
});

t.test('Embedding (the padding row is excluded: it gets no gradient by design)', (tt) => {
  const emb = new Embedding(5, 3, { rng });
  const ids = tensor(new Int32Array([0, 4, 2, 4]), { shape: [2, 2] });
  checkModule(tt, emb, [], () => emb.forward(ids));
  tt.end();
});

t.test('Dropout and DropPath in eval mode, and with p = 0', (tt) => {
  const d = new Dropout(0.5, rng).eval();
  checkModule(tt, d, [rand([2, 3])], (x) => d.forward(x));
  const dp = new DropPath(0.5, rng).eval();
  checkModule(tt, dp, [rand([2, 3])], (x) => dp.forward(x));
  tt.end();
});

t.test('PatchEmbed', (tt) => {
  const pe = new PatchEmbed(2, 2, 3, { rng });
  checkModule(tt, pe, [rand([1, 2, 2, 4])], (x) => pe.forward(x));
  tt.end();
});

t.test('MultiHeadAttention variants', (tt) => {
  const keep = tensor(new Int32Array([1, 1, 0, 1, 1, 1]), { shape: [2, 3] });
  const selfAttn = new MultiHeadAttention({ dim: 4, heads: 2, rng });
  checkModule(tt, selfAttn, [rand([2, 3, 4])], (x) =>
    selfAttn.forward(x, { mask: keyPaddingMask(keep, -10000, 'float64') }),
  );
  const cross = new MultiHeadAttention({ dim: 4, heads: 2, kvDim: 3, rng });
  checkModule(tt, cross, [rand([2, 2, 4]), rand([2, 3, 3])], (x, c) =>
    cross.forward(x, { context: c, mask: keyPaddingMask(keep, -10000, 'float64') }),
  );
  const vlmo = new MultiHeadAttention({ dim: 4, heads: 2, fusedQkv: true, qkvBias: [true, false, true], rng });
  checkModule(tt, vlmo, [rand([2, 3, 4]), rand([2, 3, 3])], (x, rel) =>
    vlmo.forward(x, { relPosBias: rel, causal: true }),
  );
  tt.end();
});

t.test('TransformerLayer: pre-LN with layer scale, post-LN with cross-attention', (tt) => {
  const pre = new TransformerLayer({
    dim: 4,
    heads: 2,
    mlpDim: 6,
    norm: 'pre',
    eps: 1e-6,
    fusedQkv: true,
    layerScale: 0.1,
    rng,
  });
  checkModule(tt, pre, [rand([1, 3, 4])], (x) => pre.forward(x));
  const post = new TransformerLayer({
    dim: 4,
    heads: 2,
    mlpDim: 6,
    norm: 'post',
    eps: 1e-12,
    crossAttention: true,
    kvDim: 3,
    rng,
  });
  checkModule(tt, post, [rand([1, 2, 4]), rand([1, 2, 3])], (x, c) => post.forward(x, { context: c }));
  tt.end();
});

t.test('losses', (tt) => {
  const target = tensor(new Int32Array([2, -100, 0, 1]));
  const ce = new CrossEntropyLoss({ labelSmoothing: 0.2 });
  checkModule(tt, ce, [rand([4, 3])], (x) => ce.forward(x, target));
  const soft = rand([4, 3], false).softmax(-1);
  checkModule(tt, ce, [rand([4, 3])], (x) => ce.forward(x, soft));
  const bce = new BCEWithLogitsLoss();
  const probs = rand([2, 3], false).abs();
  checkModule(tt, bce, [rand([2, 3])], (x) => bce.forward(x, probs));
  const kl = new KLDivLoss({ reduction: 'batchmean' });
  checkModule(tt, kl, [rand([2, 3])], (x) => kl.forward(x.logSoftmax(-1), soft.narrow(0, 0, 2)));
  const mse = new MSELoss();
  checkModule(tt, mse, [rand([2, 3])], (x) => mse.forward(x, soft.narrow(0, 0, 2)));
  const temp = tensor(new Float64Array([0.5]), { shape: [], requiresGrad: true });
  const r = gradcheck((a, b, tau) => infoNce(a, b, tau), [rand([3, 4]), rand([3, 4]), temp]);
  tt.ok(r.ok, 'infoNce through both feature sets and a learnable temperature');
  tt.end();
});

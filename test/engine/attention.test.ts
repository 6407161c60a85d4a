/**
 * The fused scaledDotProductAttention op against its composite oracle (sdpaComposite, the op
 * chain the attention modules used before): values and gradients on every device, padding and
 * cross-attention masks, dropout with the composite's exact draws, second order, and the
 * modules' fused forward against their op-by-op `attend`. (Random-shape gradcheck and
 * gradgradcheck of the primitive are in all_ops.test.ts, the device replay in conformance.test.ts.)
 */
import t from 'tap';
import * as vg from '../../engine/index.js';
import { dropout, dropoutMask, sdpaComposite } from '../../engine/nn_functional.js';
import { keyPaddingMask, MultiHeadAttention } from '../../nn/attention.js';
import { TransformerLayer } from '../../nn/transformer.js';
import { compareF32, F32_TOL, forEachBackend } from '../helpers/backends.js';

const { scaledDotProductAttention: sdpa, Rng, grad, tensor } = vg;

function rand(shape: number[], seed: number, device?: vg.Backend, dtype: vg.DType = 'float32'): vg.Tensor {
  return vg.randn(shape, { rng: new Rng(seed), dtype }).to(device ?? vg.defaultBackend());
}

function maxAbs(a: vg.Tensor, b: vg.Tensor): number {
  const x = a.dataSync(),
    y = b.dataSync();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

/** q [B, H, T, D], k/v [B, H, S, D], a padding mask [B, 1, 1, S] (last key of item 0 padded). */
function problem(be: vg.Backend, S: number, dtype: vg.DType = 'float32') {
  const [B, H, T, D] = [2, 3, 5, 4];
  const leaf = (shape: number[], seed: number) => rand(shape, seed, be, dtype).requiresGrad_();
  const q = leaf([B, H, T, D], 1),
    k = leaf([B, H, S, D], 2),
    v = leaf([B, H, S, D], 3);
  const keep = new Float32Array(B * S).fill(1);
  keep[S - 1] = 0;
  const mask = keyPaddingMask(tensor(keep, { shape: [B, S], device: be }), -10000, dtype);
  return { q, k, v, mask, cot: rand([B, H, T, D], 4, be, dtype) };
}

t.test('fused = composite on every device: values and gradients, padding and cross-attention masks', async (t) => {
  await forEachBackend(t, async (t, be) => {
    for (const [what, S] of [
      ['self-attention, padding mask', 5],
      ['cross-attention, 7 keys', 7],
    ] as const) {
      const { q, k, v, mask, cot } = problem(be, S);
      const rel = rand([3, 5, S], 5, be).requiresGrad_(); // a learnable bias, as VLMo's relative positions
      const fused = sdpa(q, k, v, { mask: [rel, mask] });
      const oracle = sdpaComposite(q, k, v, [rel, mask], 0.5);
      const a = grad(fused, [q, k, v, rel], { gradOutputs: [cot] });
      const b = grad(oracle, [q, k, v, rel], { gradOutputs: [cot] });
      const mine = await Promise.all([fused, ...a].map((x) => x!.data()));
      const want = await Promise.all([oracle, ...b].map((x) => x!.data()));
      want.forEach((w, i) => {
        t.equal(compareF32(mine[i]!, w, F32_TOL.op), null, `${what}: ${['out', 'dq', 'dk', 'dv', 'dbias'][i]}`);
      });
    }
  });
});

t.test('float64: fused and composite agree to rounding, gradcheck and gradgradcheck pass', async (t) => {
  const be = vg.getBackend('cpu');
  const { q, k, v, mask, cot } = problem(be, 6, 'float64');
  const fused = sdpa(q, k, v, { mask });
  t.ok(maxAbs(fused, sdpaComposite(q, k, v, [mask])) < 1e-12, 'values');
  const a = grad(fused, [q, k, v], { gradOutputs: [cot], createGraph: true });
  const b = grad(sdpaComposite(q, k, v, [mask]), [q, k, v], { gradOutputs: [cot], createGraph: true });
  a.forEach((x, i) => t.ok(maxAbs(x!, b[i]!) < 1e-12, `gradient ${i}`));
  // Second order through the fused backward (it recomputes the probabilities under createGraph).
  const sa = grad(a[0]!.mul(a[1]!.sum()).sum(), [q, k, v]);
  const sb = grad(b[0]!.mul(b[1]!.sum()).sum(), [q, k, v]);
  sa.forEach((x, i) => t.ok(maxAbs(x!, sb[i]!) < 1e-10, `second derivative ${i}`));
  const small = (s: number[], seed: number) => rand(s, seed, be, 'float64').requiresGrad_();
  const xs = [small([2, 3, 2], 1), small([2, 4, 2], 2), small([2, 4, 3], 3), small([1, 4], 4)];
  const f = (a: vg.Tensor, b: vg.Tensor, c: vg.Tensor, m: vg.Tensor) =>
    sdpa(a, b, c, { mask: m, dropout: 0.25, rng: new Rng(9) });
  t.ok(vg.gradcheck(f, xs).ok, 'gradcheck with a mask and dropout');
  t.ok(vg.gradgradcheck(f, xs).ok, 'gradgradcheck with a mask and dropout');
});

t.test('dropout takes the composite dropout draws: same seed, same output and gradients', async (t) => {
  await forEachBackend(t, async (t, be) => {
    const { q, k, v, mask, cot } = problem(be, 5);
    const fused = sdpa(q, k, v, { mask, dropout: 0.1, rng: new Rng(42) });
    // The op chain the modules built before: dropout(softmax(...)) with the same generator.
    const probs = vg.matmul(q.mul(0.5), k, { transB: true }).add(mask).softmax(-1);
    const oracle = dropout(probs, 0.1, true, new Rng(42)).matmul(v);
    t.equal(compareF32(await fused.data(), await oracle.data(), F32_TOL.op), null, 'values');
    const a = grad(fused, [q, k, v], { gradOutputs: [cot] });
    const b = grad(oracle, [q, k, v], { gradOutputs: [cot] });
    for (const [i, x] of a.entries()) {
      t.equal(compareF32(await x!.data(), await b[i]!.data(), F32_TOL.op), null, `gradient ${i}`);
    }
    const zeros = (await dropoutMask(probs, 0.1, new Rng(42)).data()).filter((x) => x === 0).length;
    t.ok(zeros > 0, `the mask drops something (${zeros} of ${probs.size})`);
  });
});

t.test('modules: forward (fused) = attend (op by op), seeded dropout included', async (t) => {
  const x = rand([2, 6, 8], 1),
    ctx = rand([2, 4, 12], 2);
  const keep = tensor(
    [
      [1, 1, 1, 1, 1, 0],
      [1, 1, 1, 0, 0, 0],
    ],
    { dtype: 'float32' },
  );
  const configs = [
    { what: 'BERT self-attention, padding mask, dropout', cfg: { dim: 8, heads: 2, attnDropout: 0.1 }, mask: true },
    { what: 'BERT cross-attention (kvDim 12, 4 keys)', cfg: { dim: 8, heads: 2, kvDim: 12, attnDropout: 0.1 }, ctx },
    { what: 'ViT fused qkv', cfg: { dim: 8, heads: 4, fusedQkv: true } },
    {
      what: 'VLMo qkv biases, relative bias, causal',
      cfg: { dim: 8, heads: 2, fusedQkv: true, qkvBias: [true, false, true] as const },
      rel: true,
    },
  ];
  for (const c of configs) {
    const m = new MultiHeadAttention({ ...c.cfg, rng: new Rng(3) });
    const inputs = {
      context: c.ctx,
      mask: c.mask ? keyPaddingMask(keep) : undefined,
      relPosBias: c.rel ? rand([2, 6, 6], 4) : undefined,
      causal: c.rel,
    };
    const twin = new MultiHeadAttention({ ...c.cfg, rng: new Rng(3) }); // same weights, same dropout stream
    const a = m.forward(x, inputs);
    const b = twin.attend(x, inputs).out;
    t.equal(compareF32(a.dataSync(), b.dataSync(), F32_TOL.op), null, c.what);
    const ga = grad(a.sum(), m.parameters()),
      gb = grad(b.sum(), twin.parameters());
    t.ok(
      ga.every((g, i) => compareF32(g!.dataSync(), gb[i]!.dataSync(), F32_TOL.op) === null),
      `${c.what}: parameter gradients`,
    );
  }
  const layerCfg = { dim: 8, heads: 2, mlpDim: 16, norm: 'post', attnDropout: 0.1 } as const;
  const layer = new TransformerLayer({ ...layerCfg, rng: new Rng(5) });
  const twin = new TransformerLayer({ ...layerCfg, rng: new Rng(5) });
  const ya = layer.forward(x),
    yb = twin.forwardWithAttention(x).out;
  t.equal(
    compareF32(ya.dataSync(), yb.dataSync(), F32_TOL.op),
    null,
    'TransformerLayer.forward = forwardWithAttention',
  );
});

t.test('the held probabilities are released by backward and a second backward recomputes them', async (t) => {
  const be = vg.getBackend('cpu');
  const { q, k, v } = problem(be, 5);
  const y = sdpa(q, k, v);
  y.sum().backward(undefined, { retainGraph: true });
  const first = q.grad!.dataSync().slice();
  q.grad = null;
  y.sum().backward();
  t.same([...q.grad!.dataSync()], [...first], 'second backward gives the same gradient');
});

t.test('bad input names the op and the shapes', async (t) => {
  const q = vg.zeros([2, 3, 4]),
    k = vg.zeros([2, 5, 4]);
  t.throws(
    () => sdpa(q, k, vg.zeros([2, 6, 4])),
    /scaledDotProductAttention: q \[2,3,4\], k \[2,5,4\], v \[2,6,4\]: need k/,
  );
  t.throws(() => sdpa(q, vg.zeros([2, 5, 3]), vg.zeros([2, 5, 4])), /k \[\.\.\., S, 4\]/);
  t.throws(() => sdpa(q, k, vg.zeros([3, 5, 4])), /same leading \(batch\) dims/);
  t.throws(() => sdpa(q, k, vg.zeros([2, 5, 4]), { mask: vg.zeros([4, 5]) }), /mask/);
  t.throws(() => sdpa(q, k, vg.zeros([2, 5, 4]), { dropout: 1.5 }), /dropout must be in \[0, 1\], got 1.5/);
  t.throws(() => sdpa(q, k.to('float64'), vg.zeros([2, 5, 4])), /one dtype/);
});

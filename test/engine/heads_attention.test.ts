/**
 * multiHeadSdpa (heads read and written in place through strided matmuls) against its oracles:
 * the composite (split heads with tensor ops, sdpaComposite, merge) on every device, and, bit for
 * bit on `cpu`, scaledDotProductAttention on heads split by hand; the same dropout draws; second
 * order; the held probabilities; errors. (Random-shape gradcheck and gradgradcheck of the
 * primitive are in all_ops.test.ts, the device replay in conformance.test.ts.)
 */
import t from 'tap';
import * as vg from '../../engine/index.js';
import { multiHeadSdpaComposite } from '../../engine/nn_functional.js';
import { compareF32, F32_TOL, forEachBackend } from '../helpers/backends.js';

const { multiHeadSdpa, Rng, grad } = vg;

function rand(shape: number[], seed: number, device?: vg.Backend, dtype: vg.DType = 'float32'): vg.Tensor {
  return vg.randn(shape, { rng: new Rng(seed), dtype }).to(device ?? vg.defaultBackend());
}

/** [B, rows, H*d] -> [B, H, rows, d], by hand. */
const split = (x: vg.Tensor, H: number, col = 0, d = x.shape[2] / H) =>
  x
    .narrow(2, col, H * d)
    .reshape([x.shape[0], x.shape[1], H, d])
    .permute(0, 2, 1, 3);

/** Sizes big enough for the WASM GEMM (m*n*k >= 12^3): B 2, T 20, H 3, D 16; cross: S 13, Dv 8. */
function problem(be: vg.Backend, packed: boolean, dtype: vg.DType = 'float32') {
  const [B, T, H, D] = [2, 20, 3, 16];
  const [S, Dv] = packed ? [T, D] : [13, 8];
  const leaf = (shape: number[], seed: number) => rand(shape, seed, be, dtype).requiresGrad_();
  const sources = packed
    ? [leaf([B, T, 3 * H * D], 1)]
    : [leaf([B, T, H * D], 1), leaf([B, S, H * D], 2), leaf([B, S, H * Dv], 3)];
  const rel = leaf([H, T, S], 4);
  const pad = rand([B, 1, 1, S], 5, be, dtype).mul(3);
  return { sources, H, masks: [rel, pad], cot: rand([B, T, H * Dv], 6, be, dtype) };
}

const call = (sources: vg.Tensor[], opts: Parameters<typeof multiHeadSdpa>[1]) =>
  multiHeadSdpa(sources.length === 1 ? sources[0] : (sources as [vg.Tensor, vg.Tensor, vg.Tensor]), opts);

t.test('= the composite on every device: packed and cross-attention, masks, values and gradients', async (t) => {
  await forEachBackend(t, async (t, be) => {
    for (const packed of [true, false]) {
      const { sources, H, masks, cot } = problem(be, packed);
      const leaves = [...sources, masks[0]];
      const fused = call(sources, { heads: H, mask: masks });
      const oracle = multiHeadSdpaComposite(sources, H, masks);
      const what = packed ? 'packed qkv' : 'q, k, v';
      t.equal(compareF32(await fused.data(), await oracle.data(), F32_TOL.op), null, `${what}: values`);
      const a = grad(fused, leaves, { gradOutputs: [cot] });
      const b = grad(oracle, leaves, { gradOutputs: [cot] });
      for (const [i, g] of a.entries()) {
        t.equal(compareF32(await g!.data(), await b[i]!.data(), F32_TOL.op), null, `${what}: gradient ${i}`);
      }
    }
  });
});

t.test('cpu: bit-identical to scaledDotProductAttention on heads split by hand (values and gradients)', async (t) => {
  const be = vg.getBackend('cpu');
  for (const packed of [true, false]) {
    const { sources, H, masks, cot } = problem(be, packed);
    const leaves = [...sources, masks[0]];
    const fused = call(sources, { heads: H, mask: masks, dropout: 0.2, rng: new Rng(7) });
    const [q, k, v] = packed
      ? [0, 1, 2].map((i) => split(sources[0], H, (i * sources[0].shape[2]) / 3, 16))
      : sources.map((x) => split(x, H));
    const y = vg.scaledDotProductAttention(q, k, v, { mask: masks, dropout: 0.2, rng: new Rng(7) });
    const merged = y.permute(0, 2, 1, 3).reshape(fused.shape as number[]);
    t.same([...fused.dataSync()], [...merged.dataSync()], `${packed ? 'packed' : 'separate'}: values`);
    const a = grad(fused, leaves, { gradOutputs: [cot] });
    const b = grad(merged, leaves, { gradOutputs: [cot] });
    a.forEach((g, i) => t.same([...g!.dataSync()], [...b[i]!.dataSync()], `gradient ${i}`));
  }
});

t.test('createGraph: the same first-order gradients, and float64 gradcheck / gradgradcheck', async (t) => {
  const be = vg.getBackend('cpu');
  const { sources, H, masks, cot } = problem(be, true, 'float64');
  const y = call(sources, { heads: H, mask: masks });
  const [first] = grad(y, sources, { gradOutputs: [cot], retainGraph: true });
  const [second] = grad(y, sources, { gradOutputs: [cot], createGraph: true });
  let err = 0;
  first!.dataSync().forEach((x, i) => (err = Math.max(err, Math.abs(x - second!.dataSync()[i]!))));
  t.ok(err < 1e-12, `createGraph gradient = first-order gradient (max diff ${err})`);
  const small = (s: number[], seed: number) => rand(s, seed, be, 'float64').requiresGrad_();
  for (const packed of [true, false]) {
    const xs = packed
      ? [small([2, 3, 12], 1), small([2, 1, 1, 3], 4)]
      : [small([2, 3, 4], 1), small([2, 4, 4], 2), small([2, 4, 6], 3), small([2, 1, 1, 4], 4)];
    const f = (...a: vg.Tensor[]) =>
      call(a.slice(0, -1), { heads: 2, mask: a[a.length - 1], dropout: 0.25, rng: new Rng(9) });
    const what = packed ? 'packed' : 'separate';
    t.ok(vg.gradcheck(f, xs).ok, `${what}: gradcheck with a mask and dropout`);
    t.ok(vg.gradgradcheck(f, xs).ok, `${what}: gradgradcheck with a mask and dropout`);
  }
});

t.test('the held probabilities: a second backward (retainGraph) recomputes them', async (t) => {
  const { sources, H, masks } = problem(vg.getBackend('cpu'), true);
  const y = call(sources, { heads: H, mask: masks });
  y.sum().backward(undefined, { retainGraph: true });
  const first = sources[0].grad!.dataSync().slice();
  sources[0].grad = null;
  y.sum().backward();
  t.same([...sources[0].grad!.dataSync()], [...first], 'same gradient');
});

t.test('errors name the op, the shapes and what was expected', async (t) => {
  const z = (s: number[]) => vg.zeros(s);
  t.throws(
    () => multiHeadSdpa(z([2, 3, 10]), { heads: 2 }),
    /multiHeadSdpa: qkv \[2,3,10\], heads 2: the packed width 10/,
  );
  t.throws(() => multiHeadSdpa(z([2, 3, 12]), { heads: 0 }), /heads must be an integer >= 1, got 0/);
  t.throws(() => multiHeadSdpa([z([2, 3, 4]), z([2, 5, 4]), z([2, 6, 4])], { heads: 2 }), /k and v need one length S/);
  t.throws(() => multiHeadSdpa([z([2, 3, 4]), z([2, 5, 6]), z([2, 5, 4])], { heads: 2 }), /q and k need one width/);
  t.throws(() => multiHeadSdpa([z([2, 3, 4]), z([3, 5, 4]), z([3, 5, 4])], { heads: 2 }), /one batch size/);
  t.throws(() => multiHeadSdpa([z([2, 3, 6]), z([2, 5, 6]), z([2, 5, 6])], { heads: 4 }), /divide by heads 4/);
  t.throws(
    () => multiHeadSdpa(z([2, 3, 12]), { heads: 2, mask: z([2, 2, 4, 3]) }),
    /multiHeadSdpa: qkv \[2,3,12\], heads 2, masks \[2,2,4,3\]: mask: shapes \[2,2,4,3\] and \[2,2,3,3\] cannot be broadcast/,
  );
  t.throws(() => multiHeadSdpa(z([2, 3, 12]), { heads: 2, dropout: 2 }), /dropout must be in \[0, 1\], got 2/);
  t.throws(() => multiHeadSdpa(z([2, 12]), { heads: 2 }), /need \[B, T, width\] tensors/);
});

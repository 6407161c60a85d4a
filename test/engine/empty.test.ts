/**
 * Zero-size tensors behave as in PyTorch on every device: a matmul with a zero dim gives an empty
 * result (or zeros when the inner dim is 0), so `Linear` on an empty batch works forward and
 * backward; sum/mean of nothing, softmax over an empty dim, concat with empty parts.
 */
import t from 'tap';
import * as vg from '../../engine/index.js';
import { Linear } from '../../nn/layers.js';
import { forEachBackend } from '../helpers/backends.js';

const values = async (x: vg.Tensor): Promise<number[]> => Array.from(await x.data());

t.test('matmul with a zero dim, and Linear on an empty batch, on every device', async (t) => {
  await forEachBackend(t, async (t, be) => {
    const z = (...shape: number[]) => vg.zeros(shape, { device: be });
    const m0 = z(0, 3).matmul(z(3, 4));
    t.same(m0.shape, [0, 4], 'M = 0: empty result');
    t.same(z(2, 3).matmul(z(3, 0)).shape, [2, 0], 'N = 0: empty result');
    const k0 = vg.ones([2, 0], { device: be }).matmul(vg.ones([0, 4], { device: be }));
    t.same([k0.shape, await values(k0)], [[2, 4], new Array(8).fill(0)], 'K = 0: zeros (an empty sum)');
    t.same(z(0, 2, 3).matmul(z(0, 3, 4)).shape, [0, 2, 4], 'batch 0: empty result');

    const layer = new Linear(3, 4).to(be);
    const x = z(0, 3).requiresGrad_();
    const y = layer.forward(x);
    t.same(y.shape, [0, 4]);
    y.sum().backward();
    t.same(await values(layer.weight.grad!), new Array(12).fill(0), 'weight gradient: zeros');
    t.same(await values(layer.bias!.grad!), [0, 0, 0, 0], 'bias gradient: zeros');
    t.same(x.grad!.shape, [0, 3]);
  });
});

t.test('reductions, softmax and concat of empty tensors match PyTorch', async (t) => {
  for (const device of ['cpu', 'cpu-ref']) {
    const be = vg.getBackend(device);
    const z = (...shape: number[]) => vg.zeros(shape, { device: be });
    t.equal(z(0).sum().item(), 0, `${device}: torch.zeros(0).sum() is 0`);
    t.ok(Number.isNaN(z(0).mean().item()), `${device}: torch.zeros(0).mean() is nan`);
    t.same(z(0, 3).sum(0).toArray(), [0, 0, 0]);
    t.same(z(2, 0).softmax(-1).shape, [2, 0], `${device}: softmax over an empty dim is empty`);
    t.same(z(2, 0).logSoftmax(-1).shape, [2, 0]);
    t.same(z(0, 4).softmax(-1).shape, [0, 4]);
    t.same(z(2, 0).logsumexp(1).toArray(), [-Infinity, -Infinity], 'torch.logsumexp over an empty dim is -inf');
    t.same(vg.concat([vg.ones([2, 3], { device: be }), z(0, 3)]).toArray(), [
      [1, 1, 1],
      [1, 1, 1],
    ]);
    // torch.cat skips 1-D empty tensors whatever the other shapes (documented legacy behaviour).
    t.same(vg.concat([z(0), vg.ones([1, 2], { device: be })]).toArray(), [[1, 1]]);
    t.same(
      z(0, 2)
        .split(2)
        .map((p) => p.shape),
      [[0, 2]],
      'torch.split of an empty dim: one empty part',
    );
    t.same(
      z(0)
        .chunk(3)
        .map((p) => p.shape),
      [[0]],
    );
    t.throws(() => z(0).max(), /amax: cannot reduce the empty dim 0 of \[0\]/, 'torch.zeros(0).max() raises too');
  }
  const x = vg.zeros([2, 0]).requiresGrad_();
  x.softmax(-1).sum().backward();
  t.same(x.grad!.shape, [2, 0], 'the empty softmax stays in the graph');
});

t.test('a slice to an empty region has a zero gradient on every device', async (t) => {
  // Found by a fresh property seed: gpu.js's writeStrided read an empty source as garbage (NaN).
  await forEachBackend(t, async (t, be) => {
    for (const dim of [0, 1, 2]) {
      const x = vg
        .tensor(
          Float32Array.from({ length: 60 }, (_, i) => i),
          { shape: [3, 5, 4], device: be },
        )
        .requiresGrad_();
      const specs: [number, number, number][] = [
        [0, 3, 1],
        [0, 5, 1],
        [0, 4, 1],
      ];
      specs[dim] = [0, 0, 1];
      const y = x.slice(specs);
      y.sum().add(1).backward();
      t.same(await values(x.grad!), new Array(60).fill(0), `dim ${dim} sliced to [${y.shape}]: gradient zeros`);
    }
  });
});

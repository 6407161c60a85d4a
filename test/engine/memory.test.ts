/** dispose, tidy, keep and memory(): live buffers are accounted for and a loop stays flat. */
import t from 'tap';
import * as vg from '../../engine/index.js';
import { Adam, GELU, Linear, SGD, Sequential } from '../../nn/index.js';

const cpuMem = () => vg.memory().find((m) => m.device === 'cpu')!;

t.test('dispose releases a buffer once; views keep shared storage alive', async (t) => {
  const before = cpuMem().buffers;
  const x = vg.zeros([4, 4]);
  const v = x.reshape(16); // shares x's buffer
  t.equal(cpuMem().buffers, before + 1);
  x.dispose();
  t.equal(cpuMem().buffers, before + 1, 'the reshape still holds the buffer');
  v.dispose();
  v.dispose(); // idempotent
  t.equal(cpuMem().buffers, before);
  t.throws(() => x.add(1), /add: input \[4,4\] was disposed/);
});

t.test('tidy disposes intermediates and keeps returned and kept tensors', async (t) => {
  const before = cpuMem();
  let kept: vg.Tensor | null = null;
  const out = vg.tidy(() => {
    const a = vg.ones([8]);
    const b = a.mul(2).add(1).exp();
    kept = vg.keep(a.sub(1));
    return { b, list: [b.sum()] };
  });
  t.equal(cpuMem().buffers, before.buffers + 3, 'b, its sum and the kept tensor survive');
  t.equal(out.b.isDisposed, false);
  t.equal(kept!.isDisposed, false);
  out.b.dispose();
  out.list[0].dispose();
  kept!.dispose();
  t.equal(cpuMem().buffers, before.buffers);
  t.equal(cpuMem().bytes, before.bytes);
});

t.test('a 100-step training loop under tidy keeps live memory flat', async (t) => {
  const w = vg.randn([16, 4]).requiresGrad_();
  const x = vg.randn([32, 16]),
    y = vg.randn([32, 4]);
  const counts: number[] = [];
  for (let step = 0; step < 100; step++) {
    vg.tidy(() => {
      w.grad?.dispose(); // what optimizer.zeroGrad() does (tested below)
      w.grad = null;
      const loss = x.matmul(w).sub(y).pow(2).mean();
      loss.backward();
      vg.noGrad(() => w.assign(w.sub(w.grad!.mul(0.1))));
    });
    counts.push(cpuMem().buffers);
  }
  t.equal(counts[99], counts[9], `live buffers at step 10 and 100: ${counts[9]}, ${counts[99]}`);
});

// Issue 12: zeroGrad must dispose the gradients it drops; backward keep()s them out of tidy, so a
// synchronous loop otherwise held one more buffer per parameter per step (the GC never ran).
for (const [name, makeOpt] of [
  ['SGD momentum', (ps: vg.Tensor[]) => new SGD(ps, { lr: 0.01, momentum: 0.9 })],
  ['Adam', (ps: vg.Tensor[]) => new Adam(ps, { lr: 1e-3 })],
  ['Module.zeroGrad', null],
] as const) {
  t.test(`${name}: a synchronous training loop under tidy keeps live memory flat`, async (t) => {
    vg.manualSeed(0);
    const model = new Sequential(new Linear(8, 16), new GELU(), new Linear(16, 2));
    const opt = makeOpt ? makeOpt(model.parameters()) : new SGD(model.parameters(), { lr: 0.01 });
    const x = vg.randn([4, 8]),
      y = vg.randn([4, 2]);
    const counts: number[] = [];
    for (let step = 0; step < 60; step++) {
      vg.tidy(() => {
        if (makeOpt) opt.zeroGrad();
        else model.zeroGrad();
        model.forward(x).sub(y).pow(2).mean().backward();
        opt.step();
      });
      counts.push(cpuMem().buffers);
    }
    t.equal(counts[59], counts[9], `live buffers at step 10 and 60: ${counts[9]}, ${counts[59]}`);
  });
}

t.test('zeroGrad disposes the gradient tensors it drops', async (t) => {
  const layer = new Linear(2, 2);
  layer
    .forward(vg.ones([1, 2]))
    .sum()
    .backward();
  const g = layer.weight.grad!;
  new SGD(layer.parameters(), { lr: 0.1 }).zeroGrad();
  t.equal(layer.weight.grad, null);
  t.ok(g.isDisposed, 'the old gradient is disposed (copy it before zeroGrad to keep it)');
});

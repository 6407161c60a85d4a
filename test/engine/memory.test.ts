/** dispose, tidy, keep and memory(): live buffers are accounted for and a loop stays flat. */
import t from 'tap';
import * as vg from '../../engine/index.js';

const cpuMem = () => vg.memory().find((m) => m.device === 'cpu')!;

t.test('dispose releases a buffer once; views keep shared storage alive', async (t) => {
  const before = cpuMem().buffers;
  const x = vg.zeros([4, 4]);
  const v = x.reshape(16);       // shares x's buffer
  t.equal(cpuMem().buffers, before + 1);
  x.dispose();
  t.equal(cpuMem().buffers, before + 1, 'the reshape still holds the buffer');
  v.dispose();
  v.dispose();                   // idempotent
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
  out.b.dispose(); out.list[0].dispose(); kept!.dispose();
  t.equal(cpuMem().buffers, before.buffers);
  t.equal(cpuMem().bytes, before.bytes);
});

t.test('a 100-step training loop under tidy keeps live memory flat', async (t) => {
  const w = vg.randn([16, 4]).requiresGrad_();
  const x = vg.randn([32, 16]), y = vg.randn([32, 4]);
  const counts: number[] = [];
  for (let step = 0; step < 100; step++) {
    vg.tidy(() => {
      w.grad?.dispose(); // what optimizer.zeroGrad() does
      w.grad = null;
      const loss = x.matmul(w).sub(y).pow(2).mean();
      loss.backward();
      vg.noGrad(() => w.assign(w.sub(w.grad!.mul(0.1))));
    });
    counts.push(cpuMem().buffers);
  }
  t.equal(counts[99], counts[9], `live buffers at step 10 and 100: ${counts[9]}, ${counts[99]}`);
});

/**
 * The `cpu` backend's Adam(W) kernel (kernels/wasm/adam_kernel.ts, used by nn/optim_adam.ts on
 * float32 resident buffers) against the optimizer's plain loop on `cpu-ref`: the same parameters,
 * moments and steps, bit for bit, for AdamW, Adam with L2 decay, maximize, and sizes that need
 * padding to whole vectors, over several steps with changing gradients and learning rates.
 */
import fc from 'fast-check';
import t from 'tap';
import { getBackend, Rng, tensor, type Tensor } from '../../engine/index.js';
import { Adam, AdamW } from '../../nn/optim.js';
import { RUNS, seedFor } from '../helpers/arb.js';

const cpu = getBackend('cpu'),
  ref = getBackend('cpu-ref');

const same = (a: Tensor, b: Tensor): boolean => {
  const x = a.dataSync(),
    y = b.dataSync();
  return x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
};

t.test('Adam(W) on cpu (the kernel) = on cpu-ref (the loop), bit for bit', async (t) => {
  let kernelRan = 0;
  const real = cpu.adamStep!.bind(cpu);
  cpu.adamStep = (...args) => {
    const raw = real(...args);
    if (raw) kernelRan++;
    return raw;
  };
  t.teardown(() => {
    delete (cpu as { adamStep?: unknown }).adamStep; // back to the class method
  });
  fc.assert(
    fc.property(
      fc.constantFrom(1024, 1027, 4099),
      fc.constantFrom('AdamW', 'Adam' as const),
      fc.constantFrom(0, 0.05),
      fc.boolean(),
      fc.nat(),
      (n, kind, weightDecay, maximize, seed) => {
        const rng = new Rng(seed);
        const init = Float32Array.from({ length: n }, () => rng.normal());
        const on = (be: typeof cpu) => {
          const p = tensor(init, { device: be }).requiresGrad_();
          const Opt = kind === 'AdamW' ? AdamW : Adam;
          return { p, opt: new Opt([p], { lr: 1e-2, weightDecay, maximize, betas: [0.85, 0.99] }) };
        };
        const a = on(cpu),
          b = on(ref);
        for (let step = 0; step < 4; step++) {
          const grad = Float32Array.from({ length: n }, () => rng.normal() * 10 ** rng.int(-3, 2));
          a.p.grad = tensor(grad, { device: cpu });
          b.p.grad = tensor(grad, { device: ref });
          for (const o of [a.opt, b.opt]) o.paramGroups[0]!.lr = 1e-2 / (step + 1);
          a.opt.step();
          b.opt.step();
          const [sa, sb] = [a.opt.state.get(a.p)!, b.opt.state.get(b.p)!];
          if (!same(a.p, b.p) || !same(sa.expAvg as Tensor, sb.expAvg as Tensor)) return false;
          if (!same(sa.expAvgSq as Tensor, sb.expAvgSq as Tensor)) return false;
        }
        return true;
      },
    ),
    { numRuns: RUNS, seed: seedFor('optim_kernel') },
  );
  t.ok(kernelRan > 0, `the kernel path ran (${kernelRan} steps)`);
});

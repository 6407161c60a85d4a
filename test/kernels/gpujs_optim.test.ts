// The gpu.js devices' fused optimizer kernels. Adam(W) (GpuJsBackend.adamStep: three kernels, m and
// v updated in place in program order; on webgpu one WGSL kernel writing m and v in place) against
// the optimizer's host loop on cpu-ref, over several
// steps with changing gradients and learning rates, for AdamW, Adam with L2 decay and maximize; what
// the in-place update must keep (a read queued before the step sees the old moment, no buffer
// leaks, launches a parameter); and the EMA step (emaStep, one launch) against cpu-ref.
import t from 'tap';
import { getBackend, Rng, tensor, tidy, type Backend, type Tensor } from '../../engine/index.js';
import type { GpuJsBackend } from '../../kernels/gpujs/backend.js';
import { fallbacks, resetFallbacks } from '../../kernels/index.js';
import { Ema } from '../../nn/ema.js';
import { Adam, AdamW } from '../../nn/optim.js';
import { forEachBackend } from '../helpers/backends.js';

const GPU_ONLY = { exclude: ['cpu', 'cpu-ref'] as const };
const ref = getBackend('cpu-ref');

/** Largest |a - b| / max(1, |b|). */
function worst(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let w = 0;
  for (let i = 0; i < b.length; i++) w = Math.max(w, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return a.length === b.length ? w : Number.POSITIVE_INFINITY;
}

t.test('adamStep on the gpu.js devices = the host loop on cpu-ref', async (tt) => {
  await forEachBackend(
    tt,
    async (td, be) => {
      resetFallbacks();
      const gpu = be as GpuJsBackend;
      for (const [kind, weightDecay, maximize] of [
        ['AdamW', 0.05, false],
        ['Adam', 0.05, false],
        ['AdamW', 0, true],
      ] as const) {
        const rng = new Rng(11);
        const n = 1027;
        const init = Float32Array.from({ length: n }, () => rng.normal());
        const on = (dev: Backend) => {
          const p = tensor(init, { device: dev }).requiresGrad_();
          const Opt = kind === 'AdamW' ? AdamW : Adam;
          return { p, opt: new Opt([p], { lr: 1e-2, weightDecay, maximize, betas: [0.85, 0.99] }) };
        };
        const a = on(be),
          b = on(ref);
        let err = 0;
        for (let step = 0; step < 4; step++) {
          const grad = Float32Array.from({ length: n }, () => rng.normal() * 10 ** rng.int(-3, 2));
          a.p.grad = tensor(grad, { device: be });
          b.p.grad = tensor(grad, { device: ref });
          for (const o of [a.opt, b.opt]) o.paramGroups[0]!.lr = 1e-2 / (step + 1);
          const l0 = gpu.kernelLaunches();
          a.opt.step();
          b.opt.step();
          await gpu.sync();
          // webgpu: one hand-written WGSL launch (wgsl_adam.ts); the other gpu.js devices: three kernels
          const launches = gpu.device === 'webgpu' ? 1 : 3;
          td.equal(gpu.kernelLaunches() - l0, launches, `${kind} step ${step}: ${launches} launch(es)`);
          const [sa, sb] = [a.opt.state.get(a.p)!, b.opt.state.get(b.p)!];
          err = Math.max(
            err,
            worst(await a.p.data(), b.p.dataSync()),
            worst(await (sa.expAvg as Tensor).data(), (sb.expAvg as Tensor).dataSync()),
            worst(await (sa.expAvgSq as Tensor).data(), (sb.expAvgSq as Tensor).dataSync()),
          );
        }
        // the device may contract a*b + c into one rounding where the loop rounds twice
        td.ok(err < 1e-5, `${kind} wd ${weightDecay} maximize ${maximize}: worst relative error ${err}`);
      }
      td.same(fallbacks(), {}, 'every Adam kernel built and ran on the device');
    },
    GPU_ONLY,
  );
});

t.test('adamStep updates the moments in program order and frees what it replaces', async (tt) => {
  await forEachBackend(
    tt,
    async (td, be) => {
      const gpu = be as GpuJsBackend;
      /** Device buffers gained over a second step (fused: the kernels; else the tensor ops). */
      const growth = async (fused: boolean): Promise<number> => {
        const p = tensor([1, 2, 3, 4], { device: be }).requiresGrad_();
        const opt = new AdamW([p], { lr: 0.1, fused });
        p.grad = tensor([1, 1, 1, 1], { device: be });
        opt.step(); // creates the moments: m = 0.1 * g
        await gpu.sync();
        const buffers0 = gpu.liveDeviceBuffers();
        const m = opt.state.get(p)!.expAvg as Tensor;
        const before = m.mul(1); // queued before the next step: must see the old m
        p.grad.dispose();
        p.grad = tensor([2, 2, 2, 2], { device: be });
        tidy(() => opt.step()); // as training steps run: the tensor ops' intermediates freed at its end
        const after = (opt.state.get(p)!.expAvg as Tensor).mul(1); // queued after: the new m
        td.same(
          Array.from(await before.data()),
          [0.1, 0.1, 0.1, 0.1].map(Math.fround),
          `fused ${fused}: a read queued before the step sees the old m`,
        );
        const want = Math.fround(Math.fround(Math.fround(0.1) * 0.9) + Math.fround(2 * Math.fround(0.1)));
        td.ok(
          Math.abs((await after.data())[0] - want) < 1e-7,
          `fused ${fused}: a read queued after sees the new m (${want})`,
        );
        if (fused) td.equal(opt.state.get(p)!.expAvg, m, 'fused: the same tensor object, updated in place');
        before.dispose();
        after.dispose();
        await gpu.sync();
        return gpu.liveDeviceBuffers() - buffers0;
      };
      const unfused = await growth(false),
        fused = await growth(true);
      td.equal(
        fused,
        unfused,
        `the fused step keeps as many device buffers as the tensor ops (${fused} vs ${unfused})`,
      );
    },
    GPU_ONLY,
  );
});

t.test('emaStep on the gpu.js devices = the loop on cpu-ref, in one launch', async (tt) => {
  await forEachBackend(
    tt,
    async (td, be) => {
      resetFallbacks();
      const gpu = be as GpuJsBackend;
      const rng = new Rng(5);
      const on = Float32Array.from({ length: 1027 }, () => rng.normal() * 3),
        mom = Float32Array.from({ length: 1027 }, () => rng.normal());
      const run = (dev: Backend) => {
        const pairs: [Tensor, Tensor][] = [
          [tensor(on, { device: dev }), tensor(mom, { device: dev })],
          [tensor(mom.subarray(0, 5), { device: dev }), tensor(on.subarray(0, 5), { device: dev })],
        ];
        return { ema: new Ema(pairs), b: { weight: pairs[0][1] } };
      };
      const x = run(be),
        y = run(ref);
      const l0 = gpu.kernelLaunches();
      x.ema.update(0.995);
      y.ema.update(0.995);
      const got = await x.b.weight.data();
      td.equal(gpu.kernelLaunches() - l0, 2, 'one launch a pair');
      td.ok(
        worst(got, y.b.weight.dataSync()) < 1e-6,
        `weights: worst relative error ${worst(got, y.b.weight.dataSync())}`,
      );
      td.same(fallbacks(), {}, 'the EMA kernel built and ran on the device');
    },
    GPU_ONLY,
  );
});

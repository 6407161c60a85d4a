// The gpu.js devices' fused row-wise kernels (softmaxRows, layerNormRows, layerNormBackwardRows:
// row statistics, then one pass) against the composites of engine/ops/fused.ts on the same device,
// on shapes from one element to long rows, with masked (-inf, -1e9) and large softmax inputs; two
// launches an op; and the CPU stand-in for the statistics kernel (rowStatsOnHost) against cpu-ref's
// own fused kernels.
import t from 'tap';
import * as vg from '../../engine/index.js';
import {
  layerNormBackwardComposite,
  layerNormComposite,
  logSoftmaxComposite,
  softmaxComposite,
} from '../../engine/ops/fused.js';
import type { GpuJsBackend } from '../../kernels/gpujs/backend.js';
import { rowStatsOnHost } from '../../kernels/gpujs/standins.js';
import { fallbacks, resetFallbacks } from '../../kernels/index.js';
import { forEachBackend } from '../helpers/backends.js';

const GPU_ONLY = { exclude: ['cpu', 'cpu-ref'] as const };
const ref = vg.getBackend('cpu-ref');
const SHAPES: [number, number][] = [
  [1, 1],
  [3, 7],
  [17, 65],
  [64, 256],
  [5, 3000],
  [300, 16],
];

/** Largest |a - b| / max(1, |b|), NaN where exactly one of them is NaN. */
async function maxRel(a: vg.Tensor, b: vg.Tensor): Promise<number> {
  const [x, y] = [await a.data(), await b.data()];
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i]) !== Number.isNaN(y[i])) return Number.NaN;
    if (!Number.isNaN(x[i])) m = Math.max(m, Math.abs(x[i] - y[i]) / Math.max(1, Math.abs(y[i])));
  }
  return x.length === y.length ? m : Number.NaN;
}

/** Softmax inputs: normal values, some -inf and -1e9 (masks) and some near 80 (e^x overflows float32). */
function maskedRows(rows: number, n: number, seed: number): Float32Array {
  const r = new vg.Rng(seed);
  return Float32Array.from({ length: rows * n }, (_, i) => {
    const u = r.uniform();
    if (i % n === 0) return r.uniform() * 8 - 4; // every row keeps a finite entry
    return u < 0.1 ? -1e9 : u < 0.15 ? Number.NEGATIVE_INFINITY : u < 0.2 ? 80 + r.uniform() * 5 : r.uniform() * 8 - 4;
  });
}

t.test('softmax, logSoftmax and layerNorm: fused kernels = composites', async (tt) => {
  await forEachBackend(
    tt,
    async (td, be) => {
      resetFallbacks();
      const gpu = be as GpuJsBackend;
      for (const [rows, n] of SHAPES) {
        const x = vg.tensor(maskedRows(rows, n, rows * 7 + n), { shape: [rows, n], device: be });
        let l0 = gpu.kernelLaunches();
        const sm = x.softmax(-1);
        await sm.data();
        td.equal(gpu.kernelLaunches() - l0, 2, `softmax [${rows}, ${n}]: two launches`);
        const e1 = await maxRel(sm, softmaxComposite(x, -1));
        td.ok(e1 <= 2e-6, `softmax [${rows}, ${n}]: ${e1}`);
        const finite = vg.tensor(
          maskedRows(rows, n, rows + n).map((v) => Math.max(v, -1e4)),
          { shape: [rows, n], device: be },
        );
        const e2 = await maxRel(finite.logSoftmax(-1), logSoftmaxComposite(finite, -1));
        td.ok(e2 <= 2e-5, `logSoftmax [${rows}, ${n}]: ${e2}`);
        const y = vg
          .randn([rows, n], { rng: new vg.Rng(n + rows) })
          .mul(3)
          .add(1)
          .to(be);
        const w = vg.randn([n], { rng: new vg.Rng(n) }).to(be),
          b = vg.randn([n], { rng: new vg.Rng(n + 1) }).to(be);
        l0 = gpu.kernelLaunches();
        const ln = vg.layerNorm(y, [n], w, b);
        await ln.data();
        td.equal(gpu.kernelLaunches() - l0, 2, `layerNorm [${rows}, ${n}]: two launches`);
        const e3 = await maxRel(ln, layerNormComposite(y, [n], w, b));
        td.ok(e3 <= 1e-5, `layerNorm [${rows}, ${n}]: ${e3}`);
      }
      const dead = vg.tensor([-Infinity, -Infinity, -Infinity], { shape: [1, 3], device: be });
      td.ok((await dead.softmax(-1).data()).every(Number.isNaN), 'an all -inf row: NaN, as the composite');
      td.same(fallbacks(), {}, 'every kernel built and ran on the device');
    },
    GPU_ONLY,
  );
});

t.test('layerNorm backward: the fused kernel = the composite', async (tt) => {
  await forEachBackend(
    tt,
    async (td, be) => {
      resetFallbacks();
      const gpu = be as GpuJsBackend;
      for (const [shape, eps] of [
        [[3, 5, 7], 1e-5],
        [[2, 1, 33], 1e-6],
        [[1, 1], 1e-5],
        [[64, 256], 1e-6],
        [[4, 3000], 1e-5],
      ] as const) {
        const n = shape[shape.length - 1]!;
        const mk = (s: readonly number[], seed: number) => vg.randn([...s], { rng: new vg.Rng(seed) }).to(be);
        const x = mk(shape, 1).requiresGrad_(),
          w = mk([n], 2).requiresGrad_(),
          b = mk([n], 3).requiresGrad_();
        const g = mk(shape, 4);
        const out = vg.layerNorm(x, [n], w, b, eps);
        const l0 = gpu.kernelLaunches();
        const got = vg.grad(out, [x, w, b], { gradOutputs: [g] });
        await got[2]!.data();
        td.equal(gpu.kernelLaunches() - l0 >= 2, true, `${JSON.stringify(shape)}: launched`);
        const want = layerNormBackwardComposite(g, x.detach(), w.detach(), eps);
        for (let i = 0; i < 3; i++) {
          const err = await maxRel(got[i]!, want[i]!);
          td.ok(err <= 1e-4, `${JSON.stringify(shape)} ${['dx', 'dweight', 'dbias'][i]}: ${err}`);
        }
      }
      const { stats } = await gpu.deviceProfile(async () => {
        const x = vg.randn([4, 8]).to(be).requiresGrad_();
        const [dx] = vg.grad(vg.layerNorm(x, [8], vg.ones([8]).to(be), vg.zeros([8]).to(be)).sum(), [x]);
        return dx!.data();
      });
      td.ok(
        stats.some((s) => s.kernel.startsWith('layerNormBackwardRows')),
        'the plain backward runs the fused kernel',
      );
      td.same(fallbacks(), {}, 'every kernel built and ran on the device');
    },
    GPU_ONLY,
  );
});

t.test('rowStatsOnHost (the CPU stand-in) gives what cpu-ref computes', async (tt) => {
  const rows = 5,
    n = 9,
    eps = 1e-5;
  const rng = new vg.Rng(9);
  const x = Float32Array.from({ length: rows * n }, () => rng.normal() * 3),
    g = Float32Array.from({ length: rows * n }, () => rng.normal()),
    w = Float32Array.from({ length: n }, () => rng.normal());
  const read = (raw: ReturnType<typeof ref.upload>) => Array.from(ref.readSync(raw));
  const close = (a: number[], b: number[]) =>
    a.every((v, i) => Math.abs(v - b[i]) <= 1e-5 * Math.max(1, Math.abs(b[i])));
  const sm = rowStatsOnHost('softmax', [x], n, 0);
  const fromStats = Array.from(x, (v, i) => Math.exp(v - sm[Math.floor(i / n) * 2]) / sm[Math.floor(i / n) * 2 + 1]);
  tt.ok(close(fromStats, read(ref.softmaxRows!(ref.upload(x, 'float32'), n, false)!)), 'softmax from its statistics');
  const ln = rowStatsOnHost('layerNorm', [x], n, eps);
  const lnFrom = Array.from(x, (v, i) => (v - ln[Math.floor(i / n) * 2]) * ln[Math.floor(i / n) * 2 + 1] * w[i % n]);
  const zeros = ref.upload(new Float32Array(n), 'float32');
  tt.ok(
    close(lnFrom, read(ref.layerNormRows!(ref.upload(x, 'float32'), ref.upload(w, 'float32'), zeros, n, eps)!)),
    'layerNorm from its statistics',
  );
  const st = rowStatsOnHost('layerNormBackward', [x, g, w], n, eps);
  const dx = Array.from(x, (v, i) => {
    const r = Math.floor(i / n) * 4;
    const xh = (v - st[r]) * st[r + 1];
    return (g[i] * w[i % n] - st[r + 2] - xh * st[r + 3]) * st[r + 1];
  });
  const packed = read(
    ref.layerNormBackwardRows!(ref.upload(g, 'float32'), ref.upload(x, 'float32'), ref.upload(w, 'float32'), n, eps)!,
  );
  tt.ok(close(dx, packed.slice(0, rows * n)), 'layerNorm dx from its statistics');
});

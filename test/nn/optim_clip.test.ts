// clipGradNorm against torch.nn.utils.clip_grad_norm_ (fixtures from gen_torch_optim.py): the
// returned norm and the clipped gradients, for norm types 1, 2, 3 and inf, float64 and float32, on
// the host path and on a device without synchronous reads (the tensor-op path).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { tensor, type Backend, type DType, type Tensor } from '../../engine/index.js';
import { CpuBackend } from '../../kernels/cpu/backend.js';
import { clipGradNorm, clipGradNormTensor } from '../../nn/clip_grad.js';

/** A CPU backend that refuses synchronous reads, like a GPU: optimizers must use tensor ops. */
class NoSyncReads extends CpuBackend {
  override readonly hostData = false; // a device whose data is not on the host says so
  constructor() {
    super('nosync');
  }
  override readSync(): never {
    throw new Error('nosync: data is on the device; use read()');
  }
}
const nosync = new NoSyncReads();

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'optim', 'clip.json');
const fx = JSON.parse(readFileSync(FIXTURE, 'utf8')) as {
  cases: {
    dtype: DType;
    maxNorm: number;
    normType: number | 'inf';
    shapes: number[][];
    grads: number[][];
    norm: number;
    clipped: number[][];
  }[];
};

function params(c: (typeof fx.cases)[number], device?: Backend): Tensor[] {
  return c.shapes.map((shape, i) => {
    const p = tensor(new Float64Array(c.grads[i].length), { shape, dtype: c.dtype, requiresGrad: true, device });
    p.grad = tensor(Float64Array.from(c.grads[i]), { shape, dtype: c.dtype, device });
    return p;
  });
}

const relErr = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);

t.test('host path: PyTorch norm, and every gradient scaled by exactly the documented coefficient', (t) => {
  for (const c of fx.cases) {
    const normType = c.normType === 'inf' ? Infinity : c.normType;
    const ps = params(c);
    const before = ps.map((p) => p.grad!);
    const norm = clipGradNorm(ps, c.maxNorm, normType);
    const tol = c.dtype === 'float64' ? 1e-14 : 1e-6;
    const what = `${c.dtype} maxNorm ${c.maxNorm} p=${c.normType}`;
    t.ok(relErr(norm, c.norm) <= tol, `${what}: norm ${norm} vs torch ${c.norm}`);
    // c = min(1, maxNorm / (norm + 1e-6)), in the grads' dtype
    const r = c.dtype === 'float32' ? Math.fround : (x: number) => x;
    const coef = Math.min(r(r(1 / r(norm + r(1e-6))) * r(c.maxNorm)), 1);
    ps.forEach((p, i) => {
      const got = Array.from(p.grad!.dataSync()),
        want = Array.from(before[i].dataSync(), (g) => r(g * r(coef)));
      t.same(got, want, `${what}: grad ${i} = coef · grad`);
      t.ok(
        got.every((g, j) => Math.abs(g - c.clipped[i][j]) <= tol * Math.abs(c.clipped[i][j]) + 1e-12),
        `${what}: grad ${i} vs torch`,
      );
    });
    if (coef === 1)
      t.ok(
        ps.every((p, i) => p.grad === before[i]),
        `${what}: no clipping leaves grads as they are`,
      );
  }
  t.end();
});

t.test('device path (no synchronous reads): same norm and grads within float rounding', async (t) => {
  for (const c of fx.cases) {
    const normType = c.normType === 'inf' ? Infinity : c.normType;
    const ps = params(c, nosync);
    const total = clipGradNormTensor(ps, c.maxNorm, normType);
    t.equal(total.backend, nosync);
    const tol = c.dtype === 'float64' ? 1e-14 : 2e-6;
    const norm = (await total.data())[0];
    t.ok(relErr(norm, c.norm) <= tol, `${c.dtype} p=${c.normType}: norm ${norm} vs torch ${c.norm}`);
    for (let i = 0; i < ps.length; i++) {
      const got = await ps[i].grad!.data();
      t.ok(
        Array.from(got).every((g, j) => Math.abs(g - c.clipped[i][j]) <= tol * Math.abs(c.clipped[i][j]) + 1e-12),
        `grad ${i} vs torch`,
      );
    }
  }
  t.throws(
    () => clipGradNorm(params(fx.cases[0], nosync), 1),
    /nosync: data is on the device/,
    'a number needs a synchronous read',
  );
  t.end();
});

t.test('edge cases', (t) => {
  const p = tensor([1, 2], { requiresGrad: true });
  t.equal(clipGradNorm([p], 1), 0, 'no gradients: norm 0');
  p.grad = tensor([3, 4]);
  t.equal(clipGradNorm(p, 10), 5, 'a single tensor is accepted');
  p.grad = tensor([Infinity, 1]);
  t.throws(
    () => clipGradNorm([p], 1, 2, { errorIfNonfinite: true }),
    /total norm of order 2 of the gradients is Infinity/,
  );
  t.equal(clipGradNorm([p], 1), Infinity, 'without errorIfNonfinite, scales by 0 as PyTorch');
  t.same(Array.from(p.grad.dataSync()), [NaN, 0]);
  t.throws(() => clipGradNorm([p], -1), /maxNorm must be a number >= 0/);
  t.throws(() => clipGradNorm([p], 1, 0), /normType must be > 0/);
  t.end();
});

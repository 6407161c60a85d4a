// Chunked reductions on the gpu.js devices: a reduction to few outputs over a long range runs as
// per-chunk partials and a second reduce (GpuJsBackend.reduce), in the 'rows' layout (reduced
// elements contiguous) or 'cols' (outputs contiguous). Checked against cpu-ref on shapes that chunk
// (one output, a few outputs, strided and two-dim reductions in both layouts, int32, NaN) and on one
// that does not; the CPU stand-in for the chunk pass (chunkPartials) is checked on its own.
import t from 'tap';
import type { Backend, DType } from '../../engine/index.js';
import { getBackend } from '../../kernels/select.js';
import type { GpuJsBackend } from '../../kernels/gpujs/backend.js';
import { chunkPartials, reduceChunks } from '../../kernels/gpujs/standins.js';
import { fallbacks, resetFallbacks } from '../../kernels/index.js';
import { Rng } from '../../engine/index.js';
import { forEachBackend } from '../helpers/backends.js';

const GPU_ONLY = { exclude: ['cpu', 'cpu-ref'] as const };
const ref = getBackend('cpu-ref') as Parameters<typeof chunkPartials>[0];

type Kind = 'sum' | 'max' | 'min';
const CASES: { shape: number[]; axes: number[]; chunked: boolean }[] = [
  { shape: [70001], axes: [0], chunked: true }, // one output, odd length (a short last chunk)
  { shape: [3, 5000], axes: [1], chunked: true },
  { shape: [5000, 3], axes: [0], chunked: true }, // strided reduced dim
  { shape: [40, 7, 30, 9], axes: [0, 2], chunked: true }, // two reduced dims, two kept ('cols')
  { shape: [30, 5, 40], axes: [0, 2], chunked: true }, // two reduced dims, the inner contiguous ('rows')
  { shape: [5000, 8], axes: [1], chunked: false }, // many outputs, short range: one pass
];

function data(n: number, dtype: DType, rng: Rng): Float32Array | Int32Array {
  if (dtype === 'int32') return Int32Array.from({ length: n }, () => rng.int(-50, 50));
  return Float32Array.from({ length: n }, () => rng.normal());
}

async function check(
  td: { equal: (a: unknown, b: unknown, m: string) => void; ok: (v: boolean, m: string) => void },
  be: Backend,
  kind: Kind,
  shape: number[],
  axes: number[],
  x: Float32Array | Int32Array,
  dtype: DType,
) {
  const got = Array.from(await be.read(be.reduce(kind, be.upload(x.slice(), dtype), shape, axes)));
  const want = Array.from(ref.readSync(ref.reduce(kind, ref.upload(x.slice(), dtype), shape, axes)));
  td.equal(got.length, want.length, `${kind} ${shape} over ${axes}: size`);
  // sum: float32 partials added in another order than the CPU's loop, so each output may differ by
  // rounding, bounded by a small multiple of eps·Σ|x| over its elements; max, min and int32 sums are exact
  const absSum = ref.readSync(ref.reduce('sum', ref.upload(Float32Array.from(x, Math.abs), 'float32'), shape, axes));
  const tol = (i: number) => (kind === 'sum' && dtype === 'float32' ? 1e-6 * (absSum[i] + 1) : 0);
  const worst = Math.max(...got.map((g, i) => Math.abs(g - want[i]) / Math.max(tol(i), Number.MIN_VALUE)));
  td.ok(worst <= 1, `${kind} ${shape} over ${axes}: worst error / tolerance ${worst}`);
}

t.test('reduceChunks: many threads for few outputs, none for many', async (tt) => {
  tt.equal(reduceChunks(1, 131072), 2048, 'a loss mean: 2048 chunks of 64');
  tt.equal(reduceChunks(512, 256), 4, '512 rows of 256: 4 chunks of 64');
  tt.equal(reduceChunks(4096, 100000), 1, 'enough outputs to fill the GPU');
  tt.equal(reduceChunks(10, 100), 1, 'too short to split');
  tt.equal(reduceChunks(2, 1e6), 8192, 'capped at ~16k threads');
});

t.test('chunkPartials (the CPU stand-in) leaves each reduction unchanged', async (tt) => {
  const rng = new Rng(7);
  for (const kind of ['sum', 'max', 'min'] as const) {
    const x = data(3 * 700, 'float32', rng);
    for (const layout of ['rows', 'cols'] as const) {
      const p = chunkPartials(ref, kind, ref.upload(x.slice(), 'float32'), [3, 700], [1], 5, layout);
      const twoPass = Array.from(
        ref.readSync(ref.reduce(kind, p, layout === 'rows' ? [3, 5] : [5, 3], [layout === 'rows' ? 1 : 0])),
      );
      const direct = Array.from(ref.readSync(ref.reduce(kind, ref.upload(x.slice(), 'float32'), [3, 700], [1])));
      tt.same(twoPass, direct, `${kind} ${layout}: same values through the second pass`);
    }
  }
});

t.test('chunked reductions match cpu-ref', async (tt) => {
  await forEachBackend(
    tt,
    async (td, be) => {
      const gpu = be as GpuJsBackend;
      const rng = new Rng(3);
      resetFallbacks();
      for (const { shape, axes, chunked } of CASES) {
        const n = shape.reduce((a, b) => a * b, 1);
        const x = data(n, 'float32', rng);
        for (const kind of ['sum', 'max', 'min'] as const) await check(td, be, kind, shape, axes, x, 'float32');
        const { stats } = await gpu.deviceProfile(() =>
          be.read(be.reduce('sum', be.upload(x.slice(), 'float32'), shape, axes)),
        );
        td.equal(
          stats.some((s) => s.kernel.startsWith('reduce (chunks)')),
          chunked,
          `${shape} over ${axes}: ${chunked ? 'chunked' : 'one pass'}`,
        );
      }
      await check(td, be, 'sum', [3000], [0], data(3000, 'int32', rng), 'int32');
      const withNaN = data(4000, 'float32', rng);
      withNaN[2222] = Number.NaN;
      // WGSL lets a compiler assume no NaNs, so on webgpu max/min skip them, chunked or not
      // (docs/devices.md); a sum still carries one.
      const nanKinds = be.device === 'webgpu' ? (['sum'] as const) : (['max', 'min', 'sum'] as const);
      if (be.device === 'webgpu') td.comment('webgpu: max/min NaN propagation not checked (WGSL NaN tests fold away)');
      for (const kind of nanKinds) {
        const r = await be.read(be.reduce(kind, be.upload(withNaN.slice(), 'float32'), [4000], [0]));
        td.ok(Number.isNaN(r[0]), `${kind}: a NaN in one chunk gives NaN`);
      }
      td.same(fallbacks(), {}, 'every kernel built and ran on the device');
    },
    GPU_ONLY,
  );
});

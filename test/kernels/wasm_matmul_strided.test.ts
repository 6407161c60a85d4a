// Strided matmuls against a float64 loop: row strides wider than the stored widths (a column block
// of a wider array), two-level batches (item i at (i / inner) * batchStride + (i % inner) *
// innerStride) and strided outputs, on the WASM path (float32), the plain-TS fallback (float32 and
// float64), and the CPU backends' matmul (MatmulParams with aRowStride / bRowStride / cOffsets:
// one wasm call for two-level offsets, one call per item for irregular ones), cpu against cpu-ref.
// Output elements outside every item must be left as they were (the wasm API), and the backends'
// results must cover cSize exactly (the MatmulParams contract).
import t from 'tap';
import fc from 'fast-check';
import {
  matmulFallback,
  matmulWasm,
  setThreads,
  shutdown,
  threads,
  type FloatArray,
  type MatmulOptions,
} from '../../kernels/wasm/index.js';
import { extents, itemOffset, planMatmul, type MatmulPlan } from '../../kernels/wasm/options.js';
import { getBackend } from '../../kernels/select.js';
import type { MatmulParams } from '../../kernels/backend.js';
import { cases } from '../helpers/deep.js';

t.teardown(shutdown);

/** Values in [-1, 1) from a seed (a small LCG; the test only needs them deterministic). */
function fill<T extends FloatArray>(x: T, seed: number): T {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < x.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = (s / 2 ** 32) * 2 - 1;
  }
  return x;
}

interface Case extends MatmulOptions {
  readonly seed: number;
}

/** A random strided problem: each stored row padded by 0-3 elements, 1-3 groups of 1-3 items. */
const caseArb: fc.Arbitrary<Case> = fc
  .record({
    m: fc.integer({ min: 1, max: 40 }),
    k: fc.integer({ min: 1, max: 40 }),
    n: fc.integer({ min: 1, max: 40 }),
    groups: fc.integer({ min: 1, max: 3 }),
    inner: fc.integer({ min: 1, max: 3 }),
    transA: fc.boolean(),
    transB: fc.boolean(),
    pad: fc.tuple(fc.nat(3), fc.nat(3), fc.nat(3)),
    broadcastB: fc.boolean(),
    accumulate: fc.boolean(),
    seed: fc.nat(),
  })
  .map(({ m, k, n, groups, inner, transA, transB, pad: [pa, pb, pc], broadcastB, accumulate, seed }) => {
    // Heads side by side in a row, as attention's [B, T, H*D]: item (g, h) at g*rows*ld + h*width.
    const [ar, ac] = transA ? [k, m] : [m, k];
    const [br, bc] = transB ? [n, k] : [k, n];
    const lda = inner * ac + pa,
      ldb = inner * bc + pb,
      ldc = inner * n + pc;
    return {
      m,
      k,
      n,
      batch: groups * inner,
      inner,
      transA,
      transB,
      accumulate,
      seed,
      aRowStride: lda,
      aBatchStride: ar * lda,
      aInnerStride: ac,
      bRowStride: ldb,
      bBatchStride: broadcastB ? 0 : br * ldb,
      bInnerStride: broadcastB ? 0 : bc,
      cRowStride: ldc,
      cBatchStride: m * ldc,
      cInnerStride: n,
    };
  });

/** The float64 result of a plan over `before` (a copy; untouched elements stay). */
function reference(p: MatmulPlan, a: FloatArray, b: FloatArray, before: FloatArray): Float64Array {
  const want = Float64Array.from(before);
  for (let i = 0; i < p.batch; i++) {
    const ao = itemOffset(p, i, p.aBatchStride, p.aInnerStride),
      bo = itemOffset(p, i, p.bBatchStride, p.bInnerStride),
      co = itemOffset(p, i, p.cBatchStride, p.cInnerStride);
    for (let r = 0; r < p.m; r++) {
      for (let j = 0; j < p.n; j++) {
        let s = p.accumulate ? want[co + r * p.cRowStride + j]! : 0;
        for (let q = 0; q < p.k; q++) {
          const x = a[ao + (p.transA ? q * p.aRowStride + r : r * p.aRowStride + q)]!;
          const y = b[bo + (p.transB ? j * p.bRowStride + q : q * p.bRowStride + j)]!;
          s += x * y;
        }
        want[co + r * p.cRowStride + j] = s;
      }
    }
  }
  return want;
}

function run(c: Case, impl: 'wasm' | 'fallback', make: (n: number) => FloatArray): string | null {
  const probe = planMatmul(new Float64Array(1e6), new Float64Array(1e6), new Float64Array(1e6), c);
  const len = extents(probe);
  const a = fill(make(len.a), c.seed),
    b = fill(make(len.b), c.seed + 1),
    out = fill(make(len.c + 5), c.seed + 2); // 5 spare elements past the last item: must stay
  const before = out.slice();
  const p = planMatmul(a, b, out, c);
  if (impl === 'wasm') matmulWasm(a as Float32Array, b as Float32Array, out as Float32Array, c);
  else matmulFallback(a, b, out, p);
  const want = reference(p, a, b, before);
  const tol = out instanceof Float64Array ? 1e-12 : 1e-5 * Math.sqrt(c.k + 1) * (c.k + 1);
  for (let i = 0; i < out.length; i++) {
    if (!(Math.abs(out[i]! - want[i]!) <= tol)) return `element ${i}: got ${out[i]}, want ${want[i]}`;
  }
  return null;
}

for (const [impl, dtype] of [
  ['wasm', 'float32'],
  ['fallback', 'float32'],
  ['fallback', 'float64'],
] as const) {
  t.test(`${impl} ${dtype}: row strides, two-level batches, strided out, gaps untouched`, async (t) => {
    const make = (n: number) => (dtype === 'float32' ? new Float32Array(n) : new Float64Array(n));
    fc.assert(
      fc.property(caseArb, (c) => {
        const err = run(c, impl, make);
        if (err) throw new Error(`${JSON.stringify(c)}: ${err}`);
      }),
      { numRuns: cases(25, 100) },
    );
    t.pass(`${cases(25, 100)} random cases`);
  });
}

t.test('a two-level batch big enough for the worker pool: 1, 2 and 3 threads give the same bits', async (t) => {
  // 200^3 per item is above PARALLEL_MIN_WORK, so the items' row tiles are shared among threads.
  const c: Case = {
    m: 200,
    k: 200,
    n: 200,
    batch: 4,
    inner: 2,
    seed: 3,
    aRowStride: 403,
    aBatchStride: 200 * 403,
    aInnerStride: 200,
    bRowStride: 400,
    bBatchStride: 200 * 400,
    bInnerStride: 200,
    transB: true,
    cRowStride: 401,
    cBatchStride: 200 * 401,
    cInnerStride: 200,
  };
  const before = threads();
  const results: Float32Array[] = [];
  for (const n of [1, 2, 3]) {
    setThreads(n);
    const len = extents(planMatmul(new Float32Array(1e7), new Float32Array(1e7), new Float32Array(1e7), c));
    const a = fill(new Float32Array(len.a), 1),
      b = fill(new Float32Array(len.b), 2),
      out = fill(new Float32Array(len.c), 3);
    matmulWasm(a, b, out, c);
    results.push(out);
  }
  setThreads(before);
  const bits = (x: Float32Array, y: Float32Array) => x.every((v, i) => Object.is(v, y[i]));
  t.ok(bits(results[1]!, results[0]!), '2 threads = 1 thread');
  t.ok(bits(results[2]!, results[0]!), '3 threads = 1 thread');
  t.equal(
    run(c, 'wasm', (n) => new Float32Array(n)),
    null,
    'matches the float64 reference',
  );
});

t.test('planMatmul rejects bad strides with the values named', async (t) => {
  const x = new Float32Array(100);
  t.throws(() => planMatmul(x, x.slice(), x.slice(), { m: 2, k: 3, n: 2, aRowStride: 2 }), /row strides \(a 2/);
  t.throws(() => planMatmul(x, x.slice(), x.slice(), { m: 2, k: 2, n: 2, batch: 3, inner: 2 }), /inner=2/);
  t.throws(() => planMatmul(x, x.slice(), x.slice(), { m: 2, k: 2, n: 2, aBatchStride: -1 }), /strides must be/);
  // Two rows 8 apart: the out span is 8 + 2 elements.
  t.throws(
    () => planMatmul(x, x.slice(), new Float32Array(9), { m: 2, k: 2, n: 2, cRowStride: 8 }),
    /out has 9 elements, needs 10/,
  );
});

/** Attention-shaped MatmulParams: [B, H] heads of [B, T, W] sources, column `col`, head width d. */
function headOffsets(B: number, H: number, rows: number, W: number, col: number, d: number): Int32Array {
  return Int32Array.from({ length: B * H }, (_, i) => Math.floor(i / H) * rows * W + col + (i % H) * d);
}

t.test('cpu = cpu-ref on MatmulParams row strides and cOffsets (two-level and irregular)', async (t) => {
  const cpu = getBackend('cpu'),
    ref = getBackend('cpu-ref');
  const [B, H, T, D] = [3, 4, 21, 16];
  const W = 3 * H * D;
  for (const dtype of ['float32', 'float64'] as const) {
    const qkv = fill(dtype === 'float32' ? new Float32Array(B * T * W) : new Float64Array(B * T * W), 7);
    const cases: [string, MatmulParams][] = [
      [
        'q kᵀ per head, packed q|k|v, dense out',
        {
          batch: B * H,
          m: T,
          k: D,
          n: T,
          aOffsets: headOffsets(B, H, T, W, 0, D),
          bOffsets: headOffsets(B, H, T, W, H * D, D),
          transA: false,
          transB: true,
          aRowStride: W,
          bRowStride: W,
        },
      ],
      [
        'kᵀ v per head, written into [B, D, H*D]',
        {
          batch: B * H,
          m: D,
          k: T,
          n: D,
          aOffsets: headOffsets(B, H, T, W, H * D, D),
          bOffsets: headOffsets(B, H, T, W, 2 * H * D, D),
          transA: true,
          transB: false,
          aRowStride: W,
          bRowStride: W,
          cOffsets: headOffsets(B, H, D, H * D, 0, D),
          cRowStride: H * D,
          cSize: B * D * H * D,
        },
      ],
      [
        'irregular offsets (one call per item), items in reverse order',
        {
          batch: 5,
          m: 4,
          k: 6,
          n: 3,
          aOffsets: Int32Array.from([40, 3, 17, 0, 90]),
          bOffsets: Int32Array.from([0, 0, 50, 9, 2]),
          transA: false,
          transB: false,
          aRowStride: 10,
          bRowStride: 7,
          cOffsets: Int32Array.from([48, 36, 24, 12, 0]),
        },
      ],
    ];
    for (const [what, p] of cases) {
      const a = cpu.upload(qkv, dtype);
      const got = cpu.readSync(cpu.matmul(a, a, p));
      const want = ref.readSync(ref.matmul(ref.upload(qkv, dtype), ref.upload(qkv, dtype), p));
      t.equal(got.length, p.cSize ?? p.batch * p.m * p.n, `${dtype} ${what}: size`);
      let err = 0;
      for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i]! - want[i]!));
      t.ok(err < (dtype === 'float32' ? 1e-5 : 1e-12), `${dtype} ${what}: max error ${err}`);
    }
  }
});

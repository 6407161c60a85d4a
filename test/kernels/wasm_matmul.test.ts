// kernels/wasm matmul against a naive float64 triple loop: the WASM SIMD path, the plain-TS
// fallback, transposes, batch broadcasting, accumulate and in-heap (zero-copy) operands.
//
// Tolerance: the reference sums in float64 the same float32 inputs, so the only error is
// float32 rounding in the kernel's sums: |out - ref| <= 1e-5 * sqrt(k) * sum_p |a_ip * b_pj|
// (float32 eps is 6e-8; random-walk rounding grows like sqrt(k)).
import t from 'tap';
import fc from 'fast-check';
import {
  alloc,
  free,
  matmul,
  matmulFallback,
  matmulWasm,
  shutdown,
  wasmSimdAvailable,
  WASM_MIN_WORK,
  type FloatArray,
  type MatmulOptions,
} from '../../kernels/wasm/index.js';
import { planMatmul } from '../../kernels/wasm/options.js';
import { cases, deepAdds } from '../helpers/deep.js';

deepAdds('4x the random matmul cases (120 WASM, 40 per fallback path)');

t.teardown(shutdown);

// The contiguous options; row strides and two-level batches: wasm_matmul_strided.test.ts.
interface Case
  extends Required<
    Pick<
      MatmulOptions,
      'm' | 'k' | 'n' | 'batch' | 'transA' | 'transB' | 'aBatchStride' | 'bBatchStride' | 'accumulate'
    >
  > {
  seed: number;
}

/** Deterministic values in [-1, 1) from a seed (mulberry32). */
function fill<T extends FloatArray>(x: T, seed: number): T {
  let s = seed >>> 0;
  for (let i = 0; i < x.length; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let r = Math.imul(s ^ (s >>> 15), 1 | s);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    x[i] = (((r ^ (r >>> 14)) >>> 0) / 2 ** 32) * 2 - 1;
  }
  return x;
}

function operands<T extends FloatArray>(c: Case, make: (n: number) => T): { a: T; b: T; out: T } {
  const aLen = (c.batch - 1) * c.aBatchStride + c.m * c.k;
  const bLen = (c.batch - 1) * c.bBatchStride + c.k * c.n;
  return {
    a: fill(make(aLen), c.seed),
    b: fill(make(bLen), c.seed + 1),
    out: fill(make(c.batch * c.m * c.n), c.seed + 2),
  };
}

/** Checks `got` against the float64 reference for op(A) @ op(B) (+ before). */
function check(c: Case, a: FloatArray, b: FloatArray, before: FloatArray, got: FloatArray): string | undefined {
  for (let bi = 0; bi < c.batch; bi++) {
    for (let i = 0; i < c.m; i++) {
      for (let j = 0; j < c.n; j++) {
        let sum = 0;
        let mag = 0;
        for (let p = 0; p < c.k; p++) {
          const x = a[bi * c.aBatchStride + (c.transA ? p * c.m + i : i * c.k + p)]!;
          const y = b[bi * c.bBatchStride + (c.transB ? j * c.k + p : p * c.n + j)]!;
          sum += x * y;
          mag += Math.abs(x * y);
        }
        const o = (bi * c.m + i) * c.n + j;
        if (c.accumulate) {
          sum += before[o]!;
          mag += Math.abs(before[o]!);
        }
        const err = Math.abs(got[o]! - sum);
        if (!(err <= 1e-5 * Math.sqrt(c.k + 1) * mag + 1e-30)) {
          return `item ${bi} (${i}, ${j}): got ${got[o]}, want ${sum} (err ${err}, bound ${1e-5 * Math.sqrt(c.k) * mag})`;
        }
      }
    }
  }
  return undefined;
}

const ODD = [1, 3, 17, 63, 65, 127, 129];
const dim = fc.oneof(fc.constantFrom(...ODD), fc.integer({ min: 1, max: 150 }));
const caseArb = (maxBatch: number): fc.Arbitrary<Case> =>
  fc
    .record({
      m: dim,
      k: dim,
      n: dim,
      batch: fc.integer({ min: 1, max: maxBatch }),
      transA: fc.boolean(),
      transB: fc.boolean(),
      broadcastA: fc.boolean(),
      broadcastB: fc.boolean(),
      accumulate: fc.boolean(),
      seed: fc.integer({ min: 0, max: 2 ** 30 }),
    })
    .map(({ broadcastA, broadcastB, ...c }) => ({
      ...c,
      aBatchStride: broadcastA ? 0 : c.m * c.k,
      bBatchStride: broadcastB ? 0 : c.k * c.n,
    }));

function runCase(c: Case, impl: 'matmul' | 'wasm' | 'fallback', make: (n: number) => FloatArray): string | undefined {
  const { a, b, out } = operands(c, make);
  const before = out.slice();
  if (impl === 'matmul') matmul(a, b, out, c);
  else if (impl === 'wasm') matmulWasm(a as Float32Array, b as Float32Array, out as Float32Array, c);
  else matmulFallback(a, b, out, planMatmul(a, b, out, c));
  return check(c, a, b, before, out);
}

t.test('WASM SIMD is available in Node 20', async (t) => {
  t.ok(wasmSimdAvailable());
});

t.test('WASM path matches float64 reference (odd sizes, transposes, broadcast, accumulate)', async (t) => {
  fc.assert(
    fc.property(caseArb(3), (c) => {
      const err = runCase(c, 'wasm', (n) => new Float32Array(n));
      if (err) throw new Error(`${JSON.stringify(c)}: ${err}`);
    }),
    { numRuns: cases(30, 120) },
  );
  t.pass(`${cases(30, 120)} random cases`);
});

t.test('matmul (WASM or fallback by size) matches the reference', async (t) => {
  fc.assert(
    fc.property(caseArb(2), (c) => {
      const err = runCase(c, 'matmul', (n) => new Float32Array(n));
      if (err) throw new Error(`${JSON.stringify(c)}: ${err}`);
    }),
    { numRuns: cases(10, 40) },
  );
  t.pass(`${cases(10, 40)} random cases`);
});

t.test('WASM path: every odd-size edge combination, both transposes', async (t) => {
  for (const m of [1, 3, 17, 65, 129]) {
    for (const n of [1, 3, 17, 63, 127]) {
      for (const k of [1, 17, 129]) {
        for (const [transA, transB] of [
          [false, false],
          [true, true],
        ] as const) {
          const c: Case = {
            m,
            k,
            n,
            batch: 1,
            transA,
            transB,
            aBatchStride: m * k,
            bBatchStride: k * n,
            accumulate: false,
            seed: m * n + k,
          };
          const err = runCase(c, 'wasm', (len) => new Float32Array(len));
          if (err) t.fail(`${JSON.stringify(c)}: ${err}`);
        }
      }
    }
  }
  t.pass('done');
});

t.test('several K blocks, N blocks and M blocks (k > KC, n > NC, m > MC)', async (t) => {
  for (const [m, k, n] of [
    [70, 600, 9],
    [130, 257, 520],
    [5, 513, 1030],
  ] as const) {
    for (const accumulate of [false, true]) {
      const c: Case = {
        m,
        k,
        n,
        batch: 2,
        transA: false,
        transB: true,
        aBatchStride: m * k,
        bBatchStride: 0,
        accumulate,
        seed: m + k + n,
      };
      t.equal(
        runCase(c, 'wasm', (len) => new Float32Array(len)),
        undefined,
        `${m}x${k}x${n} accumulate=${accumulate}`,
      );
    }
  }
});

t.test('float64 goes through the fallback and matches the reference', async (t) => {
  fc.assert(
    fc.property(caseArb(2), (c) => {
      const err = runCase(c, 'matmul', (n) => new Float64Array(n));
      if (err) throw new Error(`${JSON.stringify(c)}: ${err}`);
    }),
    { numRuns: cases(10, 40) },
  );
  t.pass(`${cases(10, 40)} random cases`);
});

t.test('fallback directly, float32 and float64', async (t) => {
  for (const make of [(n: number) => new Float32Array(n), (n: number) => new Float64Array(n)]) {
    fc.assert(
      fc.property(caseArb(3), (c) => {
        const err = runCase(c, 'fallback', make);
        if (err) throw new Error(`${JSON.stringify(c)}: ${err}`);
      }),
      { numRuns: cases(10, 40) },
    );
  }
  t.pass(`${2 * cases(10, 40)} random cases`);
});

t.test('tiny float32 products take the fallback and agree with it', async (t) => {
  const c: Case = {
    m: 2,
    k: 3,
    n: 4,
    batch: 1,
    transA: false,
    transB: false,
    aBatchStride: 6,
    bBatchStride: 12,
    accumulate: false,
    seed: 7,
  };
  t.ok(c.m * c.n * c.k < WASM_MIN_WORK);
  t.equal(
    runCase(c, 'matmul', (n) => new Float32Array(n)),
    undefined,
  );
  // [[1,2],[3,4]] @ [[5,6],[7,8]] = [[19,22],[43,50]], exact in float32.
  const out = new Float32Array(4);
  matmul(new Float32Array([1, 2, 3, 4]), new Float32Array([5, 6, 7, 8]), out, { m: 2, k: 2, n: 2 });
  t.same([...out], [19, 22, 43, 50]);
});

t.test('heap arrays from alloc() are used in place and give bit-identical results', async (t) => {
  const c: Case = {
    m: 65,
    k: 129,
    n: 63,
    batch: 2,
    transA: true,
    transB: false,
    aBatchStride: 65 * 129,
    bBatchStride: 0,
    accumulate: true,
    seed: 3,
  };
  const copied = operands(c, (n) => new Float32Array(n));
  const inHeap = operands(c, (n) => alloc(n));
  matmul(copied.a, copied.b, copied.out, c);
  matmul(inHeap.a, inHeap.b, inHeap.out, c);
  t.ok(
    copied.out.every((x, i) => Object.is(x, inHeap.out[i])),
    'same bits',
  );
  for (const x of [inHeap.a, inHeap.b, inHeap.out]) free(x);
});

t.test('argument errors', async (t) => {
  const f = new Float32Array(16);
  t.throws(
    () => matmul(f, f.slice(), new Float32Array(16), { m: -1, k: 4, n: 4 }),
    /bad sizes m=-1 k=4 n=4 batch=1 \(expected integers in \[0, 2\^31\)\)/,
  );
  t.throws(() => matmul(f, f.slice(), new Float32Array(16), { m: 1.5, k: 4, n: 4 }), RangeError);
  t.throws(() => matmul(f, f.slice(), new Float32Array(15), { m: 4, k: 4, n: 4 }), RangeError);
  t.throws(() => matmul(f, new Float64Array(16), new Float32Array(16), { m: 4, k: 4, n: 4 }), TypeError);
  t.throws(() => matmul(f, f.slice(), f, { m: 4, k: 4, n: 4 }), /overlap/);
  t.throws(() => matmul(f, f.slice(), new Float32Array(32), { m: 4, k: 4, n: 4, batch: 2 }), RangeError);
});

// A zero size is valid, as in BLAS and torch: M, N or batch 0 gives an empty product, K = 0 zeros
// (an empty sum; with `accumulate`, out unchanged). Linear on an empty batch depends on this.
t.test('zero sizes: empty results, and zeros for K = 0', async (t) => {
  const paths = [
    ['matmul', matmul],
    [
      'matmulFallback',
      (a: FloatArray, b: FloatArray, o: FloatArray, p: MatmulOptions) =>
        matmulFallback(a, b, o, planMatmul(a, b, o, p)),
    ],
  ] as [string, typeof matmul][];
  if (wasmSimdAvailable()) paths.push(['matmulWasm', matmulWasm as typeof matmul]);
  for (const [name, mm] of paths) {
    const a = new Float32Array(12).fill(1),
      b = new Float32Array(12).fill(1);
    for (const sizes of [
      { m: 0, k: 3, n: 4 },
      { m: 3, k: 4, n: 0 },
      { m: 2, k: 3, n: 2, batch: 0 },
    ]) {
      t.doesNotThrow(() => mm(a, b, new Float32Array(0), sizes), `${name} ${JSON.stringify(sizes)}`);
    }
    const out = new Float32Array(6).fill(7);
    mm(new Float32Array(0), new Float32Array(0), out, { m: 2, k: 0, n: 3 });
    t.same(Array.from(out), [0, 0, 0, 0, 0, 0], `${name}: K = 0 writes zeros`);
    out.fill(7);
    mm(new Float32Array(0), new Float32Array(0), out, { m: 2, k: 0, n: 3, accumulate: true });
    t.same(Array.from(out), [7, 7, 7, 7, 7, 7], `${name}: K = 0 with accumulate leaves out unchanged`);
    const big = new Float32Array(64 * 64).fill(1);
    t.doesNotThrow(
      () => mm(big, big.slice(), new Float32Array(0), { m: 64, k: 64, n: 64, batch: 0 }),
      `${name}: batch 0 of a size that would take the WASM path`,
    );
  }
});

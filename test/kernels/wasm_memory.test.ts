// The shared wasm heap allocator: alignment, reuse, coalescing, bounded growth, views.
import t from 'tap';
import fc from 'fast-check';
import { CONTROL_BYTES, HeapLimitError, WasmHeap } from '../../kernels/wasm/memory.js';
import { alloc, free, heapStats, shutdown } from '../../kernels/wasm/index.js';

const MB = 1024 * 1024;

t.test('blocks are 64-byte aligned, above the control area, and never overlap', async (t) => {
  const heap = new WasmHeap(16 * MB);
  const blocks = [1, 100, 64, 65, 4096].map((n) => [heap.alloc(n), n] as const);
  for (const [p] of blocks) {
    t.equal(p % 64, 0);
    t.ok(p >= CONTROL_BYTES);
  }
  const sorted = [...blocks].sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < sorted.length; i++) t.ok(sorted[i - 1]![0] + sorted[i - 1]![1] <= sorted[i]![0]);
});

t.test('free + alloc of the same size reuses the block; growth is the high-water mark', async (t) => {
  const heap = new WasmHeap(64 * MB);
  const a = heap.alloc(3 * MB);
  const size = heap.byteLength;
  heap.free(a);
  for (let i = 0; i < 10; i++) heap.free(heap.alloc(3 * MB));
  t.equal(heap.byteLength, size, 'no growth from repeated same-size staging');
  t.equal(heap.liveBytes, 0);
  t.throws(() => heap.free(a), /not an allocated block/);
});

t.test('random alloc/free sequences keep blocks disjoint and coalesce fully', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 20000 })), { maxLength: 60 }), (ops) => {
      const heap = new WasmHeap(64 * MB);
      const live = new Map<number, number>();
      for (const [doFree, n] of ops) {
        if (doFree && live.size > 0) {
          const p = [...live.keys()][n % live.size]!;
          heap.free(p);
          live.delete(p);
        } else {
          const p = heap.alloc(n);
          for (const [q, m] of live) if (p < q + m && q < p + n) throw new Error('overlap');
          live.set(p, n);
        }
      }
      for (const p of live.keys()) heap.free(p);
      if (heap.liveBytes !== 0) throw new Error('leak');
      // Everything coalesced: one big block fits where the first ever did.
      if (heap.alloc(64) !== CONTROL_BYTES) throw new Error('free list did not coalesce');
    }),
    { numRuns: 100 },
  );
  t.pass();
});

t.test('the limit is enforced with HeapLimitError', async (t) => {
  const heap = new WasmHeap(2 * MB);
  t.throws(() => heap.alloc(4 * MB), HeapLimitError);
  t.throws(() => new WasmHeap(3 * 1024 * MB), RangeError);
});

t.test('views stay valid across growth and are recognised as heap arrays', async (t) => {
  const heap = new WasmHeap(64 * MB);
  const p = heap.alloc(16);
  const v = heap.f32(p, 4);
  v.set([1, 2, 3, 4]);
  heap.alloc(8 * MB); // grows the memory: a new buffer object over the same bytes
  t.same([...heap.f32(p, 4)], [1, 2, 3, 4]);
  t.equal(heap.addressOf(v), p, 'a view made before growth still maps to its address');
  t.equal(heap.addressOf(new Float32Array(4)), undefined);
});

t.test('public alloc/free round trip', async (t) => {
  const before = heapStats().liveBytes;
  const x = alloc(1000);
  t.equal(x.length, 1000);
  t.ok(x.every((v) => v === 0));
  t.ok(heapStats().liveBytes >= before + 4000);
  free(x);
  t.equal(heapStats().liveBytes, before);
  t.throws(() => free(new Float32Array(4)), /not allocated/);
  shutdown();
});

t.test('a matmul whose staging would pass the heap limit splits the batch or falls back', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const index = fileURLToPath(new URL('../../kernels/wasm/index.ts', import.meta.url));
  const options = fileURLToPath(new URL('../../kernels/wasm/options.ts', import.meta.url));
  // 4 MiB heap: ~1.3 MiB of scratch per thread, so a 6 MiB batch must be split and one
  // 12 MiB matrix product cannot be staged at all.
  const script = `
    import { matmul, matmulFallback, heapStats } from ${JSON.stringify(index)};
    import { planMatmul } from ${JSON.stringify(options)};
    const check = (m, batch) => {
      const a = Float32Array.from({ length: batch * m * m }, (_, i) => Math.sin(i));
      const b = Float32Array.from({ length: batch * m * m }, (_, i) => Math.cos(i));
      const got = new Float32Array(batch * m * m), want = new Float32Array(batch * m * m);
      matmul(a, b, got, { m, k: m, n: m, batch });
      matmulFallback(a, b, want, planMatmul(a, b, want, { m, k: m, n: m, batch }));
      return got.every((x, i) => Math.abs(x - want[i]) <= 1e-4 * Math.sqrt(m) * (1 + Math.abs(want[i])));
    };
    console.log(check(256, 8), check(1024, 1), heapStats().byteLength <= 4 * 1024 * 1024);
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    timeout: 120_000,
    encoding: 'utf8',
    env: { ...process.env, VLGRAD_WASM_MAX_MB: '4', VLGRAD_THREADS: '2' },
  });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout.trim(), 'true true true');
});

t.test('reserve grows the memory (capped at the limit) without allocating; end is where new blocks go', async (t) => {
  const heap = new WasmHeap(4 * MB);
  t.equal(heap.end, CONTROL_BYTES);
  const p = heap.alloc(1000);
  t.equal(heap.end, p + 1024);
  heap.reserve(2 * MB);
  t.equal(heap.byteLength, 2 * MB);
  t.equal(heap.liveBytes, 1024, 'nothing allocated');
  t.equal(heap.alloc(64), p + 1024, 'the next block still goes at end');
  heap.reserve(64 * MB);
  t.equal(heap.byteLength, 4 * MB, 'capped at the limit, no HeapLimitError');
});

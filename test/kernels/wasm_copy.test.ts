// Row copies in the wasm heap (kernels/wasm/copy.ts) and the `cpu` backend's strided copies that
// use them: a column block of a wider resident tensor must come out exactly as cpu-ref's
// element walk gives it, and the kernel must decline (copying nothing) where it does not apply.
import t from 'tap';
import fc from 'fast-check';
import { copyRowsWasm } from '../../kernels/wasm/copy.js';
import { alloc } from '../../kernels/wasm/index.js';
import { getBackend } from '../../kernels/select.js';
import * as vg from '../../engine/index.js';
import { cases } from '../helpers/deep.js';

const same = (a: ArrayLike<number>, b: ArrayLike<number>): boolean =>
  a.length === b.length && Array.from(a).every((x, i) => Object.is(x, b[i]));

t.test('copyRowsWasm packs rows of a strided block', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 1, max: 70 }),
      fc.integer({ min: 0, max: 30 }),
      fc.integer({ min: 0, max: 9 }),
      (rows, n, gap, from) => {
        const stride = n + gap;
        const src = alloc(from + rows * stride);
        src.forEach((_, i) => (src[i] = i * 0.5 - 3));
        const dst = alloc(rows * n);
        if (!copyRowsWasm(src, from, stride, rows, n, dst)) return false;
        const want = Array.from({ length: rows * n }, (_, i) => src[from + Math.floor(i / n) * stride + (i % n)]!);
        return same(dst, want);
      },
    ),
    { numRuns: cases(50, 200) },
  );
  t.pass('random rows, widths, gaps and offsets');
  // Into a strided destination: one source's columns of a concatenation.
  const rows = 5,
    n = 3,
    total = 8,
    at = 4;
  const src = alloc(rows * n),
    dst = alloc(rows * total).fill(-1);
  src.forEach((_, i) => (src[i] = i + 1)); // in place: map() would return a host copy
  t.ok(copyRowsWasm(src, 0, n, rows, n, dst, at, total), 'copies into columns 4..6 of 8');
  const want = Array.from({ length: rows * total }, (_, i) => {
    const [r, c] = [Math.floor(i / total), i % total];
    return c >= at && c < at + n ? src[r * n + c - at]! : -1;
  });
  t.ok(same(dst, want), 'only those columns change');
  t.notOk(copyRowsWasm(src, 0, n, rows, n, dst, 6, total), 'declines rows that would pass the destination');
  const src64 = alloc(64),
    dst64 = alloc(64);
  t.notOk(copyRowsWasm(new Float32Array(64), 0, 8, 8, 8, dst64), 'declines a source outside the heap');
  t.notOk(copyRowsWasm(src64, 0, 8, 8, 8, new Float32Array(64)), 'declines a destination outside the heap');
  t.notOk(copyRowsWasm(src64, 1, 8, 8, 8, dst64), 'declines reads past the source');
  t.notOk(copyRowsWasm(src64, 0, 4, 8, 8, dst64), 'declines a stride narrower than a row');
  t.end();
});

t.test('copyStrided of a column block: cpu = cpu-ref, bit for bit', (t) => {
  const cpu = getBackend('cpu'),
    ref = getBackend('cpu-ref');
  for (const [B, T, W, col, w] of [
    [16, 16, 192, 64, 64],
    [3, 5, 40, 7, 20],
    [2, 300, 9, 0, 3],
  ] as const) {
    const [a, b] = [cpu, ref].map((device) => {
      const x = vg.randn([B, T, W], { rng: new vg.Rng(1), device }).mul(1); // resident on cpu
      return x.narrow(2, col, w).dataSync();
    });
    t.ok(same(a!, b!), `[${B}, ${T}, ${W}] columns ${col}..${col + w}`);
  }
  t.end();
});

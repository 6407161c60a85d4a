// Resident arrays (kernels/wasm/resident.ts): float32 buffers inside the wasm heap that the kernels
// use without staging copies. The allocator reuses blocks by size and keeps to its budget; the
// kernels give the same bits on resident operands (odd lengths, offset views) as on host arrays;
// the `cpu` backend takes its float32 results from there; and a resident array that is garbage
// collected instead of released returns its block.
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import t from 'tap';
import * as vg from '../../engine/index.js';
import { WasmHeap } from '../../kernels/wasm/memory.js';
import { ResidentArrays } from '../../kernels/wasm/resident.js';
import { arithWasm, sumRowsWasm } from '../../kernels/wasm/arith.js';
import { geluWasm, giveResident, takeResident } from '../../kernels/wasm/index.js';
import { RESIDENT_MIN_ELEMENTS } from '../../kernels/cpu/backend.js';

const same = (a: ArrayLike<number>, b: ArrayLike<number>): boolean =>
  a.length === b.length && Array.from(a).every((x, i) => Object.is(x, b[i]));

t.test('ResidentArrays: reuse by block size, foreign arrays refused, the budget holds', async (t) => {
  const heap = new WasmHeap(1 << 20);
  const r = new ResidentArrays(heap, 4096);
  const a = r.take(100)!; // 400 bytes -> one 448-byte block
  t.equal(a.length, 100);
  t.equal(heap.addressOf(a), a.byteOffset, 'the array lies in the heap');
  const at = a.byteOffset;
  t.ok(r.give(a), 'a taken array is given back');
  t.notOk(r.give(a), 'a second give is refused (no longer owned)');
  t.notOk(r.give(new Float32Array(100)), 'a host array is not resident');
  const b = r.take(105)!; // the same 448-byte block size
  t.equal(b.byteOffset, at, 'the cached block of that size is reused');
  t.equal(r.stats().hits, 1);
  const c = r.take(500)!; // 2,048 bytes: 448 + 2,048 under the 4,096 budget
  t.ok(c);
  t.equal(r.take(500), null, 'past the budget: null (the caller uses a host array)');
  r.give(b);
  r.give(c);
  t.equal(r.stats().cached, 448 + 2048);
  const d = r.take(1000)!; // 4,032 bytes: fits only once the cached blocks of other sizes are freed
  t.ok(d, 'cached blocks of other sizes make room');
  t.equal(r.stats().bytes, 4032);
  t.equal(r.stats().cached, 0);
});

/** `src` copied into a resident array (or into a resident array's tail, at `offset`). */
function resident(src: Float32Array, offset = 0): Float32Array {
  const whole = takeResident(src.length + offset)!;
  whole.fill(Number.NaN); // whatever lies around the operand must not leak into the result
  const view = whole.subarray(offset);
  view.set(src);
  return view;
}

t.test('kernels give the same bits on resident operands as on host arrays', async (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom('add', 'sub', 'mul', 'div' as const),
      fc.constantFrom('Full', 'Row', 'Col', 'Scalar' as const),
      fc.integer({ min: 64, max: 90 }),
      fc.integer({ min: 64, max: 90 }),
      fc.integer({ min: 0, max: 5 }),
      fc.nat(),
      (op, layout, rows, n0, offset, seed) => {
        const n = layout === 'Row' || layout === 'Col' ? n0 & ~3 : n0; // per-row layouts need whole vectors
        const rng = new vg.Rng(seed);
        const rand = (k: number) => Float32Array.from({ length: k }, () => rng.normal() * 3 + 0.5);
        const a = rand(rows * n),
          b = rand({ Full: rows * n, Row: n, Col: rows, Scalar: 1 }[layout]);
        const want = new Float32Array(rows * n),
          got = takeResident(rows * n)!;
        if (!arithWasm(op, a, b, layout, want, rows, n)) return false;
        if (!arithWasm(op, resident(a, offset), resident(b, offset), layout, got, rows, n)) return false;
        const ok = same(got, want);
        giveResident(got);
        return ok;
      },
    ),
    { numRuns: 60 },
  );
  for (const len of [1021, 1024, 4099]) {
    const rng = new vg.Rng(len);
    const x = Float32Array.from({ length: len }, () => rng.normal() * 2),
      g = Float32Array.from({ length: len }, () => rng.normal());
    const want = new Float32Array(len),
      got = takeResident(len)!;
    t.ok(geluWasm(x, want, 'none', g) && geluWasm(resident(x, 3), got, 'none', resident(g, 1)));
    t.ok(same(got, want), `GELU backward, ${len} elements, resident offset views`);
    t.ok(geluWasm(x, want, 'tanh') && geluWasm(resident(x), got, 'tanh'));
    t.ok(same(got, want), `GELU tanh, ${len} elements`);
  }
});

t.test('sumRows on a resident offset view = on a host array', async (t) => {
  const rng = new vg.Rng(5);
  const x = Float32Array.from({ length: 300 * 16 }, () => rng.normal());
  const want = new Float32Array(16),
    got = takeResident(16)!;
  t.ok(sumRowsWasm(x, want, 300, 16) && sumRowsWasm(resident(x, 2), got, 300, 16));
  t.ok(same(got, want), 'sum over 300 rows of 16');
});

t.test('cpu: float32 results from RESIDENT_MIN_ELEMENTS up live in the heap; disposing returns them', async (t) => {
  const data = (x: vg.Tensor) => x.backend.readSync(x.raw) as Float32Array;
  const big = vg.randn([RESIDENT_MIN_ELEMENTS]).mul(2),
    small = vg.randn([RESIDENT_MIN_ELEMENTS - 1]).mul(2),
    f64 = vg.randn([RESIDENT_MIN_ELEMENTS], { dtype: 'float64' }).mul(2);
  t.ok(data(big).buffer instanceof SharedArrayBuffer, 'a large float32 result is resident');
  t.notOk(data(small).buffer instanceof SharedArrayBuffer, 'a small one is a host array');
  t.notOk(data(f64).buffer instanceof SharedArrayBuffer, 'float64 stays on the host');
  t.ok(big.dataSync().buffer instanceof ArrayBuffer, 'dataSync hands out a copy, never the heap');
  const at = data(big).byteOffset;
  big.dispose();
  const next = vg.randn([RESIDENT_MIN_ELEMENTS]);
  t.equal(data(next).byteOffset, at, 'the released block holds the next result of its size');
  t.throws(() => big.sum(), /disposed/, 'the disposed tensor still refuses to be used');
});

/** Runs `code` (an ES module importing the repo's .ts files) in a fresh node with `args`; its stdout. */
function child(code: string, args: string[] = [], env: Record<string, string> = {}): string {
  const r = spawnSync(process.execPath, [...args, '--import', 'tsx', '--input-type=module', '-e', code], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return `${r.stdout}${r.status === 0 ? '' : `\n[exit ${r.status}] ${r.stderr.slice(-500)}`}`;
}

t.test('a resident array that is garbage-collected returns its block (the backstop)', async (t) => {
  const out = child(
    `import { takeResident, residentStats } from './kernels/wasm/index.ts';
     let x = takeResident(5000); x.fill(1);
     const before = residentStats();
     x = null;
     for (let i = 0; i < 20 && residentStats().cached === 0; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 10)); }
     console.log(JSON.stringify({ before, after: residentStats() }));`,
    ['--expose-gc'],
  );
  const { before, after } = JSON.parse(out.trim().split('\n').pop()!);
  t.equal(before.cached, 0);
  t.equal(after.cached, before.bytes, 'the collected array block is cached for reuse');
});

t.test('VLGRAD_RESIDENT_MB=0 turns residency off', async (t) => {
  const out = child(
    `import * as vg from './engine/index.ts';
     const a = vg.randn([4096]).mul(2);
     console.log(a.backend.readSync(a.raw).buffer instanceof SharedArrayBuffer);`,
    [],
    { VLGRAD_RESIDENT_MB: '0' },
  );
  t.match(out, /^false/, `host arrays only: ${out.trim()}`);
});

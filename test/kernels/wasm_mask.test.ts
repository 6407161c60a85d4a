// The float32 dropout keep-mask kernel (kernels/wasm/mask.ts): four SIMD lanes of xoshiro128**,
// each started by a jump ahead, must give the same mask, bit for bit, as `Rng.fillMask` drawing
// the stream one element at a time, and leave the generator where fillMask leaves it: a seeded
// training run may not change when the kernel is swapped in. Also: the jumps themselves, the
// cases the kernel declines, and `dropout` on `cpu` (kernel) against `cpu-ref` (loop).
import t from 'tap';
import fc from 'fast-check';
import { jumpState, keepMaskWasm, MASK_MIN_ELEMENTS } from '../../kernels/wasm/mask.js';
import { alloc } from '../../kernels/wasm/index.js';
import * as vg from '../../engine/index.js';
import { dropout, dropoutMask } from '../../engine/nn_functional.js';
import { getBackend } from '../../kernels/select.js';
import { cases } from '../helpers/deep.js';

const same = (a: ArrayLike<number>, b: ArrayLike<number>): boolean =>
  a.length === b.length && Array.from(a).every((x, i) => Object.is(x, b[i]));

t.test('jumpState(s, k) = k steps of the generator', (t) => {
  fc.assert(
    fc.property(fc.nat(), fc.integer({ min: 0, max: 5000 }), (seed, k) => {
      const r = new vg.Rng(seed);
      const jumped = jumpState(Uint32Array.from(r.getState().s), k);
      for (let i = 0; i < k; i++) r.nextU32();
      return same(jumped, r.getState().s);
    }),
    { numRuns: cases(40, 200) },
  );
  t.pass('random seeds and distances');
  t.end();
});

t.test('keepMaskWasm = Rng.fillMask, bit for bit, and leaves the same state', (t) => {
  const check = (n: number, p: number, seed: number, resident: boolean): void => {
    const a = new vg.Rng(seed),
      b = new vg.Rng(seed);
    const want = a.fillMask(new Float32Array(n), p, 1 / (1 - p));
    const got = resident ? alloc(n) : new Float32Array(n); // in the heap, or staged through it
    const state = Uint32Array.from(b.getState().s);
    if (!keepMaskWasm(state, got, p, 1 / (1 - p))) throw new Error(`n=${n} p=${p}: did not run`);
    if (!same(got, want)) throw new Error(`n=${n} p=${p} seed=${seed}: masks differ`);
    if (!same(state, a.getState().s)) throw new Error(`n=${n} p=${p} seed=${seed}: states differ`);
  };
  fc.assert(
    fc.property(
      fc.integer({ min: MASK_MIN_ELEMENTS, max: 40_000 }),
      fc.oneof(fc.double({ min: 1e-6, max: 1 - 1e-6, noNaN: true }), fc.constantFrom(0.1, 0.5, 0.9)),
      fc.nat(),
      fc.boolean(),
      (n, p, seed, resident) => check(n, p, seed, resident),
    ),
    { numRuns: cases(30, 150) },
  );
  // Every tail length (n mod 4), and probabilities at the edge of the 53-bit draw's resolution.
  for (const n of [MASK_MIN_ELEMENTS, MASK_MIN_ELEMENTS + 1, MASK_MIN_ELEMENTS + 2, MASK_MIN_ELEMENTS + 3]) {
    for (const p of [2 ** -53, 1 - 2 ** -53, 0.5 + 2 ** -40]) check(n, p, n, true);
  }
  t.pass('random sizes, probabilities and seeds; every tail length; extreme p');
  t.end();
});

t.test('keepMaskWasm declines, touching nothing, where it does not apply', (t) => {
  for (const [n, p, why] of [
    [MASK_MIN_ELEMENTS - 1, 0.1, 'below the size limit'],
    [MASK_MIN_ELEMENTS, 0, 'p = 0'],
    [MASK_MIN_ELEMENTS, 1, 'p = 1'],
    [MASK_MIN_ELEMENTS, Number.NaN, 'p = NaN'],
  ] as const) {
    const state = Uint32Array.of(1, 2, 3, 4);
    const out = new Float32Array(n).fill(7);
    t.notOk(keepMaskWasm(state, out, p, 2), why);
    t.ok(same(state, [1, 2, 3, 4]) && out.every((x) => x === 7), `${why}: state and output untouched`);
  }
  t.end();
});

t.test('dropout on cpu (the kernel) = dropout on cpu-ref (the loop), and the same stream after', (t) => {
  for (const shape of [
    [16, 16, 64],
    [3, 1001],
    [4, 4, 17, 17],
  ]) {
    const outs = (['cpu', 'cpu-ref'] as const).map((device) => {
      const rng = new vg.Rng(5);
      const x = vg.ones(shape, { device: getBackend(device) });
      const mask = dropoutMask(x, 0.1, rng);
      const y = dropout(x, 0.1, true, rng);
      return { mask: mask.dataSync(), y: y.dataSync(), next: rng.nextU32() };
    });
    const [k, r] = outs;
    t.ok(same(k!.mask, r!.mask) && same(k!.y, r!.y), `[${shape}]: same mask and same dropout`);
    t.equal(k!.next, r!.next, `[${shape}]: the generator continues identically`);
  }
  t.end();
});

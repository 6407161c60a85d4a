/**
 * The `cpu` backend's concat (kernels/cpu/concat.ts: row copies) against `cpu-ref`'s region writes
 * (the oracle): random shapes and dims, pieces of different sizes along the dim (empty ones too),
 * rows narrower and wider than the copy loop's cut-over, and mixed dtypes that promote.
 */
import fc from 'fast-check';
import t from 'tap';
import * as vg from '../../engine/index.js';
import { RUNS, seedFor } from '../helpers/arb.js';

const DTYPES = ['float32', 'float64', 'int32'] as const;

t.test('concat on cpu = concat on cpu-ref, value for value', async (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }),
      fc.nat(),
      fc.array(fc.record({ size: fc.integer({ min: 0, max: 40 }), dtype: fc.constantFrom(...DTYPES) }), {
        minLength: 1,
        maxLength: 4,
      }),
      fc.nat(),
      (shape, dimSeed, pieces, seed) => {
        const d = dimSeed % shape.length;
        const rng = new vg.Rng(seed);
        const state = rng.getState();
        const on = (name: string) =>
          vg
            .concat(
              pieces.map(({ size, dtype }) => {
                const s = shape.map((n, j) => (j === d ? size : n));
                const n = s.reduce((a, b) => a * b, 1);
                const values = Array.from({ length: n }, () => rng.int(-50, 50) / 4);
                return vg.tensor(dtype === 'int32' ? Int32Array.from(values) : Float64Array.from(values), {
                  shape: s,
                  dtype,
                  device: vg.getBackend(name),
                });
              }),
              d,
            )
            .toArray();
        const got = on('cpu');
        rng.setState(state); // the same values for the oracle
        const want = on('cpu-ref');
        return JSON.stringify(got) === JSON.stringify(want);
      },
    ),
    { numRuns: RUNS * 4, seed: seedFor('concat_rows') },
  );
  t.pass(`${RUNS * 4} random concatenations`);
});

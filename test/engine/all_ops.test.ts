/**
 * Every primitive in ALL_OPS is gradient-checked in float64 against central differences on random
 * shapes (rank 0-4), broadcast pairs, dims/keepdim and non-contiguous origins, then second-order
 * checked (gradgradcheck) on small cases. VLGRAD_PROP_RUNS raises the number of cases per op.
 */
import fc from 'fast-check';
import t from 'tap';
import { ALL_OPS, gradcheck, gradgradcheck } from '../../engine/index.js';
import { RUNS } from '../helpers/arb.js';
import { CASES } from './op_cases.js';

const size = (c: { leaves: { size: number }[] }) => c.leaves.reduce((a, x) => a + x.size, 0);

for (const op of ALL_OPS) {
  t.test(`${op.name}: first-order gradcheck`, async (t) => {
    const arb = CASES[op.name];
    t.ok(arb, `op '${op.name}' has test inputs in test/engine/op_cases.ts`);
    if (!arb) return;
    fc.assert(fc.property(arb, (c) => { gradcheck(c.fn, c.leaves); }), { numRuns: RUNS, seed: 1 });
    t.pass(`${RUNS} random cases`);
  });
  if (!op.backward) continue;
  t.test(`${op.name}: second-order gradgradcheck`, async (t) => {
    const arb = CASES[op.name];
    if (!arb) return t.fail(`no inputs for ${op.name}`);
    const small = arb.filter((c) => size(c) <= 24);
    fc.assert(fc.property(small, (c) => { gradgradcheck(c.fn, c.leaves); }), { numRuns: RUNS, seed: 2 });
    t.pass(`${RUNS} random small cases`);
  });
}

/**
 * Every primitive in ALL_OPS is gradient-checked in float64 against central differences on random
 * shapes (rank 0-4), broadcast pairs, dims/keepdim and non-contiguous origins, then second-order
 * checked (gradgradcheck) on small cases. Each run draws a fresh seed and prints it (VLGRAD_SEED=N
 * replays it); VLGRAD_DEEP=1 runs 100 cases per op and gradgradcheck on inputs up to 200 elements.
 */
import fc from 'fast-check';
import t from 'tap';
import { ALL_OPS, gradcheck, gradgradcheck } from '../../engine/index.js';
import { GRADGRAD_MAX_SIZE, RUNS, seedFor, seedNote } from '../helpers/arb.js';
import { CASES } from './op_cases.js';

const size = (c: { leaves: { size: number }[] }) => c.leaves.reduce((a, x) => a + x.size, 0);

t.comment(seedNote(`all ops, ${RUNS} cases per op, gradgradcheck up to ${GRADGRAD_MAX_SIZE} elements`));

for (const op of ALL_OPS) {
  t.test(`${op.name}: first-order gradcheck`, async (t) => {
    const arb = CASES[op.name];
    t.ok(arb, `op '${op.name}' has test inputs in test/engine/op_cases.ts`);
    if (!arb) return;
    fc.assert(
      fc.property(arb, (c) => {
        gradcheck(c.fn, c.leaves);
      }),
      { numRuns: RUNS, seed: seedFor(`${op.name}:grad`) },
    );
    t.pass(`${RUNS} random cases`);
  });
  if (!op.backward) continue;
  t.test(`${op.name}: second-order gradgradcheck`, async (t) => {
    const arb = CASES[op.name];
    if (!arb) return t.fail(`no inputs for ${op.name}`);
    const small = arb.filter((c) => size(c) <= GRADGRAD_MAX_SIZE);
    fc.assert(
      fc.property(small, (c) => {
        gradgradcheck(c.fn, c.leaves);
      }),
      { numRuns: RUNS, seed: seedFor(`${op.name}:gradgrad`) },
    );
    t.pass(`${RUNS} random small cases`);
  });
}

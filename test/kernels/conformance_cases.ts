/**
 * The op cases of test/engine/op_cases.ts, in a form that can be replayed on any device: the
 * float64 leaves (moved to the device in float32) and the non-differentiable inputs such as index
 * tensors (`consts`, moved too) are explicit, so the case function captures no CPU tensor.
 *
 * Most cases come from CASES unchanged. Those that capture an index tensor (where, gather,
 * scatterAdd, indexSelect, indexAdd) or convert to float64 inside (comparisons, argmax, argmin,
 * cast) are rebuilt here with the same arbitraries, converting to the leaves' dtype instead.
 */
import fc from 'fast-check';
import type { Tensor } from '../../engine/index.js';
import { apply } from '../../engine/apply.js';
import { cast } from '../../engine/ops/unary.js';
import {
  broadcastPairArb,
  indices,
  layoutArb,
  leaf,
  seedArb,
  shapeArb,
  viaLayout,
  type Domain,
} from '../helpers/arb.js';
import { CASES } from '../engine/op_cases.js';

export interface DeviceCase {
  leaves: Tensor[];
  consts: Tensor[];
  fn: (xs: Tensor[], cs: Tensor[]) => Tensor;
  label: string;
}

const plain = (c: { leaves: Tensor[]; fn: (...xs: Tensor[]) => Tensor; label: string }): DeviceCase => ({
  leaves: c.leaves,
  consts: [],
  fn: (xs) => c.fn(...xs),
  label: c.label,
});

function pairCase(run: (a: Tensor, b: Tensor) => Tensor, da: Domain, db: Domain): fc.Arbitrary<DeviceCase> {
  return fc
    .record({ pair: broadcastPairArb(4), seed: seedArb, layout: layoutArb })
    .map(({ pair: [sa, sb], seed, layout }) => {
      const { leaf: a, make } = viaLayout(sa, seed, da, layout);
      return {
        leaves: [a, leaf(sb, seed + 1, db)],
        consts: [],
        fn: ([x, y]) => run(make(x), y),
        label: `${layout} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`,
      };
    });
}

const cmp = (name: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge') =>
  pairCase((a, b) => a[name](b).to(a.dtype).add(a.mul(0)), 'gridA', 'gridA');

function argCase(name: 'argmax' | 'argmin'): fc.Arbitrary<DeviceCase> {
  return fc
    .record({
      shape: shapeArb(0, 4),
      seed: seedArb,
      layout: layoutArb,
      pick: fc.nat(3),
      all: fc.boolean(),
      keep: fc.boolean(),
    })
    .map(({ shape, seed, layout, pick, all, keep }) => {
      const { leaf: x, make } = viaLayout(shape, seed, 'any', layout);
      const dim = all || shape.length === 0 ? undefined : pick % shape.length;
      return {
        leaves: [x],
        consts: [],
        label: `${JSON.stringify(shape)} dim=${dim} keep=${keep}`,
        fn: ([a]) => {
          const v = make(a);
          return v[name](dim, keep).to(v.dtype).add(v.sum().mul(0));
        },
      };
    });
}

/** An index op on a leaf of random shape along a random dim, with m the index length (1-D
 * index ops) and `make` building the case from (shape, dim, m, seed). */
function indexCase(
  make: (shape: number[], d: number, m: number, seed: number) => Omit<DeviceCase, 'label'>,
): fc.Arbitrary<DeviceCase> {
  return fc
    .record({ shape: shapeArb(1, 3, 4), seed: seedArb, dimSeed: fc.nat(), m: fc.integer({ min: 1, max: 5 }) })
    .map(({ shape, seed, dimSeed, m }) => {
      const d = dimSeed % shape.length;
      return { ...make(shape, d, m, seed), label: `${JSON.stringify(shape)} dim ${d} m ${m}` };
    });
}
const longer = (shape: number[], d: number, by: number): number[] => shape.map((n, i) => (i === d ? n + by : n));
const withDim = (shape: number[], d: number, m: number): number[] => shape.map((n, i) => (i === d ? m : n));

const OVERRIDES: Record<string, fc.Arbitrary<DeviceCase>> = {
  eq: cmp('eq'),
  ne: cmp('ne'),
  lt: cmp('lt'),
  le: cmp('le'),
  gt: cmp('gt'),
  ge: cmp('ge'),
  argmax: argCase('argmax'),
  argmin: argCase('argmin'),
  // identity cast, plus a float -> int32 -> float round trip on a detached copy
  cast: fc.record({ shape: shapeArb(0, 4), seed: seedArb }).map(({ shape, seed }) => ({
    leaves: [leaf(shape, seed, 'gridA')],
    consts: [],
    label: JSON.stringify(shape),
    fn: ([x]) => apply(cast, [x], { dtype: x.dtype }).add(x.detach().mul(7).to('int32').to(x.dtype)),
  })),
  where: fc.record({ pair: broadcastPairArb(3), seed: seedArb }).map(({ pair: [sa, sb], seed }) => {
    const c = indices(sa.length >= sb.length ? sb : sa, 2, seed + 2);
    return {
      leaves: [leaf(sa, seed), leaf(sb, seed + 1)],
      consts: [c],
      fn: ([x, y], [k]) => x.where(k, y),
      label: `${JSON.stringify(sa)} ${JSON.stringify(sb)}`,
    };
  }),
  gather: indexCase((shape, d, _m, seed) => ({
    leaves: [leaf(shape, seed)],
    consts: [indices(longer(shape, d, 1), shape[d], seed + 1)],
    fn: ([x], [i]) => x.gather(d, i),
  })),
  scatterAdd: indexCase((shape, d, _m, seed) => ({
    leaves: [leaf(shape, seed), leaf(longer(shape, d, 1), seed + 1)],
    consts: [indices(longer(shape, d, 1), shape[d], seed + 2)],
    fn: ([x, s], [i]) => x.scatterAdd(d, i, s),
  })),
  indexSelect: indexCase((shape, d, m, seed) => ({
    leaves: [leaf(shape, seed)],
    consts: [indices([m], shape[d], seed + 1)],
    fn: ([x], [i]) => x.indexSelect(d, i),
  })),
  indexAdd: indexCase((shape, d, m, seed) => ({
    leaves: [leaf(shape, seed), leaf(withDim(shape, d, m), seed + 2)],
    consts: [indices([m], shape[d], seed + 1)],
    fn: ([x, s], [i]) => x.indexAdd(d, i, s),
  })),
};

/** Replayable cases for op `name` (undefined when op_cases.ts has none). */
export function deviceCases(name: string): fc.Arbitrary<DeviceCase> | undefined {
  return OVERRIDES[name] ?? CASES[name]?.map(plain);
}

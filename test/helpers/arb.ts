/**
 * fast-check arbitraries for op tests: shapes (rank 0-4, dims 1-5), broadcast-compatible shape
 * pairs, and float64 leaf tensors whose values come from a seeded Rng (so shrinking works on the
 * shape and the seed). `Layout` makes the tested input non-contiguous in origin: the leaf that
 * gradcheck perturbs is transposed, sliced with a step, or expanded before the op sees it.
 */
import fc from 'fast-check';
import { Rng, tensor, type Tensor } from '../../engine/index.js';
import { DEEP } from './deep.js';

export { seedFor, seedNote } from './deep.js';

/** Cases per op: 6 by default, 100 under VLGRAD_DEEP=1; VLGRAD_PROP_RUNS=N sets it outright. */
export const RUNS = Number(process.env.VLGRAD_PROP_RUNS ?? (DEEP ? 100 : 6));
/** Largest input (elements over all leaves) that gradgradcheck runs on: 24, or 200 in deep mode. */
export const GRADGRAD_MAX_SIZE = DEEP ? 200 : 24;

export type Domain = 'any' | 'positive' | 'nonzero' | 'gridA' | 'gridB' | 'unit';
export type Layout = 'plain' | 'transposed' | 'sliced' | 'expanded';

export function shapeArb(minRank = 0, maxRank = 4, maxDim = 5): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: minRank, maxLength: maxRank });
}

/** Two shapes that broadcast: each drops some leading dims and sets some dims to 1. */
export function broadcastPairArb(maxRank = 4, maxDim = 4): fc.Arbitrary<[number[], number[]]> {
  return fc
    .record({
      out: shapeArb(0, maxRank, maxDim),
      dropA: fc.nat(4),
      dropB: fc.nat(4),
      onesA: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
      onesB: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
    })
    .map(({ out, dropA, dropB, onesA, onesB }) => {
      const derive = (drop: number, ones: boolean[]) =>
        out.slice(Math.min(drop, out.length)).map((n, i) => (ones[i] ? 1 : n));
      return [derive(dropA, onesA), derive(dropB, onesB)];
    });
}

/** Values for a domain; grids keep kinks (abs, relu, clamp, max) at least 0.03 away. */
export function values(n: number, seed: number, domain: Domain): Float64Array {
  const r = new Rng(seed);
  return Float64Array.from({ length: n }, () => {
    switch (domain) {
      case 'any':
        return r.uniform() * 4 - 2;
      case 'unit':
        return r.uniform() * 1.6 - 0.8;
      case 'positive':
        return 0.5 + r.uniform() * 1.5;
      case 'nonzero':
        return (r.uniform() < 0.5 ? -1 : 1) * (0.5 + r.uniform() * 1.5);
      case 'gridA':
        return r.int(-8, 8) * 0.2 + 0.03 + r.uniform() * 0.02;
      case 'gridB':
        return r.int(-8, 8) * 0.2 + 0.13 + r.uniform() * 0.02;
    }
  });
}

/** A float64 leaf requiring grad. */
export function leaf(shape: readonly number[], seed: number, domain: Domain = 'any'): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tensor(values(n, seed, domain), { shape, dtype: 'float64', requiresGrad: true });
}

/** An input of `shape` reached from a leaf through `layout`; returns the leaf (for gradcheck) and
 * a function producing the input from it. */
export function viaLayout(
  shape: readonly number[],
  seed: number,
  domain: Domain,
  layout: Layout,
): { leaf: Tensor; make: (x: Tensor) => Tensor } {
  const nd = shape.length;
  if (layout === 'transposed' && nd >= 2) {
    const s = [...shape];
    [s[nd - 2], s[nd - 1]] = [s[nd - 1], s[nd - 2]];
    return { leaf: leaf(s, seed, domain), make: (x) => x.mT() };
  }
  if (layout === 'sliced' && nd >= 1) {
    const s = [...shape];
    s[0] = s[0] * 2;
    return { leaf: leaf(s, seed, domain), make: (x) => x.slice([[1, undefined, 2]]) };
  }
  if (layout === 'expanded' && nd >= 1) {
    const s = [...shape];
    s[0] = 1;
    return { leaf: leaf(s, seed, domain), make: (x) => x.expand(shape) };
  }
  return { leaf: leaf(shape, seed, domain), make: (x) => x };
}

export const layoutArb: fc.Arbitrary<Layout> = fc.constantFrom('plain', 'transposed', 'sliced', 'expanded');
export const seedArb = fc.integer({ min: 0, max: 1 << 30 });

/** Random int32 indices in [0, n) of `shape`. */
export function indices(shape: readonly number[], n: number, seed: number): Tensor {
  const r = new Rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tensor(
    Int32Array.from({ length: size }, () => r.int(0, n)),
    { shape },
  );
}

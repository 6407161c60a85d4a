/**
 * Test inputs for every primitive in ALL_OPS, keyed by op name. all_ops.test.ts fails for an op
 * that has no entry here. A case is the float64 leaves that gradcheck perturbs and a function that
 * reaches the op from them (through a random layout: transposed, sliced, expanded inputs).
 */
import fc from 'fast-check';
import {
  concat,
  layerNorm,
  matmul,
  multiHeadSdpa,
  Rng,
  scaledDotProductAttention,
  type Tensor,
} from '../../engine/index.js';
import { apply } from '../../engine/apply.js';
import { cast } from '../../engine/ops/unary.js';
import { geluBackward, geluGrad, layerNormBackward } from '../../engine/ops/fused.js';
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

export interface Case {
  leaves: Tensor[];
  fn: (...xs: Tensor[]) => Tensor;
  label: string;
}

/** A unary op on one input of random shape and layout. */
function unaryCase(run: (x: Tensor) => Tensor, domain: Domain = 'any', maxRank = 4): fc.Arbitrary<Case> {
  return fc.record({ shape: shapeArb(0, maxRank), seed: seedArb, layout: layoutArb }).map(({ shape, seed, layout }) => {
    const { leaf: x, make } = viaLayout(shape, seed, domain, layout);
    return { leaves: [x], fn: (a) => run(make(a)), label: `${layout} ${JSON.stringify(shape)}` };
  });
}

/** A binary op on a broadcast pair; the first operand also goes through a random layout. */
function binaryCase(
  run: (a: Tensor, b: Tensor) => Tensor,
  da: Domain = 'any',
  db: Domain = 'any',
  maxRank = 4,
): fc.Arbitrary<Case> {
  return fc
    .record({ pair: broadcastPairArb(maxRank), seed: seedArb, layout: layoutArb })
    .map(({ pair: [sa, sb], seed, layout }) => {
      const { leaf: a, make } = viaLayout(sa, seed, da, layout);
      const b = leaf(sb, seed + 1, db);
      return {
        leaves: [a, b],
        fn: (x, y) => run(make(x), y),
        label: `${layout} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`,
      };
    });
}

/** A random subset of dims (or undefined = all) and keepdim. */
function reduceCase(
  run: (x: Tensor, dims: number[] | undefined, keep: boolean) => Tensor,
  maxRank = 4,
): fc.Arbitrary<Case> {
  return fc
    .record({
      shape: shapeArb(0, maxRank),
      seed: seedArb,
      layout: layoutArb,
      pick: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
      all: fc.boolean(),
      keep: fc.boolean(),
    })
    .map(({ shape, seed, layout, pick, all, keep }) => {
      const { leaf: x, make } = viaLayout(shape, seed, 'any', layout);
      const dims = all
        ? undefined
        : shape
            .map((_, d) => d)
            .filter((d) => pick[d])
            .map((d) => (d % 2 ? d - shape.length : d));
      return {
        leaves: [x],
        fn: (a) => run(make(a), dims, keep),
        label: `${JSON.stringify(shape)} dims=${JSON.stringify(dims)} keep=${keep}`,
      };
    });
}

const cmp = (name: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge') =>
  binaryCase((a, b) => a[name](b).to('float64').add(a.mul(0)), 'gridA', 'gridA');

export const CASES: Record<string, fc.Arbitrary<Case>> = {
  neg: unaryCase((x) => x.neg()),
  exp: unaryCase((x) => x.exp()),
  expm1: unaryCase((x) => x.expm1()),
  log: unaryCase((x) => x.log(), 'positive'),
  log1p: unaryCase((x) => x.log1p(), 'unit'),
  sqrt: unaryCase((x) => x.sqrt(), 'positive'),
  rsqrt: unaryCase((x) => x.rsqrt(), 'positive'),
  abs: unaryCase((x) => x.abs(), 'gridA'),
  sign: unaryCase((x) => x.sign().mul(x), 'gridA'),
  tanh: unaryCase((x) => x.tanh()),
  sigmoid: unaryCase((x) => x.sigmoid()),
  relu: unaryCase((x) => x.relu(), 'gridA'),
  sin: unaryCase((x) => x.sin()),
  cos: unaryCase((x) => x.cos()),
  erf: unaryCase((x) => x.erf()),
  clamp: unaryCase((x) => x.clamp(-0.8, 0.8), 'gridB'),
  cast: unaryCase((x) => apply(cast, [x], { dtype: 'float64' })),
  gelu: fc.boolean().chain((tanh) => unaryCase((x) => x.gelu(tanh ? 'tanh' : 'none'))),
  geluGrad: fc
    .boolean()
    .chain((tanh) => unaryCase((x) => apply(geluGrad, [x], { approximate: tanh ? 'tanh' : 'none' }))),
  geluBackward: fc
    .record({ shape: shapeArb(0, 3), seed: seedArb, layout: layoutArb, tanh: fc.boolean() })
    .map(({ shape, seed, layout, tanh }) => {
      const { leaf: x, make } = viaLayout(shape, seed, 'any', layout);
      return {
        leaves: [leaf(shape, seed + 1), x],
        fn: (g, a) => apply(geluBackward, [g, make(a)], { approximate: tanh ? 'tanh' : 'none' }),
        label: `${layout} ${JSON.stringify(shape)} ${tanh ? 'tanh' : 'erf'}`,
      };
    }),
  softmax: unaryCase((x) => x.softmax(-1)),
  logSoftmax: unaryCase((x) => x.logSoftmax(-1)),
  layerNorm: fc.record({ shape: shapeArb(1, 3), seed: seedArb, layout: layoutArb }).map(({ shape, seed, layout }) => {
    const { leaf: x, make } = viaLayout(shape, seed, 'any', layout);
    const n = shape[shape.length - 1];
    return {
      leaves: [x, leaf([n], seed + 1), leaf([n], seed + 2)],
      fn: (a, w, b) => layerNorm(make(a), [n], w, b),
      label: `${layout} ${JSON.stringify(shape)}`,
    };
  }),
  layerNormBackward: fc
    .record({
      rows: fc.integer({ min: 1, max: 4 }),
      n: fc.integer({ min: 1, max: 5 }),
      seed: seedArb,
      layout: layoutArb,
    })
    .map(({ rows, n, seed, layout }) => {
      const { leaf: x, make } = viaLayout([rows, n], seed, 'any', layout);
      return {
        leaves: [leaf([rows, n], seed + 1), x, leaf([n], seed + 2)],
        fn: (g, a, w) => apply(layerNormBackward, [g, make(a), w], { eps: 1e-5 }),
        label: `${layout} [${rows}, ${n}]`,
      };
    }),
  // q through a random layout; masks: none, a padding mask [1, S], a full [..., T, S], or both;
  // dropout draws its keep-mask from a fresh seeded generator per call (same mask every call).
  scaledDotProductAttention: fc
    .record({
      batch: shapeArb(0, 2, 3),
      dims: fc.tuple(...[4, 4, 4, 3].map((max) => fc.integer({ min: 1, max }))),
      seed: seedArb,
      layout: layoutArb,
      masks: fc.constantFrom('none', 'pad', 'full', 'both'),
      drop: fc.boolean(),
    })
    .map(({ batch, dims: [T, S, D, Dv], seed, layout, masks, drop }) => {
      const { leaf: q, make } = viaLayout([...batch, T, D], seed, 'any', layout);
      const shapes = {
        none: [],
        pad: [[1, S]],
        full: [[...batch, T, S]],
        both: [
          [...batch, T, S],
          [1, S],
        ],
      }[masks];
      return {
        leaves: [q, leaf([...batch, S, D], seed + 1), leaf([...batch, S, Dv], seed + 2)].concat(
          shapes.map((m, i) => leaf(m, seed + 3 + i)),
        ),
        fn: (a, k, v, ...m) =>
          scaledDotProductAttention(make(a), k, v, { mask: m, dropout: drop ? 0.3 : 0, rng: new Rng(seed) }),
        label: `${layout} q ${JSON.stringify([...batch, T, D])} S ${S} Dv ${Dv} masks ${masks}${drop ? ' dropout' : ''}`,
      };
    }),
  // Packed qkv [B, T, 3HD] or q [B, T, HD], k [B, S, HD], v [B, S, HDv]; the first source
  // through a random layout; masks: none, padding [B, 1, 1, S], relative [H, T, S], or both.
  multiHeadSdpa: fc
    .record({
      dims: fc.tuple(...[2, 4, 4, 3, 3, 3].map((max) => fc.integer({ min: 1, max }))),
      packed: fc.boolean(),
      seed: seedArb,
      layout: layoutArb,
      masks: fc.constantFrom('none', 'pad', 'rel', 'both'),
      drop: fc.boolean(),
    })
    .map(({ dims: [B, T, S0, H, D, Dv0], packed, seed, layout, masks, drop }) => {
      const [S, Dv] = packed ? [T, D] : [S0, Dv0];
      const first = packed ? [B, T, 3 * H * D] : [B, T, H * D];
      const { leaf: q, make } = viaLayout(first, seed, 'any', layout);
      const rest = packed ? [] : [leaf([B, S, H * D], seed + 1), leaf([B, S, H * Dv], seed + 2)];
      const shapes = {
        none: [],
        pad: [[B, 1, 1, S]],
        rel: [[H, T, S]],
        both: [
          [H, T, S],
          [B, 1, 1, S],
        ],
      }[masks];
      const ms = shapes.map((m, i) => leaf(m, seed + 3 + i));
      const n = rest.length + 1;
      return {
        leaves: [q, ...rest, ...ms],
        fn: (a, ...xs) => {
          const src = packed ? make(a) : ([make(a), xs[0], xs[1]] as [Tensor, Tensor, Tensor]);
          return multiHeadSdpa(src, { heads: H, mask: xs.slice(n - 1), dropout: drop ? 0.3 : 0, rng: new Rng(seed) });
        },
        label: `${layout} ${packed ? 'qkv' : 'q'} ${JSON.stringify(first)} H ${H} S ${S} Dv ${Dv} masks ${masks}${drop ? ' dropout' : ''}`,
      };
    }),
  add: binaryCase((a, b) => a.add(b)),
  sub: binaryCase((a, b) => a.sub(b)),
  mul: binaryCase((a, b) => a.mul(b)),
  div: binaryCase((a, b) => a.div(b), 'any', 'nonzero'),
  pow: binaryCase((a, b) => a.pow(b), 'positive', 'any'),
  maximum: binaryCase((a, b) => a.maximum(b), 'gridA', 'gridB'),
  minimum: binaryCase((a, b) => a.minimum(b), 'gridA', 'gridB'),
  eq: cmp('eq'),
  ne: cmp('ne'),
  lt: cmp('lt'),
  le: cmp('le'),
  gt: cmp('gt'),
  ge: cmp('ge'),
  where: fc.record({ pair: broadcastPairArb(3), seed: seedArb }).map(({ pair: [sa, sb], seed }) => {
    const a = leaf(sa, seed),
      b = leaf(sb, seed + 1);
    const c = indices(sa.length >= sb.length ? sb : sa, 2, seed + 2);
    return { leaves: [a, b], fn: (x, y) => x.where(c, y), label: `${JSON.stringify(sa)} ${JSON.stringify(sb)}` };
  }),
  sum: reduceCase((x, d, k) => x.sum(d, k)),
  amax: reduceCase((x, d, k) => x.amax(d, k)),
  argmax: reduceCase((x, d, k) => x.argmax(d?.[0], k).to('float64').add(x.sum().mul(0))),
  argmin: reduceCase((x, d, k) => x.argmin(d?.[0], k).to('float64').add(x.sum().mul(0))),
  reshape: unaryCase((x) => x.reshape([-1]).reshape(x.shape.length > 1 ? [x.shape[0], -1] : [-1])),
  permute: fc
    .record({ shape: shapeArb(1, 4), seed: seedArb, perm: fc.integer({ min: 0, max: 23 }) })
    .map(({ shape, seed, perm }) => {
      const dims = shape.map((_, i) => i);
      for (let i = dims.length - 1, p = perm; i > 0; i--, p = Math.floor(p / 2)) {
        const j = p % (i + 1);
        [dims[i], dims[j]] = [dims[j], dims[i]];
      }
      return { leaves: [leaf(shape, seed)], fn: (x) => x.permute(dims), label: `${JSON.stringify(shape)} ${dims}` };
    }),
  expand: fc
    .record({ shape: shapeArb(0, 3), seed: seedArb, lead: fc.integer({ min: 1, max: 3 }) })
    .map(({ shape, seed, lead }) => {
      const small = shape.map((n, i) => (i % 2 ? 1 : n));
      return {
        leaves: [leaf(small, seed)],
        fn: (x) => x.expand([lead, ...shape]),
        label: `${JSON.stringify(small)} -> ${lead},${shape}`,
      };
    }),
  slice: fc
    .record({
      shape: shapeArb(1, 4),
      seed: seedArb,
      a: fc.nat(4),
      b: fc.integer({ min: -3, max: 5 }),
      step: fc.integer({ min: 1, max: 3 }),
    })
    .map(({ shape, seed, a, b, step }) => ({
      leaves: [leaf(shape, seed)],
      fn: (x) =>
        x.slice(
          shape.map((n) => [Math.min(a, n - 1), b <= 0 ? b || undefined : Math.max(b, Math.min(a, n - 1) + 1), step]),
        ),
      label: `${JSON.stringify(shape)} [${a}:${b}:${step}]`,
    })),
  sliceAssign: fc
    .record({ shape: shapeArb(1, 3), seed: seedArb, step: fc.integer({ min: 1, max: 2 }) })
    .map(({ shape, seed, step }) => {
      const specs = shape.map((n) => [0, n, step] as const);
      const region = specs.map(([s, e, st]) => Math.ceil((e - s) / st));
      return {
        leaves: [leaf(shape, seed), leaf(region, seed + 1)],
        fn: (x, y) => x.sliceAssign(y, specs),
        label: `${JSON.stringify(shape)} step ${step}`,
      };
    }),
  concat: fc
    .record({ shape: shapeArb(1, 3), seed: seedArb, dimSeed: fc.nat(), k: fc.integer({ min: 2, max: 3 }) })
    .map(({ shape, seed, dimSeed, k }) => {
      const d = dimSeed % shape.length;
      const leaves = Array.from({ length: k }, (_, i) =>
        leaf(
          shape.map((n, j) => (j === d ? i + 1 : n)),
          seed + i,
        ),
      );
      return { leaves, fn: (...xs) => concat(xs, d), label: `${k} x ${JSON.stringify(shape)} dim ${d}` };
    }),
  matmul: fc
    .record({
      pair: broadcastPairArb(2, 3),
      m: fc.integer({ min: 1, max: 4 }),
      k: fc.integer({ min: 1, max: 4 }),
      n: fc.integer({ min: 1, max: 4 }),
      seed: seedArb,
      layout: layoutArb,
      ta: fc.boolean(),
      tb: fc.boolean(),
    })
    .map(({ pair: [ba, bb], m, k, n, seed, layout, ta, tb }) => {
      // transA / transB: the operand is stored transposed ([k, m] / [n, k]) and read in place.
      const { leaf: a, make } = viaLayout([...ba, ...(ta ? [k, m] : [m, k])], seed, 'any', layout);
      const b = leaf([...bb, ...(tb ? [n, k] : [k, n])], seed + 1);
      return {
        leaves: [a, b],
        fn: (x, y) => matmul(make(x), y, { transA: ta, transB: tb }),
        label: `${layout} [${ba},${m},${k}]${ta ? 'ᵀ-stored' : ''} @ [${bb},${k},${n}]${tb ? 'ᵀ-stored' : ''}`,
      };
    }),
  gather: fc.record({ shape: shapeArb(1, 3, 4), seed: seedArb, dimSeed: fc.nat() }).map(({ shape, seed, dimSeed }) => {
    const d = dimSeed % shape.length;
    const idx = indices(
      shape.map((n, i) => (i === d ? n + 1 : n)),
      shape[d],
      seed + 1,
    );
    return { leaves: [leaf(shape, seed)], fn: (x) => x.gather(d, idx), label: `${JSON.stringify(shape)} dim ${d}` };
  }),
  scatterAdd: fc
    .record({ shape: shapeArb(1, 3, 4), seed: seedArb, dimSeed: fc.nat() })
    .map(({ shape, seed, dimSeed }) => {
      const d = dimSeed % shape.length;
      const srcShape = shape.map((n, i) => (i === d ? n + 1 : n));
      const idx = indices(srcShape, shape[d], seed + 2);
      return {
        leaves: [leaf(shape, seed), leaf(srcShape, seed + 1)],
        fn: (x, s) => x.scatterAdd(d, idx, s),
        label: `${JSON.stringify(shape)} dim ${d}`,
      };
    }),
  indexSelect: fc
    .record({ shape: shapeArb(1, 3, 4), seed: seedArb, dimSeed: fc.nat(), m: fc.integer({ min: 1, max: 5 }) })
    .map(({ shape, seed, dimSeed, m }) => {
      const d = dimSeed % shape.length;
      const idx = indices([m], shape[d], seed + 1);
      return {
        leaves: [leaf(shape, seed)],
        fn: (x) => x.indexSelect(d, idx),
        label: `${JSON.stringify(shape)} dim ${d} m ${m}`,
      };
    }),
  indexAdd: fc
    .record({ shape: shapeArb(1, 3, 4), seed: seedArb, dimSeed: fc.nat(), m: fc.integer({ min: 1, max: 5 }) })
    .map(({ shape, seed, dimSeed, m }) => {
      const d = dimSeed % shape.length;
      const idx = indices([m], shape[d], seed + 1);
      const src = leaf(
        shape.map((n, i) => (i === d ? m : n)),
        seed + 2,
      );
      return {
        leaves: [leaf(shape, seed), src],
        fn: (x, s) => x.indexAdd(d, idx, s),
        label: `${JSON.stringify(shape)} dim ${d} m ${m}`,
      };
    }),
};

/**
 * Elementwise binary primitives with broadcasting, comparisons and `where`. `binaryOp` sums each
 * gradient back to its input's shape ("sum in reverse" of broadcasting), once, here.
 */
import type { ArithOp, DType, ScalarFn2, ScalarFn3 } from '../../kernels/backend.js';
import { defineOp, type OpDef, type Saved } from '../op.js';
import { broadcastShapes, broadcastView, promote } from '../shape.js';
import type { Tensor } from '../tensor.js';

interface BinarySpec {
  name: string;
  scalar: ScalarFn2;
  /** Where the backend's optional `arith` kernel computes the same op (add, sub, mul, div). */
  arith?: ArithOp;
  /** 'promote': PyTorch's rule; 'float': int inputs give float32 (div); 'int32': comparisons. */
  result?: 'promote' | 'float' | 'int32';
  grad?: (g: Tensor, saved: Saved<Record<string, never>>) => [Tensor | null, Tensor | null];
}

function resultDType(a: DType, b: DType, rule: BinarySpec['result']): DType {
  if (rule === 'int32') return 'int32';
  const d = promote(a, b);
  return rule === 'float' && d === 'int32' ? 'float32' : d;
}

/** Builds a broadcasting binary OpDef. */
export function binaryOp(spec: BinarySpec): OpDef {
  const grad = spec.grad;
  return defineOp({
    name: spec.name,
    shape: ([a, b]) => ({
      shape: broadcastShapes(spec.name, a.shape, b.shape),
      dtype: resultDType(a.dtype, b.dtype, spec.result ?? 'promote'),
    }),
    forward: (be, [a, b], out) => {
      const av = broadcastView(a.shape, out.shape),
        bv = broadcastView(b.shape, out.shape);
      const fast = spec.arith && be.arith?.(spec.arith, a.raw, av, b.raw, bv, out.dtype);
      return fast || be.binary(spec.scalar, a.raw, av, b.raw, bv, out.dtype);
    },
    backward:
      grad &&
      ((g, saved) => {
        const gs = grad(g, saved);
        return gs.map((gi, i) => (gi && saved.needs[i] ? gi.sumTo(saved.inputs[i].shape) : null));
      }),
  });
}

export const add = binaryOp({
  name: 'add',
  arith: 'add',
  scalar: function add(a: number, b: number): number {
    return a + b;
  },
  grad: (g) => [g, g],
});

export const sub = binaryOp({
  name: 'sub',
  arith: 'sub',
  scalar: function sub(a: number, b: number): number {
    return a - b;
  },
  grad: (g) => [g, g.neg()],
});

export const mul = binaryOp({
  name: 'mul',
  arith: 'mul',
  scalar: function mul(a: number, b: number): number {
    return a * b;
  },
  grad: (g, { inputs: [a, b], needs }) => [needs[0] ? g.mul(b) : null, needs[1] ? g.mul(a) : null],
});

/** a / b; d/da = 1/b, d/db = -a/b^2. */
export const div = binaryOp({
  name: 'div',
  arith: 'div',
  result: 'float',
  scalar: function div(a: number, b: number): number {
    return a / b;
  },
  grad: (g, { inputs: [a, b], needs }) => [needs[0] ? g.div(b) : null, needs[1] ? g.mul(a).div(b.mul(b)).neg() : null],
});

/** a^b; d/da = b a^(b-1), d/db = a^b ln a (only computed when b needs a gradient). At the singular
 * points PyTorch's convention holds: d/da = 0 where b = 0, and d/db = 0 where a = 0 and b >= 0. */
export const pow = binaryOp({
  name: 'pow',
  scalar: function pow(a: number, b: number): number {
    return Math.pow(a, b);
  },
  grad: (g, { inputs: [a, b], out, needs }) => [
    needs[0]
      ? g
          .mul(b)
          .mul(a.pow(b.sub(1)))
          .where(b.ne(0), 0)
      : null,
    needs[1]
      ? g
          .mul(out)
          .mul(a.log())
          .where(a.ne(0).add(b.lt(0)), 0)
      : null,
  ],
});

/** Elementwise max; at ties the gradient is split in half (PyTorch's rule). */
export const maximum = binaryOp({
  name: 'maximum',
  scalar: function maximum(a: number, b: number): number {
    return a > b || a !== a ? a : b;
  },
  grad: (g, { inputs: [a, b] }) => {
    const share = a.gt(b).add(a.eq(b).mul(0.5));
    return [g.mul(share), g.mul(share.neg().add(1))];
  },
});

export const minimum = binaryOp({
  name: 'minimum',
  scalar: function minimum(a: number, b: number): number {
    return a < b || a !== a ? a : b;
  },
  grad: (g, { inputs: [a, b] }) => {
    const share = a.lt(b).add(a.eq(b).mul(0.5));
    return [g.mul(share), g.mul(share.neg().add(1))];
  },
});

// Comparisons return int32 0/1 masks and have no gradient.
export const eq = binaryOp({
  name: 'eq',
  result: 'int32',
  scalar: function eq(a: number, b: number): number {
    return a === b ? 1 : 0;
  },
});
export const ne = binaryOp({
  name: 'ne',
  result: 'int32',
  scalar: function ne(a: number, b: number): number {
    return a !== b ? 1 : 0;
  },
});
export const lt = binaryOp({
  name: 'lt',
  result: 'int32',
  scalar: function lt(a: number, b: number): number {
    return a < b ? 1 : 0;
  },
});
export const le = binaryOp({
  name: 'le',
  result: 'int32',
  scalar: function le(a: number, b: number): number {
    return a <= b ? 1 : 0;
  },
});
export const gt = binaryOp({
  name: 'gt',
  result: 'int32',
  scalar: function gt(a: number, b: number): number {
    return a > b ? 1 : 0;
  },
});
export const ge = binaryOp({
  name: 'ge',
  result: 'int32',
  scalar: function ge(a: number, b: number): number {
    return a >= b ? 1 : 0;
  },
});

/** where(cond, a, b): a where cond != 0, else b. Gradient flows to the branch that was taken. */
export const where = defineOp({
  name: 'where',
  shape: ([c, a, b]) => ({
    shape: broadcastShapes('where', c.shape, a.shape, b.shape),
    dtype: promote(a.dtype, b.dtype),
  }),
  forward: (be, [c, a, b], out) =>
    be.ternary(
      select as ScalarFn3,
      c.raw,
      broadcastView(c.shape, out.shape),
      a.raw,
      broadcastView(a.shape, out.shape),
      b.raw,
      broadcastView(b.shape, out.shape),
      out.dtype,
    ),
  backward: (g, { inputs: [c, a, b], needs }) => [
    null,
    needs[1] ? g.where(c, 0).sumTo(a.shape) : null,
    needs[2] ? g.where(c.eq(0), 0).sumTo(b.shape) : null,
  ],
});

function select(c: number, a: number, b: number): number {
  return c !== 0 ? a : b;
}

export const BINARY_OPS = [add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge, where] as const;

/**
 * Elementwise unary primitives. Each entry is a named scalar function (the CPU loop and the gpu.js
 * kernel both compile it) and a one-line gradient. Adding a unary op means adding one entry here.
 */
import type { DType, ScalarFn1 } from '../../kernels/backend.js';
import { defineOp, type NoAttrs, type OpDef, type Saved } from '../op.js';
import { checkValues } from '../host_values.js';
import { checkDType, checkInt32, fmt, fullView } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { erf as erfScalar, erf32 } from './scalar_math.js';

interface UnarySpec<A> {
  name: string;
  /** The scalar function, or a function of the attrs that returns one (e.g. clamp's bounds). */
  scalar: ScalarFn1 | ((attrs: A) => ScalarFn1);
  /** int32 in -> int32 out (neg, abs, sign, relu, clamp); otherwise int32 inputs give float32. */
  keepsInt?: boolean;
  grad?: (g: Tensor, saved: Saved<A>) => Tensor;
  /** True when `scalar` is a factory taking the attrs. */
  parametric?: boolean;
  /** A cheaper scalar function accurate to float32 rounding, used when the result is float32
   * (erf and GELU: float64 needs a ~40-term series, float32 a short rational fit). */
  scalar32?: UnarySpec<A>['scalar'];
}

/** Builds a unary OpDef from a scalar function and its gradient. */
export function unaryOp<A = NoAttrs>(spec: UnarySpec<A>): OpDef<A> {
  const fnCache = new Map<string, ScalarFn1>();
  const scalarFor = (attrs: A, dtype: DType): ScalarFn1 => {
    const scalar = dtype === 'float32' && spec.scalar32 ? spec.scalar32 : spec.scalar;
    if (!spec.parametric) return scalar as ScalarFn1;
    const key = `${dtype === 'float32' && spec.scalar32 ? 32 : 64}${JSON.stringify(attrs)}`;
    let f = fnCache.get(key);
    if (!f) {
      f = (scalar as (a: A) => ScalarFn1)(attrs);
      fnCache.set(key, f);
    }
    return f;
  };
  const grad = spec.grad;
  return defineOp<A>({
    name: spec.name,
    shape: ([x]) => ({ shape: x.shape, dtype: x.dtype === 'int32' && !spec.keepsInt ? 'float32' : (x.dtype as DType) }),
    forward: (be, [x], out, attrs) => be.unary(scalarFor(attrs, out.dtype), x.raw, fullView(x.shape), out.dtype),
    backward: grad && ((g, saved) => [grad(g, saved)]),
  });
}

export const neg = unaryOp<NoAttrs>({
  name: 'neg',
  keepsInt: true,
  scalar: function neg(x: number): number {
    return -x;
  },
  grad: (g) => g.neg(),
});

/** e^x; d/dx e^x = e^x, so the gradient reuses the output. */
export const exp = unaryOp<NoAttrs>({
  name: 'exp',
  scalar: function exp(x: number): number {
    return Math.exp(x);
  },
  grad: (g, { out }) => g.mul(out),
});

/** e^x − 1, accurate near 0 where exp(x) − 1 cancels; d/dx = e^x = out + 1, from the output. */
export const expm1 = unaryOp<NoAttrs>({
  name: 'expm1',
  scalar: function expm1(x: number): number {
    return Math.expm1(x);
  },
  grad: (g, { out }) => g.mul(out.add(1)),
});

export const log = unaryOp<NoAttrs>({
  name: 'log',
  scalar: function log(x: number): number {
    return Math.log(x);
  },
  grad: (g, { inputs: [x] }) => g.div(x),
});

export const log1p = unaryOp<NoAttrs>({
  name: 'log1p',
  scalar: function log1p(x: number): number {
    return Math.log1p(x);
  },
  grad: (g, { inputs: [x] }) => g.div(x.add(1)),
});

/** d/dx sqrt(x) = 1 / (2 sqrt(x)). */
export const sqrt = unaryOp<NoAttrs>({
  name: 'sqrt',
  scalar: function sqrt(x: number): number {
    return Math.sqrt(x);
  },
  grad: (g, { out }) => g.div(out.mul(2)),
});

/** x^(-1/2); d/dx = -1/2 x^(-3/2) = -1/2 out^3. */
export const rsqrt = unaryOp<NoAttrs>({
  name: 'rsqrt',
  scalar: function rsqrt(x: number): number {
    return 1 / Math.sqrt(x);
  },
  grad: (g, { out }) => g.mul(out.pow(3)).mul(-0.5),
});

export const abs = unaryOp<NoAttrs>({
  name: 'abs',
  keepsInt: true,
  scalar: function abs(x: number): number {
    return Math.abs(x);
  },
  grad: (g, { inputs: [x] }) => g.mul(x.sign()),
});

/** sign(x) in {-1, 0, 1}; its derivative is 0 almost everywhere. */
export const sign = unaryOp<NoAttrs>({
  name: 'sign',
  keepsInt: true,
  scalar: function sign(x: number): number {
    return x > 0 ? 1 : x < 0 ? -1 : x;
  },
  grad: (g) => g.mul(0),
});

/** d/dx tanh = 1 - tanh^2. */
export const tanh = unaryOp<NoAttrs>({
  name: 'tanh',
  scalar: function tanh(x: number): number {
    return Math.tanh(x);
  },
  grad: (g, { out }) => g.mul(out.mul(out).neg().add(1)),
});

/** 1 / (1 + e^-x), computed without overflow; d/dx = s (1 - s). */
export const sigmoid = unaryOp<NoAttrs>({
  name: 'sigmoid',
  scalar: function sigmoid(x: number): number {
    if (x >= 0) return 1 / (1 + Math.exp(-x));
    const e = Math.exp(x);
    return e / (1 + e);
  },
  grad: (g, { out }) => g.mul(out.mul(out.neg().add(1))),
});

export const relu = unaryOp<NoAttrs>({
  name: 'relu',
  keepsInt: true,
  scalar: function relu(x: number): number {
    return x > 0 ? x : 0;
  },
  grad: (g, { inputs: [x] }) => g.mul(x.gt(0)),
});

export const sin = unaryOp<NoAttrs>({
  name: 'sin',
  scalar: function sin(x: number): number {
    return Math.sin(x);
  },
  grad: (g, { inputs: [x] }) => g.mul(x.cos()),
});

export const cos = unaryOp<NoAttrs>({
  name: 'cos',
  scalar: function cos(x: number): number {
    return Math.cos(x);
  },
  grad: (g, { inputs: [x] }) => g.mul(x.sin()).neg(),
});

/** The error function; d/dx erf = 2/sqrt(pi) e^(-x^2). */
export const erf = unaryOp<NoAttrs>({
  name: 'erf',
  scalar: erfScalar,
  scalar32: erf32,
  grad: (g, { inputs: [x] }) => g.mul(x.mul(x).neg().exp()).mul(2 / Math.sqrt(Math.PI)),
});

export interface ClampAttrs {
  min: number;
  max: number;
}

/** min(max(x, lo), hi); the gradient passes where lo <= x <= hi (PyTorch's rule). */
export const clamp = unaryOp<ClampAttrs>({
  name: 'clamp',
  keepsInt: true,
  parametric: true,
  scalar: ({ min, max }: ClampAttrs) =>
    new Function('x', `return x < ${min} ? ${min} : x > ${max} ? ${max} : x;`) as ScalarFn1,
  grad: (g, { inputs: [x], attrs }) => g.mul(x.ge(attrs.min).mul(x.le(attrs.max))),
});

/** Converts dtype; the gradient converts back. Float to int32 truncates toward zero, as PyTorch;
 * NaN, ±Infinity and values outside int32 are an error (PyTorch's result there is undefined): at
 * once, or on webgpu at the device's next read (engine/host_values.ts). */
export const cast = defineOp<{ dtype: DType }>({
  name: 'cast',
  shape: ([x], { dtype }) => {
    checkDType('cast', dtype);
    return { shape: x.shape, dtype };
  },
  forward: (be, [x], out) => {
    if (out.dtype === 'int32' && x.dtype !== 'int32') {
      checkValues(x, (v) => checkInt32(`cast ${fmt(x.shape)} ${x.dtype} to int32`, v));
    }
    return be.cast(x.raw, out.dtype);
  },
  backward: (g, { inputs: [x] }) => [g.to(x.dtype)],
});

export const UNARY_OPS = [
  neg,
  exp,
  expm1,
  log,
  log1p,
  sqrt,
  rsqrt,
  abs,
  sign,
  tanh,
  sigmoid,
  relu,
  sin,
  cos,
  erf,
  clamp,
  cast,
] as const;

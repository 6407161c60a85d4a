/**
 * GELU as fused primitives (the composite is ~10 passes over memory): `gelu` itself, `geluGrad`
 * (gelu'(x)) and `geluBackward` (g · gelu'(x), the gradient GELU's backward needs, in one pass
 * instead of geluGrad then mul). Backends with a `gelu` kernel (cpu: float32 in WASM SIMD) run
 * it; the others run the named scalar functions in their elementwise loops. Their own
 * derivatives are tensor ops, so GELU stays differentiable to any order; the composite
 * (nn_functional.geluComposite) is the test oracle.
 */
import { defineOp } from '../op.js';
import { DTypeError, fmt, fullView, isFloat, sameShape, ShapeError } from '../shape.js';
import { apply } from '../apply.js';
import { unaryOp } from './unary.js';
import {
  geluErf,
  geluErf32,
  geluErfBackward,
  geluErfBackward32,
  geluErfGrad,
  geluErfGrad32,
  geluTanh,
  geluTanhBackward,
  geluTanhGrad,
} from './scalar_math.js';
import type { Tensor } from '../tensor.js';

export interface GeluAttrs {
  approximate: 'none' | 'tanh';
}

/** d²/dx² GELU exact = φ(x) (2 - x²), as tensor ops. */
function geluErfSecond(x: Tensor): Tensor {
  return x.mul(x).mul(-0.5).exp().mul(0.3989422804014327).mul(x.mul(x).neg().add(2));
}

/** d²/dx² of the tanh form = (1 - t²)(u' - x t u'² + x u''/2), as tensor ops. */
function geluTanhSecond(x: Tensor): Tensor {
  const c = 0.7978845608028654;
  const t = x.add(x.pow(3).mul(0.044715)).mul(c).tanh();
  const du = x.mul(x).mul(0.134145).add(1).mul(c);
  const ddu = x.mul(0.26829 * c);
  return t
    .mul(t)
    .neg()
    .add(1)
    .mul(du.sub(x.mul(t).mul(du.mul(du))).add(x.mul(ddu).mul(0.5)));
}
const second = (x: Tensor, { approximate }: GeluAttrs): Tensor =>
  approximate === 'tanh' ? geluTanhSecond(x) : geluErfSecond(x);

/** gelu'(x) as one kernel; its own derivative (gelu'') is a composite. */
export const geluGrad = unaryOp<GeluAttrs>({
  name: 'geluGrad',
  parametric: true,
  scalar: ({ approximate }: GeluAttrs) => (approximate === 'tanh' ? geluTanhGrad : geluErfGrad),
  scalar32: ({ approximate }: GeluAttrs) => (approximate === 'tanh' ? geluTanhGrad : geluErfGrad32),
  grad: (g, { inputs: [x], attrs }) => g.mul(second(x, attrs)),
});

/**
 * g · gelu'(x) in one pass. Shapes: g, x [...] (equal) -> [...]. Gradients: gg · gelu'(x) for g,
 * gg · g · gelu''(x) for x.
 */
export const geluBackward = defineOp<GeluAttrs>({
  name: 'geluBackward',
  shape: ([g, x]) => {
    if (!sameShape(g.shape, x.shape) || g.dtype !== x.dtype || !isFloat(x.dtype)) {
      const what = `geluBackward: g ${fmt(g.shape)} ${g.dtype} and x ${fmt(x.shape)} ${x.dtype}`;
      throw isFloat(x.dtype) && isFloat(g.dtype)
        ? new ShapeError(`${what}: need the same shape and dtype`)
        : new DTypeError(`${what}: need float inputs`);
    }
    return { shape: x.shape, dtype: x.dtype };
  },
  forward: (be, [g, x], out, { approximate }) => {
    const fused = out.dtype === 'float32' ? be.gelu?.(x.raw, approximate, g.raw) : null;
    if (fused) return fused;
    const f = approximate === 'tanh' ? geluTanhBackward : out.dtype === 'float32' ? geluErfBackward32 : geluErfBackward;
    return be.binary(f, g.raw, fullView(g.shape), x.raw, fullView(x.shape), out.dtype);
  },
  backward: (gg, { inputs: [g, x], attrs, needs }) => [
    needs[0] ? gg.mul(apply(geluGrad, [x], attrs)) : null,
    needs[1] ? gg.mul(g).mul(second(x, attrs)) : null,
  ],
});

const geluLoop = unaryOp<GeluAttrs>({
  name: 'gelu',
  parametric: true,
  scalar: ({ approximate }: GeluAttrs) => (approximate === 'tanh' ? geluTanh : geluErf),
  scalar32: ({ approximate }: GeluAttrs) => (approximate === 'tanh' ? geluTanh : geluErf32),
  grad: (g, { inputs: [x], attrs }) => apply(geluBackward, [g, x], attrs),
});

/** GELU in one kernel (exact erf form or the tanh approximation). Gradient: geluBackward(g, x). */
export const gelu = defineOp<GeluAttrs>({
  ...geluLoop,
  forward: (be, inputs, out, attrs) =>
    (out.dtype === 'float32' ? be.gelu?.(inputs[0].raw, attrs.approximate) : null) ??
    geluLoop.forward(be, inputs, out, attrs),
});

export const GELU_OPS = [gelu, geluGrad, geluBackward] as const;

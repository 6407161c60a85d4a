/**
 * Fused primitives: single-kernel versions of hot composites, kept only where bench/ops.ts shows the
 * gain (the composite GELU is ~10 passes over memory, 15x slower than add). Their backward formulas
 * are still tensor ops, so they stay differentiable to any order, and the composites in
 * nn_functional.ts remain their test oracles (test/engine/fused.test.ts).
 */
import { apply } from '../op.js';
import { unaryOp } from './unary.js';
import { geluErf, geluErf32, geluErfGrad, geluErfGrad32, geluTanh, geluTanhGrad } from './scalar_math.js';
import type { Tensor } from '../tensor.js';

export interface GeluAttrs { approximate: 'none' | 'tanh' }

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
  return t.mul(t).neg().add(1).mul(du.sub(x.mul(t).mul(du.mul(du))).add(x.mul(ddu).mul(0.5)));
}

/** gelu'(x) as one kernel; its own derivative (gelu'') is a composite. */
export const geluGrad = unaryOp<GeluAttrs>({
  name: 'geluGrad', parametric: true,
  scalar: ({ approximate }: GeluAttrs) => (approximate === 'tanh' ? geluTanhGrad : geluErfGrad),
  scalar32: ({ approximate }: GeluAttrs) => (approximate === 'tanh' ? geluTanhGrad : geluErfGrad32),
  grad: (g, { inputs: [x], attrs }) => g.mul(attrs.approximate === 'tanh' ? geluTanhSecond(x) : geluErfSecond(x)),
});

/** GELU in one kernel (exact erf form or the tanh approximation). Gradient: g · gelu'(x). */
export const gelu = unaryOp<GeluAttrs>({
  name: 'gelu', parametric: true,
  scalar: ({ approximate }: GeluAttrs) => (approximate === 'tanh' ? geluTanh : geluErf),
  scalar32: ({ approximate }: GeluAttrs) => (approximate === 'tanh' ? geluTanh : geluErf32),
  grad: (g, { inputs: [x], attrs }) => g.mul(apply(geluGrad, [x], attrs)),
});

export const FUSED_OPS = [gelu, geluGrad] as const;

/**
 * Fused primitives (GELU's are in gelu.ts): single-kernel versions of hot composites, kept only
 * where bench/ops.ts shows the gain (the composite GELU is ~10 passes over memory, 15x slower than add; softmax and layerNorm
 * are 5 and 11 ops). Their backward formulas are still tensor ops, so they stay differentiable to
 * any order, and the composites remain their test oracles (test/engine/fused.test.ts).
 *
 * softmax, logSoftmax and layerNorm work on the last dim. Their kernels are optional Backend
 * methods: a backend without one runs the composite below (without recording a graph) as the
 * forward, so it needs no new kernel.
 */
import type { DType, Shape } from '../../kernels/backend.js';
import { apply } from '../apply.js';
import { grad as autogradGrad } from '../autograd.js';
import { concat } from '../functional.js';
import { defineOp, enableGrad, isGradEnabled, noGrad } from '../op.js';
import { DTypeError, fmt, isFloat, ShapeError } from '../shape.js';
import type { Tensor } from '../tensor.js';

export { gelu, geluBackward, geluGrad, type GeluAttrs } from './gelu.js';

/** Composite softmax along `dim`: e^(x - max) / Σ e^(x - max). The fused op's oracle. */
export function softmaxComposite(x: Tensor, dim = -1): Tensor {
  const e = x.sub(x.amax(dim, true).detach()).exp();
  return e.div(e.sum(dim, true));
}

/** Composite log-softmax along `dim`: x - logsumexp(x). The fused op's oracle. */
export function logSoftmaxComposite(x: Tensor, dim = -1): Tensor {
  return x.sub(x.logsumexp(dim, true));
}

/** Composite layer norm over the trailing dims of `normalizedShape` (biased variance). The fused op's oracle. */
export function layerNormComposite(
  x: Tensor,
  normalizedShape: readonly number[],
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps = 1e-5,
): Tensor {
  const dims = normalizedShape.map((_, i) => x.ndim - normalizedShape.length + i);
  const c = x.sub(x.mean(dims, true));
  let y = c.mul(c.mul(c).mean(dims, true).add(eps).rsqrt());
  if (weight) y = y.mul(weight);
  if (bias) y = y.add(bias);
  return y;
}

/** Shape rule of the row-wise ops: float input of rank >= 1, same shape out. */
function rowShape(name: string, x: Tensor): { shape: Shape; dtype: DType } {
  if (!isFloat(x.dtype)) throw new DTypeError(`${name}: needs a float input, got ${x.dtype}`);
  if (x.ndim === 0) throw new ShapeError(`${name}: needs a last dim, got a scalar`);
  return { shape: x.shape, dtype: x.dtype };
}
const lastDim = (x: Tensor): number => x.shape[x.ndim - 1];

/** Softmax over the last dim. Gradient: y ⊙ (g - Σ g ⊙ y), from the saved output. */
export const softmax = defineOp({
  name: 'softmax',
  shape: ([x]) => rowShape('softmax', x),
  forward: (be, [x]) => be.softmaxRows?.(x.raw, lastDim(x), false) ?? noGrad(() => softmaxComposite(x)).raw,
  backward: (g, { out }) => [out.mul(g.sub(g.mul(out).sum(-1, true)))],
});

/** log softmax over the last dim. Gradient: g - e^y Σ g. */
export const logSoftmax = defineOp({
  name: 'logSoftmax',
  shape: ([x]) => rowShape('logSoftmax', x),
  forward: (be, [x]) => be.softmaxRows?.(x.raw, lastDim(x), true) ?? noGrad(() => logSoftmaxComposite(x)).raw,
  backward: (g, { out }) => [g.sub(out.exp().mul(g.sum(-1, true)))],
});

export interface LayerNormAttrs {
  eps: number;
}

/**
 * Layer norm over the last dim n: y = x̂ w + b with x̂ = (x - mean) / sqrt(var + eps) (biased
 * variance). Shapes: x [..., n], w [n], b [n] -> [..., n]. Gradients (mean over the row):
 * gx = (gw' - mean(gw') - x̂ mean(gw' x̂)) / sqrt(var + eps) with gw' = g w; gw = Σ g x̂; gb = Σ g.
 */
export const layerNorm = defineOp<LayerNormAttrs>({
  name: 'layerNorm',
  shape: ([x, w, b]) => {
    const out = rowShape('layerNorm', x),
      n = lastDim(x);
    if (w.shape.length !== 1 || w.shape[0] !== n || fmt(b.shape) !== fmt(w.shape)) {
      throw new ShapeError(
        `layerNorm: weight ${fmt(w.shape)} and bias ${fmt(b.shape)} must be [${n}] for x ${fmt(x.shape)}`,
      );
    }
    return out;
  },
  forward: (be, [x, w, b], _out, { eps }) =>
    be.layerNormRows?.(x.raw, w.raw, b.raw, lastDim(x), eps) ??
    noGrad(() => layerNormComposite(x, [lastDim(x)], w, b, eps)).raw,
  backward: (g, { inputs: [x, w], attrs: { eps }, needs }) => {
    const n = lastDim(x);
    if (!isGradEnabled()) {
      // Plain first-order backward (training): the three gradients from one fused op.
      const rows = x.size / n;
      const packed = apply(layerNormBackward, [g.reshape([rows, n]), x.reshape([rows, n]), w], { eps });
      return [
        needs[0] ? packed.narrow(0, 0, rows).reshape(x.shape) : null,
        needs[1] ? packed.narrow(0, rows, 1).reshape([n]) : null,
        needs[2] ? packed.narrow(0, rows + 1, 1).reshape([n]) : null,
      ];
    }
    // Under createGraph: tensor ops, differentiable again.
    return layerNormBackwardComposite(g, x, w, eps, needs);
  },
});

/** Layer norm's three gradients as tensor ops: the fused layerNormBackward's oracle. */
export function layerNormBackwardComposite(
  g: Tensor,
  x: Tensor,
  w: Tensor,
  eps: number,
  needs: readonly boolean[] = [true, true, true],
): (Tensor | null)[] {
  const c = x.sub(x.mean(-1, true));
  const rstd = c.mul(c).mean(-1, true).add(eps).rsqrt();
  const xhat = c.mul(rstd);
  const rows = (t: Tensor): Tensor => t.reshape([-1, lastDim(x)]).sum(0);
  let gx: Tensor | null = null;
  if (needs[0]) {
    const gw = g.mul(w);
    gx = gw
      .sub(gw.mean(-1, true))
      .sub(xhat.mul(gw.mul(xhat).mean(-1, true)))
      .mul(rstd);
  }
  return [gx, needs[1] ? rows(g.mul(xhat)) : null, needs[2] ? rows(g) : null];
}

/**
 * Layer norm's backward as one op: g, x [R, n], w [n] -> [R + 2, n] holding dx (R rows), then
 * dweight and dbias. Backends with a `layerNormBackwardRows` kernel (cpu) run it in one pass
 * per row; the others run the composite. Its own gradient (third order of layerNorm, rarely
 * needed) is the vector-Jacobian product of the composite, taken by autograd.
 */
export const layerNormBackward = defineOp<LayerNormAttrs>({
  name: 'layerNormBackward',
  shape: ([g, x, w]) => {
    const n = lastDim(x);
    if (x.ndim !== 2 || fmt(g.shape) !== fmt(x.shape) || fmt(w.shape) !== `[${n}]` || g.dtype !== x.dtype) {
      throw new ShapeError(
        `layerNormBackward: g ${fmt(g.shape)} ${g.dtype}, x ${fmt(x.shape)} ${x.dtype}, weight ${fmt(w.shape)}: ` +
          'need g and x [R, n] of one dtype and weight [n]',
      );
    }
    if (!isFloat(x.dtype) || w.dtype !== x.dtype) throw new DTypeError(`layerNormBackward: need one float dtype`);
    return { shape: [x.shape[0] + 2, n], dtype: x.dtype };
  },
  forward: (be, [g, x, w], _out, { eps }) =>
    be.layerNormBackwardRows?.(g.raw, x.raw, w.raw, lastDim(x), eps) ??
    noGrad(() => concat(layerNormBackwardComposite(g, x, w, eps).map((t, i) => (i ? t!.unsqueeze(0) : t!)))).raw,
  backward: (gg, { inputs, attrs: { eps }, needs }) => {
    const x = inputs[1]!;
    const R = x.shape[0];
    const parts = [
      gg.narrow(0, 0, R),
      gg.narrow(0, R, 1).reshape([lastDim(x)]),
      gg.narrow(0, R + 1, 1).reshape([lastDim(x)]),
    ];
    // Differentiate the composite: on fresh leaves standing for the inputs (autograd stops
    // there) for a plain backward; under createGraph on the inputs themselves, so the result
    // stays differentiable (that traversal also walks the inputs' own graph, retained).
    const graph = isGradEnabled();
    const proxies = inputs.map((t) => (graph ? t : t.detach().requiresGrad_()));
    const outs = enableGrad(() => layerNormBackwardComposite(proxies[0], proxies[1], proxies[2], eps)) as Tensor[];
    const want = proxies.filter((_, i) => needs[i]);
    const got = autogradGrad(outs, want, {
      gradOutputs: parts,
      createGraph: graph,
      retainGraph: true,
      allowUnused: true,
    });
    let k = 0;
    return inputs.map((t, i) => (needs[i] ? (got[k++] ?? t.zerosLike()) : null));
  },
});

export const FUSED_OPS = [softmax, logSoftmax, layerNorm, layerNormBackward] as const;

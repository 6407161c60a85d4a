/**
 * Reduction primitives: sum and amax over any set of dims, argmax/argmin over one. Everything else
 * (mean, var, logsumexp, max with indices, norm) is composed from these in functional.ts.
 */
import { defineOp } from '../op.js';
import { fmt, normDim, normDims, ShapeError, type Shape } from '../shape.js';

export interface ReduceAttrs {
  dim?: number | readonly number[];
  keepdim?: boolean;
}

function reducedShape(shape: Shape, axes: readonly number[], keepdim: boolean): number[] {
  return keepdim ? shape.map((n, d) => (axes.includes(d) ? 1 : n)) : shape.filter((_, d) => !axes.includes(d));
}

/** The input shape with the reduced dims kept as 1: a gradient of the output reshapes to this and
 * broadcasts back over the input. */
export function keptShape(shape: Shape, attrs: ReduceAttrs): number[] {
  return reducedShape(shape, normDims('reduce', attrs.dim, shape.length), true);
}

/** Sum over `dim` (all dims if omitted). Gradient: broadcast g back over the summed dims. */
export const sum = defineOp<ReduceAttrs>({
  name: 'sum',
  shape: ([x], a) => ({
    shape: reducedShape(x.shape, normDims('sum', a.dim, x.ndim), a.keepdim ?? false),
    dtype: x.dtype,
  }),
  forward: (be, [x], _out, a) => be.reduce('sum', x.raw, x.shape, normDims('sum', a.dim, x.ndim)),
  backward: (g, { inputs: [x], attrs }) => [g.reshape(keptShape(x.shape, attrs)).expand(x.shape)],
});

/**
 * Max over `dim` (values only). Gradient: split evenly among the maximal elements, as PyTorch does
 * for amax and for max() over all elements.
 */
export const amax = defineOp<ReduceAttrs>({
  name: 'amax',
  shape: ([x], a) => {
    const axes = normDims('amax', a.dim, x.ndim);
    for (const d of axes)
      if (x.shape[d] === 0) throw new ShapeError(`amax: cannot reduce the empty dim ${d} of ${fmt(x.shape)}`);
    return { shape: reducedShape(x.shape, axes, a.keepdim ?? false), dtype: x.dtype };
  },
  forward: (be, [x], _out, a) => be.reduce('max', x.raw, x.shape, normDims('amax', a.dim, x.ndim)),
  backward: (g, { inputs: [x], out, attrs }) => {
    const kept = keptShape(x.shape, attrs);
    const mask = x.eq(out.reshape(kept));
    const count = mask.sum(attrs.dim, true);
    return [g.reshape(kept).mul(mask).div(count)];
  },
});

export interface ArgAttrs {
  dim?: number;
  keepdim?: boolean;
}

function argOp(name: 'argmax' | 'argmin') {
  return defineOp<ArgAttrs>({
    name,
    shape: ([x], a) => {
      if (a.dim === undefined) {
        if (x.size === 0)
          throw new ShapeError(
            `${name}: the tensor ${fmt(x.shape)} is empty; there is no ${name.slice(3)}imum to index`,
          );
        return { shape: a.keepdim ? x.shape.map(() => 1) : [], dtype: 'int32' };
      }
      const d = normDim(name, a.dim, x.ndim);
      if (x.ndim > 0 && x.shape[d] === 0)
        throw new ShapeError(`${name}: cannot reduce the empty dim ${d} of ${fmt(x.shape)}`);
      return { shape: reducedShape(x.shape, x.ndim === 0 ? [] : [d], a.keepdim ?? false), dtype: 'int32' };
    },
    forward: (be, [x], _out, a) =>
      a.dim === undefined || x.ndim === 0
        ? be.reduce(name, x.raw, [x.size], [0])
        : be.reduce(name, x.raw, x.shape, [normDim(name, a.dim, x.ndim)]),
  });
}

/** Index of the maximum along `dim` (of the flattened tensor if omitted). No gradient. */
export const argmax = argOp('argmax');
export const argmin = argOp('argmin');

export const REDUCE_OPS = [sum, amax, argmax, argmin] as const;

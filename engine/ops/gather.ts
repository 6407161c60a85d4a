/** Index primitives: gather / scatterAdd (torch semantics) and indexSelect / indexAdd (embedding). */
import { defineOp } from '../op.js';
import { DTypeError, fmt, normDim, ShapeError } from '../shape.js';
import type { Tensor } from '../tensor.js';

function checkIndex(op: string, index: Tensor): void {
  if (index.dtype !== 'int32')
    throw new DTypeError(`${op}: index must be int32, got ${index.dtype} ${fmt(index.shape)}`);
}

/** out[i][j] = x[index[i][j]][j] (dim 0), etc. Gradient: scatter-add g back into zeros. */
export const gather = defineOp<{ dim: number }>({
  name: 'gather',
  shape: ([x, index], { dim }) => {
    checkIndex('gather', index);
    const d = normDim('gather', dim, x.ndim);
    if (index.ndim !== x.ndim || index.shape.some((n, i) => i !== d && n > x.shape[i])) {
      throw new ShapeError(`gather: index ${fmt(index.shape)} does not fit x ${fmt(x.shape)} outside dim ${d}`);
    }
    return { shape: index.shape, dtype: x.dtype };
  },
  forward: (be, [x, index], _o, { dim }) =>
    be.gather(x.raw, x.shape, normDim('gather', dim, x.ndim), index.raw, index.shape),
  backward: (g, { inputs: [x, index], attrs: { dim } }) => [g.zerosLike(x.shape).scatterAdd(dim, index, g), null],
});

/** A copy of `base` with src[i][j] added at base[index[i][j]][j] (dim 0). */
export const scatterAdd = defineOp<{ dim: number }>({
  name: 'scatterAdd',
  shape: ([base, index, src], { dim }) => {
    checkIndex('scatterAdd', index);
    const d = normDim('scatterAdd', dim, base.ndim);
    if (
      fmt(index.shape) !== fmt(src.shape) ||
      index.ndim !== base.ndim ||
      index.shape.some((n, i) => i !== d && n > base.shape[i])
    ) {
      throw new ShapeError(
        `scatterAdd: base ${fmt(base.shape)}, index ${fmt(index.shape)}, src ${fmt(src.shape)}: ` +
          'index and src must match and fit base outside dim ' +
          d,
      );
    }
    return { shape: base.shape, dtype: base.dtype };
  },
  forward: (be, [base, index, src], _o, { dim }) =>
    be.scatterAdd(base.raw, base.shape, normDim('scatterAdd', dim, base.ndim), index.raw, src.raw, src.shape),
  backward: (g, { inputs: [, index], attrs: { dim }, needs }) => [
    needs[0] ? g : null,
    null,
    needs[2] ? g.gather(dim, index) : null,
  ],
});

/** Picks slices `index` (1-D) along `dim`: the embedding lookup. Gradient: indexAdd into zeros. */
export const indexSelect = defineOp<{ dim: number }>({
  name: 'indexSelect',
  shape: ([x, index], { dim }) => {
    checkIndex('indexSelect', index);
    if (index.ndim !== 1) throw new ShapeError(`indexSelect: index must be 1-D, got ${fmt(index.shape)}`);
    const d = normDim('indexSelect', dim, x.ndim),
      shape = [...x.shape];
    shape[d] = index.size;
    return { shape, dtype: x.dtype };
  },
  forward: (be, [x, index], _o, { dim }) =>
    be.indexSelect(x.raw, x.shape, normDim('indexSelect', dim, x.ndim), index.raw),
  backward: (g, { inputs: [x, index], attrs: { dim } }) => [g.zerosLike(x.shape).indexAdd(dim, index, g), null],
});

/** A copy of `base` with slice j of `src` added at position index[j] along `dim`. */
export const indexAdd = defineOp<{ dim: number }>({
  name: 'indexAdd',
  shape: ([base, index, src], { dim }) => {
    checkIndex('indexAdd', index);
    const d = normDim('indexAdd', dim, base.ndim);
    const want = base.shape.map((n, i) => (i === d ? index.size : n));
    if (index.ndim !== 1 || fmt(want) !== fmt(src.shape)) {
      throw new ShapeError(
        `indexAdd: base ${fmt(base.shape)}, index ${fmt(index.shape)}: src must be ${fmt(want)}, got ${fmt(src.shape)}`,
      );
    }
    return { shape: base.shape, dtype: base.dtype };
  },
  forward: (be, [base, index, src], _o, { dim }) =>
    be.indexAdd(base.raw, base.shape, normDim('indexAdd', dim, base.ndim), index.raw, src.raw),
  backward: (g, { inputs: [, index], attrs: { dim }, needs }) => [
    needs[0] ? g : null,
    null,
    needs[2] ? g.indexSelect(dim, index) : null,
  ],
});

export const GATHER_OPS = [gather, scatterAdd, indexSelect, indexAdd] as const;

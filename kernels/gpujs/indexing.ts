/**
 * The gpu.js backend's indexing kernels (gather, scatterAdd, indexSelect, indexAdd): index checks
 * where the indices are on the host, then one launch each. Sources in codegen.ts.
 */
import { contiguousStrides, type Raw, type Shape } from '../backend.js';
import * as K from './codegen.js';
import type { Launcher } from './fused.js';
import { splitAt } from './layout.js';

export function gather(k: Launcher, x: Raw, xShape: Shape, dim: number, index: Raw, indexShape: Shape): Raw {
  const xs = xShape.length ? xShape : [1],
    is = indexShape.length ? indexShape : [1];
  k.checkIndex('gather', index, xs[dim]);
  const r = xs.length;
  return k.launch(
    'gather',
    `gather:${r}:${dim}`,
    () => K.gatherSource(r, dim),
    index.size,
    x.dtype,
    [x, index],
    [...contiguousStrides(xs), ...is.slice(1)],
    (be, [a, i]) => be.gather(a, xShape, dim, i, indexShape),
  );
}
export function scatterAdd(
  k: Launcher,
  base: Raw,
  baseShape: Shape,
  dim: number,
  index: Raw,
  src: Raw,
  srcShape: Shape,
): Raw {
  const bs = baseShape.length ? baseShape : [1],
    ss = srcShape.length ? srcShape : [1];
  k.checkIndex('scatterAdd', index, bs[dim]);
  const r = bs.length;
  return k.launch(
    'scatterAdd',
    `scatterAdd:${r}:${dim}`,
    () => K.scatterAddSource(r, dim),
    base.size,
    base.dtype,
    [base, index, src],
    [...contiguousStrides(ss), ...ss, ...bs.slice(1)],
    (be, [b, i, s]) => be.scatterAdd(b, baseShape, dim, i, s, srcShape),
  );
}
export function indexSelect(k: Launcher, x: Raw, xShape: Shape, dim: number, index: Raw): Raw {
  const [outer, n, inner] = splitAt(xShape, dim);
  k.checkIndex('indexSelect', index, n);
  return k.launch(
    'indexSelect',
    'indexSelect',
    K.indexSelectSource,
    outer * index.size * inner,
    x.dtype,
    [x, index],
    [n, index.size, inner],
    (be, [a, i]) => be.indexSelect(a, xShape, dim, i),
  );
}
export function indexAdd(k: Launcher, base: Raw, baseShape: Shape, dim: number, index: Raw, src: Raw): Raw {
  const [, n, inner] = splitAt(baseShape, dim);
  k.checkIndex('indexAdd', index, n);
  return k.launch(
    'indexAdd',
    'indexAdd',
    K.indexAddSource,
    base.size,
    base.dtype,
    [base, index, src],
    [n, index.size, inner],
    (be, [b, i, s]) => be.indexAdd(b, baseShape, dim, i, s),
  );
}

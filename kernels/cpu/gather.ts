/** Index-based kernels: gather / scatterAdd (torch semantics) and indexSelect / indexAdd. */
import { allocArray, contiguousStrides, type DType, type Shape, type TypedArray } from '../backend.js';

function checkIndex(op: string, i: number, n: number): void {
  if (i < 0 || i >= n || !Number.isInteger(i)) {
    throw new RangeError(`${op}: index ${i} is out of bounds for a dimension of size ${n}`);
  }
}

/** Visits every position of `shape`, giving its flat index and the multi-index along `dim`
 * replaced: `cb(flat, offsetWithoutDim)` where offsetWithoutDim uses `targetStrides`. */
function forEachPos(
  shape: Shape,
  dim: number,
  targetStrides: readonly number[],
  cb: (flat: number, base: number) => void,
): void {
  const size = shape.reduce((a, b) => a * b, 1);
  const nd = shape.length;
  const idx = new Int32Array(nd);
  let base = 0;
  for (let flat = 0; flat < size; flat++) {
    cb(flat, base);
    for (let d = nd - 1; d >= 0; d--) {
      if (d !== dim) base += targetStrides[d];
      if (++idx[d] < shape[d]) break;
      if (d !== dim) base -= targetStrides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

export function gather(
  x: TypedArray,
  xShape: Shape,
  dim: number,
  index: Int32Array,
  indexShape: Shape,
  dtype: DType,
): TypedArray {
  const xs = contiguousStrides(xShape);
  const out = allocArray(dtype, index.length);
  forEachPos(indexShape, dim, xs, (flat, base) => {
    const i = index[flat];
    checkIndex('gather', i, xShape[dim]);
    out[flat] = x[base + i * xs[dim]];
  });
  return out;
}

export function scatterAdd(
  base: TypedArray,
  baseShape: Shape,
  dim: number,
  index: Int32Array,
  src: TypedArray,
  srcShape: Shape,
  dtype: DType,
): TypedArray {
  const bs = contiguousStrides(baseShape);
  const out = allocArray(dtype, base.length);
  out.set(base);
  forEachPos(srcShape, dim, bs, (flat, off) => {
    const i = index[flat];
    checkIndex('scatterAdd', i, baseShape[dim]);
    out[off + i * bs[dim]] += src[flat];
  });
  return out;
}

/** [outer, n, inner] view helpers for indexSelect / indexAdd along `dim`. */
function split(shape: Shape, dim: number): [number, number, number] {
  const outer = shape.slice(0, dim).reduce((a, b) => a * b, 1);
  const inner = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
  return [outer, shape[dim], inner];
}

export function indexSelect(x: TypedArray, xShape: Shape, dim: number, index: Int32Array, dtype: DType): TypedArray {
  const [outer, n, inner] = split(xShape, dim);
  const m = index.length;
  const out = allocArray(dtype, outer * m * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < m; j++) {
      const i = index[j];
      checkIndex('indexSelect', i, n);
      const from = (o * n + i) * inner,
        to = (o * m + j) * inner;
      // An embedding row is short: an element loop beats a subarray view plus `set` (which is
      // slower still when x is a view of the shared wasm heap).
      if (inner < 512) for (let t = 0; t < inner; t++) out[to + t] = x[from + t]!;
      else out.set(x.subarray(from, from + inner), to);
    }
  }
  return out;
}

export function indexAdd(
  base: TypedArray,
  baseShape: Shape,
  dim: number,
  index: Int32Array,
  src: TypedArray,
  dtype: DType,
): TypedArray {
  const [outer, n, inner] = split(baseShape, dim);
  const m = index.length;
  const out = allocArray(dtype, base.length);
  out.set(base);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < m; j++) {
      const i = index[j];
      checkIndex('indexAdd', i, n);
      const to = (o * n + i) * inner,
        from = (o * m + j) * inner;
      for (let t = 0; t < inner; t++) out[to + t] += src[from + t];
    }
  }
  return out;
}

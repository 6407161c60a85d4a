/** Reductions over a set of axes of a contiguous array (the reduced axes are kept as size 1). */
import { allocArray, contiguousStrides, type DType, type ReduceKind, type Shape, type TypedArray } from '../backend.js';

/** sum / max / min over `axes`. float32 sums accumulate in float64 for accuracy. */
export function reduceValues(
  kind: 'sum' | 'max' | 'min',
  x: TypedArray,
  shape: Shape,
  axes: readonly number[],
  dtype: DType,
): TypedArray {
  const outShape = shape.map((n, d) => (axes.includes(d) ? 1 : n));
  const outSize = outShape.reduce((a, b) => a * b, 1);
  // Output strides with 0 on reduced axes: walking x contiguously, the output offset follows.
  const os = contiguousStrides(outShape).map((s, d) => (axes.includes(d) ? 0 : s));
  const acc = new Float64Array(outSize).fill(kind === 'sum' ? 0 : kind === 'max' ? -Infinity : Infinity);
  const nd = shape.length;
  const size = x.length;
  if (size > 0) {
    const inner = nd === 0 ? 1 : shape[nd - 1];
    const ti = nd === 0 ? 0 : os[nd - 1];
    const idx = new Int32Array(Math.max(nd, 1));
    let p = 0,
      i = 0;
    for (let r = size / inner; r > 0; r--) {
      if (kind === 'sum' && ti === 0) {
        // Reducing the last axis: a register accumulator, not a load-add-store chain through acc.
        let s = acc[p];
        for (let j = 0; j < inner; j++) s += x[i++];
        acc[p] = s;
      } else if (kind === 'sum') for (let j = 0; j < inner; j++) acc[p + j * ti] += x[i++];
      else if (kind === 'max') {
        for (let j = 0; j < inner; j++) {
          const v = x[i++],
            q = p + j * ti;
          if (v > acc[q] || v !== v) acc[q] = v;
        }
      } else {
        for (let j = 0; j < inner; j++) {
          const v = x[i++],
            q = p + j * ti;
          if (v < acc[q] || v !== v) acc[q] = v;
        }
      }
      for (let d = nd - 2; d >= 0; d--) {
        p += os[d];
        if (++idx[d] < shape[d]) break;
        p -= os[d] * shape[d];
        idx[d] = 0;
      }
    }
  }
  const out = allocArray(dtype, outSize);
  out.set(acc);
  return out;
}

/** Index of the max (or min) along one axis; the first occurrence wins, NaN counts as max. */
export function reduceArg(kind: 'argmax' | 'argmin', x: TypedArray, shape: Shape, axis: number): Int32Array {
  const n = shape[axis];
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const out = new Int32Array(outer * inner);
  const sign = kind === 'argmax' ? 1 : -1;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      let best = 0,
        bv = x[base];
      for (let j = 1; j < n && bv === bv; j++) {
        const v = x[base + j * inner];
        if (v !== v || sign * (v - bv) > 0) {
          best = j;
          bv = v;
        }
      }
      out[o * inner + i] = best;
    }
  }
  return out;
}

export function reduceKind(
  kind: ReduceKind,
  x: TypedArray,
  shape: Shape,
  axes: readonly number[],
  dtype: DType,
): TypedArray {
  if (kind === 'argmax' || kind === 'argmin') return reduceArg(kind, x, shape, axes[0]);
  return reduceValues(kind, x, shape, axes, dtype);
}

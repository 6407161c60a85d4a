/**
 * Movement primitives. Storage is contiguous; every movement is a strided View of its input
 * (kernels copyStrided / writeStrided), except reshape, which shares the buffer.
 */
import type { View } from '../../kernels/backend.js';
import { defineOp } from '../op.js';
import { contiguousStrides, fmt, normDim, promote, ShapeError, sizeOf, type Shape } from '../shape.js';

/** Resolves a reshape target (one -1 allowed) against `size` elements. */
export function inferShape(op: string, from: Shape, to: readonly number[]): number[] {
  const size = sizeOf(from);
  const free = to.filter((n) => n === -1).length;
  if (free > 1 || to.some((n) => !Number.isInteger(n) || n < -1)) {
    throw new ShapeError(`${op}: invalid target shape ${fmt(to)} (at most one -1, others >= 0)`);
  }
  const known = to.reduce((a, n) => (n === -1 ? a : a * n), 1);
  const shape = to.map((n) => (n === -1 ? (known === 0 ? 0 : size / known) : n));
  if (sizeOf(shape) !== size || !shape.every(Number.isInteger)) {
    throw new ShapeError(`${op}: cannot reshape ${fmt(from)} (${size} elements) to ${fmt(to)}`);
  }
  return shape;
}

/** Same data, new shape (a view: no copy). */
export const reshape = defineOp<{ shape: readonly number[] }>({
  name: 'reshape',
  shape: ([x], a) => ({ shape: inferShape('reshape', x.shape, a.shape), dtype: x.dtype }),
  forward: (_be, [x]) => x.raw,
  backward: (g, { inputs: [x] }) => [g.reshape(x.shape)],
});

/** Reorders dims: out.shape[i] = x.shape[dims[i]]. Gradient: the inverse permutation. */
export const permute = defineOp<{ dims: readonly number[] }>({
  name: 'permute',
  shape: ([x], { dims }) => {
    const ds = dims.map((d) => normDim('permute', d, x.ndim));
    if (ds.length !== x.ndim || new Set(ds).size !== ds.length) {
      throw new ShapeError(`permute: dims ${fmt(dims)} are not a permutation of the ${x.ndim} dims of ${fmt(x.shape)}`);
    }
    return { shape: ds.map((d) => x.shape[d]), dtype: x.dtype };
  },
  forward: (be, [x], out, { dims }) => {
    const s = contiguousStrides(x.shape);
    return be.copyStrided(x.raw, {
      shape: out.shape,
      strides: dims.map((d) => s[normDim('permute', d, x.ndim)]),
      offset: 0,
    });
  },
  backward: (g, { attrs: { dims } }) => {
    const inv = new Array<number>(dims.length);
    dims.forEach((d, i) => {
      inv[d < 0 ? d + dims.length : d] = i;
    });
    return [g.permute(inv)];
  },
});

/** Broadcasts size-1 dims (and new leading dims) to `shape`; -1 keeps a dim. Gradient: sum back. */
export const expand = defineOp<{ shape: readonly number[] }>({
  name: 'expand',
  shape: ([x], a) => {
    const off = a.shape.length - x.ndim;
    const bad =
      off < 0 ||
      a.shape.some((n, d) => {
        const src = d < off ? 1 : x.shape[d - off];
        return d < off ? n < 0 : n !== -1 && src !== 1 && src !== n;
      });
    if (bad) throw new ShapeError(`expand: cannot expand ${fmt(x.shape)} to ${fmt(a.shape)} (only size-1 dims expand)`);
    return { shape: a.shape.map((n, d) => (n === -1 ? x.shape[d - off] : n)), dtype: x.dtype };
  },
  forward: (be, [x], out) => {
    const s = contiguousStrides(x.shape),
      off = out.shape.length - x.ndim;
    const strides = out.shape.map((_, d) => (d < off || x.shape[d - off] === 1 ? 0 : s[d - off]));
    return be.copyStrided(x.raw, { shape: out.shape, strides, offset: 0 });
  },
  backward: (g, { inputs: [x] }) => [g.sumTo(x.shape)],
});

/** One dim's slice: start (inclusive), stop (exclusive), step > 0, already clipped to the dim. */
export type SliceSpec = readonly [start: number, stop: number, step: number];

/** Resolves PyTorch/Python slice bounds (negatives wrap, out-of-range clips). */
export function resolveSlice(op: string, n: number, start = 0, stop = n, step = 1): SliceSpec {
  if (!Number.isInteger(step) || step <= 0) throw new ShapeError(`${op}: step must be a positive integer, got ${step}`);
  const wrap = (i: number) => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
  return [wrap(start), Math.max(wrap(stop), wrap(start)), step];
}

function sliceLen([start, stop, step]: SliceSpec): number {
  return Math.ceil((stop - start) / step);
}

/** The strided region of a [shape] buffer that a slice selects. */
export function sliceView(shape: Shape, specs: readonly SliceSpec[]): View {
  const s = contiguousStrides(shape);
  return {
    shape: specs.map(sliceLen),
    strides: specs.map(([, , step], d) => s[d] * step),
    offset: specs.reduce((o, [start], d) => o + start * s[d], 0),
  };
}

function checkSpecs(op: string, shape: Shape, specs: readonly SliceSpec[]): void {
  if (specs.length !== shape.length) throw new ShapeError(`${op}: ${specs.length} slice specs for ${fmt(shape)}`);
}

/** x[start:stop:step, ...] per dim (specs already resolved). Gradient: written back into zeros. */
export const slice = defineOp<{ specs: readonly SliceSpec[] }>({
  name: 'slice',
  shape: ([x], { specs }) => {
    checkSpecs('slice', x.shape, specs);
    return { shape: specs.map(sliceLen), dtype: x.dtype };
  },
  forward: (be, [x], _out, { specs }) => be.copyStrided(x.raw, sliceView(x.shape, specs)),
  backward: (g, { inputs: [x], attrs: { specs } }) => [g.zerosLike(x.shape).sliceAssign(g, specs)],
});

/** A copy of `base` whose sliced region is replaced by `src`. Gradients: base gets g with the
 * region zeroed, src gets the region of g. (The backward of slice, pad and concat.) */
export const sliceAssign = defineOp<{ specs: readonly SliceSpec[] }>({
  name: 'sliceAssign',
  shape: ([base, src], { specs }) => {
    checkSpecs('sliceAssign', base.shape, specs);
    const region = specs.map(sliceLen);
    if (fmt(region) !== fmt(src.shape)) {
      throw new ShapeError(
        `sliceAssign: the region ${fmt(region)} of ${fmt(base.shape)} does not match src ${fmt(src.shape)}`,
      );
    }
    return { shape: base.shape, dtype: base.dtype };
  },
  forward: (be, [base, src], _out, { specs }) => {
    const s = src.dtype === base.dtype ? src.raw : be.cast(src.raw, base.dtype);
    return be.writeStrided(base.raw, sliceView(base.shape, specs), s);
  },
  backward: (g, { inputs: [, src], attrs: { specs }, needs }) => [
    needs[0] ? g.sliceAssign(g.zerosLike(src.shape), specs) : null,
    needs[1] ? g.slice(specs) : null,
  ],
});

/** Joins tensors along an existing dim. Gradient: the matching slices of g. */
export const concat = defineOp<{ dim: number }>({
  name: 'concat',
  shape: (xs, { dim }) => {
    const d = normDim('concat', dim, xs[0].ndim);
    for (const x of xs) {
      if (x.ndim !== xs[0].ndim || x.shape.some((n, i) => i !== d && n !== xs[0].shape[i])) {
        throw new ShapeError(`concat: shapes ${xs.map((t) => fmt(t.shape)).join(', ')} differ outside dim ${d}`);
      }
    }
    const shape = [...xs[0].shape];
    shape[d] = xs.reduce((a, x) => a + x.shape[d], 0);
    return { shape, dtype: xs.map((x) => x.dtype).reduce(promote) };
  },
  forward: (be, xs, out, { dim }) => {
    const d = normDim('concat', dim, out.shape.length);
    if (be.concatRows) {
      // One pass: every source's rows (the dims from d on) copied into place.
      const srcs = xs.map((x) => (x.dtype === out.dtype ? x.raw : be.cast(x.raw, out.dtype)));
      const rows = sizeOf(out.shape.slice(0, d));
      const raw = be.concatRows(
        srcs,
        xs.map((x) => sizeOf(x.shape.slice(d))),
        rows,
        out.dtype,
      );
      srcs.forEach((src, i) => src !== xs[i]!.raw && be.dispose(src));
      if (raw) return raw;
    }
    let raw = be.full(sizeOf(out.shape), 0, out.dtype),
      at = 0;
    for (const x of xs) {
      const specs = out.shape.map((n, i): SliceSpec => (i === d ? [at, at + x.shape[d], 1] : [0, n, 1]));
      const src = x.dtype === out.dtype ? x.raw : be.cast(x.raw, out.dtype);
      const next = be.writeStrided(raw, sliceView(out.shape, specs), src);
      // The partial results and casts are this loop's own: released now, they feed the buffer pool.
      be.dispose(raw);
      if (src !== x.raw) be.dispose(src);
      raw = next;
      at += x.shape[d];
    }
    return raw;
  },
  backward: (g, { inputs, attrs: { dim } }) => {
    const d = normDim('concat', dim, g.ndim);
    let at = 0;
    return inputs.map((x) => {
      const specs = g.shape.map((n, i): SliceSpec => (i === d ? [at, at + x.shape[d], 1] : [0, n, 1]));
      at += x.shape[d];
      return g.slice(specs);
    });
  },
});

export const MOVEMENT_OPS = [reshape, permute, expand, slice, sliceAssign, concat] as const;

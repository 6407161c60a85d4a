/**
 * Shape bookkeeping done on the host before a kernel launch: fewer dims mean fewer kernel
 * variants (one compiled kernel per rank) and less index arithmetic per element.
 */
import { contiguousStrides, sizeOf, type Shape, type View } from '../backend.js';

/**
 * Drops size-1 dims and merges neighbours that every view walks as one: dims p, d merge when
 * stride_p = stride_d * n_d for all views. A contiguous tensor becomes rank 1.
 */
export function mergeViews(views: readonly View[]): { shape: number[]; strides: number[][] } {
  const shape: number[] = [];
  const strides: number[][] = views.map(() => []);
  const src = views[0].shape;
  for (let d = 0; d < src.length; d++) {
    const n = src[d];
    if (n === 1) continue;
    const p = shape.length - 1;
    if (p >= 0 && views.every((v, j) => strides[j][p] === v.strides[d] * n)) {
      shape[p] *= n;
      views.forEach((v, j) => {
        strides[j][p] = v.strides[d];
      });
    } else {
      shape.push(n);
      views.forEach((v, j) => strides[j].push(v.strides[d]));
    }
  }
  return { shape, strides };
}

/** A reduction of a contiguous tensor as kept dims × reduced dims (size-1 dims dropped, each run
 * of neighbouring dims of one kind merged). There is always at least one reduced dim. */
export interface ReducePlan {
  kept: { n: number; s: number }[];
  red: { n: number; s: number }[];
}

export function reducePlan(shape: Shape, axes: readonly number[]): ReducePlan {
  const strides = contiguousStrides(shape);
  const plan: ReducePlan = { kept: [], red: [] };
  let last: 'kept' | 'red' | null = null;
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const kind = axes.includes(d) ? 'red' : 'kept';
    const list = plan[kind];
    if (last === kind) {
      // neighbours in a contiguous tensor: the outer stride is the inner one times its size
      list[list.length - 1].n *= shape[d];
      list[list.length - 1].s = strides[d];
    } else list.push({ n: shape[d], s: strides[d] });
    last = kind;
  }
  if (plan.red.length === 0) plan.red.push({ n: 1, s: 0 });
  return plan;
}

/**
 * The dims of a region written by writeStrided, sorted by stride (largest first), when each
 * stride is larger than the span of all smaller ones: then an offset has at most one region
 * coordinate and the kernel can find it by division. Slices always qualify; null otherwise.
 */
export function regionPlan(region: View): { S: number[]; R: number[]; ss: number[] } | null {
  const srcStrides = contiguousStrides(region.shape);
  const dims = region.shape
    .map((n, d) => ({ n, S: region.strides[d], ss: srcStrides[d] }))
    .filter((x) => x.n > 1)
    .sort((a, b) => b.S - a.S);
  let span = 0;
  for (let i = dims.length - 1; i >= 0; i--) {
    if (dims[i].S <= span) return null;
    span += (dims[i].n - 1) * dims[i].S;
  }
  return { S: dims.map((x) => x.S), R: dims.map((x) => x.n), ss: dims.map((x) => x.ss) };
}

/** [outer, n, inner] around `dim` (indexSelect / indexAdd). */
export function splitAt(shape: Shape, dim: number): [number, number, number] {
  return [sizeOf(shape.slice(0, dim)), shape[dim] ?? 1, sizeOf(shape.slice(dim + 1))];
}

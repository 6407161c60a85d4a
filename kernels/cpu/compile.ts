/**
 * Specializes a strided loop for one scalar function. A loop that calls many different functions
 * through one call site is megamorphic and ~10x slower in V8, so each scalar function gets its own
 * loop, compiled once from the function's source (the same source gpu.js transpiles to a shader).
 * The loops walk N input views in lockstep: the innermost dimension in a tight loop, the outer
 * dimensions by an odometer that bumps each input's offset by its stride.
 */
import { depsOf, type ScalarFn1, type ScalarFn2, type ScalarFn3, type Shape, type TypedArray } from '../backend.js';

type AnyFn = ScalarFn1 | ScalarFn2 | ScalarFn3;
/** (out, shape, ...[array, strides, offset] per input) */
export type StridedLoop = (out: TypedArray, shape: Shape, ...args: unknown[]) => void;

const cache = new Map<AnyFn, StridedLoop>();

/**
 * The same walk over fewer dims: adjacent dims d, d+1 merge where every input steps from the end
 * of one d+1 run to the next with stride[d] = stride[d+1] * shape[d+1] (for a contiguous input
 * always; a broadcast input only where it repeats whole runs the same way); size-1 dims drop.
 * A same-shape contiguous op becomes [n], a bias add [rows, n] with strides [0, 1]: the layouts
 * the `cpu` backend's SIMD `arith` recognizes. Returns [shape, strides per input].
 */
export function coalesce(shape: Shape, strides: readonly (readonly number[])[]): [number[], number[][]] {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1 && shape.length > 1) continue; // size-1 dims step nowhere
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, k) => s[d] * shape[d] === outStrides[k][last])) {
      outShape[last] *= shape[d];
      strides.forEach((s, k) => (outStrides[k][last] = s[d]));
    } else {
      outShape.push(shape[d]);
      strides.forEach((s, k) => outStrides[k].push(s[d]));
    }
  }
  if (outShape.length === 0 && shape.length > 0) {
    outShape.push(1);
    strides.forEach((_, k) => outStrides[k].push(0));
  }
  return [outShape, outStrides];
}

/** Returns the specialized loop `out[i] = f(in_0[i], ..., in_{n-1}[i])` for `f`. */
export function stridedLoop(f: AnyFn, arity: number): StridedLoop {
  let loop = cache.get(f);
  if (!loop) {
    loop = build(
      f.toString(),
      depsOf(f)
        .map((d) => d.toString())
        .join('\n'),
      arity,
    );
    cache.set(f, loop);
  }
  return loop;
}

function build(src: string, helpers: string, n: number): StridedLoop {
  const ins = Array.from({ length: n }, (_, k) => k);
  const params = ins.map((k) => `x${k}, s${k}, o${k}`).join(', ');
  const body = `
    ${helpers}
    const F = (${src});
    const nd = shape.length;
    let size = 1;
    for (let d = 0; d < nd; d++) size *= shape[d];
    if (size === 0) return;
    const inner = nd === 0 ? 1 : shape[nd - 1];
    ${ins.map((k) => `const t${k} = nd === 0 ? 0 : s${k}[nd - 1]; let p${k} = o${k};`).join('\n')}
    const idx = new Int32Array(Math.max(nd, 1));
    let o = 0;
    for (let r = size / inner; r > 0; r--) {
      for (let j = 0; j < inner; j++) {
        out[o++] = F(${ins.map((k) => `x${k}[p${k} + j * t${k}]`).join(', ')});
      }
      for (let d = nd - 2; d >= 0; d--) {
        ${ins.map((k) => `p${k} += s${k}[d];`).join(' ')}
        if (++idx[d] < shape[d]) break;
        ${ins.map((k) => `p${k} -= s${k}[d] * shape[d];`).join(' ')}
        idx[d] = 0;
      }
    }`;
  return new Function('out', 'shape', ...params.split(', '), body) as StridedLoop;
}

/**
 * Shapes, strides, broadcasting and the two error types.
 *
 * Shape letters used in comments across vlgrad: B batch, T text tokens, P image patches (+1 for
 * CLS), C model width, H heads, D head dim (C = H*D), V vocab, Q queue size, L layers.
 */
import { contiguousStrides, sizeOf, type DType, type Shape, type View } from '../kernels/backend.js';

export type { Shape };

/** A shape mismatch. The message names the op, the shapes and what was expected. */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

/** A dtype mismatch (e.g. an int32 tensor asked to require grad). */
export class DTypeError extends Error {
  override name = 'DTypeError';
}

/** Every dtype a tensor can have. */
export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32'];

/** Throws a DTypeError naming `op` unless `dtype` is one of DTYPES (e.g. 'float16' is not). */
export function checkDType(op: string, dtype: unknown): asserts dtype is DType {
  if (!(DTYPES as readonly unknown[]).includes(dtype)) {
    throw new DTypeError(`${op}: unknown dtype ${JSON.stringify(dtype)}; expected one of ${DTYPES.join(', ')}`);
  }
}

/** The int32 range. */
export const INT32_MIN = -(2 ** 31),
  INT32_MAX = 2 ** 31 - 1;

/** Throws unless every value truncates to an int32: an Int32Array would silently wrap 3e9 to
 * -1294967296 and store NaN as 0. Fractions truncate toward zero, as torch.tensor does. */
export function checkInt32(op: string, values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v > INT32_MIN - 1 && v < INT32_MAX + 1)) {
      throw new RangeError(
        `${op}: value ${v} at index ${i} does not fit int32 ` +
          `(expected a number in [${INT32_MIN}, ${INT32_MAX}]; NaN and ±Infinity have no int32 value)`,
      );
    }
  }
}

/** `[2,3]`: the way shapes appear in error messages. */
export function fmt(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

// Defined next to the Backend contract (kernels/ cannot import engine/); engine code takes them from here.
export { contiguousStrides, sizeOf };

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

/** The contiguous view of a whole buffer. */
export function fullView(shape: Shape): View {
  return { shape, strides: contiguousStrides(shape), offset: 0 };
}

/** NumPy/PyTorch broadcasting of any number of shapes. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const nd = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(nd).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const d = nd - s.length + i,
        n = s[i];
      if (out[d] === 1) out[d] = n;
      else if (n !== 1 && n !== out[d]) {
        throw new ShapeError(
          `${op}: shapes ${shapes.map(fmt).join(' and ')} cannot be broadcast ` +
            `(dim ${d - nd} is ${out[d]} vs ${n})`,
        );
      }
    }
  }
  return out;
}

/** A view reading a contiguous `shape` buffer as the larger broadcast shape `to` (0 strides). */
export function broadcastView(shape: Shape, to: Shape): View {
  const strides = contiguousStrides(shape);
  const off = to.length - shape.length;
  return {
    shape: to,
    strides: to.map((_, d) => (d < off || shape[d - off] === 1 ? 0 : strides[d - off])),
    offset: 0,
  };
}

/** The axes of `to` that were broadcast from `from` (the ones a gradient must be summed over). */
export function broadcastAxes(from: Shape, to: Shape): number[] {
  const off = to.length - from.length;
  const axes: number[] = [];
  for (let d = 0; d < to.length; d++) {
    if (d < off || (from[d - off] === 1 && to[d] !== 1)) axes.push(d);
  }
  return axes;
}

/** Resolves a possibly negative dim against `ndim` (PyTorch's wrap rule). */
export function normDim(op: string, dim: number, ndim: number): number {
  const n = Math.max(ndim, 1);
  if (!Number.isInteger(dim) || dim < -n || dim >= n) {
    throw new ShapeError(
      `${op}: dim ${dim} is out of range for a tensor with ${ndim} dims ` + `(expected ${-n} to ${n - 1})`,
    );
  }
  return dim < 0 ? dim + n : dim;
}

/** Resolves `dim` (one, several or undefined = all) to a sorted list of unique axes. */
export function normDims(op: string, dim: number | readonly number[] | undefined, ndim: number): number[] {
  if (dim === undefined) return Array.from({ length: ndim }, (_, i) => i);
  const dims = (typeof dim === 'number' ? [dim] : [...dim]).map((d) => normDim(op, d, ndim));
  if (new Set(dims).size !== dims.length) throw new ShapeError(`${op}: dims ${fmt(dims)} repeat a dim`);
  return dims.sort((a, b) => a - b);
}

/** The dtype of a binary op's result (PyTorch promotion: int32 < float32 < float64). */
export function promote(a: DType, b: DType): DType {
  if (a === 'float64' || b === 'float64') return 'float64';
  if (a === 'float32' || b === 'float32') return 'float32';
  return 'int32';
}

export function isFloat(dtype: DType): boolean {
  return dtype !== 'int32';
}

/**
 * The shape of one (batched) matmul call and its validation, shared by the WASM path and the
 * plain-TS fallback. All sizes and strides are in elements.
 */

/** Float arrays the matmul accepts; a, b and out must be the same kind. */
export type FloatArray = Float32Array | Float64Array;

/**
 * out[i] = op(A_i) @ op(B_i) (+ out[i] when `accumulate`), for batch items i.
 * op(A) is [m, k]: `a` holds A row-major, or A^T ([k, m]) when `transA`. Likewise op(B) is
 * [k, n], stored as [n, k] when `transB`. `out` is [batch, m, n], contiguous.
 */
export interface MatmulOptions {
  readonly m: number;
  readonly k: number;
  readonly n: number;
  /** Number of matrix products (default 1). */
  readonly batch?: number;
  readonly transA?: boolean;
  readonly transB?: boolean;
  /** Elements between consecutive A items (default m*k; 0 broadcasts one A to every item). */
  readonly aBatchStride?: number;
  /** Elements between consecutive B items (default k*n; 0 broadcasts one B). */
  readonly bBatchStride?: number;
  /** Add into `out` instead of overwriting it. */
  readonly accumulate?: boolean;
}

/** MatmulOptions with every default filled in. */
export type MatmulPlan = Required<MatmulOptions>;

// Zero is a valid size, as in BLAS and PyTorch: an empty batch or M/N gives an empty result and
// K = 0 gives zeros (an empty sum), which is what `Linear` on an empty batch needs.
const isCount = (x: number): boolean => Number.isInteger(x) && x >= 0 && x < 2 ** 31;

/** Fills in defaults and checks sizes against the arrays; throws RangeError/TypeError. */
export function planMatmul(a: FloatArray, b: FloatArray, out: FloatArray, o: MatmulOptions): MatmulPlan {
  const { m, k, n } = o;
  const p: MatmulPlan = {
    m,
    k,
    n,
    batch: o.batch ?? 1,
    transA: o.transA ?? false,
    transB: o.transB ?? false,
    aBatchStride: o.aBatchStride ?? m * k,
    bBatchStride: o.bBatchStride ?? k * n,
    accumulate: o.accumulate ?? false,
  };
  if (![m, k, n, p.batch].every(isCount)) {
    throw new RangeError(`matmul: bad sizes m=${m} k=${k} n=${n} batch=${p.batch} (expected integers in [0, 2^31))`);
  }
  if (
    !(
      Number.isInteger(p.aBatchStride) &&
      p.aBatchStride >= 0 &&
      Number.isInteger(p.bBatchStride) &&
      p.bBatchStride >= 0
    )
  ) {
    throw new RangeError('matmul: batch strides must be integers >= 0');
  }
  if (a.constructor !== b.constructor || a.constructor !== out.constructor) {
    throw new TypeError('matmul: a, b and out must all be Float32Array or all Float64Array');
  }
  const need = (name: string, arr: FloatArray, stride: number, size: number): void => {
    const len = p.batch === 0 ? 0 : (p.batch - 1) * stride + size;
    if (arr.length < len) throw new RangeError(`matmul: ${name} has ${arr.length} elements, needs ${len}`);
  };
  need('a', a, p.aBatchStride, m * k);
  need('b', b, p.bBatchStride, k * n);
  need('out', out, m * n, m * n);
  if (overlaps(out, a) || overlaps(out, b)) throw new RangeError('matmul: out must not overlap a or b');
  return p;
}

/** Whether the product has no multiply-adds (a zero size): the result is empty, or zeros when K = 0. */
export function isEmptyMatmul(p: MatmulPlan): boolean {
  return p.batch * p.m * p.n * p.k === 0;
}

function overlaps(x: FloatArray, y: FloatArray): boolean {
  if (x.buffer !== y.buffer) return false;
  return x.byteOffset < y.byteOffset + y.byteLength && y.byteOffset < x.byteOffset + x.byteLength;
}

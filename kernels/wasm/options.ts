/**
 * The shape of one (batched) matmul call and its validation, shared by the WASM path and the
 * plain-TS fallback. All sizes and strides are in elements.
 */

/** Float arrays the matmul accepts; a, b and out must be the same kind. */
export type FloatArray = Float32Array | Float64Array;

/**
 * out[i] = op(A_i) @ op(B_i) (+ out[i] when `accumulate`), for batch items i.
 * op(A) is [m, k]: `a` holds A row-major, or A^T ([k, m]) when `transA`. Likewise op(B) is
 * [k, n], stored as [n, k] when `transB`. `out` is [batch, m, n], contiguous, by default.
 *
 * Strided operands: each stored matrix may have a row stride wider than its width (a column
 * block of a wider array), and the batch may be two-level: item i is (i / inner, i % inner), at
 * `(i / inner) * batchStride + (i % inner) * innerStride` elements from the array's start. With
 * the default inner = 1 that is `i * batchStride`. Attention's [B*H] head products are one call
 * this way: inner = H, batchStride = T*3C (next sequence), innerStride = D (next head).
 */
export interface MatmulOptions {
  readonly m: number;
  readonly k: number;
  readonly n: number;
  /** Number of matrix products (default 1). */
  readonly batch?: number;
  readonly transA?: boolean;
  readonly transB?: boolean;
  /** Elements between consecutive A items (or groups of `inner` items); default m*k, 0 broadcasts one A. */
  readonly aBatchStride?: number;
  /** Elements between consecutive B items (or groups); default k*n, 0 broadcasts one B. */
  readonly bBatchStride?: number;
  /** Elements between consecutive out items (or groups); default m*n. */
  readonly cBatchStride?: number;
  /** Elements between stored rows of A (default its stored width: k, or m with transA). */
  readonly aRowStride?: number;
  /** Elements between stored rows of B (default n, or k with transB). */
  readonly bRowStride?: number;
  /** Elements between rows of out (default n). */
  readonly cRowStride?: number;
  /** Items per group of the two-level batch (default 1); must divide `batch`. */
  readonly inner?: number;
  /** Elements between consecutive items of a group, for A, B and out (default 0). */
  readonly aInnerStride?: number;
  readonly bInnerStride?: number;
  readonly cInnerStride?: number;
  /** Add into `out` instead of overwriting it. */
  readonly accumulate?: boolean;
}

/** MatmulOptions with every default filled in. */
export type MatmulPlan = Required<MatmulOptions>;

// Zero is a valid size, as in BLAS and PyTorch: an empty batch or M/N gives an empty result and
// K = 0 gives zeros (an empty sum), which is what `Linear` on an empty batch needs.
const isCount = (x: number): boolean => Number.isInteger(x) && x >= 0 && x < 2 ** 31;

/** Element offset of batch item `i` of an operand with the given strides. */
export function itemOffset(p: MatmulPlan, i: number, batchStride: number, innerStride: number): number {
  const g = Math.floor(i / p.inner);
  return g * batchStride + (i - g * p.inner) * innerStride;
}

/** Elements an operand spans: the last item's offset plus its last stored row's end (0 when empty). */
export function extent(
  p: MatmulPlan,
  batchStride: number,
  innerStride: number,
  rows: number,
  cols: number,
  ld: number,
): number {
  if (p.batch === 0 || rows === 0 || cols === 0) return 0;
  // Offsets grow with both strides, so the largest is at the last group's last item.
  const groups = p.batch / p.inner;
  return (groups - 1) * batchStride + (p.inner - 1) * innerStride + (rows - 1) * ld + cols;
}

/** The spans of A, B and out for a plan. */
export function extents(p: MatmulPlan): { a: number; b: number; c: number } {
  const [ar, ac] = p.transA ? [p.k, p.m] : [p.m, p.k];
  const [br, bc] = p.transB ? [p.n, p.k] : [p.k, p.n];
  return {
    a: extent(p, p.aBatchStride, p.aInnerStride, ar, ac, p.aRowStride),
    b: extent(p, p.bBatchStride, p.bInnerStride, br, bc, p.bRowStride),
    c: extent(p, p.cBatchStride, p.cInnerStride, p.m, p.n, p.cRowStride),
  };
}

/** Whether a row stride fits the rows it separates. */
function rowOk(ld: number, cols: number, rows: number): boolean {
  return rows <= 1 || ld >= cols;
}

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
    cBatchStride: o.cBatchStride ?? m * n,
    aRowStride: o.aRowStride ?? (o.transA ? m : k),
    bRowStride: o.bRowStride ?? (o.transB ? k : n),
    cRowStride: o.cRowStride ?? n,
    inner: o.inner ?? 1,
    aInnerStride: o.aInnerStride ?? 0,
    bInnerStride: o.bInnerStride ?? 0,
    cInnerStride: o.cInnerStride ?? 0,
    accumulate: o.accumulate ?? false,
  };
  if (![m, k, n, p.batch].every(isCount)) {
    throw new RangeError(`matmul: bad sizes m=${m} k=${k} n=${n} batch=${p.batch} (expected integers in [0, 2^31))`);
  }
  const strides = [
    p.aBatchStride,
    p.bBatchStride,
    p.cBatchStride,
    p.aRowStride,
    p.bRowStride,
    p.cRowStride,
    p.aInnerStride,
    p.bInnerStride,
    p.cInnerStride,
  ];
  if (!strides.every(isCount)) throw new RangeError(`matmul: strides must be integers >= 0, got ${strides}`);
  if (!(Number.isInteger(p.inner) && p.inner >= 1 && p.batch % p.inner === 0)) {
    throw new RangeError(`matmul: inner=${p.inner} must be an integer >= 1 dividing batch=${p.batch}`);
  }
  if (
    !rowOk(p.aRowStride, p.transA ? m : k, p.transA ? k : m) ||
    !rowOk(p.bRowStride, p.transB ? k : n, p.transB ? n : k) ||
    !rowOk(p.cRowStride, n, m)
  ) {
    throw new RangeError(
      `matmul: row strides (a ${p.aRowStride}, b ${p.bRowStride}, out ${p.cRowStride}) must be at least the stored widths`,
    );
  }
  if (a.constructor !== b.constructor || a.constructor !== out.constructor) {
    throw new TypeError('matmul: a, b and out must all be Float32Array or all Float64Array');
  }
  const ext = extents(p);
  for (const [name, arr, len] of [
    ['a', a, ext.a],
    ['b', b, ext.b],
    ['out', out, ext.c],
  ] as const) {
    if (arr.length < len) throw new RangeError(`matmul: ${name} has ${arr.length} elements, needs ${len}`);
  }
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

/**
 * The whole contract between the engine and a compute device. It knows nothing about autograd:
 * `engine/` imports this file, and `kernels/` never imports `engine/`.
 *
 * The async contract: every compute method *enqueues* work and returns a handle at once; only
 * `read` is asynchronous. On the CPU the handle wraps the typed array and work is done eagerly; a
 * GPU backend wraps a device buffer (or a pending promise of one) and never blocks. `readSync`
 * exists only where the data is already on the CPU.
 */
import type { MemoryInfo } from './memory.js';

export type DType = 'float32' | 'float64' | 'int32';
export type TypedArray = Float32Array | Float64Array | Int32Array;
export type Shape = readonly number[];

/** A device buffer holding `size` elements of `dtype`, contiguous and row-major. */
export interface Raw {
  readonly dtype: DType;
  readonly size: number;
  readonly device: string;
  /** How many tensors use this buffer (reshapes share one): kept by the engine, which releases the
   * buffer when the count reaches 0. A field rather than a WeakMap entry: one is set per result. */
  tensors?: number;
  /** The owning backend's memory-tracker entry while the buffer is live (kernels/memory.ts). */
  tracked?: object | null;
}

/**
 * A strided read of a contiguous buffer: element `(i0, i1, ...)` of the view is
 * `x[offset + i0*strides[0] + i1*strides[1] + ...]`. A stride of 0 repeats (broadcast/expand);
 * permute, slice, expand and broadcasting all become a View.
 */
export interface View {
  readonly shape: Shape;
  readonly strides: readonly number[];
  readonly offset: number;
}

/** A scalar function applied elementwise. It must be a named, self-contained `function` using only
 * arithmetic and `Math.*`: backends compile its source into their loops (CPU) or shaders (gpu.js).
 * A function that calls named helpers lists them in `deps` (see `withDeps`); backends compile
 * the helpers' sources alongside it. */
export type ScalarFn1 = (x: number) => number;
export type ScalarFn2 = (a: number, b: number) => number;
export type ScalarFn3 = (c: number, a: number, b: number) => number;

/** Attaches the helper functions `f` calls, so backends can compile them next to it. */
export function withDeps<F extends (...xs: number[]) => number>(
  f: F,
  deps: readonly ((...xs: number[]) => number)[],
): F {
  return Object.assign(f, { deps });
}

/** The helper functions a scalar function declared with `withDeps` (none by default). */
export function depsOf(f: unknown): readonly ((...xs: number[]) => number)[] {
  return (f as { deps?: readonly ((...xs: number[]) => number)[] }).deps ?? [];
}

export type ReduceKind = 'sum' | 'max' | 'min' | 'argmax' | 'argmin';
/** The four arithmetic ops a backend may run through `arith`. */
export type ArithOp = 'add' | 'sub' | 'mul' | 'div';

/** A batched matrix product: for each batch `i`, C_i = op(A_i) @ op(B_i), with `op` an optional
 * transpose. Offsets are element offsets of each batch's matrix in `a` and `b`; batch broadcasting
 * repeats an offset. C is written contiguously as [batch, m, n] unless `cOffsets` is given.
 *
 * Row strides let a matrix be a column block of a wider row-major array, read (or written) in
 * place: attention reads each head of a packed [B, T, 3C] q|k|v as a [T, D] matrix with row
 * stride 3C, and writes each head's output into [B, T, C] with row stride C. */
export interface MatmulParams {
  readonly batch: number;
  readonly m: number;
  readonly k: number;
  readonly n: number;
  readonly aOffsets: Int32Array;
  readonly bOffsets: Int32Array;
  readonly transA: boolean;
  readonly transB: boolean;
  /** Elements between stored rows of A (default: its stored width, k, or m with `transA`). */
  readonly aRowStride?: number;
  /** Elements between stored rows of B (default: n, or k with `transB`). */
  readonly bRowStride?: number;
  /** Element offset of each C_i in the result (default i*m*n). The C_i must not overlap and must
   * together cover all `cSize` elements (so no element is left unwritten). */
  readonly cOffsets?: Int32Array;
  /** Elements between rows of each C_i (default n). */
  readonly cRowStride?: number;
  /** Elements of the result (default batch*m*n). */
  readonly cSize?: number;
}

/** The row strides of a matmul's operands and result, defaults filled in (see MatmulParams). */
export function matmulStrides(p: MatmulParams): { lda: number; ldb: number; ldc: number } {
  return {
    lda: p.aRowStride ?? (p.transA ? p.m : p.k),
    ldb: p.bRowStride ?? (p.transB ? p.k : p.n),
    ldc: p.cRowStride ?? p.n,
  };
}

/** Whether a matmul reads or writes anything but contiguous [m, k] / [k, n] / [batch, m, n] matrices. */
export function isStridedMatmul(p: MatmulParams): boolean {
  return p.aRowStride !== undefined || p.bRowStride !== undefined || p.cOffsets !== undefined;
}

/**
 * The scalars of one Adam(W) step (nn/optim_adam.ts), each already rounded to float32: β1, β2,
 * 1 − β1, 1 − β2, λ, the AdamW decay factor 1 − lr·λ, −lr/(1 − β1^t), √(1 − β2^t), ε; and which
 * terms apply (maximize negates the gradient, Adam adds λθ to it, AdamW scales θ).
 */
export interface AdamScalars {
  b1: number;
  b2: number;
  c1: number;
  c2: number;
  wd: number;
  decay: number;
  negStep: number;
  bc2: number;
  eps: number;
  negate: boolean;
  l2: boolean;
  scale: boolean;
}

/** One compute device. */
export interface Backend {
  readonly device: string;
  /** True where `readSync` returns the buffer's own storage: the same array on every call, and
   * writing into it changes the tensor (the CPU devices). Host-side fast paths such as the
   * optimizers' fused loops write through it; everywhere else it is false. */
  readonly hostData: boolean;
  /** Copies host data onto the device. */
  upload(data: TypedArray, dtype: DType): Raw;
  /** A new buffer of `size` elements all equal to `value`. */
  full(size: number, value: number, dtype: DType): Raw;
  /** Reads the buffer back to the host (a copy). */
  read(x: Raw): Promise<TypedArray>;
  /** The host array itself, where the data lives on the host; throws elsewhere. */
  readSync(x: Raw): TypedArray;
  /**
   * Asynchronous devices only: runs `check` on `x`'s values once they can be read; if it throws, the
   * device's next read rejects with that error (input checks that need values, engine/host_values.ts).
   */
  checkLater?(x: Raw, check: (values: TypedArray) => void): void;
  /** Releases device memory early (GC would do it later). */
  dispose(x: Raw): void;
  /** Live buffers and bytes on this device. */
  memory(): MemoryInfo;

  /** out[i] = f(x[i]) over a view of x, written contiguously. */
  unary(f: ScalarFn1, x: Raw, xv: View, dtype: DType): Raw;
  /** out = f(a, b) over broadcast views of the same shape. */
  binary(f: ScalarFn2, a: Raw, av: View, b: Raw, bv: View, dtype: DType): Raw;
  /** out = f(c, a, b) over broadcast views (used by `where`). */
  ternary(f: ScalarFn3, c: Raw, cv: View, a: Raw, av: View, b: Raw, bv: View, dtype: DType): Raw;
  /** Reduces `axes` of a contiguous tensor of shape `shape` (result keeps them as size 1).
   * argmax/argmin take exactly one axis and return int32 indices. */
  reduce(kind: ReduceKind, x: Raw, shape: Shape, axes: readonly number[]): Raw;
  matmul(a: Raw, b: Raw, p: MatmulParams): Raw;
  /** Materializes a view into a new contiguous buffer. */
  copyStrided(x: Raw, v: View): Raw;
  /** Writes `src` (contiguous, shape `region.shape`) into a copy of `base` at the strided region. */
  writeStrided(base: Raw, region: View, src: Raw): Raw;
  /** torch.gather: out[..i_d..] = x[..index[..i_d..]..] along `dim`; `index` has out's shape. */
  gather(x: Raw, xShape: Shape, dim: number, index: Raw, indexShape: Shape): Raw;
  /** torch.scatter_add on a copy of `base`: base[..index[..]..] += src[..] along `dim`. */
  scatterAdd(base: Raw, baseShape: Shape, dim: number, index: Raw, src: Raw, srcShape: Shape): Raw;
  /** Selects slices `index` (1-D int32) along `dim`. */
  indexSelect(x: Raw, xShape: Shape, dim: number, index: Raw): Raw;
  /** A copy of `base` with slices of `src` added at positions `index` along `dim`. */
  indexAdd(base: Raw, baseShape: Shape, dim: number, index: Raw, src: Raw): Raw;
  /** Converts dtype. */
  cast(x: Raw, dtype: DType): Raw;

  // Optional fused kernels (float only). Where a backend lacks one (or one returns null for a dtype
  // it has no kernel for), the engine computes the op from the primitives above, so a new backend
  // needs none of them.
  /** Softmax (or, with `log`, log-softmax) of each contiguous row of n elements. */
  softmaxRows?(x: Raw, n: number, log: boolean): Raw | null;
  /** (x - mean) / sqrt(var + eps) * weight + bias over each row of n (biased variance); weight, bias [n]. */
  layerNormRows?(x: Raw, weight: Raw, bias: Raw, n: number, eps: number): Raw | null;
  /** Layer norm's backward over rows of n: [rows + 2, n] holding dx (rows), dweight, dbias. */
  layerNormBackwardRows?(g: Raw, x: Raw, weight: Raw, n: number, eps: number): Raw | null;
  /** a ⊕ b for ⊕ in add, sub, mul, div over broadcast views of one shape: what `binary` with the
   * matching scalar function computes, bit for bit, where the backend has a faster kernel for this
   * dtype and layout (`cpu`: float32 WASM SIMD for same-shape, row, column and scalar operands).
   * Returns null otherwise: the engine then runs `binary`. */
  arith?(op: ArithOp, a: Raw, av: View, b: Raw, bv: View, dtype: DType): Raw | null;
  /** GELU of each element (erf form for 'none'), or g · gelu'(x) when `g` (same size) is given.
   * Returns null where the backend has no kernel for this dtype or size: the engine then runs
   * the op's elementwise scalar loop. */
  gelu?(x: Raw, approximate: 'none' | 'tanh', g?: Raw): Raw | null;
  /** One float32 Adam(W) update (nn/optim_adam.ts): returns the new parameter buffer and updates
   * m and v in place, with the same values as the optimizer's host loop. Null where the backend
   * cannot (dtype, size, memory): the optimizer then runs its loop. */
  adamStep?(p: Raw, grad: Raw, m: Raw, v: Raw, s: AdamScalars): Raw | null;
  /** Softmax's backward over rows of n: p ⊙ (d − Σ_row d ⊙ p), d = g (⊙ keep), the same bits as
   * those tensor ops on this dtype. Optional: where absent the engine runs the tensor ops. */
  softmaxBackward?(p: Raw, g: Raw, keep: Raw | null, n: number): Raw;
  /** Concatenation as row copies: a [rows, Σ widths] result whose row r is row r of each
   * [rows, widths[i]] source in turn (all of `dtype`, contiguous). Null where the backend has no
   * such kernel: the engine then writes each source into its region (`writeStrided`). */
  concatRows?(srcs: readonly Raw[], widths: readonly number[], rows: number, dtype: DType): Raw | null;
  /** Dropout's keep-mask of `size` elements: `value` where the draw is >= p, else 0, drawn from
   * the xoshiro128** stream whose four state words are `state` (two steps a draw, as
   * `Rng.uniform()`), which it leaves advanced past the draws, exactly as `Rng.fillMask` does.
   * Null, with `state` untouched, where the backend has no such kernel (dtype, size, memory). */
  keepMask?(state: Uint32Array, size: number, p: number, value: number, dtype: DType): Raw | null;
  /** A momentum (EMA) step, mom·keep + on·take with keep and take rounded to the dtype and each
   * product and the sum rounded to it, as new storage (nn/ema.ts). Null where the backend has no
   * kernel for it: Ema then runs its loop. */
  emaStep?(mom: Raw, on: Raw, keep: number, take: number): Raw | null;
}

/** Number of elements of a shape (1 for a scalar []). */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Strides of a contiguous row-major array of this shape. */
export function contiguousStrides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

/** Bytes per element of a dtype. */
export function itemSize(dtype: DType): number {
  return dtype === 'float64' ? 8 : 4;
}

/** Allocates a zeroed typed array of `dtype`. */
export function allocArray(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(size);
    case 'float64':
      return new Float64Array(size);
    case 'int32':
      return new Int32Array(size);
  }
}

/** The dtype a typed array stores. */
export function dtypeOfArray(a: TypedArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  return 'int32';
}

/**
 * CpuBackend: computes eagerly on typed arrays. Its kernels are written for clarity first; the
 * `cpu-ref` instance uses only those and is the oracle other backends are tested against, while
 * `cpu` (the default) swaps in the fast paths (WASM SIMD matmul over worker threads).
 */
import {
  allocArray,
  type AdamScalars,
  type ArithOp,
  sizeOf,
  type Backend,
  type DType,
  type MatmulParams,
  type Raw,
  type ReduceKind,
  type ScalarFn1,
  type ScalarFn2,
  type ScalarFn3,
  type Shape,
  type TypedArray,
  type View,
} from '../backend.js';
import { MemoryTracker, type MemoryInfo } from '../memory.js';
import { coalesce, stridedLoop } from './compile.js';
import { gather, indexAdd, indexSelect, scatterAdd } from './gather.js';
import { matmulFast } from './fast_matmul.js';
import {
  geluWasm,
  giveResident,
  layerNorm as layerNormFast,
  layerNormBackward as layerNormBackwardFast,
  softmaxBackward as softmaxBackwardFast,
  softmax as softmaxFast,
  takeResident,
  type FloatArray,
} from '../wasm/index.js';
import { arithWasm, sumRowsWasm, type BLayout } from '../wasm/arith.js';
import { adamWasm } from '../wasm/adam.js';
import { keepMaskWasm } from '../wasm/mask.js';
import { copyRowsWasm } from '../wasm/copy.js';
import { emaWasm } from '../wasm/ema.js';
import {
  layerNormBackwardFallback,
  layerNormFallback,
  logSoftmaxFallback,
  softmaxBackwardRows,
  softmaxFallback,
} from './rowwise.js';
import { matmulRef } from './matmul.js';
import { concatRows } from './concat.js';
import { arithLayout, copyRow, isContiguousView, rowOffsets } from './views.js';
import { reduceKind } from './reduce.js';
import { CpuRaw, host } from './raw.js';
import { BufferPool } from './pool.js';
import { envVar } from '../platform.js';

function identity(x: number): number {
  return x;
}

/** The kernels that differ between `cpu-ref` (plain TS) and `cpu` (kernels/wasm where it pays). */
export interface CpuKernels {
  /** Writes every element of `out` (`p.cSize`, default [batch, m, n]) and returns it. */
  matmul(a: TypedArray, b: TypedArray, p: MatmulParams, out: TypedArray): TypedArray;
  softmax(x: FloatArray, out: FloatArray, rows: number, n: number): void;
  layerNorm(
    x: FloatArray,
    gamma: FloatArray,
    beta: FloatArray,
    out: FloatArray,
    rows: number,
    n: number,
    eps: number,
  ): void;
  /** dx rows, then dgamma and dbeta rows, into out [(rows + 2) * n] (see kernels/wasm layerNormBackward). */
  layerNormBackward(
    g: FloatArray,
    x: FloatArray,
    gamma: FloatArray,
    out: FloatArray,
    rows: number,
    n: number,
    eps: number,
  ): void;
  /** float32 out = a ⊕ b over [rows, n] with b in `layout`, or over `groups` such blocks one after
   * another with b's block `bGroupStride` further on for each (layout 'Row'); false where it does not apply. */
  arith?(
    op: ArithOp,
    a: Float32Array,
    b: Float32Array,
    layout: BLayout,
    out: Float32Array,
    rows: number,
    n: number,
    groups?: number,
    bGroupStride?: number,
  ): boolean;
  /** float32 out[j] = Σ_r x[r, j] over [rows, n]; false where it does not apply. */
  sumRows?(x: Float32Array, out: Float32Array, rows: number, n: number): boolean;
  /** float32 GELU (or g · gelu') into `out`; false where it does not apply (the engine's loop runs). */
  gelu?(x: Float32Array, out: Float32Array, approximate: 'none' | 'tanh', g?: Float32Array): boolean;
  /** Softmax's backward into `out` (see Backend.softmaxBackward). */
  softmaxBackward(
    p: FloatArray,
    g: FloatArray,
    keep: FloatArray | null,
    out: FloatArray,
    rows: number,
    n: number,
  ): void;
  /** out = `rows` rows of n elements, `stride` apart from `from` in src; false where it does not apply. */
  copyRows?(src: TypedArray, from: number, stride: number, rows: number, n: number, out: TypedArray): boolean;
  /** out = mom·keep + on·take in float32; false where it does not apply (Backend.emaStep). */
  emaStep?(mom: Float32Array, on: Float32Array, out: Float32Array, keep: number, take: number): boolean;
  /** Dropout's keep-mask into `out`, advancing `state`; false where it does not apply (Backend.keepMask). */
  keepMask?(state: Uint32Array, out: Float32Array, p: number, value: number): boolean;
  /** The Adam(W) update into `out` (m, v in place); false where it does not apply (Backend.adamStep). */
  adamStep?(
    p: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    out: Float32Array,
    s: AdamScalars,
  ): boolean;
  /** out row r = row r of each [rows, widths[i]] source in turn (concat); see Backend.concatRows. */
  concatRows?(srcs: readonly TypedArray[], widths: readonly number[], rows: number, out: TypedArray): void;
  /** A float32 result array inside the kernels' own memory, which they use without staging copies; null where none is left. */
  takeResident?(n: number): Float32Array | null;
  /** Returns an array from `takeResident`; false for any other array. */
  giveResident?(a: Float32Array): boolean;
}

/** float32 results of at least this many elements are taken from `takeResident` where the kernels offer it. */
export const RESIDENT_MIN_ELEMENTS = 1024;
const REF_KERNELS: CpuKernels = {
  matmul: matmulRef,
  softmax: softmaxFallback,
  layerNorm: layerNormFallback,
  layerNormBackward: layerNormBackwardFallback,
  softmaxBackward: softmaxBackwardRows,
};

export class CpuBackend implements Backend {
  /** readSync hands out the live typed array behind each buffer. */
  readonly hostData: boolean = true;
  private readonly tracker: MemoryTracker;

  /**
   * `pool`, where given, recycles released buffers for new results (kernels/cpu/pool.ts); without
   * one every result is a fresh zero-filled array (`cpu-ref`, the plain oracle).
   */
  constructor(
    readonly device = 'cpu',
    private readonly kernels: CpuKernels = REF_KERNELS,
    readonly pool: BufferPool | null = null,
  ) {
    this.tracker = new MemoryTracker(device);
  }

  /** A result array whose every element the caller writes (its contents on entry are arbitrary). */
  private out(dtype: DType, size: number): TypedArray {
    if (dtype === 'float32' && size >= RESIDENT_MIN_ELEMENTS && this.kernels.takeResident) {
      const a = this.kernels.takeResident(size);
      if (a) return a;
    }
    return this.pool ? this.pool.take(dtype, size, false) : allocArray(dtype, size);
  }
  /** Takes back a result array no tensor uses (never one a live tensor still reads). */
  private recycle(a: TypedArray): void {
    if (a instanceof Float32Array && this.kernels.giveResident?.(a)) return;
    this.pool?.give(a);
  }

  upload(data: TypedArray, dtype: DType): Raw {
    const a = this.out(dtype, data.length);
    a.set(data);
    return this.wrap(a, dtype);
  }
  full(size: number, value: number, dtype: DType): Raw {
    return this.wrap(this.out(dtype, size).fill(value), dtype);
  }
  /** Every buffer this backend hands out goes through here, for memory(). */
  private wrap(data: TypedArray, dtype: DType): Raw {
    const raw = new CpuRaw(data, dtype);
    this.tracker.track(raw, data.byteLength);
    return raw;
  }
  memory(): MemoryInfo {
    return this.tracker.stats();
  }

  read(x: Raw): Promise<TypedArray> {
    return Promise.resolve(host(x).slice());
  }
  readSync(x: Raw): TypedArray {
    return host(x);
  }
  /** Releases `x`; with a pool, its array is reused for later results (the engine disposes a buffer
   * only once no tensor uses it, and the tracker refuses a second release). */
  dispose(x: Raw): void {
    if (this.tracker.release(x)) this.recycle(host(x));
  }

  unary(f: ScalarFn1, x: Raw, xv: View, dtype: DType): Raw {
    const out = this.out(dtype, sizeOf(xv.shape));
    stridedLoop(f, 1)(out, xv.shape, host(x), xv.strides, xv.offset);
    return this.wrap(out, dtype);
  }
  binary(f: ScalarFn2, a: Raw, av: View, b: Raw, bv: View, dtype: DType): Raw {
    const out = this.out(dtype, sizeOf(av.shape));
    stridedLoop(f, 2)(out, av.shape, host(a), av.strides, av.offset, host(b), bv.strides, bv.offset);
    return this.wrap(out, dtype);
  }
  ternary(f: ScalarFn3, c: Raw, cv: View, a: Raw, av: View, b: Raw, bv: View, dtype: DType): Raw {
    const out = this.out(dtype, sizeOf(av.shape));
    stridedLoop(f, 3)(
      out,
      av.shape,
      host(c),
      cv.strides,
      cv.offset,
      host(a),
      av.strides,
      av.offset,
      host(b),
      bv.strides,
      bv.offset,
    );
    return this.wrap(out, dtype);
  }
  arith(op: ArithOp, a: Raw, av: View, b: Raw, bv: View, dtype: DType): Raw | null {
    const xa = host(a),
      xb = host(b);
    if (!this.kernels.arith || dtype !== 'float32' || !(xa instanceof Float32Array && xb instanceof Float32Array))
      return null;
    const [shape, [sa, sb]] = coalesce(av.shape, [av.strides, bv.strides]);
    let plan = arithLayout(shape, sa, sb),
      [first, second, fo, so] = [xa, xb, av.offset, bv.offset];
    if (!plan && (op === 'add' || op === 'mul')) {
      // a ⊕ b = b ⊕ a, bit for bit, for these two: the broadcast operand may come first.
      plan = arithLayout(shape, sb, sa);
      [first, second, fo, so] = [xb, xa, bv.offset, av.offset];
    }
    if (!plan) return null;
    const out = this.out('float32', plan.groups * plan.rows * plan.n) as Float32Array;
    const f = fo === 0 ? first : first.subarray(fo),
      sec = so === 0 ? second : second.subarray(so);
    if (this.kernels.arith(op, f, sec, plan.layout, out, plan.rows, plan.n, plan.groups, plan.bGroupStride))
      return this.wrap(out, 'float32');
    this.recycle(out);
    return null;
  }
  reduce(kind: ReduceKind, x: Raw, shape: Shape, axes: readonly number[]): Raw {
    const src = host(x);
    const lead = axes.length > 0 && axes.length < shape.length && axes.every((d, i) => d === i);
    if (kind === 'sum' && lead && this.kernels.sumRows && src instanceof Float32Array) {
      // A sum over the leading axes (a bias gradient): the SIMD column sum, when it applies.
      const n = sizeOf(shape.slice(axes.length)),
        out = this.out('float32', n) as Float32Array;
      if (this.kernels.sumRows(src, out, src.length / n, n)) return this.wrap(out, 'float32');
      this.recycle(out);
    }
    const dtype = kind === 'argmax' || kind === 'argmin' ? 'int32' : x.dtype;
    return this.wrap(reduceKind(kind, host(x), shape, axes, dtype), dtype);
  }
  matmul(a: Raw, b: Raw, p: MatmulParams): Raw {
    const size = p.cSize ?? p.batch * p.m * p.n;
    return this.wrap(this.kernels.matmul(host(a), host(b), p, this.out(a.dtype, size)), a.dtype);
  }
  copyStrided(x: Raw, v: View): Raw {
    const size = sizeOf(v.shape);
    if (size > 0 && isContiguousView(v)) {
      // One block (a row range: a slice along the first dims, or a whole tensor): a memcpy.
      const out = this.out(x.dtype, size),
        src = host(x);
      // As one row through the heap's memory.copy where both live there (a set is slow on its SharedArrayBuffer).
      if (!this.kernels.copyRows?.(src, v.offset, size, 1, size, out)) out.set(src.subarray(v.offset, v.offset + size));
      return this.wrap(out, x.dtype);
    }
    const [shape, [strides]] = coalesce(v.shape, [v.strides]);
    if (size > 0 && shape.length === 1 && strides[0] === 0) {
      // One value everywhere (a scalar expanded, such as mean's gradient): a fill.
      return this.wrap(this.out(x.dtype, size).fill(host(x)[v.offset]!), x.dtype);
    }
    if (size > 0 && shape.length === 2 && strides[1] === 1) {
      // Rows of a wider array (a column block such as one of q, k, v in a packed qkv, a slice
      // along the last dim): one block copy per row.
      const [rows, n] = shape as [number, number];
      const out = this.out(x.dtype, size),
        src = host(x);
      if (this.kernels.copyRows?.(src, v.offset, strides[0]!, rows, n, out)) return this.wrap(out, x.dtype);
      for (let r = 0, p = v.offset; r < rows; r++, p += strides[0]!) copyRow(src, p, out, r * n, n);
      return this.wrap(out, x.dtype);
    }
    return this.unary(identity, x, v, x.dtype);
  }
  writeStrided(base: Raw, region: View, src: Raw): Raw {
    const out = this.out(base.dtype, base.size);
    out.set(host(base));
    const s = host(src);
    const nd = region.shape.length;
    if (nd > 0 && region.strides[nd - 1] === 1 && region.shape[nd - 1] >= 16) {
      // Contiguous rows (concat, slice backward, pad): one block copy per row of the region
      // (a typed-array set is a memcpy; the element walk below costs ~10x as much per element).
      const inner = region.shape[nd - 1];
      rowOffsets(region, (i, p) => out.set(s.subarray(i * inner, (i + 1) * inner), p));
      return this.wrap(out, base.dtype);
    }
    // Walk the region's positions in order; each maps to one offset in `out`.
    const idx = new Int32Array(Math.max(nd, 1));
    let p = region.offset;
    for (let i = 0; i < s.length; i++) {
      out[p] = s[i];
      for (let d = nd - 1; d >= 0; d--) {
        p += region.strides[d];
        if (++idx[d] < region.shape[d]) break;
        p -= region.strides[d] * region.shape[d];
        idx[d] = 0;
      }
    }
    return this.wrap(out, base.dtype);
  }
  gather(x: Raw, xShape: Shape, dim: number, index: Raw, indexShape: Shape): Raw {
    return this.wrap(gather(host(x), xShape, dim, host(index) as Int32Array, indexShape, x.dtype), x.dtype);
  }
  scatterAdd(base: Raw, baseShape: Shape, dim: number, index: Raw, src: Raw, srcShape: Shape): Raw {
    const out = scatterAdd(host(base), baseShape, dim, host(index) as Int32Array, host(src), srcShape, base.dtype);
    return this.wrap(out, base.dtype);
  }
  indexSelect(x: Raw, xShape: Shape, dim: number, index: Raw): Raw {
    return this.wrap(indexSelect(host(x), xShape, dim, host(index) as Int32Array, x.dtype), x.dtype);
  }
  indexAdd(base: Raw, baseShape: Shape, dim: number, index: Raw, src: Raw): Raw {
    return this.wrap(
      indexAdd(host(base), baseShape, dim, host(index) as Int32Array, host(src), base.dtype),
      base.dtype,
    );
  }
  softmaxRows(x: Raw, n: number, log: boolean): Raw {
    const src = host(x) as FloatArray,
      out = this.out(x.dtype, src.length) as FloatArray;
    (log ? logSoftmaxFallback : this.kernels.softmax)(src, out, src.length / n, n);
    return this.wrap(out, x.dtype);
  }
  layerNormRows(x: Raw, weight: Raw, bias: Raw, n: number, eps: number): Raw {
    const src = host(x) as FloatArray,
      out = this.out(x.dtype, src.length) as FloatArray;
    this.kernels.layerNorm(src, host(weight) as FloatArray, host(bias) as FloatArray, out, src.length / n, n, eps);
    return this.wrap(out, x.dtype);
  }
  layerNormBackwardRows(g: Raw, x: Raw, weight: Raw, n: number, eps: number): Raw {
    const src = host(x) as FloatArray,
      rows = src.length / n,
      out = this.out(x.dtype, (rows + 2) * n) as FloatArray;
    this.kernels.layerNormBackward(host(g) as FloatArray, src, host(weight) as FloatArray, out, rows, n, eps);
    return this.wrap(out, x.dtype);
  }
  gelu(x: Raw, approximate: 'none' | 'tanh', g?: Raw): Raw | null {
    const src = host(x);
    if (!this.kernels.gelu || !(src instanceof Float32Array)) return null;
    const out = this.out('float32', src.length) as Float32Array;
    if (this.kernels.gelu(src, out, approximate, g && (host(g) as Float32Array))) return this.wrap(out, 'float32');
    this.recycle(out);
    return null;
  }
  adamStep(p: Raw, grad: Raw, m: Raw, v: Raw, s: AdamScalars): Raw | null {
    const arrays = [p, grad, m, v].map(host);
    if (!this.kernels.adamStep || !arrays.every((a) => a instanceof Float32Array)) return null;
    const out = this.out('float32', p.size) as Float32Array;
    const [pa, ga, ma, va] = arrays as Float32Array[];
    if (this.kernels.adamStep(pa!, ga!, ma!, va!, out, s)) return this.wrap(out, 'float32');
    this.recycle(out);
    return null;
  }
  emaStep(mom: Raw, on: Raw, keep: number, take: number): Raw | null {
    const [m, o] = [host(mom), host(on)];
    if (!this.kernels.emaStep || !(m instanceof Float32Array && o instanceof Float32Array)) return null;
    const out = this.out('float32', m.length) as Float32Array;
    if (this.kernels.emaStep(m, o, out, Math.fround(keep), Math.fround(take))) return this.wrap(out, 'float32');
    this.recycle(out);
    return null;
  }
  keepMask(state: Uint32Array, size: number, p: number, value: number, dtype: DType): Raw | null {
    if (dtype !== 'float32' || !this.kernels.keepMask) return null;
    const out = this.out('float32', size) as Float32Array;
    if (this.kernels.keepMask(state, out, p, value)) return this.wrap(out, 'float32');
    this.recycle(out);
    return null;
  }
  softmaxBackward(p: Raw, g: Raw, keep: Raw | null, n: number): Raw {
    const probs = host(p) as FloatArray,
      out = this.out(p.dtype, probs.length) as FloatArray;
    this.kernels.softmaxBackward(
      probs,
      host(g) as FloatArray,
      keep && (host(keep) as FloatArray),
      out,
      probs.length / n,
      n,
    );
    return this.wrap(out, p.dtype);
  }
  concatRows(srcs: readonly Raw[], widths: readonly number[], rows: number, dtype: DType): Raw | null {
    if (!this.kernels.concatRows) return null;
    const out = this.out(dtype, rows * widths.reduce((a, b) => a + b, 0));
    this.kernels.concatRows(srcs.map(host), widths, rows, out);
    return this.wrap(out, dtype);
  }
  cast(x: Raw, dtype: DType): Raw {
    const out = this.out(dtype, x.size);
    const src = host(x);
    if (dtype === 'int32') for (let i = 0; i < src.length; i++) out[i] = Math.trunc(src[i]);
    else out.set(src);
    return this.wrap(out, dtype);
  }
}

/** How many MiB of released buffers the `cpu` backend keeps for reuse: VLGRAD_POOL_MB, default 256
 * (0 turns the pool off). */
function poolBytes(): number {
  const env = envVar('VLGRAD_POOL_MB');
  const mb = env === undefined || env === '' ? 256 : Number(env);
  if (!(Number.isFinite(mb) && mb >= 0)) throw new RangeError(`VLGRAD_POOL_MB=${env}: need a number of MiB >= 0`);
  return mb * 1024 * 1024;
}

/** The default CPU backend: fast kernels where they exist (float32 WASM SIMD matmul, softmax, layer
 * norm, GELU) and a pool of released buffers. */
export const cpu = new CpuBackend(
  'cpu',
  {
    matmul: matmulFast,
    softmax: softmaxFast,
    layerNorm: layerNormFast,
    layerNormBackward: layerNormBackwardFast,
    softmaxBackward: softmaxBackwardFast,
    gelu: geluWasm,
    arith: arithWasm,
    sumRows: sumRowsWasm,
    takeResident,
    giveResident,
    concatRows,
    adamStep: adamWasm,
    keepMask: keepMaskWasm,
    emaStep: emaWasm,
    copyRows: (src, from, stride, rows, n, out) =>
      src instanceof Float32Array && out instanceof Float32Array && copyRowsWasm(src, from, stride, rows, n, out),
  },
  poolBytes() > 0 ? new BufferPool(poolBytes()) : null,
);
/** The plain-TypeScript reference backend (the oracle). */
export const cpuRef = new CpuBackend('cpu-ref', REF_KERNELS);

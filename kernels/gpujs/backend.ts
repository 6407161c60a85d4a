/**
 * GpuJsBackend: the Backend interface on gpu.js, for the devices 'webgpu' (WGSL through Dawn),
 * 'webasm' and 'gpujs-cpu'. Every method below either launches a gpu.js kernel (codegen.ts) or
 * says `delegate(...)`: runs the CPU reference on a copy and counts it in `fallbacks()`. Today
 * every method has a kernel; the delegations left are the rare shapes named in place.
 *
 * dtypes: float32, and int32 stored as f32 (exact below 2^24). float64 is refused: WGSL has no
 * f64, so float64 stays on the CPU. Tensors are limited to 2^24 elements (the f32 index math).
 */
import {
  matmulStrides,
  sizeOf,
  type AdamScalars,
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
import { cpuRef } from '../cpu/backend.js';
import { MemoryTracker, type MemoryInfo } from '../memory.js';
import * as K from './codegen.js';
import * as F from './fused.js';
import * as I from './indexing.js';
import type { CpuFn } from './standins.js';
import { countFallback } from './fallbacks.js';
import { mergeViews, reducePlan, regionPlan } from './layout.js';
import type { GpuJsDevice } from './loader.js';
import { fromFloats, type DeviceBuf, type KernelSource, type KernelTime, type Runtime, type Value } from './runtime.js';
export type { KernelTime } from './runtime.js';
import { warn } from '../platform.js';

/** The largest tensor (elements) and int32 magnitude these backends represent exactly. */
export const MAX_EXACT = 1 << 24;

/** Fills up to this many elements are uploaded rather than computed on webgpu. */
const SMALL_FILL = 4096;

/** float64 asked of a gpu.js device. */
export class GpuDTypeError extends TypeError {
  override name = 'DTypeError';
}

/** A buffer on a gpu.js device. Uploaded int32 data keeps a host copy, for index bounds checks. */
export class GpuRaw implements Raw {
  constructor(
    readonly device: string,
    readonly dtype: DType,
    readonly size: number,
    readonly buf: DeviceBuf,
    readonly hostIndex?: Int32Array,
  ) {}
}

function identity(x: number): number {
  return x;
}

const fnIds = new WeakMap<object, number>();
let nextFnId = 0;
const fnId = (f: object): number => {
  let id = fnIds.get(f);
  if (id === undefined) fnIds.set(f, (id = nextFnId++));
  return id;
};

export class GpuJsBackend implements Backend {
  /** Data lives in device buffers; even the synchronous modes' readSync returns a copy. */
  readonly hostData: boolean = false;
  private readonly tracker: MemoryTracker;
  private readonly broken = new Set<string>();
  /** Checks of values that were not readable when their op was called (see deferCheck). */
  private deferred: Promise<void>[] = [];
  private deferredError: Error | null = null;

  constructor(
    readonly device: GpuJsDevice,
    private readonly rt: Runtime,
    readonly description: string,
  ) {
    this.tracker = new MemoryTracker(device);
  }

  /** True on webgpu: results are promises inside, `readSync` throws, reads must be awaited. */
  get isAsync(): boolean {
    return this.rt.async;
  }
  /** Device buffers not yet freed: memory() counts what tensors hold, this what the device does
   * (it lags on webgpu while queued ops still read disposed buffers). */
  liveDeviceBuffers(): number {
    return this.rt.liveBuffers;
  }
  /** Sends float32 products to the tiled WGSL kernel (webgpu; kernels/gpujs/wgsl_matmul.ts) or back
   * to gpu.js's; returns whether the WGSL kernel is in use (false where it is not available). On by
   * default (VLGRAD_WGSL_MATMUL=0 turns it off): on an H200 it cut a step's matmul time by 30-50%. */
  setWgslMatmul(on: boolean): boolean {
    this.rt.useWgslMatmul = on;
    return on && this.rt.wgslMatmul !== null;
  }
  /** gpu.js kernel calls since the device started (on webgpu each is one compute dispatch; uploads
   * and read-backs are not counted): divide a step's difference by its time per launch. */
  kernelLaunches(): number {
    return this.rt.launches;
  }
  /**
   * Runs `fn` and returns, per kernel and output size, the launches it made and the time they took,
   * slowest first: the device-side twin of `profile()`, which times enqueueing only. On webgpu each
   * launch waits for the GPU to finish it, so a row's time is the kernel's plus one round trip per
   * call (time an empty-ish kernel to know that) and the step runs slower than it does unprofiled.
   */
  deviceProfile<T>(fn: () => T | Promise<T>): Promise<{ result: T; stats: KernelTime[] }> {
    return this.rt.profile(fn, () => this.sync());
  }
  /** Waits until all work enqueued so far has been handed to the device (torch.cuda.synchronize,
   * minus waiting for the GPU itself; a read does that). */
  sync(): Promise<void> {
    return this.rt.idle().then(() => this.settleChecks());
  }

  // ---- buffers -------------------------------------------------------------------------------
  upload(data: TypedArray, dtype: DType): Raw {
    this.check('upload', dtype, data.length);
    if (dtype === 'int32') {
      for (const v of data) {
        if (!(Math.abs(v) < MAX_EXACT))
          throw new RangeError(
            `${this.device}: int32 value ${v} is beyond ±2^24, which the device's f32 storage cannot hold exactly`,
          );
      }
    }
    const host = dtype === 'int32' ? Int32Array.from(data) : undefined;
    return this.wrap(this.rt.upload(Float32Array.from(data)), dtype, data.length, host);
  }
  full(size: number, value: number, dtype: DType): Raw {
    const v = dtype === 'int32' ? (Number.isNaN(value) ? 0 : Math.trunc(value)) : value; // as Int32Array.fill
    // Small fills (the scalars every `x.mul(0.5)` lifts) are uploads: a kernel launch costs more.
    // Device memory is host memory in the synchronous modes, so there every fill is one.
    if (!this.rt.async || size <= SMALL_FILL) {
      this.check('full', dtype, size);
      return this.wrap(this.rt.upload(new Float32Array(size).fill(v)), dtype, size);
    }
    return this.launch('full', 'full', K.fullSource, size, dtype, [], [v], (be) => be.full(size, value, dtype));
  }
  read(x: Raw): Promise<TypedArray> {
    const r = this.own(x);
    const data = this.rt.host(r.buf.value).then((f) => fromFloats(f, r.dtype));
    if (this.deferred.length === 0 && !this.deferredError) return data;
    return this.settleChecks().then(() => data);
  }
  /**
   * Checks the values of `x` once they can be read (webgpu computes asynchronously): if `check`
   * throws, the next read (or `sync()`) on this device rejects with its error, as a CUDA device-side
   * assert surfaces at the next synchronization. The result of the op that asked is not to be trusted.
   */
  checkLater(x: Raw, check: (values: TypedArray) => void): void {
    const r = this.own(x);
    this.deferred.push(
      this.rt
        .host(r.buf.value)
        .then((f) => check(fromFloats(f, r.dtype)))
        .catch((e: unknown) => {
          this.deferredError ??= e instanceof Error ? e : new Error(String(e));
        }),
    );
  }
  /** Waits for the deferred checks; throws (once) the first that failed. */
  private async settleChecks(): Promise<void> {
    await Promise.all(this.deferred.splice(0));
    const e = this.deferredError;
    this.deferredError = null;
    if (e) throw e;
  }
  readSync(x: Raw): TypedArray {
    const r = this.own(x);
    if (this.rt.async) {
      throw new Error(
        `readSync: the data is on '${this.device}', which computes asynchronously; ` +
          "use `await t.itemAsync()`, `await t.data()` or `await t.toAsync('cpu')` (vlgrad never blocks on the GPU)",
      );
    }
    // a copy, hence hostData = false
    return fromFloats(this.rt.hostSync(r.buf.value as Value), r.dtype);
  }
  dispose(x: Raw): void {
    const { buf } = this.own(x);
    this.tracker.release(x, () => this.rt.release(buf));
  }
  memory(): MemoryInfo {
    return this.tracker.stats();
  }

  // ---- elementwise ---------------------------------------------------------------------------
  unary(f: ScalarFn1, x: Raw, xv: View, dtype: DType): Raw {
    return this.elementwise('unary', f, [x], [xv], dtype, (be, [a]) => be.unary(f, a, xv, dtype));
  }
  binary(f: ScalarFn2, a: Raw, av: View, b: Raw, bv: View, dtype: DType): Raw {
    return this.elementwise('binary', f, [a, b], [av, bv], dtype, (be, [p, q]) => be.binary(f, p, av, q, bv, dtype));
  }
  ternary(f: ScalarFn3, c: Raw, cv: View, a: Raw, av: View, b: Raw, bv: View, dtype: DType): Raw {
    return this.elementwise('ternary', f, [c, a, b], [cv, av, bv], dtype, (be, [p, q, s]) =>
      be.ternary(f, p, cv, q, av, s, bv, dtype),
    );
  }
  copyStrided(x: Raw, v: View): Raw {
    return this.elementwise('copyStrided', identity, [x], [v], x.dtype, (be, [a]) => be.copyStrided(a, v));
  }

  // ---- fused ops (fused.ts): a few launches where the composites take many -----------------
  adamStep(p: Raw, grad: Raw, m: Raw, v: Raw, s: AdamScalars): Raw | null {
    return F.adamStep(this.fused, p, grad, m, v, s);
  }
  emaStep(mom: Raw, on: Raw, keep: number, take: number): Raw | null {
    return F.emaStep(this.fused, mom, on, keep, take);
  }
  softmaxRows(x: Raw, n: number, log: boolean): Raw | null {
    return F.softmaxRows(this.fused, x, n, log);
  }
  layerNormRows(x: Raw, weight: Raw, bias: Raw, n: number, eps: number): Raw | null {
    return F.layerNormRows(this.fused, x, weight, bias, n, eps);
  }
  layerNormBackwardRows(g: Raw, x: Raw, weight: Raw, n: number, eps: number): Raw | null {
    return F.layerNormBackwardRows(this.fused, g, x, weight, n, eps);
  }
  /** What fused.ts and indexing.ts need of this backend. */
  private readonly fused: F.Launcher = {
    launch: (...args) => this.launch(...args),
    hasWgslAdam: () => this.rt.wgslAdam !== null,
    wgslAdam: (vals, size, s) => this.rt.adam(vals, size, s),
    dispose: (x) => this.dispose(x),
    reduce: (kind, x, shape, axes) => this.reduce(kind, x, shape, axes),
    checkIndex: (op, index, n) => this.checkIndex(op, index, n),
    replace: (dst, src) => {
      this.tracker.release(src); // accounting only: its buffer now belongs to dst
      this.rt.moveInto(this.own(dst).buf, this.own(src).buf);
    },
  };

  // ---- reductions and products ---------------------------------------------------------------
  reduce(kind: ReduceKind, x: Raw, shape: Shape, axes: readonly number[]): Raw {
    const dtype = kind === 'argmax' || kind === 'argmin' ? 'int32' : x.dtype;
    const outSize = sizeOf(shape.map((n, d) => (axes.includes(d) ? 1 : n)));
    const cpu: CpuFn = (be, [a]) => be.reduce(kind, a, shape, axes);
    if (x.size === 0) return this.full(outSize, 0, dtype); // sum over an empty dim (max/arg* are refused upstream)
    const { kept, red } = reducePlan(shape, axes);
    const args = [
      ...kept.map((k) => k.s),
      ...kept.slice(1).map((k) => k.n),
      ...red.map((r) => r.s),
      ...red.slice(1).map((r) => r.n),
      red.reduce((a, r) => a * r.n, 1),
    ];
    if ((kind === 'argmax' || kind === 'argmin') && red.length > 1)
      return this.delegate('reduce (arg over several dims)', [x], outSize, dtype, cpu);
    const chunked = F.reduceInChunks(this.fused, kind, x, shape, axes, { kept, red, args, outSize, dtype });
    if (chunked) return chunked;
    return this.launch(
      'reduce',
      `reduce:${kind}:${kept.length}:${red.length}`,
      () => K.reduceSource(kind, kept.length, red.length),
      outSize,
      dtype,
      [x],
      args,
      cpu,
    );
  }
  matmul(a: Raw, b: Raw, p: MatmulParams): Raw {
    const { m, k, n, transA, transB } = p;
    // webgpu's tiled WGSL kernel (wgsl_matmul.ts, float32) writes any result layout itself; gpu.js's
    // kernel writes [batch, m, n], which a gather then moves to the layout of `cOffsets`
    const direct = a.dtype === 'float32' && k > 0 && this.rt.takesWgslMatmul(p);
    if (p.cOffsets && !direct)
      return this.scatterRows(this.matmul(a, b, { ...p, cOffsets: undefined, cRowStride: undefined }), p);
    const size = p.cSize ?? p.batch * m * n;
    if (k === 0) return this.full(size, 0, a.dtype);
    const { lda, ldb, ldc } = matmulStrides(p);
    const strides = [transA ? 1 : lda, transA ? lda : 1, transB ? 1 : ldb, transB ? ldb : 1];
    const offsets = [Float32Array.from(p.aOffsets), Float32Array.from(p.bOffsets)];
    const [asi, ask, bsk, bsj] = strides;
    const wgsl = direct
      ? (vals: Value[]) => {
          const c = this.rt.matmul(vals[0], vals[1], { ...p, asi, ask, bsk, bsj, ldc });
          // gpu.js's kernel cannot stand in for a scattered result: never the case on webgpu
          if (c === null && p.cOffsets) throw new Error('gpu.js backend: the WGSL matmul declined a scattered result');
          return c;
        }
      : undefined;
    return this.launch(
      'matmul',
      'matmul',
      K.matmulSource,
      size,
      a.dtype,
      [a, b],
      [...offsets, ...strides, k, m, n],
      (be, [x, y]) => be.matmul(x, y, p),
      'matmul',
      wgsl,
    );
  }
  /** Moves a contiguous [batch, m, n] product to the result layout of `p.cOffsets` (one gather). */
  private scatterRows(dense: Raw, p: MatmulParams): Raw {
    const { m, n } = p,
      { ldc } = matmulStrides(p),
      size = p.cSize ?? p.batch * m * n;
    const index = new Int32Array(size);
    for (let i = 0; i < p.batch; i++)
      for (let r = 0; r < m; r++) for (let j = 0; j < n; j++) index[p.cOffsets![i] + r * ldc + j] = (i * m + r) * n + j;
    const idx = this.upload(index, 'int32');
    const out = this.gather(dense, [dense.size], 0, idx, [size]);
    this.dispose(idx);
    this.dispose(dense);
    return out;
  }

  // ---- movement ------------------------------------------------------------------------------
  writeStrided(base: Raw, region: View, src: Raw): Raw {
    // An empty region writes nothing: a copy of base (the kernel would read an empty src as garbage).
    if (src.size === 0) return this.cast(base, base.dtype);
    const cpu: CpuFn = (be, [x, s]) => be.writeStrided(x, region, s);
    const plan = regionPlan(region);
    if (!plan)
      return this.delegate('writeStrided (overlapping or unordered region)', [base, src], base.size, base.dtype, cpu);
    const r = plan.S.length;
    return this.launch(
      'writeStrided',
      `writeStrided:${r}`,
      () => K.writeStridedSource(r),
      base.size,
      base.dtype,
      [base, src],
      [region.offset, ...plan.S, ...plan.R, ...plan.ss],
      cpu,
    );
  }
  cast(x: Raw, dtype: DType): Raw {
    this.check('cast', dtype, x.size);
    const toInt = dtype === 'int32' && x.dtype !== 'int32';
    const v = { shape: [x.size], strides: [1], offset: 0 };
    return this.elementwise(toInt ? 'cast' : 'copyStrided', identity, [x], [v], dtype, (be, [a]) => be.cast(a, dtype));
  }

  // ---- indexing (indexing.ts) ---------------------------------------------------------------
  gather(x: Raw, xShape: Shape, dim: number, index: Raw, indexShape: Shape): Raw {
    return I.gather(this.fused, x, xShape, dim, index, indexShape);
  }
  scatterAdd(base: Raw, baseShape: Shape, dim: number, index: Raw, src: Raw, srcShape: Shape): Raw {
    return I.scatterAdd(this.fused, base, baseShape, dim, index, src, srcShape);
  }
  indexSelect(x: Raw, xShape: Shape, dim: number, index: Raw): Raw {
    return I.indexSelect(this.fused, x, xShape, dim, index);
  }
  indexAdd(base: Raw, baseShape: Shape, dim: number, index: Raw, src: Raw): Raw {
    return I.indexAdd(this.fused, base, baseShape, dim, index, src);
  }

  // ---- machinery -----------------------------------------------------------------------------
  private elementwise(
    op: string,
    f: ScalarFn1 | ScalarFn2 | ScalarFn3,
    xs: Raw[],
    views: View[],
    dtype: DType,
    cpu: CpuFn,
  ): Raw {
    const { shape, strides } = mergeViews(views);
    const r = shape.length,
      intOut = dtype === 'int32';
    const args = [...views.flatMap((v, j) => [v.offset, ...strides[j]]), ...shape.slice(1)];
    return this.launch(
      op,
      `ew:${fnId(f)}:${xs.length}:${r}:${intOut}`,
      () => K.elementwiseSource(f, xs.length, r, intOut),
      sizeOf(views[0].shape),
      dtype,
      xs,
      args,
      cpu,
      f === identity ? op : `${op} ${f.name || 'anonymous'}`, // e.g. 'binary add' in deviceProfile
    );
  }

  /** Runs kernel `key` over `size` outputs on `inputs` (then `extra` args); the CPU reference if
   * the kernel cannot be built on this device. `label` names it in deviceProfile (default `op`).
   * `custom`, when given, runs first and the kernel only where it returns null. */
  private launch(
    op: string,
    key: string,
    make: () => KernelSource,
    size: number,
    dtype: DType,
    inputs: Raw[],
    extra: unknown[],
    cpu: CpuFn,
    label = op,
    custom?: (vals: Value[]) => Value | Promise<Value> | null,
  ): Raw {
    this.check(op, dtype, size);
    const raws = inputs.map((x) => this.own(x));
    if (size === 0) return this.wrap(new Float32Array(0), dtype, 0);
    const value = this.rt.exec(
      raws.map((x) => x.buf),
      (vals) => {
        if (this.broken.has(key)) return this.onCpu(`${op} (kernel failed to build)`, raws, vals, cpu);
        const fail = (e: unknown): Value | Promise<Value> => {
          if (this.rt.isBuilt(key)) throw e;
          this.broken.add(key);
          warn(
            `vlgrad ${this.device}: kernel ${key} failed to build; using the CPU (${String((e as Error).message ?? e).split('\n')[0]})`,
          );
          return this.onCpu(`${op} (kernel failed to build)`, raws, vals, cpu);
        };
        try {
          const r = custom?.(vals) ?? this.rt.call(key, make, size, [...vals, ...extra], label);
          return r instanceof Promise ? r.catch(fail) : r;
        } catch (e) {
          return fail(e);
        }
      },
    );
    return this.wrap(value, dtype, size);
  }

  /** Explicit delegation to the CPU reference, counted in fallbacks(). */
  private delegate(op: string, inputs: Raw[], size: number, dtype: DType, cpu: CpuFn): Raw {
    this.check(op, dtype, size);
    const raws = inputs.map((x) => this.own(x));
    return this.wrap(
      this.rt.exec(
        raws.map((x) => x.buf),
        (vals) => this.onCpu(op, raws, vals, cpu),
      ),
      dtype,
      size,
    );
  }

  /** Computes on cpu-ref from host copies of `vals` and puts the result back on the device. */
  private onCpu(op: string, raws: GpuRaw[], vals: Value[], cpu: CpuFn): Value | Promise<Value> {
    countFallback(this.device, op);
    const finish = (hosts: Float32Array[]): Value => {
      const xs = hosts.map((h, i) => cpuRef.upload(fromFloats(h, raws[i].dtype), raws[i].dtype));
      const out = cpu(cpuRef, xs);
      const data = Float32Array.from(cpuRef.readSync(out));
      for (const x of [...xs, out]) cpuRef.dispose(x);
      return this.rt.upload(data);
    };
    if (!this.rt.async) return finish(vals.map((v) => this.rt.hostSync(v)));
    return Promise.all(vals.map((v) => this.rt.host(v))).then(finish);
  }

  private wrap(value: Value | Promise<Value>, dtype: DType, size: number, hostIndex?: Int32Array): GpuRaw {
    const buf = this.rt.buf(value);
    const raw = new GpuRaw(this.device, dtype, size, buf, hostIndex);
    this.tracker.track(raw, size * 4, () => this.rt.release(buf));
    return raw;
  }

  private own(x: Raw): GpuRaw {
    if (!(x instanceof GpuRaw) || x.device !== this.device)
      throw new Error(`${this.device} backend: got a buffer from device '${x.device}'`);
    return x;
  }

  private check(op: string, dtype: DType, size: number): void {
    if (dtype === 'float64') {
      throw new GpuDTypeError(
        `${op}: float64 is not supported on '${this.device}' (WGSL has no f64); ` +
          "keep float64 tensors on 'cpu' or convert them with .to('float32')",
      );
    }
    if (size > MAX_EXACT) {
      throw new RangeError(
        `${op}: ${size} elements is more than '${this.device}' supports (2^24 = ${MAX_EXACT}: index math is f32)`,
      );
    }
  }

  /** Index bounds, where the indices came from the host (device-computed ones are not checked). */
  private checkIndex(op: string, index: Raw, n: number): void {
    const host = this.own(index).hostIndex;
    if (!host) return;
    for (const i of host)
      if (i < 0 || i >= n) throw new RangeError(`${op}: index ${i} is out of bounds for a dimension of size ${n}`);
  }
}

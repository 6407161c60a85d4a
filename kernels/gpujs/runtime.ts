/**
 * The execution layer under the gpu.js backends: device buffers, the kernel cache, and the order
 * in which work runs.
 *
 * webgpu is asynchronous: a gpu.js call returns a Promise of a device handle, and a handle must be
 * resolved before it is passed on. Each op therefore chains onto one queue (`tail`) and returns at
 * once with a DeviceBuf whose value is a Promise; nothing in the engine awaits. One queue in
 * program order mirrors WebGPU's single device queue, and also keeps gpu.js from building or
 * resizing one kernel for two calls at once. webasm and gpu.js cpu mode are synchronous: values
 * are Float32Arrays and ops run on the spot.
 */
import type { AdamScalars, DType } from '../backend.js';
import { envVar } from '../platform.js';
import type { DeviceHandle, GpuJsKernel, GpuJsMode, Started } from './loader.js';
import { createWgslAdam, type WgslAdam } from './wgsl_adam.js';
import type { WgslDevice } from './wgsl_device.js';
import { createWgslMatmul, wgslMatmulFits, type WgslMatmul, type WgslMatmulArgs } from './wgsl_matmul.js';

/** What a device buffer holds: host floats (webasm, cpu mode) or a WebGPU handle. */
export type Value = Float32Array | DeviceHandle;

/** One row of `deviceProfile`: a kernel key and output size, its launches and their total ms. */
export interface KernelTime {
  kernel: string;
  calls: number;
  ms: number;
}

/**
 * One device allocation. `uses` counts queued ops that still have to read it, so a dispose()
 * issued while they are pending frees it only after they ran.
 */
export class DeviceBuf {
  uses = 0;
  released = false;
  freed = false;
  constructor(public value: Value | Promise<Value>) {}
}

/** A gpu.js kernel's source and argument types (arrays first, then scalars, in call order). */
export interface KernelSource {
  src: string;
  types: Record<string, 'Array' | 'Integer' | 'Float'>;
  functions?: ((...xs: number[]) => number)[];
}

const EMPTY = new Float32Array(0);
const WEBASM_MODULES = 64;
// WebGPU cannot bind a zero-byte buffer; an empty input is never read, so one float stands in.
const PLACEHOLDER = new Float32Array(1);
const noop = (): void => {};

function isHandle(v: Value): v is DeviceHandle {
  return !(v instanceof Float32Array);
}

export class Runtime {
  readonly async: boolean;
  private tail: Promise<unknown> = Promise.resolve();
  private readonly kernels = new Map<string, GpuJsKernel>();
  private readonly built = new Set<string>();
  /** Kernel whose readback path serves handles made by `upload` (webgpu). */
  private reader: GpuJsKernel | null = null;

  constructor(
    readonly mode: GpuJsMode,
    private readonly started: Started,
  ) {
    this.async = mode === 'webgpu';
  }

  /** The cached kernel for `key`, created from `make()` on first use. */
  kernel(key: string, make: () => KernelSource): GpuJsKernel {
    let k = this.kernels.get(key);
    if (!k) {
      const s = make();
      k = this.started.gpu.createKernel(s.src, {
        output: [1],
        argumentTypes: s.types,
        functions: s.functions ?? [],
        pipeline: true,
        immutable: true,
        dynamicOutput: true,
        dynamicArguments: true,
        loopMaxIterations: 1 << 30,
      });
      // webasm compiles one module per size signature and keeps 8 per kernel; a training step
      // calls e.g. `mul` at a few dozen sizes, and recompiling made each call ~1 ms.
      const inner = k.kernel as { moduleCacheLimit?: number } | undefined;
      if (inner && 'moduleCacheLimit' in inner) inner.moduleCacheLimit = WEBASM_MODULES;
      this.kernels.set(key, k);
    }
    return k;
  }

  /** Whether `key` has run successfully once (a failure before that is a build failure). */
  isBuilt(key: string): boolean {
    return this.built.has(key);
  }

  /** gpu.js kernel calls so far (on webgpu each is one compute dispatch): what a step costs in launches. */
  launches = 0;

  /**
   * When set, each launch adds its time to this map under `label size` (see GpuJsBackend.deviceProfile).
   * On webgpu a launch then waits for the device to finish it (`onSubmittedWorkDone`), so the time
   * is the kernel's own plus one round trip, and launches no longer overlap: for profiling only.
   */
  kernelTimes: Map<string, { calls: number; ms: number }> | null = null;

  /** Runs `fn` with every launch timed (kernelTimes) and returns the rows, slowest first;
   * `sync` waits for queued work (GpuJsBackend.deviceProfile). */
  async profile<T>(fn: () => T | Promise<T>, sync: () => Promise<void>): Promise<{ result: T; stats: KernelTime[] }> {
    await sync();
    const outer = this.kernelTimes;
    const times = new Map<string, { calls: number; ms: number }>();
    this.kernelTimes = times;
    try {
      const result = await fn();
      await sync();
      const stats = [...times].map(([kernel, s]) => ({ kernel, ...s })).sort((a, b) => b.ms - a.ms);
      return { result, stats };
    } finally {
      this.kernelTimes = outer;
    }
  }

  private timed(name: string, size: number, t0: number): void {
    const times = this.kernelTimes;
    if (!times) return;
    const label = `${name} ${size}`;
    const s = times.get(label) ?? { calls: 0, ms: 0 };
    s.calls++;
    s.ms += performance.now() - t0;
    times.set(label, s);
  }

  /** Calls kernel `key` over `size` outputs; a Promise on webgpu. `label` names it in kernelTimes. */
  call(key: string, make: () => KernelSource, size: number, args: unknown[], label = key): Value | Promise<Value> {
    const k = this.kernel(key, make);
    this.launches++;
    k.setOutput([size]);
    const t0 = performance.now();
    const r = k(...args.map((a) => (a instanceof Float32Array && a.length === 0 ? PLACEHOLDER : a)));
    if (r instanceof Promise) {
      return r.then((v: DeviceHandle) => {
        this.built.add(key);
        return this.afterTimed(label, size, t0, v);
      });
    }
    this.built.add(key);
    this.timed(label, size, t0);
    return r as Float32Array;
  }

  /** `v` once a profiled webgpu launch has finished on the device and its time is recorded (at once
   * when not profiling). */
  private afterTimed(label: string, size: number, t0: number, v: DeviceHandle): DeviceHandle | Promise<DeviceHandle> {
    if (!this.kernelTimes) return v;
    return (this.started.device?.queue?.onSubmittedWorkDone() ?? Promise.resolve()).then(() => {
      this.timed(label, size, t0);
      return v;
    });
  }

  /** A gpu.js handle on a buffer of `size` floats made outside gpu.js (uploads, the WGSL matmul). */
  private handle(buffer: unknown, size: number): DeviceHandle {
    const { context, module } = this.started;
    return new module.WebGPUBufferResult({ buffer, output: [size], context, kernel: this.reader!.kernel });
  }

  /**
   * Runs `compute` on the values of `inputs` once they exist: now (sync modes) or after everything
   * queued before it (webgpu). Inputs stay allocated until it has run.
   */
  exec(inputs: readonly DeviceBuf[], compute: (vals: Value[]) => Value | Promise<Value>): Value | Promise<Value> {
    for (const b of inputs) if (b.freed) throw new Error('gpu.js backend: a buffer was used after it was disposed');
    if (!this.async) return compute(inputs.map((b) => b.value as Value));
    for (const b of inputs) b.uses++;
    const p = this.tail.then(async () => compute(await Promise.all(inputs.map((b) => b.value))));
    const done = (): void => {
      for (const b of inputs) {
        b.uses--;
        this.maybeFree(b);
      }
    };
    p.then(done, done);
    p.catch(noop); // errors surface at the next read of a result, as tfjs does
    this.tail = p.then(noop, noop);
    return p;
  }

  /** Device buffers allocated and not yet freed (a freed one may still be pending on webgpu). */
  liveBuffers = 0;

  /** A new device buffer holding `value`. */
  buf(value: Value | Promise<Value>): DeviceBuf {
    this.liveBuffers++;
    return new DeviceBuf(value);
  }

  /** Resolves once everything queued so far has been submitted to the device (and the buffers
   * that waited for it are freed). */
  async idle(): Promise<void> {
    await this.tail;
    await new Promise((r) => setImmediate(r));
  }

  /**
   * An in-place update: from this point in program order `dst` holds what `src` holds, so ops queued
   * before read the old value and ops queued after the new one. The old value leaves with `src`,
   * which is released here and must not be used again.
   */
  moveInto(dst: DeviceBuf, src: DeviceBuf): void {
    const swap = (): void => {
      const old = dst.value;
      dst.value = src.value;
      src.value = old;
    };
    if (!this.async) {
      swap();
      this.release(src);
      return;
    }
    dst.uses++; // neither may be freed before the swap has run
    src.uses++;
    const p = this.tail.then(() => {
      swap();
      dst.uses--;
      src.uses--;
      this.release(src);
      this.maybeFree(dst);
    });
    this.tail = p.then(noop, noop);
  }

  /** Marks `b` as no longer referenced; its memory goes once no queued op needs it. */
  release(b: DeviceBuf): void {
    b.released = true;
    this.maybeFree(b);
  }

  private maybeFree(b: DeviceBuf): void {
    if (!b.released || b.uses > 0 || b.freed) return;
    b.freed = true;
    this.liveBuffers--;
    const free = (v: Value): void => {
      if (isHandle(v)) v.delete();
    };
    if (b.value instanceof Promise) b.value.then(free, noop);
    else free(b.value);
  }

  /** Host floats onto the device, synchronously (webgpu: a mapped-at-creation buffer). Takes
   * ownership of `data` (the synchronous modes keep it as the buffer). */
  upload(data: Float32Array): Value {
    if (data.length === 0) return EMPTY;
    if (!this.async) return data;
    const { device } = this.started;
    const buffer = device!.createBuffer({ size: data.byteLength, usage: 0x80 | 0x04 | 0x08, mappedAtCreation: true });
    new Float32Array(buffer.getMappedRange()).set(data); // STORAGE | COPY_SRC | COPY_DST
    buffer.unmap();
    return this.handle(buffer, data.length);
  }

  /** Builds the kernel that reads uploaded buffers back (webgpu needs a built kernel for that), and
   * on webgpu compiles the tiled WGSL matmul (used when `useWgslMatmul`). */
  async prepare(): Promise<void> {
    if (!this.async) return;
    const make = (): KernelSource => ({ src: 'function (v) { return v; }', types: { v: 'Float' } });
    const h = (await this.call('reader', make, 1, [0])) as DeviceHandle;
    h.delete();
    this.reader = this.kernel('reader', make);
    const device = this.started.device as unknown as WgslDevice;
    try {
      this.wgslMatmul = await createWgslMatmul(device);
    } catch {
      this.wgslMatmul = null; // the gpu.js kernel serves every product
    }
    try {
      this.wgslAdam = await createWgslAdam(device);
    } catch {
      this.wgslAdam = null; // gpu.js's three kernels serve every step
    }
  }

  /** The one-launch Adam(W) step (webgpu only; wgsl_adam.ts), or null where it did not compile. */
  wgslAdam: WgslAdam | null = null;

  /** One Adam(W) step through the WGSL kernel (only where `wgslAdam` compiled): m and v rewritten in
   * place, the new parameter returned; counted and profiled like `call`. */
  adam(vals: Value[], size: number, s: AdamScalars): Value | Promise<Value> {
    const [p, g, m, v] = vals;
    if (!this.wgslAdam) throw new Error('adamStep: the WGSL Adam kernel is not compiled on this device');
    if (!isHandle(p) || !isHandle(g) || !isHandle(m) || !isHandle(v))
      throw new Error('adamStep: an operand of the WGSL Adam step is not a device buffer');
    const t0 = performance.now();
    const buffer = this.wgslAdam(p, g, m, v, size, s);
    this.launches++;
    return this.afterTimed('adamStep (wgsl)', size, t0, this.handle(buffer, size));
  }

  /** The tiled WGSL matmul (webgpu only; wgsl_matmul.ts), or null where it did not compile. */
  wgslMatmul: WgslMatmul | null = null;
  /** Whether float32 products go to the WGSL kernel: on unless VLGRAD_WGSL_MATMUL=0. On an H200 it
   * averaged 0.11-0.13 ms a launch against 0.18-0.22 for gpu.js's kernel on ALBEF-tiny's products
   * and 0.22-0.28 against 0.39-0.44 on the layer step's (bench/RESULTS.md, session 15). */
  useWgslMatmul = envVar('VLGRAD_WGSL_MATMUL') !== '0';

  /** Whether a float32 product of this shape goes to the WGSL kernel (on, compiled, grid fits). */
  takesWgslMatmul(p: Pick<WgslMatmulArgs, 'm' | 'n' | 'batch'>): boolean {
    return this.useWgslMatmul && this.wgslMatmul !== null && wgslMatmulFits(p);
  }

  /** One product through the WGSL kernel (the backend asked `takesWgslMatmul` when it queued it),
   * counted and profiled like `call`; null where it declines. */
  matmul(a: Value, b: Value, p: WgslMatmulArgs): Value | Promise<Value> | null {
    if (!this.wgslMatmul || !isHandle(a) || !isHandle(b)) return null;
    const t0 = performance.now();
    const buffer = this.wgslMatmul(a, b, p);
    if (!buffer) return null;
    this.launches++;
    const size = p.cSize ?? p.batch * p.m * p.n;
    return this.afterTimed('matmul (wgsl)', size, t0, this.handle(buffer, size));
  }

  /** A buffer's floats on the host (sync modes only). */
  hostSync(v: Value): Float32Array {
    if (isHandle(v)) throw new Error('gpu.js backend: a device handle cannot be read synchronously');
    return v;
  }

  /** A buffer's floats on the host. */
  async host(v: Value | Promise<Value>): Promise<Float32Array> {
    const r = await v;
    if (!isHandle(r)) return r;
    const out = await r.toArray();
    if (!(out instanceof Float32Array)) throw new Error('gpu.js backend: unexpected readback shape');
    return out;
  }
}

/** Host floats as the typed array of `dtype` (int32 is stored as exact floats on the device). */
export function fromFloats(f: Float32Array, dtype: DType): Float32Array | Int32Array {
  return dtype === 'int32' ? Int32Array.from(f) : f.slice();
}

/** Tensor factories. Every random factory takes an optional `rng` (default: the global one). */
import { allocArray, type Backend, type DType, type TypedArray } from '../kernels/backend.js';
import { defaultBackend } from '../kernels/select.js';
import { defaultRng, type Rng } from './random.js';
import {
  checkDType,
  checkInt32,
  contiguousStrides,
  fmt,
  INT32_MAX,
  INT32_MIN,
  ShapeError,
  sizeOf,
  type Shape,
} from './shape.js';
import { Tensor, type NestedArray } from './tensor.js';

export interface TensorOpts {
  dtype?: DType;
  requiresGrad?: boolean;
  device?: Backend;
  rng?: Rng;
}

function make(data: TypedArray, shape: Shape, opts: TensorOpts, dtype: DType): Tensor {
  const be = opts.device ?? defaultBackend();
  const t = new Tensor(be.upload(data, dtype), [...shape], be);
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

/** A zeroed array of `n` elements for a factory named `op`, after checking the dtype. */
function alloc(op: string, dtype: DType, n: number): TypedArray {
  checkDType(op, dtype);
  return allocArray(dtype, n);
}

function flattenNested(data: NestedArray, op: string): { values: number[]; shape: number[] } {
  const shape: number[] = [];
  for (let d: NestedArray = data; Array.isArray(d); d = d[0]) shape.push(d.length);
  const values: number[] = [];
  const walk = (x: NestedArray, depth: number): void => {
    if (depth === shape.length) {
      if (typeof x !== 'number')
        throw new ShapeError(`${op}: ragged nested array (expected a number at depth ${depth})`);
      values.push(x);
      return;
    }
    if (!Array.isArray(x) || x.length !== shape[depth])
      throw new ShapeError(`${op}: ragged nested array at depth ${depth} (expected length ${shape[depth]})`);
    for (const y of x) walk(y, depth + 1);
  };
  walk(data, 0);
  return { values, shape };
}

/**
 * A tensor from nested arrays or a number, or from a typed array plus `shape`. The dtype defaults to
 * float32 (int32 for an Int32Array, float64 for a Float64Array).
 */
export function tensor(data: NestedArray | TypedArray, opts: TensorOpts & { shape?: Shape } = {}): Tensor {
  if (ArrayBuffer.isView(data)) {
    const arr = data as TypedArray;
    const shape = opts.shape ?? [arr.length];
    if (sizeOf(shape) !== arr.length)
      throw new ShapeError(`tensor: shape ${fmt(shape)} needs ${sizeOf(shape)} values, got ${arr.length}`);
    const dtype =
      opts.dtype ?? (arr instanceof Int32Array ? 'int32' : arr instanceof Float64Array ? 'float64' : 'float32');
    checkDType('tensor', dtype);
    if (dtype === 'int32' && !(arr instanceof Int32Array)) checkInt32('tensor', arr);
    return make(arr, shape, opts, dtype);
  }
  const { values, shape } = flattenNested(data, 'tensor');
  const dtype = opts.dtype ?? 'float32';
  const arr = alloc('tensor', dtype, values.length);
  if (dtype === 'int32') checkInt32('tensor', values);
  arr.set(values);
  if (opts.shape && sizeOf(opts.shape) !== values.length) {
    throw new ShapeError(
      `tensor: shape ${fmt(opts.shape)} needs ${sizeOf(opts.shape)} values, got ${values.length} (${fmt(shape)})`,
    );
  }
  return make(arr, opts.shape ?? shape, opts, dtype);
}

export function full(shape: Shape, value: number, opts: TensorOpts = {}): Tensor {
  return filled('full', shape, value, opts);
}
export function zeros(shape: Shape, opts: TensorOpts = {}): Tensor {
  return filled('zeros', shape, 0, opts);
}
export function ones(shape: Shape, opts: TensorOpts = {}): Tensor {
  return filled('ones', shape, 1, opts);
}
export function zerosLike(x: Tensor, opts: TensorOpts = {}): Tensor {
  return filled('zerosLike', x.shape, 0, like(x, opts));
}
export function onesLike(x: Tensor, opts: TensorOpts = {}): Tensor {
  return filled('onesLike', x.shape, 1, like(x, opts));
}
export function fullLike(x: Tensor, value: number, opts: TensorOpts = {}): Tensor {
  return filled('fullLike', x.shape, value, like(x, opts));
}
export function randLike(x: Tensor, opts: TensorOpts = {}): Tensor {
  return rand(x.shape, like(x, opts));
}
export function randnLike(x: Tensor, opts: TensorOpts = {}): Tensor {
  return randn(x.shape, like(x, opts));
}

/** A tensor of `shape` filled with `value`, for the factory named `op`. */
function filled(op: string, shape: Shape, value: number, opts: TensorOpts): Tensor {
  checkShape(op, shape);
  const dtype = opts.dtype ?? 'float32';
  checkDType(op, dtype);
  if (dtype === 'int32') checkInt32(op, [value]);
  // The device fills its own buffer (no host array to upload; on the meta device, no data at all).
  const be = opts.device ?? defaultBackend();
  const t = new Tensor(be.full(sizeOf(shape), value, dtype), [...shape], be);
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

/** A copy of `x`'s data in fresh storage on the same device, cut from the graph (torch's
 * `x.detach().clone()`): writing one never changes the other. For optimizer state, EMA copies
 * and loaded checkpoints. */
export function cloneData(x: Tensor): Tensor {
  const raw = x.backend.copyStrided(x.raw, { shape: x.shape, strides: contiguousStrides(x.shape), offset: 0 });
  return new Tensor(raw, [...x.shape], x.backend);
}

function like(x: Tensor, opts: TensorOpts): TensorOpts {
  return { dtype: x.dtype, device: x.backend, ...opts };
}

function checkShape(op: string, shape: Shape): void {
  if (!Array.isArray(shape) || !shape.every((n) => Number.isInteger(n) && n >= 0)) {
    throw new ShapeError(
      `${op}: invalid shape ${Array.isArray(shape) ? fmt(shape) : String(shape)} (expected integers >= 0)`,
    );
  }
}

/** start, start+step, ... < end (float32 by default; int32 when all arguments are integers).
 * As torch.arange: the bounds must be finite and the step must point from start towards end. */
export function arange(start: number, end?: number, step = 1, opts: TensorOpts = {}): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (![start, end, step].every(Number.isFinite)) {
    throw new RangeError(`arange: start ${start}, end ${end} and step ${step} must be finite numbers`);
  }
  if (step === 0) throw new RangeError('arange: step must be non-zero');
  if ((end - start) * step < 0) {
    throw new RangeError(
      `arange: step ${step} points away from end ${end} (start ${start}); use a step of the other sign`,
    );
  }
  const n = Math.ceil((end - start) / step);
  const dtype = opts.dtype ?? ([start, end, step].every(Number.isInteger) ? 'int32' : 'float32');
  const arr = alloc('arange', dtype, n);
  for (let i = 0; i < n; i++) arr[i] = start + i * step;
  if (dtype === 'int32') checkInt32('arange', [start, start + (n - 1) * step]);
  return make(arr, [n], opts, dtype);
}

/** `steps` evenly spaced values from start to end inclusive. */
export function linspace(start: number, end: number, steps: number, opts: TensorOpts = {}): Tensor {
  if (!(Number.isInteger(steps) && steps >= 0))
    throw new RangeError(`linspace: steps must be an integer >= 0, got ${steps}`);
  const dtype = opts.dtype ?? 'float32';
  const arr = alloc('linspace', dtype, steps);
  for (let i = 0; i < steps; i++) arr[i] = steps === 1 ? start : start + ((end - start) * i) / (steps - 1);
  if (dtype === 'int32') checkInt32('linspace', [start, end]);
  return make(arr, [steps], opts, dtype);
}

/** The n x m identity (m defaults to n). */
export function eye(n: number, m = n, opts: TensorOpts = {}): Tensor {
  if (!(Number.isInteger(n) && n >= 0 && Number.isInteger(m) && m >= 0)) {
    throw new RangeError(`eye: n and m must be integers >= 0, got n=${n}, m=${m}`);
  }
  const dtype = opts.dtype ?? 'float32';
  const arr = alloc('eye', dtype, n * m);
  for (let i = 0; i < Math.min(n, m); i++) arr[i * m + i] = 1;
  return make(arr, [n, m], opts, dtype);
}

function random(shape: Shape, opts: TensorOpts, draw: (r: Rng) => number, op: string, dtype: DType): Tensor {
  checkShape(op, shape);
  const r = opts.rng ?? defaultRng();
  const arr = alloc(op, dtype, sizeOf(shape));
  for (let i = 0; i < arr.length; i++) arr[i] = draw(r);
  return make(arr, shape, opts, dtype);
}

/** Uniform on [0, 1). */
export function rand(shape: Shape, opts: TensorOpts = {}): Tensor {
  return random(shape, opts, (r) => r.uniform(), 'rand', opts.dtype ?? 'float32');
}
/** Standard normal. */
export function randn(shape: Shape, opts: TensorOpts = {}): Tensor {
  return random(shape, opts, (r) => r.normal(), 'randn', opts.dtype ?? 'float32');
}
/** Uniform integers in [low, high) (int32 by default). */
export function randint(low: number, high: number, shape: Shape, opts: TensorOpts = {}): Tensor {
  const dtype = opts.dtype ?? 'int32';
  if (!(Number.isSafeInteger(low) && Number.isSafeInteger(high) && low < high)) {
    throw new RangeError(`randint: expected integers low < high, got low=${low}, high=${high}`);
  }
  // high is exclusive: [-2^31, 2^31) is the widest int32 range.
  if (dtype === 'int32' && (low < INT32_MIN || high > INT32_MAX + 1)) {
    throw new RangeError(
      `randint: [${low}, ${high}) does not fit int32 (expected ${INT32_MIN} <= low < high <= 2^31); pass { dtype: 'float64' } for a wider range`,
    );
  }
  return random(shape, opts, (r) => r.int(low, high), 'randint', dtype);
}

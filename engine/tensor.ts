/**
 * Tensor: a shape, a device buffer and autograd bookkeeping. The methods are one-line sugar over
 * the functions in ops/ and functional.ts, so each computation is written in exactly one place.
 */
import type { Backend, DType, Raw, TypedArray } from '../kernels/backend.js';
import { getBackend } from '../kernels/select.js';
import { backward, retainGrad } from './autograd.js';
import * as F from './functional.js';
import { releaseRaw, retainRaw, trackTensor } from './memory.js';
import type { Node } from './op.js';
import type { SliceSpec } from './ops/movement.js';
import { DTYPES, DTypeError, fmt, isFloat, sizeOf, type Shape } from './shape.js';
import { nextWrite } from './version.js';

/** A number or a tensor: binary ops accept either. */
export type TensorLike = Tensor | number;
type Dims = number | readonly number[];

/** Nested arrays, as `toArray()` returns them. */
export type NestedArray = number | NestedArray[];

export class Tensor {
  /** The op that produced this tensor, for autograd; null for leaves. */
  node: Node | null = null;
  /** Accumulated gradient after `backward()` (leaves, and tensors that called `retainGrad()`). */
  grad: Tensor | null = null;
  /** Set by retainGrad(): keep this non-leaf's gradient. */
  retainsGrad = false;
  private _requiresGrad = false;
  private _disposed = false;
  private _version = 0;
  private _writeStamp = 0;

  constructor(
    public raw: Raw,
    readonly shape: Shape,
    readonly backend: Backend,
  ) {
    retainRaw(raw);
    trackTensor(this);
  }

  get dtype(): DType {
    return this.raw.dtype;
  }
  get ndim(): number {
    return this.shape.length;
  }
  get size(): number {
    return sizeOf(this.shape);
  }
  get device(): string {
    return this.backend.device;
  }
  get isLeaf(): boolean {
    return this.node === null;
  }
  get isDisposed(): boolean {
    return this._disposed;
  }
  /** How many in-place writes (`assign`) this tensor has had (PyTorch's `_version`). */
  get version(): number {
    return this._version;
  }
  /** The write clock at the last in-place write (engine/version.ts); 0 if never written. */
  get writeStamp(): number {
    return this._writeStamp;
  }
  get requiresGrad(): boolean {
    return this._requiresGrad;
  }
  set requiresGrad(flag: boolean) {
    if (flag && !isFloat(this.dtype))
      throw new DTypeError(`requiresGrad: only float tensors can require grad, got ${this.dtype} ${fmt(this.shape)}`);
    this._requiresGrad = flag;
  }

  /** Marks a leaf as requiring grad (in place); returns this. */
  requiresGrad_(flag = true): this {
    if (!this.isLeaf && !flag) throw new Error('requiresGrad_: cannot turn off grad of a non-leaf; use detach()');
    this.requiresGrad = flag;
    return this;
  }
  /** The same data, cut from the graph. */
  detach(): Tensor {
    return new Tensor(this.raw, this.shape, this.backend);
  }
  retainGrad(): this {
    retainGrad(this);
    return this;
  }
  backward(grad?: Tensor, opts: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    backward(this, grad, opts);
  }

  /** A copy of the data on the host (synchronous: CPU only). */
  dataSync(): TypedArray {
    return this.backend.readSync(this.live('dataSync')).slice();
  }
  /** A copy of the data on the host, when the device is done. */
  data(): Promise<TypedArray> {
    try {
      return this.backend.read(this.live('data'));
    } catch (e) {
      return Promise.reject(e);
    }
  }
  /** The single value of a one-element tensor (synchronous: host devices only; see itemAsync). */
  item(): number {
    const raw = this.live('item');
    if (this.size !== 1) throw new Error(`item: expected a one-element tensor, got ${fmt(this.shape)}`);
    return this.backend.readSync(raw)[0];
  }
  /** The single value of a one-element tensor, once the device has computed it. Works on every
   * device; the way to read a loss on 'webgpu' (`await loss.itemAsync()`). */
  async itemAsync(): Promise<number> {
    const raw = this.live('itemAsync');
    if (this.size !== 1) throw new Error(`itemAsync: expected a one-element tensor, got ${fmt(this.shape)}`);
    return (await this.backend.read(raw))[0];
  }
  /** The buffer, or an error naming `op` if the tensor was disposed (its buffer may be reused). */
  private live(op: string): Raw {
    if (this._disposed)
      throw new Error(
        `${op}: the tensor ${fmt(this.shape)} ${this.dtype} on ${this.device} was disposed; it cannot be used any more`,
      );
    return this.raw;
  }
  /** Nested arrays of the values (numbers for a 0-d tensor). */
  toArray(): NestedArray {
    return F.nest(this.dataSync(), this.shape);
  }
  toString(): string {
    return `Tensor(${fmt(this.shape)}, ${this.dtype}, ${this.device})`;
  }
  /** Replaces the data in place (optimizers, EMA); not recorded by autograd. Bumps `version`: a
   * backward that needs this tensor's old values then fails instead of using the new ones. */
  assign(value: Tensor): this {
    this.live('assign');
    value.live('assign (the value)');
    F.checkAssign(this, value);
    retainRaw(value.raw);
    releaseRaw(this, this.raw);
    this.raw = value.raw;
    this._version++;
    this._writeStamp = nextWrite();
    return this;
  }
  /** Releases the device buffer now (views sharing it keep it alive); using the tensor afterwards
   * is an error. Idempotent. */
  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    releaseRaw(this, this.raw);
  }

  // Elementwise
  add(o: TensorLike): Tensor {
    return F.add(this, o);
  }
  sub(o: TensorLike): Tensor {
    return F.sub(this, o);
  }
  mul(o: TensorLike): Tensor {
    return F.mul(this, o);
  }
  div(o: TensorLike): Tensor {
    return F.div(this, o);
  }
  pow(o: TensorLike): Tensor {
    return F.pow(this, o);
  }
  maximum(o: TensorLike): Tensor {
    return F.maximum(this, o);
  }
  minimum(o: TensorLike): Tensor {
    return F.minimum(this, o);
  }
  eq(o: TensorLike): Tensor {
    return F.eq(this, o);
  }
  ne(o: TensorLike): Tensor {
    return F.ne(this, o);
  }
  lt(o: TensorLike): Tensor {
    return F.lt(this, o);
  }
  le(o: TensorLike): Tensor {
    return F.le(this, o);
  }
  gt(o: TensorLike): Tensor {
    return F.gt(this, o);
  }
  ge(o: TensorLike): Tensor {
    return F.ge(this, o);
  }
  /** this where cond != 0, else other (PyTorch's Tensor.where). */
  where(cond: Tensor, other: TensorLike): Tensor {
    return F.where(cond, this, other);
  }
  maskedFill(mask: Tensor, value: number): Tensor {
    return F.maskedFill(this, mask, value);
  }
  neg(): Tensor {
    return F.neg(this);
  }
  exp(): Tensor {
    return F.exp(this);
  }
  log(): Tensor {
    return F.log(this);
  }
  log1p(): Tensor {
    return F.log1p(this);
  }
  expm1(): Tensor {
    return F.expm1(this);
  }
  sqrt(): Tensor {
    return F.sqrt(this);
  }
  rsqrt(): Tensor {
    return F.rsqrt(this);
  }
  abs(): Tensor {
    return F.abs(this);
  }
  sign(): Tensor {
    return F.sign(this);
  }
  tanh(): Tensor {
    return F.tanh(this);
  }
  sigmoid(): Tensor {
    return F.sigmoid(this);
  }
  relu(): Tensor {
    return F.relu(this);
  }
  gelu(approximate: 'none' | 'tanh' = 'none'): Tensor {
    return F.gelu(this, approximate);
  }
  silu(): Tensor {
    return F.silu(this);
  }
  sin(): Tensor {
    return F.sin(this);
  }
  cos(): Tensor {
    return F.cos(this);
  }
  erf(): Tensor {
    return F.erf(this);
  }
  clamp(min?: number, max?: number): Tensor {
    return F.clamp(this, min, max);
  }
  /** Converts to another dtype (differentiable between float dtypes) or moves to a device (a
   * backend or its name: 'cpu', 'webgpu', ...). Moving reads the data synchronously, so moving off
   * an asynchronous device ('webgpu') throws: use `await t.toAsync(device)` there. */
  to(target: DType | Backend | string): Tensor {
    this.live('to');
    return F.to(this, typeof target === 'string' ? dtypeOrDevice(target) : target);
  }
  /** Moves to a device after the data is ready: works from every device, including 'webgpu'.
   * The result is a new leaf (requiresGrad copied), as with `to`. */
  async toAsync(target: Backend | string): Promise<Tensor> {
    const be = typeof target === 'string' ? getBackend(target) : target;
    const raw = this.live('toAsync');
    if (be === this.backend) return this;
    const moved = new Tensor(be.upload(await this.backend.read(raw), this.dtype), this.shape, be);
    moved.requiresGrad = this.requiresGrad;
    return moved;
  }

  // Reductions
  sum(dim?: Dims, keepdim = false): Tensor {
    return F.sum(this, dim, keepdim);
  }
  mean(dim?: Dims, keepdim = false): Tensor {
    return F.mean(this, dim, keepdim);
  }
  amax(dim?: Dims, keepdim = false): Tensor {
    return F.amax(this, dim, keepdim);
  }
  amin(dim?: Dims, keepdim = false): Tensor {
    return F.amin(this, dim, keepdim);
  }
  max(dim?: number, keepdim = false): Tensor {
    return F.max(this, dim, keepdim);
  }
  min(dim?: number, keepdim = false): Tensor {
    return F.min(this, dim, keepdim);
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return F.argmax(this, dim, keepdim);
  }
  argmin(dim?: number, keepdim = false): Tensor {
    return F.argmin(this, dim, keepdim);
  }
  var(dim?: Dims, opts: F.VarOpts = {}): Tensor {
    return F.variance(this, dim, opts);
  }
  std(dim?: Dims, opts: F.VarOpts = {}): Tensor {
    return F.std(this, dim, opts);
  }
  logsumexp(dim: Dims, keepdim = false): Tensor {
    return F.logsumexp(this, dim, keepdim);
  }
  norm(p = 2, dim?: Dims, keepdim = false): Tensor {
    return F.norm(this, p, dim, keepdim);
  }
  /** Sums broadcast dims away so the result has `shape` (the reverse of broadcasting). */
  sumTo(shape: Shape): Tensor {
    return F.sumTo(this, shape);
  }

  // Shape and movement
  reshape(...shape: number[] | [readonly number[]]): Tensor {
    return F.reshape(this, F.shapeArg(shape));
  }
  view(...shape: number[] | [readonly number[]]): Tensor {
    return F.reshape(this, F.shapeArg(shape));
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return F.flatten(this, startDim, endDim);
  }
  unsqueeze(dim: number): Tensor {
    return F.unsqueeze(this, dim);
  }
  squeeze(dim?: Dims): Tensor {
    return F.squeeze(this, dim);
  }
  permute(...dims: number[] | [readonly number[]]): Tensor {
    return F.permute(this, F.shapeArg(dims));
  }
  transpose(d0: number, d1: number): Tensor {
    return F.transpose(this, d0, d1);
  }
  /** Transpose of the last two dims. */
  mT(): Tensor {
    return F.transpose(this, -2, -1);
  }
  expand(...shape: number[] | [readonly number[]]): Tensor {
    return F.expand(this, F.shapeArg(shape));
  }
  expandAs(other: Tensor): Tensor {
    return F.expand(this, other.shape);
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return F.narrow(this, dim, start, length);
  }
  /** Python-style slicing: one [start, stop, step] (any part optional) per leading dim. */
  slice(specs: readonly (readonly (number | undefined)[] | SliceSpec | null)[]): Tensor {
    return F.slice(this, specs);
  }
  sliceAssign(src: Tensor, specs: readonly SliceSpec[]): Tensor {
    return F.sliceAssign(this, src, specs);
  }
  pad(pads: readonly number[], value = 0): Tensor {
    return F.pad(this, pads, value);
  }
  repeat(...reps: number[]): Tensor {
    return F.repeat(this, reps);
  }
  split(sizes: number | readonly number[], dim = 0): Tensor[] {
    return F.split(this, sizes, dim);
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return F.chunk(this, chunks, dim);
  }
  /** A contiguous tensor: storage is always contiguous here, so this is the identity. */
  contiguous(): Tensor {
    return this;
  }

  // Linear algebra and indexing
  matmul(o: Tensor): Tensor {
    return F.matmul(this, o);
  }
  gather(dim: number, index: Tensor): Tensor {
    return F.gather(this, dim, index);
  }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return F.scatterAdd(this, dim, index, src);
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return F.indexSelect(this, dim, index);
  }
  indexAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return F.indexAdd(this, dim, index, src);
  }

  // Neural-net functions
  softmax(dim = -1): Tensor {
    return F.softmax(this, dim);
  }
  logSoftmax(dim = -1): Tensor {
    return F.logSoftmax(this, dim);
  }

  /** zeros of `shape` (default: this shape) with this tensor's dtype and device. */
  zerosLike(shape: Shape = this.shape): Tensor {
    return F.fullOn(this.backend, shape, 0, this.dtype);
  }
}

/** `to('...')`: a dtype name, else a device name; an error listing both kinds otherwise. */
function dtypeOrDevice(target: string): DType | Backend {
  if ((DTYPES as readonly string[]).includes(target)) return target as DType;
  try {
    return getBackend(target);
  } catch (e) {
    throw new Error(`to: '${target}' is not a dtype (${DTYPES.join(', ')}); as a device: ${(e as Error).message}`);
  }
}

export type { Raw };

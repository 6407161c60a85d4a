/**
 * The functional API: thin wrappers that apply primitives, plus composites built only from
 * primitives (mean, var, logsumexp, max with indices, flatten, split, ...). Composites have no
 * backward of their own: autograd differentiates the primitives they are made of.
 */
import type { Backend, DType, TypedArray } from '../kernels/backend.js';
import { apply } from './apply.js';
import type { NoAttrs, OpDef } from './op.js';
import * as B from './ops/binary.js';
import {
  gather as gatherOp,
  indexAdd as indexAddOp,
  indexSelect as indexSelectOp,
  scatterAdd as scatterAddOp,
} from './ops/gather.js';
import { matmul as matmulOp, type MatmulAttrs } from './ops/matmul.js';
import * as M from './ops/movement.js';
import * as R from './ops/reduce.js';
import * as U from './ops/unary.js';
import {
  broadcastAxes,
  checkInt32,
  fmt,
  normDim,
  normDims,
  sameShape,
  ShapeError,
  sizeOf,
  type Shape,
} from './shape.js';
import { Tensor, type NestedArray, type TensorLike } from './tensor.js';

export * from './nn_functional.js';

/** A full tensor on a backend. */
export function fullOn(be: Backend, shape: Shape, value: number, dtype: DType): Tensor {
  return new Tensor(be.full(sizeOf(shape), value, dtype), [...shape], be);
}

/** Turns a number into a 0-d tensor next to `like` (an integer keeps int32, as in PyTorch, and
 * must then fit int32: PyTorch refuses 3e9 there too). `op` names the caller in errors. */
export function lift(x: TensorLike, like: Tensor, op = 'lift'): Tensor {
  if (x instanceof Tensor) return x;
  if (typeof x !== 'number') {
    throw new TypeError(`${op}: expected a Tensor or a number, got ${typeof x} ${JSON.stringify(x) ?? String(x)}`);
  }
  const dtype = like.dtype === 'int32' && !Number.isInteger(x) ? 'float32' : like.dtype;
  if (dtype === 'int32') checkInt32(`${op}: the number operand`, [x]);
  return fullOn(like.backend, [], x, dtype);
}

const bin =
  (op: typeof B.add) =>
  (a: TensorLike, b: TensorLike): Tensor => {
    if (!(a instanceof Tensor) && !(b instanceof Tensor)) {
      throw new TypeError(`${op.name}: expected at least one Tensor operand, got ${typeof a} and ${typeof b}`);
    }
    const ta = a instanceof Tensor ? a : lift(a, b as Tensor, op.name);
    return apply(op, [ta, lift(b, ta, op.name)], {});
  };
export const add = bin(B.add),
  sub = bin(B.sub),
  mul = bin(B.mul),
  div = bin(B.div),
  pow = bin(B.pow);
export const maximum = bin(B.maximum),
  minimum = bin(B.minimum);
export const eq = bin(B.eq),
  ne = bin(B.ne),
  lt = bin(B.lt),
  le = bin(B.le),
  gt = bin(B.gt),
  ge = bin(B.ge);

/** cond ? a : b elementwise, broadcasting all three. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const ta = a instanceof Tensor ? a : lift(a, b instanceof Tensor ? b : cond, 'where');
  return apply(B.where, [cond, ta, lift(b, ta, 'where')], {});
}
/** x with `value` wherever mask != 0. */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  return where(mask, lift(value, x, 'maskedFill'), x);
}

const un =
  (op: OpDef<NoAttrs>) =>
  (x: Tensor): Tensor =>
    apply(op, [x], {});
export const neg = un(U.neg),
  exp = un(U.exp),
  expm1 = un(U.expm1),
  log = un(U.log),
  log1p = un(U.log1p),
  sqrt = un(U.sqrt);
export const rsqrt = un(U.rsqrt),
  abs = un(U.abs),
  sign = un(U.sign),
  tanh = un(U.tanh),
  sigmoid = un(U.sigmoid);
export const relu = un(U.relu),
  sin = un(U.sin),
  cos = un(U.cos),
  erf = un(U.erf);

export function clamp(x: Tensor, min = -Infinity, max = Infinity): Tensor {
  return apply(U.clamp, [x], { min, max });
}

/** Converts dtype (recorded by autograd) or moves to another device. */
export function to(x: Tensor, target: DType | Backend): Tensor {
  if (typeof target === 'string') return target === x.dtype ? x : apply(U.cast, [x], { dtype: target });
  if (target === x.backend) return x;
  const moved = new Tensor(target.upload(x.backend.readSync(x.raw), x.dtype), x.shape, target);
  moved.requiresGrad = x.requiresGrad;
  return moved;
}

// Reductions
type Dims = number | readonly number[] | undefined;
export function sum(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  return apply(R.sum, [x], { dim, keepdim });
}
export function amax(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  return apply(R.amax, [x], { dim, keepdim });
}
export function amin(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  for (const d of normDims('amin', dim, x.ndim)) {
    if (x.shape[d] === 0) throw new ShapeError(`amin: cannot reduce the empty dim ${d} of ${fmt(x.shape)}`);
  }
  return amax(x.neg(), dim, keepdim).neg();
}
export function argmax(x: Tensor, dim?: number, keepdim = false): Tensor {
  return apply(R.argmax, [x], { dim, keepdim });
}
export function argmin(x: Tensor, dim?: number, keepdim = false): Tensor {
  return apply(R.argmin, [x], { dim, keepdim });
}

export function mean(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  const n = normDims('mean', dim, x.ndim).reduce((a, d) => a * x.shape[d], 1);
  return sum(x, dim, keepdim).div(n);
}

/** max over all elements (gradient split among ties), or along `dim` (gradient to the argmax, as
 * PyTorch's max(dim) routes it to the returned index). */
export function max(x: Tensor, dim?: number, keepdim = false): Tensor {
  if (dim === undefined) return amax(x);
  const idx = argmax(x, dim, true);
  const v = gather(x, dim, idx);
  return keepdim ? v : v.squeeze(dim);
}
export function min(x: Tensor, dim?: number, keepdim = false): Tensor {
  if (dim === undefined) return amin(x);
  const idx = argmin(x, dim, true);
  const v = gather(x, dim, idx);
  return keepdim ? v : v.squeeze(dim);
}

export interface VarOpts {
  correction?: number;
  unbiased?: boolean;
  keepdim?: boolean;
}
/** Variance with Bessel's correction by default (PyTorch: correction = 1). */
export function variance(x: Tensor, dim?: Dims, opts: VarOpts = {}): Tensor {
  const correction = opts.correction ?? (opts.unbiased === false ? 0 : 1);
  const n = normDims('var', dim, x.ndim).reduce((a, d) => a * x.shape[d], 1);
  const c = x.sub(mean(x, dim, true));
  return sum(c.mul(c), dim, opts.keepdim ?? false).div(Math.max(n - correction, 0));
}
export function std(x: Tensor, dim?: Dims, opts: VarOpts = {}): Tensor {
  return rootAtZero(variance(x, dim, opts), 2);
}

/** s^(1/p) for s >= 0, with PyTorch's zero gradient where s = 0 (a zero vector's norm, a constant
 * row's std) instead of ∞·0 = NaN: the root never sees the zeros, so no 0^(1/p - 1) arises. */
function rootAtZero(s: Tensor, p: number): Tensor {
  const nonzero = s.ne(0);
  const safe = s.where(nonzero, 1);
  return (p === 2 ? safe.sqrt() : safe.pow(1 / p)).where(nonzero, 0);
}

/** log Σ e^x, stabilized by the (detached) max. Over an empty dim it is log 0 = -∞, as in PyTorch. */
export function logsumexp(x: Tensor, dim: Dims, keepdim = false): Tensor {
  if (normDims('logsumexp', dim, x.ndim).some((d) => x.shape[d] === 0)) return x.exp().sum(dim, keepdim).log();
  const m = amax(x, dim, true).detach();
  const safe = where(m.abs().eq(Infinity), 0, m);
  const out = x.sub(safe).exp().sum(dim, true).log().add(safe);
  return keepdim ? out : out.squeeze(normDims('logsumexp', dim, x.ndim));
}

/** p-norm: (Σ |x|^p)^(1/p); p = Infinity gives max |x|. */
export function norm(x: Tensor, p = 2, dim?: Dims, keepdim = false): Tensor {
  if (p === Infinity) return amax(x.abs(), dim, keepdim);
  if (p === 2) return rootAtZero(sum(x.mul(x), dim, keepdim), 2);
  if (p === 1) return sum(x.abs(), dim, keepdim);
  return rootAtZero(sum(x.abs().pow(p), dim, keepdim), p);
}

/** Sums away the dims that broadcasting added, giving `shape`. */
export function sumTo(x: Tensor, shape: Shape): Tensor {
  if (sameShape(x.shape, shape)) return x;
  const axes = broadcastAxes(shape, x.shape);
  if (axes.length === 0) return x.reshape(shape);
  return sum(x, axes, true).reshape(shape);
}

// Movement
export function shapeArg(args: number[] | [readonly number[]]): readonly number[] {
  return (args.length === 1 && Array.isArray(args[0]) ? args[0] : args) as readonly number[];
}
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  return sameShape(x.shape, shape) ? x : apply(M.reshape, [x], { shape });
}
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  return apply(M.permute, [x], { dims });
}
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  return sameShape(x.shape, shape) ? x : apply(M.expand, [x], { shape });
}
export function transpose(x: Tensor, d0: number, d1: number): Tensor {
  const dims = Array.from({ length: x.ndim }, (_, i) => i);
  const a = normDim('transpose', d0, x.ndim),
    b = normDim('transpose', d1, x.ndim);
  [dims[a], dims[b]] = [dims[b], dims[a]];
  return a === b ? x : permute(x, dims);
}
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return x.reshape([1]);
  const s = normDim('flatten', startDim, x.ndim),
    e = normDim('flatten', endDim, x.ndim);
  return x.reshape([...x.shape.slice(0, s), -1, ...x.shape.slice(e + 1)]);
}
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normDim('unsqueeze', dim, x.ndim + 1);
  return x.reshape([...x.shape.slice(0, d), 1, ...x.shape.slice(d)]);
}
export function squeeze(x: Tensor, dim?: Dims): Tensor {
  const axes = normDims('squeeze', dim, x.ndim).filter((d) => x.shape[d] === 1);
  return x.reshape(x.shape.filter((_, d) => !axes.includes(d)));
}
export function slice(x: Tensor, specs: readonly (readonly (number | undefined)[] | null)[]): Tensor {
  if (specs.length > x.ndim) throw new ShapeError(`slice: ${specs.length} specs for ${fmt(x.shape)}`);
  const resolved = x.shape.map((n, d) => {
    const s = specs[d] ?? [];
    return M.resolveSlice('slice', n, s[0], s[1], s[2]);
  });
  if (resolved.every(([a, b, st], d) => a === 0 && b === x.shape[d] && st === 1)) return x;
  return apply(M.slice, [x], { specs: resolved });
}
export function sliceAssign(base: Tensor, src: Tensor, specs: readonly M.SliceSpec[]): Tensor {
  return apply(M.sliceAssign, [base, src], { specs });
}
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  const d = normDim('narrow', dim, x.ndim);
  if (start < 0 || length < 0 || start + length > x.shape[d]) {
    throw new ShapeError(`narrow: [${start}, ${start + length}) is outside dim ${d} of ${fmt(x.shape)}`);
  }
  return slice(
    x,
    x.shape.map((n, i) => (i === d ? [start, start + length] : [0, n])),
  );
}
/** Constant padding. `pads` lists (before, after) pairs from the last dim backwards (F.pad). */
export function pad(x: Tensor, pads: readonly number[], value = 0): Tensor {
  if (pads.length % 2 !== 0 || pads.length / 2 > x.ndim || pads.some((p) => !Number.isInteger(p) || p < 0)) {
    throw new ShapeError(
      `pad: pads ${fmt(pads)} must be non-negative (before, after) pairs for at most ${x.ndim} dims`,
    );
  }
  const shape = [...x.shape],
    specs = x.shape.map((n): M.SliceSpec => [0, n, 1]);
  for (let i = 0; i < pads.length / 2; i++) {
    const d = x.ndim - 1 - i;
    shape[d] += pads[2 * i] + pads[2 * i + 1];
    specs[d] = [pads[2 * i], pads[2 * i] + x.shape[d], 1];
  }
  return fullOn(x.backend, shape, value, x.dtype).sliceAssign(x, specs);
}
export function concat(xs: readonly Tensor[], dim = 0): Tensor {
  if (xs.length === 0) throw new ShapeError('concat: expected at least one tensor');
  // As torch.cat, 1-D empty tensors ([0]) are skipped whatever the other shapes.
  const parts = xs.some((x) => !isLegacyEmpty(x)) ? xs.filter((x) => !isLegacyEmpty(x)) : xs;
  return parts.length === 1 ? parts[0] : apply(M.concat, parts, { dim });
}
const isLegacyEmpty = (x: Tensor): boolean => x.ndim === 1 && x.shape[0] === 0;
export function stack(xs: readonly Tensor[], dim = 0): Tensor {
  if (xs.length === 0) throw new ShapeError('stack: expected at least one tensor');
  const d = normDim('stack', dim, xs[0].ndim + 1);
  for (const x of xs) {
    if (!sameShape(x.shape, xs[0].shape))
      throw new ShapeError(`stack: shapes ${xs.map((t) => fmt(t.shape)).join(', ')} differ`);
  }
  return concat(
    xs.map((x) => unsqueeze(x, d)),
    d,
  );
}
export function split(x: Tensor, sizes: number | readonly number[], dim = 0): Tensor[] {
  const d = normDim('split', dim, x.ndim),
    n = x.shape[d];
  const bad =
    typeof sizes === 'number'
      ? !(Number.isInteger(sizes) && (sizes > 0 || (sizes === 0 && n === 0)))
      : !sizes.every((s) => Number.isInteger(s) && s >= 0);
  if (bad) {
    throw new ShapeError(
      `split: ${typeof sizes === 'number' ? `split size ${sizes}` : `sizes ${fmt(sizes)}`} for dim ${d} ` +
        `of ${fmt(x.shape)}: expected ${typeof sizes === 'number' ? 'a positive integer' : 'integers >= 0'}`,
    );
  }
  // An empty dim splits into one empty part (torch.split).
  const parts =
    typeof sizes !== 'number'
      ? [...sizes]
      : n === 0
        ? [0]
        : Array.from({ length: Math.ceil(n / sizes) }, (_, i) => Math.min(sizes, n - i * sizes));
  if (parts.reduce((a, b) => a + b, 0) !== n)
    throw new ShapeError(`split: sizes ${fmt(parts)} do not sum to dim ${d} of ${fmt(x.shape)}`);
  let at = 0;
  return parts.map((len) => {
    const t = narrow(x, d, at, len);
    at += len;
    return t;
  });
}
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  const n = x.shape[normDim('chunk', dim, x.ndim)];
  if (!(Number.isInteger(chunks) && chunks > 0))
    throw new ShapeError(`chunk: chunks must be an integer > 0, got ${chunks} (for ${fmt(x.shape)})`);
  return split(x, Math.ceil(n / chunks), dim);
}
/** Tiles the tensor `reps[d]` times along each dim (torch.Tensor.repeat). */
export function repeat(x: Tensor, reps: readonly number[]): Tensor {
  if (reps.length < x.ndim)
    throw new ShapeError(`repeat: ${reps.length} repeats for ${fmt(x.shape)} (need >= ${x.ndim})`);
  const shape = [...new Array<number>(reps.length - x.ndim).fill(1), ...x.shape];
  const inter = shape.flatMap((n) => [1, n]);
  const big = shape.flatMap((n, i) => [reps[i], n]);
  return x
    .reshape(inter)
    .expand(big)
    .reshape(shape.map((n, i) => n * reps[i]));
}

/**
 * Matrix product with PyTorch's 1-D rules; [.., M, K] @ [K, N] runs as one 2-D product.
 * `transA` / `transB` take an operand in its stored, transposed layout (op(A) = Aᵀ over the last
 * two dims), read in place: `matmul(x, w, { transB: true })` is `x @ wᵀ` without a transpose
 * copy (2+-D operands only).
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulAttrs = {}): Tensor {
  if (a.ndim === 0 || b.ndim === 0) throw new ShapeError(`matmul: ${fmt(a.shape)} @ ${fmt(b.shape)}: 0-d operands`);
  const { transA = false, transB = false } = opts;
  if ((transA && a.ndim === 1) || (transB && b.ndim === 1)) {
    throw new ShapeError(`matmul: ${fmt(a.shape)} @ ${fmt(b.shape)}: transA/transB need a 2+-D operand`);
  }
  if (a.ndim === 1) return matmul(a.unsqueeze(0), b, opts).squeeze(b.ndim === 1 ? 0 : -2); // [K]·[K] -> [1] -> []
  if (b.ndim === 1) return matmul(a, b.unsqueeze(-1), opts).squeeze(-1);
  const K = a.shape[a.ndim - 1];
  if (b.ndim === 2 && a.ndim > 2 && !transA && K === b.shape[transB ? 1 : 0]) {
    return apply(matmulOp, [a.reshape([-1, K]), b], { transA, transB }).reshape([
      ...a.shape.slice(0, -1),
      b.shape[transB ? 0 : 1],
    ]);
  }
  return apply(matmulOp, [a, b], { transA, transB });
}

/** torch.nn.functional.linear: x Wᵀ + b, with W [out, in] read in place. Shapes: x [..., in] -> [..., out]. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const y = matmul(x, weight, { transB: true });
  return bias ? y.add(bias) : y;
}

export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  return apply(gatherOp, [x, index], { dim });
}
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  return apply(scatterAddOp, [x, index, src], { dim });
}
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  return apply(indexSelectOp, [x, index], { dim });
}
export function indexAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  return apply(indexAddOp, [x, index, src], { dim });
}

/** Typed array -> nested arrays of `shape`. */
export function nest(data: TypedArray, shape: Shape): NestedArray {
  if (shape.length === 0) return data[0];
  const rec = (off: number, d: number): NestedArray[] => {
    const n = shape[d],
      step = sizeOf(shape.slice(d + 1));
    return Array.from({ length: n }, (_, i) => (d === shape.length - 1 ? data[off + i] : rec(off + i * step, d + 1)));
  };
  return rec(0, 0);
}

export function checkAssign(x: Tensor, value: Tensor): void {
  if (!sameShape(x.shape, value.shape) || x.dtype !== value.dtype || x.backend !== value.backend) {
    throw new ShapeError(
      `assign: ${fmt(x.shape)} ${x.dtype} on ${x.device} cannot take ` +
        `${fmt(value.shape)} ${value.dtype} on ${value.device}`,
    );
  }
}

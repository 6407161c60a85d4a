/**
 * Neural-net functions composed from primitives (teenygrad style): no hand-written backward, so
 * each is differentiable to any order and gradient-checked through its parts.
 */
import * as F from './functional.js';
import { apply } from './apply.js';
import {
  gelu as geluOp,
  layerNorm as layerNormOp,
  layerNormComposite,
  logSoftmax as logSoftmaxOp,
  logSoftmaxComposite,
  softmax as softmaxOp,
  softmaxComposite,
} from './ops/fused.js';
import { checkValues } from './host_values.js';
import { sdpa, sdpaComposite } from './ops/attention.js';
import { multiHeadSdpa as headsOp, multiHeadSdpaComposite } from './ops/heads_attention.js';
import { defaultRng, type Rng } from './random.js';
import { DTypeError, fmt, isFloat, normDim, ShapeError } from './shape.js';
import { Tensor } from './tensor.js';

export { layerNormComposite, logSoftmaxComposite, multiHeadSdpaComposite, sdpaComposite, softmaxComposite };

/** Whether a row-wise fused op applies: a non-empty float tensor reduced over its last dim (other
 * dims use the composite; a permute there would cost two copies). */
function lastDimRows(x: Tensor, dim: number): boolean {
  return isFloat(x.dtype) && x.ndim > 0 && x.size > 0 && normDim('softmax', dim, x.ndim) === x.ndim - 1;
}

/** Row-wise softmax. y_i = e^(x_i - max x) / Σ_j e^(x_j - max x), fused along the last dim
 * (engine/ops/fused.ts). Shapes: [..., N] -> [..., N]. */
export function softmax(x: Tensor, dim = -1): Tensor {
  if (x.size === 0) return emptyRows('softmax', x, dim);
  return lastDimRows(x, dim) ? apply(softmaxOp, [x], {}) : softmaxComposite(x, dim);
}

/** log softmax(x) = x - logsumexp(x), fused along the last dim. Shapes: [..., N] -> [..., N]. */
export function logSoftmax(x: Tensor, dim = -1): Tensor {
  if (x.size === 0) return emptyRows('logSoftmax', x, dim);
  return lastDimRows(x, dim) ? apply(logSoftmaxOp, [x], {}) : logSoftmaxComposite(x, dim);
}

/** (log-)softmax of an empty tensor: an empty result of the same shape, still in the graph, as in
 * PyTorch (the composite's max over an empty dim would throw). */
function emptyRows(op: string, x: Tensor, dim: number): Tensor {
  normDim(op, dim, x.ndim);
  return x.exp();
}

/** GELU: exact x·Φ(x) = x/2 (1 + erf(x/√2)), or the tanh approximation (GPT-2/BERT-tanh), as one
 * fused kernel (engine/ops/fused.ts). Shapes: any -> same. */
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  return apply(geluOp, [x], { approximate });
}

/** The same GELU composed from primitives: the fused op's test oracle. */
export function geluComposite(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  if (approximate === 'tanh') {
    const inner = x.add(x.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI));
    return x.mul(0.5).mul(inner.tanh().add(1));
  }
  return x.mul(0.5).mul(x.mul(Math.SQRT1_2).erf().add(1));
}

/** x · sigmoid(x). */
export function silu(x: Tensor): Tensor {
  return x.mul(x.sigmoid());
}

/**
 * Layer normalization over the trailing `normalizedShape` dims:
 * y = (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance. One fused op
 * (engine/ops/fused.ts) where weight and bias have the normalized shape, the composite otherwise.
 */
export function layerNorm(
  x: Tensor,
  normalizedShape: readonly number[],
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps = 1e-5,
): Tensor {
  const k = normalizedShape.length;
  if (k > x.ndim || normalizedShape.some((n, i) => n !== x.shape[x.ndim - k + i])) {
    throw new ShapeError(`layerNorm: normalizedShape ${fmt(normalizedShape)} does not end ${fmt(x.shape)}`);
  }
  const n = normalizedShape.reduce((a, d) => a * d, 1);
  const fits = (p?: Tensor | null): boolean =>
    !p || (fmt(p.shape) === fmt(normalizedShape) && p.dtype === x.dtype && p.backend === x.backend);
  if (!isFloat(x.dtype) || k === 0 || x.size === 0 || !fits(weight) || !fits(bias)) {
    return layerNormComposite(x, normalizedShape, weight, bias, eps);
  }
  // The fused op normalizes the last dim: fold the normalized dims into one (reshapes share storage).
  const param = (p: Tensor | null | undefined, fill: number): Tensor =>
    p?.reshape([n]) ?? F.fullOn(x.backend, [n], fill, x.dtype);
  const rows = x.reshape([...x.shape.slice(0, x.ndim - k), n]);
  return apply(layerNormOp, [rows, param(weight, 1), param(bias, 0)], { eps }).reshape(x.shape);
}

/** Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1-p). */
export function dropout(x: Tensor, p: number, training = true, rng: Rng = defaultRng()): Tensor {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`dropout: p must be in [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  if (p === 1) return x.mul(0);
  return x.mul(dropoutMask(x, p, rng));
}

/**
 * The keep-mask `dropout(x, p)` multiplies by: 1/(1-p) with probability 1-p, else 0, one draw
 * of `rng` per element of `x` in row-major order (0 < p < 1). Shapes: like x.
 */
export function dropoutMask(
  x: Pick<Tensor, 'shape' | 'dtype' | 'backend'>,
  p: number,
  rng: Rng = defaultRng(),
): Tensor {
  // One uniform draw per element, in order (the stream `dropout` has always used): the backend's
  // kernel where it has one (the same draws, four SIMD lanes at a time on `cpu`), else this loop.
  const size = x.shape.reduce((a, b) => a * b, 1);
  const raw = x.backend.keepMask?.(rng.stateWords, size, p, 1 / (1 - p), x.dtype);
  if (raw) return new Tensor(raw, x.shape, x.backend);
  const keep = rng.fillMask(x.dtype === 'float32' ? new Float32Array(size) : new Float64Array(size), p, 1 / (1 - p));
  return new Tensor(x.backend.upload(keep, x.dtype), x.shape, x.backend);
}

export interface SdpaOpts {
  /** Additive mask(s) broadcastable to [..., T, S], added to the logits in order (0 keeps, -inf hides). */
  mask?: Tensor | readonly Tensor[];
  /** Multiplies q kᵀ; default 1/sqrt(D). */
  scale?: number;
  /** Dropout probability on the attention probabilities (PyTorch's dropout_p); default 0. */
  dropout?: number;
  /** Draws the dropout keep-mask (default: the global generator). */
  rng?: Rng;
}

/**
 * softmax(q kᵀ · scale + mask) v, one primitive with a fused backward (engine/ops/attention.ts;
 * the op-by-op composite `sdpaComposite` is its oracle). As PyTorch's
 * `F.scaled_dot_product_attention`, dropout applies whenever `dropout > 0`; pass 0 in eval.
 * The keep-mask takes the same draws as `dropout(probs, p, true, rng)`, so swapping a composite
 * for this op leaves a seeded run unchanged.
 * A mask of another float dtype than q (a float32 bias on float64 attention) promotes the logits
 * as `add` does; that case runs op by op.
 * Shapes: q [..., T, D], k [..., S, D], v [..., S, Dv] (same leading dims) -> [..., T, Dv].
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: SdpaOpts = {}): Tensor {
  const { scale = 1 / Math.sqrt(q.shape[q.ndim - 1] ?? 1), dropout: p = 0, rng = defaultRng() } = opts;
  if (!(p >= 0 && p <= 1)) throw new RangeError(`scaledDotProductAttention: dropout must be in [0, 1], got ${p}`);
  if (!Number.isFinite(scale)) throw new RangeError(`scaledDotProductAttention: scale must be finite, got ${scale}`);
  const masks = opts.mask === undefined ? [] : opts.mask instanceof Tensor ? [opts.mask] : [...opts.mask];
  let keep: Tensor | null = null;
  if (p > 0 && q.ndim >= 2 && k.ndim >= 2) {
    // The mask covers the probabilities [..., T, S]; the op checks the shapes before using it.
    const shape = [...q.shape.slice(0, -1), k.shape[k.ndim - 2]];
    keep =
      p === 1
        ? F.fullOn(q.backend, shape, 0, q.dtype)
        : dropoutMask({ shape, dtype: q.dtype, backend: q.backend }, p, rng);
  }
  // A mask of another float dtype promotes the logits, as `add` does: computed op by op then.
  if (masks.some((m) => m.dtype !== q.dtype && isFloat(m.dtype) && isFloat(q.dtype))) {
    return sdpaComposite(q, k, v, masks, scale, keep);
  }
  return apply(sdpa, [q, k, v, ...masks], { scale, keep, stash: {} });
}

/**
 * Multi-head attention on the Linear outputs as they come, without splitting heads:
 * `scaledDotProductAttention` per head, where q [B, T, H*D], k [B, S, H*D], v [B, S, H*Dv]
 * (or one packed `qkv` [B, T, 3*H*D], a fused qkv Linear's output, q | k | v along the last
 * dim) and the result is [B, T, H*Dv], heads side by side (PyTorch's
 * `sdpa(q.view(B,T,H,D).transpose(1,2), ...).transpose(1,2).reshape(B,T,-1)`). Heads are read
 * and written in place through strided matmuls (engine/ops/heads_attention.ts), so neither the
 * forward nor the backward copies a head split or merge. Masks broadcast to [B, H, T, S];
 * dropout takes the same draws as `scaledDotProductAttention` on [B, H, T, D] heads, so the two
 * give the same seeded run.
 */
export function multiHeadSdpa(
  qkv: Tensor | readonly [Tensor, Tensor, Tensor],
  opts: SdpaOpts & { heads: number },
): Tensor {
  const sources = qkv instanceof Tensor ? [qkv] : [...qkv];
  const { heads } = opts;
  if (!(Number.isInteger(heads) && heads >= 1))
    throw new RangeError(`multiHeadSdpa: heads must be an integer >= 1, got ${heads}`);
  if (sources.length !== 1 && sources.length !== 3)
    throw new RangeError(`multiHeadSdpa: need one packed qkv or [q, k, v], got ${sources.length} tensors`);
  const [q, k] = sources.length === 1 ? [sources[0], sources[0]] : sources;
  const D = q.ndim === 3 ? (sources.length === 1 ? q.shape[2] / 3 : q.shape[2]) / heads : 1; // the op checks ranks
  const { scale = 1 / Math.sqrt(D), dropout: p = 0, rng = defaultRng() } = opts;
  if (!(p >= 0 && p <= 1)) throw new RangeError(`multiHeadSdpa: dropout must be in [0, 1], got ${p}`);
  if (!Number.isFinite(scale)) throw new RangeError(`multiHeadSdpa: scale must be finite, got ${scale}`);
  const masks = opts.mask === undefined ? [] : opts.mask instanceof Tensor ? [opts.mask] : [...opts.mask];
  let keep: Tensor | null = null;
  if (p > 0 && q.ndim === 3 && k.ndim === 3) {
    const shape = [q.shape[0], heads, q.shape[1], k.shape[1]]; // [B, H, T, S]; the op checks it
    keep =
      p === 1
        ? F.fullOn(q.backend, shape, 0, q.dtype)
        : dropoutMask({ shape, dtype: q.dtype, backend: q.backend }, p, rng);
  }
  if (masks.some((m) => m.dtype !== q.dtype && isFloat(m.dtype) && isFloat(q.dtype))) {
    return multiHeadSdpaComposite(sources, heads, masks, scale, keep);
  }
  return apply(headsOp, [...sources, ...masks], {
    heads,
    sources: sources.length as 1 | 3,
    scale,
    keep,
    stash: {},
  });
}

export type Reduction = 'mean' | 'sum' | 'none';

function reduce(x: Tensor, reduction: Reduction): Tensor {
  return reduction === 'mean' ? x.mean() : reduction === 'sum' ? x.sum() : x;
}

function checkReduction(op: string, reduction: string, allowed: readonly string[] = ['mean', 'sum', 'none']): void {
  if (!allowed.includes(reduction))
    throw new RangeError(`${op}: reduction ${JSON.stringify(reduction)} is not one of ${allowed.join(', ')}`);
}

export interface CrossEntropyOpts {
  ignoreIndex?: number;
  labelSmoothing?: number;
  reduction?: Reduction;
}

/** Moves the class dim (1) last and flattens: [N, C, d1, ...] -> [N*d1*..., C] (PyTorch layout). */
function classesLast(x: Tensor): Tensor {
  if (x.ndim <= 2) return x.ndim === 1 ? x.unsqueeze(0) : x;
  const perm = [0, ...Array.from({ length: x.ndim - 2 }, (_, i) => i + 2), 1];
  return x.permute(perm).reshape([-1, x.shape[1]]);
}

/**
 * Cross-entropy of logits against class indices (int32, with ignoreIndex and labelSmoothing) or
 * against class probabilities (float, same shape as the logits), as torch.nn.functional.cross_entropy.
 * Shapes: logits [N, C] or [C] or [N, C, d...]; target [N] / [] / [N, d...] or like logits.
 */
export function crossEntropy(logits: Tensor, target: Tensor, opts: CrossEntropyOpts = {}): Tensor {
  const { ignoreIndex = -100, labelSmoothing = 0, reduction = 'mean' } = opts;
  if (!(labelSmoothing >= 0 && labelSmoothing <= 1))
    throw new RangeError(`crossEntropy: labelSmoothing must be in [0, 1], got ${labelSmoothing}`);
  checkReduction('crossEntropy', reduction);
  const logp = classesLast(logits).logSoftmax(-1); // [N, C]
  const C = logp.shape[1];
  if (target.dtype !== 'int32') {
    if (fmt(target.shape) !== fmt(logits.shape)) {
      throw new ShapeError(
        `crossEntropy: probability target ${fmt(target.shape)} must match logits ${fmt(logits.shape)}`,
      );
    }
    let q = classesLast(target);
    if (labelSmoothing > 0) q = q.mul(1 - labelSmoothing).add(labelSmoothing / C);
    const loss = q.mul(logp).sum(-1).neg();
    return reduction === 'none' ? loss.reshape(lossShape(logits)) : reduce(loss, reduction);
  }
  const t = target.reshape([-1]);
  if (t.size !== logp.shape[0]) {
    throw new ShapeError(
      `crossEntropy: target ${fmt(target.shape)} does not match logits ${fmt(logits.shape)} (class dim 1)`,
    );
  }
  const valid = t.ne(ignoreIndex); // [N] 1 where counted
  const safe = t.where(valid, 0); // ignored rows pick class 0, then get masked
  let loss = logp.gather(1, safe.unsqueeze(1)).squeeze(1).neg(); // [N]
  if (labelSmoothing > 0) loss = loss.mul(1 - labelSmoothing).add(logp.mean(-1).neg().mul(labelSmoothing));
  loss = loss.mul(valid);
  if (reduction === 'none') return loss.reshape(lossShape(logits));
  if (reduction === 'sum') return loss.sum();
  // Every target ignored: the loss is NaN, as in PyTorch, but the gradients are zeros there too
  // (not 0/0), so such a batch cannot poison the weights.
  const count = valid.sum().to(loss.dtype);
  return loss
    .sum()
    .div(count.clamp(1))
    .add(F.where(count.eq(0), NaN, 0));
}

function lossShape(logits: Tensor): number[] {
  return logits.ndim === 1 ? [] : [logits.shape[0], ...logits.shape.slice(2)];
}

/** Mean squared error. */
export function mseLoss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  checkReduction('mseLoss', reduction);
  const d = input.sub(target);
  return reduce(d.mul(d), reduction);
}

/**
 * KL(target || exp(input)) with `input` log-probabilities, as torch.nn.functional.kl_div:
 * pointwise target (log target - input), 0 where target = 0. 'batchmean' divides the sum by N.
 */
export function klDiv(
  input: Tensor,
  target: Tensor,
  opts: { reduction?: Reduction | 'batchmean'; logTarget?: boolean } = {},
): Tensor {
  const { reduction = 'mean', logTarget = false } = opts;
  checkReduction('klDiv', reduction, ['mean', 'sum', 'none', 'batchmean']);
  const pointwise = logTarget
    ? target.exp().mul(target.sub(input))
    : target.mul(target.where(target.gt(0), 1).log().sub(input)); // xlogy: 0 log 0 = 0
  if (reduction === 'batchmean') return pointwise.sum().div(input.ndim === 0 ? 1 : input.shape[0]);
  return reduce(pointwise, reduction);
}

/**
 * Binary cross-entropy on logits in PyTorch's stable form: (1 - y)·x + m + log(e^-m + e^(-x-m)) with
 * m = max(-x, 0) held constant. Any constant m gives the same value, so the gradient is σ(x) - y
 * everywhere; the shorter max(x,0) - x·y + log(1 + e^-|x|) has two kinks at x = 0 whose
 * subgradients give -y there (wrong for zero-initialized heads).
 */
export function binaryCrossEntropyWithLogits(logits: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  checkReduction('binaryCrossEntropyWithLogits', reduction);
  const m = logits.neg().relu().detach();
  const loss = target
    .neg()
    .add(1)
    .mul(logits)
    .add(m)
    .add(m.neg().exp().add(logits.neg().sub(m).exp()).log());
  return reduce(loss, reduction);
}

/** One-hot float32 encoding of int32 class ids: [...] -> [..., numClasses]. Ids outside
 * [0, numClasses) are an error, as in PyTorch: at once, or on webgpu for ids computed on the device
 * (which cannot be read without waiting) at the device's next read (engine/host_values.ts). */
export function oneHot(ids: Tensor, numClasses: number): Tensor {
  if (ids.dtype !== 'int32') throw new DTypeError(`oneHot: ids must be int32, got ${ids.dtype}`);
  if (!(Number.isInteger(numClasses) && numClasses >= 0))
    throw new RangeError(`oneHot: numClasses must be an integer >= 0, got ${numClasses}`);
  checkValues(ids, (values) => {
    const bad = Array.prototype.findIndex.call(values, (v: number) => v < 0 || v >= numClasses);
    if (bad >= 0) {
      throw new RangeError(
        `oneHot: class id ${values[bad]} at index ${bad} of ${fmt(ids.shape)} is out of range ` +
          `for numClasses ${numClasses} (expected 0 to ${numClasses - 1})`,
      );
    }
  });
  const classes = F.fullOn(ids.backend, [numClasses], 0, 'int32');
  const ar = new Int32Array(numClasses).map((_, i) => i);
  const range = new Tensor(ids.backend.upload(ar, 'int32'), classes.shape, ids.backend);
  return ids.unsqueeze(-1).eq(range).to('float32');
}

/** Embedding lookup: rows of `weight` [V, C] at `ids` [...] -> [..., C]. */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  if (weight.ndim !== 2) throw new ShapeError(`embedding: weight must be [V, C], got ${fmt(weight.shape)}`);
  return weight.indexSelect(0, ids.reshape([-1])).reshape([...ids.shape, weight.shape[1]]);
}

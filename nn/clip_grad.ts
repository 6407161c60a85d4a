/** Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_). */
import { div, full, noGrad, stack, type Tensor, type TypedArray } from '../engine/index.js';
import { hostArray, rounder } from './optim_host.js';

export interface ClipOpts {
  /** Throw when the total norm is NaN or ±Infinity instead of scaling by it (PyTorch 1.13 default: false). */
  errorIfNonfinite?: boolean;
}

/**
 * Scales all gradients by one factor so their joint norm is at most `maxNorm`, and returns the norm
 * before clipping (a number; PyTorch returns a 0-d tensor). With n_i = ‖g_i‖_p per parameter:
 *
 *   total = ‖(n_1, ..., n_k)‖_p          (p = Infinity: max_i n_i)
 *   c = min(1, maxNorm / (total + 1e-6))
 *   g_i ← c·g_i
 *
 * Parameters without a gradient are ignored. In float32 each n_i and the total are rounded to float32
 * and c is computed as PyTorch's `max_norm / tensor` does (reciprocal, then multiply); sums accumulate
 * in float64, so the norm can differ from PyTorch's in the last float32 bits. Gradients get new
 * tensors, never scaled in place (two parameters' gradients may share storage); on the host, c = 1
 * leaves them as they are. Devices without synchronous reads compute with tensor ops and wait for
 * the norm here; clipGradNormTensor does not wait.
 */
export function clipGradNorm(
  params: Iterable<Tensor> | Tensor,
  maxNorm: number,
  normType = 2,
  opts: ClipOpts = {},
): number {
  const grads = gradsOf(params, maxNorm, normType);
  if (grads.length === 0) return 0;
  if (grads.every((g) => hostArray(g.grad!) !== null)) return clipOnHost(grads, maxNorm, normType, opts);
  return clipOnDevice(grads, maxNorm, normType, opts).item();
}

/**
 * clipGradNorm that returns the total norm as a 0-d tensor next to the gradients, so on a device
 * without synchronous reads nothing waits for the GPU (PyTorch's return type). errorIfNonfinite
 * needs the value, so it is only checked where the data is on the host.
 */
export function clipGradNormTensor(
  params: Iterable<Tensor> | Tensor,
  maxNorm: number,
  normType = 2,
  opts: ClipOpts = {},
): Tensor {
  const grads = gradsOf(params, maxNorm, normType);
  if (grads.length === 0) return full([], 0);
  const g0 = grads[0].grad!;
  if (grads.every((g) => hostArray(g.grad!) !== null)) {
    return full([], clipOnHost(grads, maxNorm, normType, opts), { dtype: g0.dtype, device: g0.backend });
  }
  return clipOnDevice(grads, maxNorm, normType, opts);
}

function gradsOf(params: Iterable<Tensor> | Tensor, maxNorm: number, normType: number): Tensor[] {
  if (!(typeof maxNorm === 'number' && maxNorm >= 0))
    throw new RangeError(`clipGradNorm: maxNorm must be a number >= 0, got ${maxNorm}`);
  if (!(normType > 0)) throw new RangeError(`clipGradNorm: normType must be > 0 (or Infinity), got ${normType}`);
  const list = Symbol.iterator in params ? [...params] : [params];
  return list.filter((p) => p.grad !== null);
}

function clipOnHost(ps: Tensor[], maxNorm: number, normType: number, opts: ClipOpts): number {
  const r = ps.every((p) => p.grad!.dtype === 'float64') ? rounder('float64') : rounder('float32');
  const norms = ps.map((p) => r(hostNorm(hostArray(p.grad!)!, normType)));
  const total = r(normType === Infinity ? Math.max(...norms) : pNorm(norms, normType));
  checkFinite(total, normType, opts);
  // PyTorch: max_norm / (total + 1e-6) on a tensor is reciprocal, then multiply.
  const coef = Math.min(r(r(1 / r(total + r(1e-6))) * r(maxNorm)), 1);
  if (coef !== 1)
    noGrad(() => {
      for (const p of ps) p.grad = p.grad!.mul(coef);
    });
  return total;
}

function clipOnDevice(ps: Tensor[], maxNorm: number, normType: number, opts: ClipOpts): Tensor {
  return noGrad(() => {
    const dtype = ps.every((p) => p.grad!.dtype === 'float64') ? 'float64' : 'float32';
    const norms = stack(ps.map((p) => p.grad!.norm(normType).to(dtype)));
    const total = normType === Infinity ? norms.amax() : norms.norm(normType);
    if (opts.errorIfNonfinite && hostArray(total)) checkFinite(total.item(), normType, opts);
    const coef = div(1, total.add(1e-6)).mul(maxNorm).clamp(undefined, 1);
    for (const p of ps) p.grad = p.grad!.mul(coef.to(p.grad!.dtype));
    return total;
  });
}

function checkFinite(total: number, normType: number, opts: ClipOpts): void {
  if (!Number.isFinite(total) && opts.errorIfNonfinite) {
    throw new RangeError(
      `clipGradNorm: the total norm of order ${normType} of the gradients is ${total}; ` +
        'pass { errorIfNonfinite: false } to clip anyway',
    );
  }
}

/** (Σ|x|^p)^(1/p) of a list, accumulated in float64. */
function pNorm(xs: ArrayLike<number>, p: number): number {
  let acc = 0;
  if (p === 2) {
    for (let i = 0; i < xs.length; i++) acc += xs[i] * xs[i];
    return Math.sqrt(acc);
  }
  if (p === 1) {
    for (let i = 0; i < xs.length; i++) acc += Math.abs(xs[i]);
    return acc;
  }
  for (let i = 0; i < xs.length; i++) acc += Math.abs(xs[i]) ** p;
  return acc ** (1 / p);
}

/** ‖a‖_p of a host array, accumulated in float64. */
function hostNorm(a: TypedArray, p: number): number {
  if (p !== Infinity) return pNorm(a, p);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]);
    if (v > m || v !== v) m = v;
  }
  return m;
}

/** Adam (L2 weight decay in the gradient) and AdamW (decoupled weight decay), as torch.optim 1.13. */
import { keep, Tensor } from '../engine/index.js';
import type { TypedArray } from '../engine/index.js';
import {
  checkFlag,
  checkRange,
  Optimizer,
  type BaseOpts,
  type ParamGroup,
  type Params,
  type ParamState,
  type RunOpts,
} from './optim_base.js';
import { freshHost, hostArray, perDtype, rounder, type Round } from './optim_host.js';

export interface AdamOpts extends BaseOpts {
  /** Default 1e-3. */
  lr: number;
  /** (β1, β2): decay rates of the first and second moment averages. Default [0.9, 0.999]. */
  betas: readonly [number, number];
  /** ε added to the denominator. Default 1e-8. */
  eps: number;
  /** λ: Adam adds λθ to the gradient; AdamW decays θ by lr·λ directly. Default 0 (Adam), 0.01 (AdamW). */
  weightDecay: number;
  /** Normalize by the running maximum of v̂ (Reddi et al.). Default false. */
  amsgrad: boolean;
  /** Ascend instead of descend. Default false. */
  maximize: boolean;
}

/** The scalars of one step, computed in float64 as PyTorch computes them in Python. */
interface StepScalars {
  decay: number;
  negStepSize: number;
  bc2Sqrt: number;
}

/**
 * Adam and AdamW share one update; `decoupled` picks where weight decay goes. Per parameter θ with
 * gradient g (−g when maximizing), at step t = 1, 2, ...:
 *
 *   g ← g + λθ                 (Adam, when λ ≠ 0)
 *   θ ← θ·(1 − lr·λ)           (AdamW)
 *   m ← β1·m + (1 − β1)·g
 *   v ← β2·v + (1 − β2)·g²
 *   v̂ ← max(v̂, v) with amsgrad, else v
 *   θ ← θ − (lr / (1 − β1^t)) · m / (√v̂ / √(1 − β2^t) + ε)
 *
 * State per parameter: `step`, `expAvg` (m), `expAvgSq` (v), `maxExpAvgSq` (v̂, with amsgrad).
 */
abstract class AdamBase extends Optimizer<AdamOpts> {
  protected abstract readonly decoupled: boolean;

  protected validate(g: ParamGroup<AdamOpts>, where: string): void {
    const at = `${this.name} (${where})`;
    checkRange(at, 'lr', g.lr, 0);
    checkRange(at, 'eps', g.eps, 0);
    if (!Array.isArray(g.betas) || g.betas.length !== 2)
      throw new TypeError(`${at}: betas must be [β1, β2], got ${String(g.betas)}`);
    checkRange(at, 'betas[0]', g.betas[0], 0, 1, true);
    checkRange(at, 'betas[1]', g.betas[1], 0, 1, true);
    checkRange(at, 'weightDecay', g.weightDecay, 0);
    checkFlag(at, 'amsgrad', g.amsgrad);
    checkFlag(at, 'maximize', g.maximize);
  }

  protected update(p: Tensor, grad: Tensor, g: ParamGroup<AdamOpts>, s: ParamState): void {
    // Optimizer state outlives any tidy() scope the step runs in: keep() it.
    if (s.step === undefined) Object.assign(s, { step: 0, expAvg: keep(p.zerosLike()), expAvgSq: keep(p.zerosLike()) });
    if (g.amsgrad && s.maxExpAvgSq === undefined) s.maxExpAvgSq = keep(p.zerosLike());
    const t = (s.step as number) + 1;
    s.step = t;
    const [b1, b2] = g.betas;
    const k: StepScalars = {
      decay: this.decoupled ? 1 - g.lr * g.weightDecay : 1,
      negStepSize: -(g.lr / (1 - b1 ** t)),
      bc2Sqrt: Math.sqrt(1 - b2 ** t),
    };
    const m = s.expAvg as Tensor,
      v = s.expAvgSq as Tensor,
      vmax = g.amsgrad ? (s.maxExpAvgSq as Tensor) : null;
    if (this.fused && !vmax && p.dtype === 'float32' && p.backend.adamStep) {
      // The backend's kernel (cpu: WASM SIMD on resident arrays), the same values as the loop below.
      const r = Math.fround;
      const raw = p.backend.adamStep(p.raw, grad.raw, m.raw, v.raw, {
        b1: r(b1),
        b2: r(b2),
        c1: r(1 - b1),
        c2: r(1 - b2),
        wd: r(g.weightDecay),
        decay: r(k.decay),
        negStep: r(k.negStepSize),
        bc2: r(k.bc2Sqrt),
        eps: r(g.eps),
        negate: g.maximize,
        l2: !this.decoupled && g.weightDecay !== 0,
        scale: k.decay !== 1,
      });
      if (raw) {
        p.assign(new Tensor(raw, p.shape, p.backend));
        return;
      }
    }
    const host = this.fused ? [p, grad, m, v].map(hostArray) : [null];
    if (host.every((a) => a !== null) && (!vmax || hostArray(vmax))) {
      const [next, out] = freshHost(p);
      const [pa, ga, ma, va] = host as TypedArray[];
      adamLoopFor(p.dtype)(out, pa, ga, ma, va, vmax && hostArray(vmax), g, k, !this.decoupled, rounder(p.dtype));
      p.assign(next);
      return;
    }
    let gr = g.maximize ? grad.neg() : grad;
    if (!this.decoupled && g.weightDecay !== 0) gr = gr.add(p.mul(g.weightDecay));
    const theta = k.decay === 1 ? p : p.mul(k.decay);
    const m2 = m.mul(b1).add(gr.mul(1 - b1));
    const v2 = v.mul(b2).add(gr.mul(1 - b2).mul(gr));
    let vhat = v2;
    if (vmax) s.maxExpAvgSq = vhat = keep(vmax.maximum(v2));
    const denom = vhat.sqrt().div(k.bc2Sqrt).add(g.eps);
    Object.assign(s, { expAvg: keep(m2), expAvgSq: keep(v2) });
    p.assign(theta.add(m2.mul(k.negStepSize).div(denom)));
    // The replaced state is referenced by nothing else: free its device memory now.
    m.dispose();
    v.dispose();
    vmax?.dispose();
  }
}

/** The Adam(W) update on host arrays, op for op as the tensor path (r rounds to the dtype): writes θ
 * into `out` and m, v, v̂ in place. */
export function adamLoop(
  out: TypedArray,
  p: TypedArray,
  grad: TypedArray,
  m: TypedArray,
  v: TypedArray,
  vmax: TypedArray | null,
  o: AdamOpts,
  k: StepScalars,
  l2: boolean,
  r: Round,
): void {
  const [b1, b2] = [r(o.betas[0]), r(o.betas[1])],
    c1 = r(1 - o.betas[0]),
    c2 = r(1 - o.betas[1]);
  const wd = r(o.weightDecay),
    decay = r(k.decay),
    negStep = r(k.negStepSize),
    bc2 = r(k.bc2Sqrt),
    eps = r(o.eps);
  const addL2 = l2 && o.weightDecay !== 0,
    scale = k.decay !== 1,
    sign = o.maximize ? -1 : 1;
  for (let i = 0; i < p.length; i++) {
    let gi = sign * grad[i];
    if (addL2) gi = r(gi + r(p[i] * wd));
    const theta = scale ? r(p[i] * decay) : p[i];
    const mi = r(r(m[i] * b1) + r(gi * c1));
    const vi = r(r(v[i] * b2) + r(r(gi * c2) * gi));
    m[i] = mi;
    v[i] = vi;
    let vh = vi;
    if (vmax) {
      const a = vmax[i];
      vh = a > vi || a !== a ? a : vi; // torch.maximum: NaN propagates
      vmax[i] = vh;
    }
    const denom = r(r(r(Math.sqrt(vh)) / bc2) + eps);
    out[i] = r(theta + r(r(mi * negStep) / denom));
  }
}

const adamLoopFor = perDtype(adamLoop);

/** torch.optim.Adam: weight decay is an L2 term added to the gradient (default λ = 0). */
export class Adam extends AdamBase {
  protected readonly decoupled = false;
  constructor(params: Params<AdamOpts>, opts: Partial<AdamOpts> & RunOpts = {}) {
    super(
      'Adam',
      params,
      { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false },
      opts,
    );
  }
}

/** torch.optim.AdamW: decoupled weight decay θ ← θ(1 − lr·λ) (Loshchilov & Hutter; default λ = 0.01). */
export class AdamW extends AdamBase {
  protected readonly decoupled = true;
  constructor(params: Params<AdamOpts>, opts: Partial<AdamOpts> & RunOpts = {}) {
    super(
      'AdamW',
      params,
      { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, amsgrad: false, maximize: false },
      opts,
    );
  }
}

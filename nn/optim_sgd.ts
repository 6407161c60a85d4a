/** Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay (torch.optim.SGD). */
import { cloneData, keep } from '../engine/index.js';
import type { Tensor, TypedArray } from '../engine/index.js';
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

export interface SGDOpts extends BaseOpts {
  /** Required (in the defaults or in every group), as in PyTorch. */
  lr: number;
  /** μ; 0 turns momentum off (and keeps no buffer). Default 0. */
  momentum: number;
  /** τ: the gradient enters the buffer scaled by 1 − τ. Default 0. */
  dampening: number;
  /** λ: L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
  /** Nesterov momentum (needs μ > 0 and τ = 0). Default false. */
  nesterov: boolean;
  /** Ascend instead of descend. Default false. */
  maximize: boolean;
}

/**
 * SGD with PyTorch's semantics, per parameter θ with gradient g (d = −g when maximizing):
 *
 *   d ← g + λθ                          (when λ ≠ 0)
 *   b ← d on the first step, else μb + (1 − τ)d    (when μ ≠ 0)
 *   d ← d + μb (Nesterov) or d ← b
 *   θ ← θ − lr·d
 *
 * Note lr multiplies the buffer, not the gradient entering it (PyTorch, unlike Sutskever et al.).
 * State per parameter: `momentumBuffer` (only when μ ≠ 0).
 */
export class SGD extends Optimizer<SGDOpts> {
  constructor(params: Params<SGDOpts>, opts: Partial<SGDOpts> & RunOpts = {}) {
    // NaN marks "required": validate() rejects a group that ends up without an lr.
    super(
      'SGD',
      params,
      { lr: NaN, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false },
      opts,
    );
  }

  protected validate(g: ParamGroup<SGDOpts>, where: string): void {
    const at = `SGD (${where})`;
    if (Number.isNaN(g.lr)) throw new TypeError(`${at}: lr is required (pass { lr } to SGD or to every group)`);
    checkRange(at, 'lr', g.lr, 0);
    checkRange(at, 'momentum', g.momentum, 0);
    checkRange(at, 'dampening', g.dampening, -Infinity);
    checkRange(at, 'weightDecay', g.weightDecay, 0);
    checkFlag(at, 'nesterov', g.nesterov);
    checkFlag(at, 'maximize', g.maximize);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0))
      throw new RangeError(`${at}: Nesterov momentum requires momentum > 0 and dampening = 0`);
  }

  protected update(p: Tensor, grad: Tensor, g: ParamGroup<SGDOpts>, s: ParamState): void {
    const prev = s.momentumBuffer as Tensor | undefined;
    const [pa, ga] = this.fused ? [hostArray(p), hostArray(grad)] : [null, null];
    if (pa && ga) {
      const first = g.momentum !== 0 && prev === undefined;
      const buf = g.momentum === 0 ? null : first ? freshHost(p)[0] : prev!;
      if (buf) s.momentumBuffer = buf;
      const [next, out] = freshHost(p);
      sgdLoopFor(p.dtype)(out, pa, ga, buf && hostArray(buf), first, g, rounder(p.dtype));
      p.assign(next);
      return;
    }
    let d = g.maximize ? grad.neg() : grad;
    if (g.weightDecay !== 0) d = d.add(p.mul(g.weightDecay));
    if (g.momentum !== 0) {
      const buf = keep(prev === undefined ? cloneData(d) : prev.mul(g.momentum).add(d.mul(1 - g.dampening)));
      s.momentumBuffer = buf;
      prev?.dispose(); // replaced state, referenced by nothing else
      d = g.nesterov ? d.add(buf.mul(g.momentum)) : buf;
    }
    p.assign(p.add(d.mul(-g.lr)));
  }
}

/** The SGD update on host arrays, op for op as the tensor path above (r rounds to the dtype):
 * writes θ into `out` and the buffer `b` in place (`first`: b ← d). */
export function sgdLoop(
  out: TypedArray,
  p: TypedArray,
  grad: TypedArray,
  b: TypedArray | null,
  first: boolean,
  o: SGDOpts,
  r: Round,
): void {
  const wd = r(o.weightDecay),
    mu = r(o.momentum),
    keep = r(1 - o.dampening),
    negLr = r(-o.lr);
  const decay = o.weightDecay !== 0,
    sign = o.maximize ? -1 : 1;
  for (let i = 0; i < p.length; i++) {
    let d = sign * grad[i];
    if (decay) d = r(d + r(p[i] * wd));
    if (b) {
      const bi = first ? d : r(r(b[i] * mu) + r(d * keep));
      b[i] = bi;
      d = o.nesterov ? r(d + r(bi * mu)) : bi;
    }
    out[i] = r(p[i] + r(d * negLr));
  }
}

const sgdLoopFor = perDtype(sgdLoop);

/**
 * Optimizers (SGD, Adam, AdamW) over parameter groups, and the usual "no weight decay for biases
 * and norms" split. Schedulers, clipping and EMA live in schedulers.ts, clip_grad.ts and ema.ts.
 */
import type { Tensor } from '../engine/index.js';
import type { BaseOpts, ParamGroupSpec } from './optim_base.js';

export {
  Optimizer,
  type BaseOpts,
  type Hyper,
  type OptimizerStateDict,
  type ParamGroup,
  type ParamGroupSpec,
  type Params,
  type ParamState,
  type RunOpts,
} from './optim_base.js';
export { SGD, sgdLoop, type SGDOpts } from './optim_sgd.js';
export { Adam, AdamW, adamLoop, type AdamOpts } from './optim_adam.js';

/** Anything with named parameters, e.g. an nn Module. */
export interface HasNamedParameters {
  namedParameters(): Iterable<[string, Tensor]>;
}

export interface DecaySplit {
  /** λ for the parameters that decay. */
  weightDecay: number;
  /** Which parameters get no decay. Default: 1-D tensors (biases, norm scales) and names ending in
   * '.bias', as ALBEF (timm) does. VLMo: `(n) => ['bias', 'LayerNorm.bias', 'LayerNorm.weight', 'norm.bias', 'norm.weight'].some((s) => n.includes(s))`. */
  noDecay?: (name: string, p: Tensor) => boolean;
}

/** The ALBEF/timm rule: no decay for 1-D parameters and biases. */
export function defaultNoDecay(name: string, p: Tensor): boolean {
  return p.ndim <= 1 || name.endsWith('.bias');
}

/**
 * Splits parameters into two groups, [decayed (weightDecay = λ), not decayed (weightDecay = 0)], in
 * their original order. Both groups are always present (possibly empty), so group indices are stable.
 *
 *   new AdamW(paramGroups(model, { weightDecay: 0.02 }), { lr: 1e-4 })
 */
export function paramGroups(
  named: Iterable<[string, Tensor]> | HasNamedParameters,
  { weightDecay, noDecay = defaultNoDecay }: DecaySplit,
): [ParamGroupSpec<BaseOpts>, ParamGroupSpec<BaseOpts>] {
  const entries = isNamed(named) ? named.namedParameters() : named;
  const decay: Tensor[] = [],
    plain: Tensor[] = [];
  for (const [name, p] of entries) (noDecay(name, p) ? plain : decay).push(p);
  return [
    { params: decay, weightDecay },
    { params: plain, weightDecay: 0 },
  ];
}

function isNamed(x: Iterable<[string, Tensor]> | HasNamedParameters): x is HasNamedParameters {
  return typeof (x as HasNamedParameters).namedParameters === 'function';
}

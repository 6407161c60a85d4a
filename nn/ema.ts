/** Exponential moving average of parameters: ALBEF's momentum encoders. */
import { cloneData, DTypeError, noGrad, ShapeError, Tensor, type TypedArray } from '../engine/index.js';
import { freshHost, hostArray, perDtype, rounder } from './optim_host.js';
import type { HasNamedParameters } from './optim.js';

/** An (online, momentum) pair: the momentum tensor tracks the online one. */
export type EmaPair = readonly [online: Tensor, momentum: Tensor];

/**
 * Keeps momentum copies θ_m of online parameters θ:  θ_m ← m·θ_m + (1 − m)·θ  (`update(m)`), with
 * `copyFrom()` for the initial θ_m ← θ. Nothing is recorded by autograd, and momentum tensors get
 * `requiresGrad = false`. Each update gives θ_m new storage via `assign` (the Tensor objects stay).
 *
 *   const ema = new Ema(model.visualEncoder, model.visualEncoderM);  // matched by name
 *   ema.copyFrom();            // at init
 *   ema.update(0.995);         // after each optimizer step
 */
export class Ema {
  readonly pairs: readonly EmaPair[];

  constructor(pairs: Iterable<EmaPair>);
  constructor(online: HasNamedParameters, momentum: HasNamedParameters);
  constructor(a: Iterable<EmaPair> | HasNamedParameters, b?: HasNamedParameters) {
    this.pairs = b === undefined ? [...(a as Iterable<EmaPair>)] : matchByName(a as HasNamedParameters, b);
    const seen = new Set<Tensor>();
    this.pairs.forEach(([on, mom], i) => {
      if (on === mom) throw new Error(`Ema: pair ${i} uses the same tensor as online and momentum copy`);
      if (seen.has(mom)) throw new Error(`Ema: pair ${i}'s momentum tensor appears in another pair`);
      seen.add(mom);
      checkPair(on, mom, `pair ${i}`);
      mom.requiresGrad = false;
    });
  }

  /** θ_m ← θ for every pair (a copy: no storage is shared). */
  copyFrom(): void {
    for (const [on, mom] of this.pairs) mom.assign(cloneData(on));
  }

  /** θ_m ← m·θ_m + (1 − m)·θ for every pair, m in [0, 1]. */
  update(m: number): void {
    if (!(m >= 0 && m <= 1)) throw new RangeError(`Ema.update: momentum must be in [0, 1], got ${m}`);
    noGrad(() => {
      for (const [on, mom] of this.pairs) {
        // The backend's kernel where it has one (cpu: WASM SIMD on resident arrays), the same values.
        const raw = mom.backend.emaStep?.(mom.raw, on.raw, m, 1 - m);
        if (raw) {
          mom.assign(new Tensor(raw, mom.shape, mom.backend));
          continue;
        }
        const a = hostArray(on),
          b = hostArray(mom);
        if (a && b) {
          const [next, out] = freshHost(mom);
          emaLoopFor(mom.dtype)(out, b, a, m, rounder(mom.dtype));
          mom.assign(next);
        } else {
          mom.assign(mom.mul(m).add(on.mul(1 - m)));
        }
      }
    });
  }
}

/** The update on host arrays, op for op as `mom.mul(m).add(on.mul(1 - m))` (r rounds to the dtype). */
export function emaLoop(out: TypedArray, mom: TypedArray, on: TypedArray, m: number, r: (x: number) => number): void {
  const keep = r(m),
    take = r(1 - m);
  for (let i = 0; i < out.length; i++) out[i] = r(r(mom[i] * keep) + r(on[i] * take));
}

const emaLoopFor = perDtype(emaLoop);

/** Pairs online and momentum parameters by name; every name must exist on both sides with one shape. */
export function matchByName(online: HasNamedParameters, momentum: HasNamedParameters): EmaPair[] {
  const moms = new Map(momentum.namedParameters());
  const pairs: EmaPair[] = [];
  for (const [name, on] of online.namedParameters()) {
    const mom = moms.get(name);
    if (!mom)
      throw new Error(
        `Ema: online parameter '${name}' has no momentum counterpart (momentum names: ${[...moms.keys()].slice(0, 8).join(', ')}${moms.size > 8 ? ', ...' : ''})`,
      );
    checkPair(on, mom, `'${name}'`);
    pairs.push([on, mom]);
    moms.delete(name);
  }
  if (moms.size > 0)
    throw new Error(`Ema: momentum parameters without an online counterpart: ${[...moms.keys()].join(', ')}`);
  return pairs;
}

function checkPair(on: Tensor, mom: Tensor, what: string): void {
  if (on.ndim !== mom.ndim || on.shape.some((n, d) => n !== mom.shape[d])) {
    throw new ShapeError(`Ema: ${what}: online [${on.shape.join(',')}] vs momentum [${mom.shape.join(',')}]`);
  }
  if (on.dtype !== mom.dtype || on.dtype === 'int32')
    throw new DTypeError(`Ema: ${what}: dtypes ${on.dtype} and ${mom.dtype} (need one float dtype)`);
  if (on.backend !== mom.backend) throw new Error(`Ema: ${what}: online on ${on.device}, momentum on ${mom.device}`);
}

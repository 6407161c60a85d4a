/**
 * ALBEF's momentum model and feature queues (ALBEF:models/model_pretrain.py `copy_params`,
 * `_momentum_update`, `_dequeue_and_enqueue`). The momentum model is an exponential moving average
 * of the online encoders; the queues keep its last Q image and text features as extra ITC negatives.
 */
import { noGrad, randn, type Rng, type Tensor } from '../../engine/index.js';
import type { Module } from '../../nn/module.js';

/** (online, momentum) parameter pairs, matched by name; throws if the two modules differ. */
export function momentumPairs(pairs: readonly (readonly [Module, Module])[]): [Tensor, Tensor][] {
  const out: [Tensor, Tensor][] = [];
  for (const [online, momentum] of pairs) {
    const m = new Map(momentum.namedParameters());
    for (const [name, p] of online.namedParameters()) {
      const pm = m.get(name);
      if (!pm || pm.shape.join() !== p.shape.join()) throw new Error(`momentum model has no parameter '${name}' [${p.shape}]`);
      out.push([p, pm]);
    }
  }
  return out;
}

/** θ_m ← θ, and θ_m leaves the optimizer's reach (requiresGrad = false). */
export function copyParams(pairs: readonly [Tensor, Tensor][]): void {
  noGrad(() => { for (const [p, pm] of pairs) { pm.assign(p.mul(1)); pm.requiresGrad = false; } });
}

/** ALBEF momentum update, before the momentum features are computed: θ_m ← m·θ_m + (1 − m)·θ. */
export function emaUpdate(pairs: readonly [Tensor, Tensor][], m: number): void {
  noGrad(() => { for (const [p, pm] of pairs) pm.assign(pm.mul(m).add(p.mul(1 - m))); });
}

/** A queue of Q random unit columns (the reference's L2-normalized randn). Shapes: [E, Q]. */
export function initQueue(E: number, Q: number, rng: Rng): Tensor {
  const q = randn([E, Q], { rng });
  return q.div(q.norm(2, 0, true));
}

/**
 * FIFO enqueue: writes the B feature rows as columns [ptr, ptr + B) and advances the pointer mod Q.
 * Requires Q mod B = 0 (as the reference asserts), so a batch never straddles the end.
 * Shapes: queue [E, Q], feats [B, E] -> queue [E, Q].
 */
export function enqueue(queue: Tensor, feats: Tensor, ptr: number): { queue: Tensor; ptr: number } {
  const [E, Q] = queue.shape, B = feats.shape[0];
  if (Q % B !== 0) throw new RangeError(`queue size ${Q} is not a multiple of the batch size ${B}; pick a batch that divides it`);
  if (feats.shape[1] !== E) throw new RangeError(`enqueue: features [${feats.shape}] do not match queue [${queue.shape}]`);
  const next = noGrad(() => queue.sliceAssign(feats.detach().mT(), [[0, E, 1], [ptr, ptr + B, 1]]));
  return { queue: next, ptr: (ptr + B) % Q };
}

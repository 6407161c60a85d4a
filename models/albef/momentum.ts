/**
 * ALBEF's feature queues (ALBEF:models/model_pretrain.py `_dequeue_and_enqueue`): the momentum
 * model's last Q image and text features, extra negatives for ITC. The momentum model itself is an
 * exponential moving average kept by nn's `Ema` (`copy_params`, `_momentum_update`). Also the
 * ramp of the distillation weight α.
 */
import { noGrad, randn, type Rng, type Tensor } from '../../engine/index.js';

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
  const [E, Q] = queue.shape,
    B = feats.shape[0];
  if (Q % B !== 0)
    throw new RangeError(`queue size ${Q} is not a multiple of the batch size ${B}; pick a batch that divides it`);
  if (feats.shape[1] !== E)
    throw new RangeError(`enqueue: features [${feats.shape}] do not match queue [${queue.shape}]`);
  const next = noGrad(() =>
    queue.sliceAssign(feats.detach().mT(), [
      [0, E, 1],
      [ptr, ptr + B, 1],
    ]),
  );
  return { queue: next, ptr: (ptr + B) % Q };
}

/** ALBEF's α ramp: α·min(1, step / rampSteps) during the first epoch, α afterwards (a pure function
 * of the step, so a resumed run recomputes it exactly). */
export function alphaRamp(alpha: number, rampSteps: number): (step: number) => number {
  return (step) => (rampSteps <= 0 ? alpha : alpha * Math.min(1, step / rampSteps));
}

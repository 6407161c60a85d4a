/**
 * ALBEF's own objectives, one function each: image-text contrastive with momentum distillation and
 * masked language modelling with momentum distillation (docs/reference.md, "ALBEF objectives").
 * Image-text matching on hard negatives is shared with VLMo (models/common/objectives.ts).
 * `Albef.losses` only wires them.
 */
import { crossEntropy, eye, tensor, type Tensor } from '../../engine/index.js';
import { groupTargetRows, labelledRows, maskedCrossEntropy } from '../common/objectives.js';

/**
 * ALBEF momentum distillation targets: q = α·softmax(s_m) + (1 − α)·Y, where Y is one-hot on the
 * first B columns (the in-batch positives; queue columns are negatives). With `same`
 * (`sameGroup`: which in-batch pairs show the same content), Y spreads each row's mass evenly over
 * its group's in-batch columns, as ALBEF's retrieval fine-tuning does with image ids.
 * Shapes: simM [B, B+Q], same [B, B] -> [B, B+Q].
 */
export function softTargets(simM: Tensor, alpha: number, same?: Uint8Array): Tensor {
  const [B, N] = simM.shape;
  const y = same
    ? tensor(groupTargetRows(same, B, N, 'ALBEF ITC targets'), {
        shape: [B, N],
        dtype: simM.dtype,
        device: simM.backend,
      })
    : eye(B, N, { dtype: simM.dtype, device: simM.backend });
  return simM
    .softmax(1)
    .mul(alpha)
    .add(y.mul(1 - alpha));
}

/**
 * ITC with momentum distillation: per direction the cross-entropy −Σ_j q_ij log softmax(s)_ij of the
 * online-vs-(momentum + queue) similarities against the soft targets, averaged over rows; itc is the
 * mean of both directions. At α = 0 this is InfoNCE with queue negatives.
 * Shapes: sims and targets [B, B+Q] -> scalars.
 */
export function itcLoss(
  simI2t: Tensor,
  simT2i: Tensor,
  targetI2t: Tensor,
  targetT2i: Tensor,
): { i2t: Tensor; t2i: Tensor; itc: Tensor } {
  const i2t = crossEntropy(simI2t, targetI2t);
  const t2i = crossEntropy(simT2i, targetT2i);
  return { i2t, t2i, itc: i2t.add(t2i).div(2) };
}

/**
 * MLM with momentum distillation over the labelled rows only (label != −100; the others weigh 0):
 * (1 − α)·CE(logits, labels) + α·mean_i[−Σ_v q_iv log softmax(logits)_iv], q the momentum model's
 * softmax on the same masked ids; without `soft`, the plain CE. Both means divide by the number of
 * labelled rows M, kept on the device (no read), so the logits may cover every position. With
 * M = 0 the loss is 0 (the reference's mean would be NaN).
 * Shapes: logits [N, V], labels [N] int32, soft [N, V] -> scalar.
 */
export function mlmLoss(logits: Tensor, labels: Tensor, soft: Tensor | null, alpha: number): Tensor {
  const ce = maskedCrossEntropy(logits, labels);
  if (!soft) return ce;
  const valid = labelledRows(labels, logits.dtype),
    count = valid.sum().clamp(1); // [N], M
  const distill = crossEntropy(logits, soft, { reduction: 'none' }).mul(valid).sum().div(count);
  return ce.mul(1 - alpha).add(distill.mul(alpha));
}

/**
 * ALBEF's objectives, one function each (spec A3): image-text contrastive with momentum
 * distillation, image-text matching on hard negatives, masked language modelling with momentum
 * distillation. `Albef.losses` only wires them.
 */
import { concat, crossEntropy, eye, full, noGrad, type Rng, type Tensor } from '../../engine/index.js';

/**
 * ALBEF momentum distillation targets: q = α·softmax(s_m) + (1 − α)·Y, where Y is one-hot on the
 * first B columns (the in-batch positives; queue columns are negatives).
 * Shapes: simM [B, B+Q] -> [B, B+Q].
 */
export function softTargets(simM: Tensor, alpha: number): Tensor {
  const [B, N] = simM.shape;
  const y = eye(B, N, { dtype: simM.dtype, device: simM.backend });
  return simM.softmax(1).mul(alpha).add(y.mul(1 - alpha));
}

/**
 * ITC with momentum distillation: per direction the cross-entropy −Σ_j q_ij log softmax(s)_ij of the
 * online-vs-(momentum + queue) similarities against the soft targets, averaged over rows; itc is the
 * mean of both directions. At α = 0 this is InfoNCE with queue negatives.
 * Shapes: sims and targets [B, B+Q] -> scalars.
 */
export function itcLoss(simI2t: Tensor, simT2i: Tensor, targetI2t: Tensor, targetT2i: Tensor): { i2t: Tensor; t2i: Tensor; itc: Tensor } {
  const i2t = crossEntropy(simI2t, targetI2t);
  const t2i = crossEntropy(simT2i, targetT2i);
  return { i2t, t2i, itc: i2t.add(t2i).div(2) };
}

/** Hard negatives, as batch indices: the image paired with each text, the text paired with each image. */
export interface HardNegatives { imageForText: Int32Array; textForImage: Int32Array }

/**
 * ITM sampling weights: softmax over the in-batch columns s[:, :B] (already scaled by 1/τ), with
 * the diagonal zeroed so the positive is never drawn. Rows are left unnormalized, as in the reference.
 * Shapes: sim [B, B+Q] -> [B, B] (host array, row-major).
 */
export function hardNegativeWeights(sim: Tensor): Float64Array {
  const B = sim.shape[0];
  const w = noGrad(() => sim.narrow(1, 0, B).softmax(1)).dataSync();
  const out = Float64Array.from(w);
  for (let b = 0; b < B; b++) out[b * B + b] = 0;
  return out;
}

/**
 * One draw from unnormalized weights (torch.multinomial(w, 1)). A row whose off-diagonal weights all
 * underflowed to 0 (τ near its floor) falls back to a uniform non-positive index instead of failing.
 */
export function drawIndex(weights: ArrayLike<number>, offset: number, n: number, exclude: number, rng: Rng): number {
  let total = 0;
  for (let j = 0; j < n; j++) total += weights[offset + j];
  if (!(total > 0)) return (exclude + 1 + rng.int(0, n - 1)) % n;
  let u = rng.uniform() * total;
  for (let j = 0; j < n; j++) {
    u -= weights[offset + j];
    if (u < 0 && weights[offset + j] > 0) return j;
  }
  for (let j = n - 1; j >= 0; j--) if (weights[offset + j] > 0) return j; // rounding left u >= 0
  return exclude;
}

/**
 * ITM hard-negative mining (no gradient through the choice): for text b an image drawn from row b of
 * softmax(s_t2i[:, :B]), for image b a text drawn from row b of softmax(s_i2t[:, :B]), positives
 * zeroed. Needs B >= 2.
 */
export function sampleHardNegatives(simI2t: Tensor, simT2i: Tensor, rng: Rng): HardNegatives {
  const B = simI2t.shape[0];
  if (B < 2) throw new RangeError(`ITM hard negatives need a batch of at least 2 pairs, got ${B}`);
  const wT2i = hardNegativeWeights(simT2i), wI2t = hardNegativeWeights(simI2t);
  const imageForText = new Int32Array(B), textForImage = new Int32Array(B);
  for (let b = 0; b < B; b++) imageForText[b] = drawIndex(wT2i, b * B, B, b, rng);
  for (let b = 0; b < B; b++) textForImage[b] = drawIndex(wI2t, b * B, B, b, rng);
  return { imageForText, textForImage };
}

/** ITM labels: B matched pairs (1) then 2B mismatched ones (0). Shapes: [3B] int32. */
export function itmLabels(B: number, like: Tensor): Tensor {
  return concat([full([B], 1, { dtype: 'int32', device: like.backend }), full([2 * B], 0, { dtype: 'int32', device: like.backend })]);
}

/**
 * ITM: binary cross-entropy (2-way softmax) of the head's logits on the fusion [CLS] of
 * [positives; (text, hard-negative image); (hard-negative text, image)], labels 1, 0, 0.
 * Shapes: logits [3B, 2] -> scalar.
 */
export function itmLoss(logits: Tensor): Tensor {
  return crossEntropy(logits, itmLabels(logits.shape[0] / 3, logits));
}

/**
 * MLM with momentum distillation, over the M masked positions only:
 * (1 − α)·CE(logits, labels) + α·mean_i[−Σ_v q_iv log softmax(logits)_iv], q the momentum model's
 * softmax on the same masked ids. Without `soft` it is the plain CE.
 * Shapes: logits [M, V], labels [M] int32, soft [M, V] -> scalar.
 */
export function mlmLoss(logits: Tensor, labels: Tensor, soft: Tensor | null, alpha: number): Tensor {
  const ce = crossEntropy(logits, labels);
  if (!soft) return ce;
  const distill = crossEntropy(logits, soft);
  return ce.mul(1 - alpha).add(distill.mul(alpha));
}

/**
 * VLMo's objectives, one named function each (UNILM:vlmo/vlmo/modules/objectives.py; spec B4), and
 * the three stage objectives that wire them to the model:
 *   stage 1  mimObjective      masked image modelling on image-only input (our BEiT substitute)
 *   stage 2  textMlmObjective  masked language modelling on text-only input
 *   stage 3  vlObjective       ITC (two branches) + ITM (hard negatives) + 0.25·MLM (fused)
 */
import { arange, concat, crossEntropy, full, noGrad, tensor, type Tensor } from '../../engine/index.js';
import { itmLoss, sampleHardNegatives, type HardNegatives } from '../albef/losses.js';
import type { UnimodalOutput, Vlmo } from './vlmo.js';

export { itmLoss, type HardNegatives };

/**
 * Weight of the MLM loss in the VL stage. The reference code returns `mlm_loss * 0.25` and the
 * trainer sums every loss; the paper describes an unweighted sum (spec B4.3, B4.4).
 */
export const VL_MLM_WEIGHT = 0.25;

/**
 * One contrastive branch (open_clip style, no queue, no momentum model): s = exp(scale)·v tᵀ, the
 * mean of the image->text and text->image cross-entropies with pair i matching i. The scale is
 * learnable and, as in the reference, unclamped.
 * Shapes: imageFeat, textFeat [B, C] (L2-normalized), scale [] -> loss [], logits [B, B] (image rows).
 */
export function itcBranchLoss(imageFeat: Tensor, textFeat: Tensor, logitScale: Tensor): { loss: Tensor; logits: Tensor } {
  const logits = imageFeat.matmul(textFeat.mT()).mul(logitScale.exp());    // [B, C] @ [C, B] -> [B, B]
  const target = arange(0, logits.shape[0], 1, { device: logits.backend });
  const loss = crossEntropy(logits, target).add(crossEntropy(logits.mT(), target)).div(2);
  return { loss, logits };
}

/**
 * ITC as the released code computes it: the mean of two branches, (a) the V/L experts everywhere
 * (the paper's ITC) and (b) the same inputs with the top blocks re-run through the VL-FFN, each
 * with its own heads and logit scale (spec B4.1, E27; the paper describes only (a)).
 * Shapes: features [B, C] -> scalars; `logits` [B, B] are branch (a)'s, used to mine ITM negatives.
 */
export function itcLoss(image: UnimodalOutput, text: UnimodalOutput, logitScale: Tensor, logitVlScale: Tensor): { itc: Tensor; itcA: Tensor; itcB: Tensor; logits: Tensor } {
  if (!image.vlFeat || !text.vlFeat) throw new Error('itcLoss: the VL-FFN branch is missing (a model without VL-FFN blocks has no stage-3 ITC)');
  const a = itcBranchLoss(image.feat, text.feat, logitScale);
  const b = itcBranchLoss(image.vlFeat, text.vlFeat, logitVlScale);
  return { itc: a.loss.add(b.loss).mul(0.5), itcA: a.loss, itcB: b.loss, logits: a.logits };
}

/** Masked language modelling: cross-entropy over the M masked positions. Shapes: logits [M, V], labels [M] -> []. */
export function mlmLoss(logits: Tensor, labels: Tensor): Tensor { return crossEntropy(logits, labels); }

/** Masked image modelling: cross-entropy of each masked patch's codebook id. Shapes: logits [M, K], codes [M] -> []. */
export function mimLoss(logits: Tensor, codes: Tensor): Tensor { return crossEntropy(logits, codes); }

/** Flat indices of the labelled positions (label != −100), or null if none. Shapes: [B, n] -> [M]. */
export function labelledPositions(labels: Tensor): Tensor | null {
  const l = labels.dataSync(), idx: number[] = [];
  for (let i = 0; i < l.length; i++) if (l[i] !== -100) idx.push(i);
  return idx.length ? tensor(Int32Array.from(idx), { device: labels.backend }) : null;
}

/** Rows of `states` at flat positions. Shapes: [B, n, C], [M] -> [M, C]. */
function rowsAt(states: Tensor, pos: Tensor): Tensor {
  return states.reshape([-1, states.shape[2]]).indexSelect(0, pos);
}

/** A loss with the logits and labels it was computed from (for accuracies); logits null when nothing was masked. */
export interface MaskedPrediction { loss: Tensor; logits: Tensor | null; labels: Tensor | null }

/**
 * Stage 1: image-only pass with block-masked patches replaced by the mask token, MIM head on the
 * masked patches' final states. Shapes: images [B, 3, S, S], mimMask [B, P] int32 (1 = masked),
 * codes [B, P] int32 (code of every patch).
 */
export function mimObjective(model: Vlmo, batch: { images: Tensor; mimMask: Tensor; codes: Tensor }): MaskedPrediction {
  if (!model.mimHead) throw new Error('mimObjective: build the model with { mim: true }');
  const hidden = model.encodeImage(batch.images, { mimMask: batch.mimMask }).hidden;     // [B, 1+P, C]
  const patches = hidden.narrow(1, 1, hidden.shape[1] - 1);                             // [B, P, C]
  const labels = batch.codes.where(batch.mimMask.ne(0), -100);                          // codes at masked patches
  const pos = labelledPositions(labels);
  if (!pos) return { loss: full([], 0, { dtype: model.dtype, device: hidden.backend }), logits: null, labels: null };
  const logits = model.mimHead.forward(rowsAt(patches, pos));                             // [M, K]
  const targets = labels.reshape([-1]).indexSelect(0, pos);
  return { loss: mimLoss(logits, targets), logits, labels: targets };
}

/**
 * Stage 2 (`infer_text_mlm`): text-only pass (L-FFN everywhere) on masked ids, MLM head on the masked
 * positions. Shapes: mlmIds, attentionMask, mlmLabels [B, T] int32.
 */
export function textMlmObjective(model: Vlmo, batch: { mlmIds: Tensor; attentionMask: Tensor; mlmLabels: Tensor }): MaskedPrediction {
  const hidden = model.encodeText(batch.mlmIds, batch.attentionMask).hidden;             // [B, T, C]
  return maskedLm(model, hidden, batch.mlmLabels);
}

function maskedLm(model: Vlmo, textStates: Tensor, labels: Tensor): MaskedPrediction {
  const pos = labelledPositions(labels);
  // No masked token in the batch: the reference's mean would be NaN; we contribute 0 instead (spec E10).
  if (!pos) return { loss: full([], 0, { dtype: model.dtype, device: textStates.backend }), logits: null, labels: null };
  const logits = model.mlmScore.forward(rowsAt(textStates, pos));                       // [M, V]
  const targets = labels.reshape([-1]).indexSelect(0, pos);
  return { loss: mlmLoss(logits, targets), logits, labels: targets };
}

/** Stage-3 inputs. Shapes: images [B, 3, S, S]; ids, attentionMask, mlmIds, mlmLabels [B, T] int32. */
export interface VlBatch { images: Tensor; ids: Tensor; attentionMask: Tensor; mlmIds: Tensor; mlmLabels: Tensor }

export interface VlOutput {
  total: Tensor; itc: Tensor; itm: Tensor; mlm: Tensor;
  /** ITC branches: (a) V/L experts, (b) VL-FFN top. */
  itcA: Tensor; itcB: Tensor;
  /** [B, B] branch-(a) logits. */
  itcLogits: Tensor;
  /** [3B, 2]: positives, (text, negative image), (negative text, image). */
  itmLogits: Tensor;
  mlmLogits: Tensor | null; mlmLabels: Tensor | null;
  negatives: HardNegatives;
}

/**
 * Stage 3 (`task_mlm_itm_itc_base`): ITC from the dual-encoder passes; ITM negatives drawn from
 * softmax(ITC logits) with the diagonal zeroed (in-batch = the global batch on one process) and
 * **re-encoded** from raw inputs (spec E28); MLM on a fused pass over the masked ids.
 * The three ITM fusion passes and the MLM one are independent rows, run as one [4B] batch.
 * total = itc + itm + 0.25·mlm.
 */
export function vlObjective(model: Vlmo, batch: VlBatch, opts: { negatives?: HardNegatives } = {}): VlOutput {
  const { images, ids, attentionMask: mask, mlmIds } = batch, B = ids.shape[0];
  const image = model.encodeImage(images, { vlBranch: true });
  const text = model.encodeText(ids, mask, { vlBranch: true });
  const { itc, itcA, itcB, logits } = itcLoss(image, text, model.logitScale, model.logitVlScale);

  const negatives = opts.negatives ?? noGrad(() => sampleHardNegatives(logits, logits.mT(), model.rng));
  const negImg = tensor(negatives.imageForText, { device: images.backend });
  const negTxt = tensor(negatives.textForImage, { device: images.backend });
  const fused = model.fuse(
    concat([ids, ids, ids.indexSelect(0, negTxt), mlmIds]),                            // [4B, T]
    concat([mask, mask, mask.indexSelect(0, negTxt), mask]),                             // the negative text keeps its mask
    concat([images, images.indexSelect(0, negImg), images, images]),                     // [4B, 3, S, S]
  );                                                                                     // [4B, T+1+P, C]
  const itmLogits = model.itmLogits(fused.narrow(0, 0, 3 * B));                          // [3B, 2]
  const itm = itmLoss(itmLogits);
  const T = ids.shape[1];
  const mlm = maskedLm(model, fused.narrow(0, 3 * B, B).narrow(1, 0, T), batch.mlmLabels);
  const total = mlm.loss.mul(VL_MLM_WEIGHT).add(itc).add(itm);                           // the reference's key order
  return {
    total, itc, itm, mlm: mlm.loss, itcA, itcB, itcLogits: logits, itmLogits,
    mlmLogits: mlm.logits, mlmLabels: mlm.labels, negatives,
  };
}

/**
 * VLMo's objectives, one named function each (UNILM:vlmo/vlmo/modules/objectives.py; docs/reference.md#vlmo-objectives), and
 * the three stage objectives that wire them to the model:
 *   stage 1  mimObjective      masked image modelling on image-only input (our BEiT substitute)
 *   stage 2  textMlmObjective  masked language modelling on text-only input
 *   stage 3  vlObjective       ITC (two branches) + ITM (hard negatives) + 0.25·MLM (fused)
 */
import { arange, binaryCrossEntropyWithLogits, concat, crossEntropy, tensor, type Tensor } from '../../engine/index.js';
import { clsOf } from './heads.js';
import {
  itmLoss,
  lazyLabelledSubset,
  maskedCrossEntropy,
  groupTargetRows,
  sameGroup,
  sampleNegativeIndices,
  type HardNegatives,
  type NegativeIndices,
} from '../common/objectives.js';
import type { UnimodalOutput, Vlmo } from './vlmo.js';
import { contentGroups, type Batch } from '../../data/index.js';

export { itmLoss, type HardNegatives, type NegativeIndices };

/**
 * Weight of the MLM loss in the VL stage. The reference code returns `mlm_loss * 0.25` and the
 * trainer sums every loss; the paper describes an unweighted sum (docs/reference.md#vlmo-objectives).
 */
export const VL_MLM_WEIGHT = 0.25;

/**
 * One contrastive branch (open_clip style, no queue, no momentum model): s = exp(scale)·v tᵀ, the
 * mean of the image->text and text->image cross-entropies with pair i matching i. The scale is
 * learnable and, as in the reference, unclamped. With `same` (`sameGroup`: which pairs show the
 * same content) each row's target spreads evenly over its group instead of the diagonal alone.
 * Shapes: imageFeat, textFeat [B, C] (L2-normalized), scale [], same [B, B] -> loss [], logits [B, B] (image rows).
 */
export function itcBranchLoss(
  imageFeat: Tensor,
  textFeat: Tensor,
  logitScale: Tensor,
  same?: Uint8Array,
): { loss: Tensor; logits: Tensor } {
  const logits = imageFeat.matmul(textFeat.mT()).mul(logitScale.exp()); // [B, C] @ [C, B] -> [B, B]
  const B = logits.shape[0];
  const target = same
    ? tensor(groupTargetRows(same, B, B, 'VLMo ITC targets'), {
        shape: [B, B],
        dtype: logits.dtype,
        device: logits.backend,
      }) // symmetric
    : arange(0, B, 1, { device: logits.backend });
  const loss = crossEntropy(logits, target).add(crossEntropy(logits.mT(), target)).div(2);
  return { loss, logits };
}

/**
 * ITC as the released code computes it: the mean of two branches, (a) the V/L experts everywhere
 * (the paper's ITC) and (b) the same inputs with the top blocks re-run through the VL-FFN, each
 * with its own heads and logit scale (the paper describes only (a); docs/reference.md#vlmo-objectives).
 * `same` as in `itcBranchLoss`.
 * Shapes: features [B, C] -> scalars; `logits` [B, B] are branch (a)'s, used to mine ITM negatives.
 */
export function itcLoss(
  image: UnimodalOutput,
  text: UnimodalOutput,
  logitScale: Tensor,
  logitVlScale: Tensor,
  same?: Uint8Array,
): { itc: Tensor; itcA: Tensor; itcB: Tensor; logits: Tensor } {
  if (!image.vlFeat || !text.vlFeat)
    throw new Error('itcLoss: the VL-FFN branch is missing (a model without VL-FFN blocks has no stage-3 ITC)');
  const a = itcBranchLoss(image.feat, text.feat, logitScale, same);
  const b = itcBranchLoss(image.vlFeat, text.vlFeat, logitVlScale, same);
  return { itc: a.loss.add(b.loss).mul(0.5), itcA: a.loss, itcB: b.loss, logits: a.logits };
}

/**
 * Masked language modelling: cross-entropy over the masked positions, given logits at every
 * position and −100 labels elsewhere (no read to find the M masked ones); 0 when none is masked
 * (the reference's mean would be NaN). Shapes: logits [N, V], labels [N] -> [].
 */
export function mlmLoss(logits: Tensor, labels: Tensor): Tensor {
  return maskedCrossEntropy(logits, labels);
}

/** Masked image modelling: cross-entropy of each masked patch's codebook id, as mlmLoss. Shapes: logits [N, K], codes [N] (−100 unmasked) -> []. */
export function mimLoss(logits: Tensor, codes: Tensor): Tensor {
  return maskedCrossEntropy(logits, codes);
}

/** Flat indices of the labelled positions (label != −100), or null if none; a host read (evaluation). Shapes: [B, n] -> [M]. */
export function labelledPositions(labels: Tensor): Tensor | null {
  const l = labels.dataSync(),
    idx: number[] = [];
  for (let i = 0; i < l.length; i++) if (l[i] !== -100) idx.push(i);
  return idx.length ? tensor(Int32Array.from(idx), { device: labels.backend }) : null;
}

/** Every position as a row. Shapes: [B, n, C] -> [B·n, C]. */
const rows = (states: Tensor): Tensor => states.reshape([-1, states.shape[2]]);

/**
 * A loss with the logits and labels at the masked positions (for accuracies; null when nothing was
 * masked). The loss runs over all positions, unmasked ones weighted 0; `logits` and `labels` are
 * picked out on first access, which reads the labels back, so a step that skips them reads nothing.
 */
export interface MaskedPrediction {
  loss: Tensor;
  readonly logits: Tensor | null;
  readonly labels: Tensor | null;
  /** All positions' logits [N, V] and labels [N] (−100 = not masked), read by nothing: for metrics on any device. */
  all: { logits: Tensor; labels: Tensor };
}

/** The loss of all-position logits against labels (−100 = not masked), with lazy masked-row views. Shapes: [N, V], [N]. */
function maskedPrediction(loss: Tensor, logits: Tensor, labels: Tensor): MaskedPrediction {
  const subset = lazyLabelledSubset(logits, labels);
  return {
    loss,
    get logits() {
      return subset.logits;
    },
    get labels() {
      return subset.labels;
    },
    all: { logits, labels },
  };
}

/**
 * Stage 1: image-only pass with block-masked patches replaced by the mask token, MIM head on the
 * masked patches' final states. Shapes: images [B, 3, S, S], mimMask [B, P] int32 (1 = masked),
 * codes [B, P] int32 (code of every patch).
 */
export function mimObjective(model: Vlmo, batch: { images: Tensor; mimMask: Tensor; codes: Tensor }): MaskedPrediction {
  if (!model.mimHead) throw new Error('mimObjective: build the model with { mim: true }');
  const hidden = model.encodeImage(batch.images, { mimMask: batch.mimMask }).hidden; // [B, 1+P, C]
  const patches = hidden.narrow(1, 1, hidden.shape[1] - 1); // [B, P, C]
  const labels = batch.codes.where(batch.mimMask.ne(0), -100).reshape([-1]); // [B·P] codes at masked patches
  const logits = model.mimHead.forward(rows(patches)); // [B·P, K]
  return maskedPrediction(mimLoss(logits, labels), logits, labels);
}

/**
 * Stage 1, scene facts (our departure, see facts.ts): image-only pass on unmasked images, a linear
 * multi-label head on the final [CLS], binary cross-entropy averaged over facts and scenes.
 * `exact()` reads the logits: the fraction of scenes whose predicted fact set (logit > 0) is exactly
 * the target's. Shapes: images [B, 3, S, S], targets [B, F] float (0/1).
 */
export function factsObjective(
  model: Vlmo,
  images: Tensor,
  targets: Tensor,
): { loss: Tensor; logits: Tensor; exact: () => Promise<number> } {
  if (!model.factsHead) throw new Error('factsObjective: build the model with { facts: F }');
  const logits = model.factsHead.forward(clsOf(model.encodeImage(images).hidden)); // [B, F]
  const loss = binaryCrossEntropyWithLogits(logits, targets);
  const exact = async (): Promise<number> => {
    const [l, y] = await Promise.all([logits.data(), targets.data()]);
    return factsExact(l, y, targets.shape[1]);
  };
  return { loss, logits, exact };
}

/** Share of scenes (rows of F facts) whose predicted fact set (logit > 0) is exactly the target's (> 0.5). */
export function factsExact(logits: ArrayLike<number>, targets: ArrayLike<number>, F: number): number {
  const B = targets.length / F;
  let hit = 0;
  for (let b = 0; b < B; b++) {
    let ok = true;
    for (let f = 0; f < F && ok; f++) ok = logits[b * F + f] > 0 === targets[b * F + f] > 0.5;
    if (ok) hit++;
  }
  return hit / B;
}

/**
 * Stage 2 (`infer_text_mlm`): text-only pass (L-FFN everywhere) on masked ids, MLM head on the masked
 * positions. Shapes: mlmIds, attentionMask, mlmLabels [B, T] int32.
 */
export function textMlmObjective(
  model: Vlmo,
  batch: { mlmIds: Tensor; attentionMask: Tensor; mlmLabels: Tensor },
): MaskedPrediction {
  const hidden = model.encodeText(batch.mlmIds, batch.attentionMask).hidden; // [B, T, C]
  return maskedLm(model, hidden, batch.mlmLabels);
}

/** MLM head on every text position, loss on the masked ones (0 when none). Shapes: [B, T, C], [B, T]. */
function maskedLm(model: Vlmo, textStates: Tensor, labels: Tensor): MaskedPrediction {
  const logits = model.mlmScore.forward(rows(textStates)),
    flat = labels.reshape([-1]); // [B·T, V], [B·T]
  return maskedPrediction(mlmLoss(logits, flat), logits, flat);
}

/** Stage-3 inputs. Shapes: images [B, 3, S, S]; ids, attentionMask, mlmIds, mlmLabels [B, T] int32. */
export interface VlBatch {
  images: Tensor;
  ids: Tensor;
  attentionMask: Tensor;
  mlmIds: Tensor;
  mlmLabels: Tensor;
  /** Content group of each pair (host ids, [B]; `contentGroups`): same-group pairs are ITC positives and never ITM negatives. */
  groups?: Int32Array;
}

export interface VlOutput {
  total: Tensor;
  itc: Tensor;
  itm: Tensor;
  mlm: Tensor;
  /** ITC branches: (a) V/L experts, (b) VL-FFN top. */
  itcA: Tensor;
  itcB: Tensor;
  /** [B, B] branch-(a) logits. */
  itcLogits: Tensor;
  /** [3B, 2]: positives, (text, negative image), (negative text, image). */
  itmLogits: Tensor;
  /** At the masked positions, on first access (a read of the labels; see MaskedPrediction). */
  readonly mlmLogits: Tensor | null;
  readonly mlmLabels: Tensor | null;
  /** All positions' MLM logits and labels (see MaskedPrediction.all). */
  mlmAll: { logits: Tensor; labels: Tensor };
  /** The ITM hard negatives used: int32 batch indices [B] on the model's device. */
  negatives: NegativeIndices;
}

/**
 * Stage 3 (`task_mlm_itm_itc_base`): ITC from the dual-encoder passes; ITM negatives drawn from
 * softmax(ITC logits) with the diagonal zeroed (in-batch = the global batch on one process) and
 * **re-encoded** from raw inputs (unlike ALBEF, which reuses unimodal states); MLM on a fused pass over the masked ids.
 * The three ITM fusion passes and the MLM one are independent rows, run as one [4B] batch.
 * total = itc + itm + 0.25·mlm.
 */
export function vlObjective(model: Vlmo, batch: VlBatch, opts: { negatives?: HardNegatives } = {}): VlOutput {
  const { images, ids, attentionMask: mask, mlmIds } = batch,
    B = ids.shape[0];
  const image = model.encodeImage(images, { vlBranch: true });
  const text = model.encodeText(ids, mask, { vlBranch: true });
  if (batch.groups && batch.groups.length !== B)
    throw new RangeError(`VLMo stage 3: groups has ${batch.groups.length} ids, expected ${B} (one per pair)`);
  const same = batch.groups && sameGroup(batch.groups);
  const { itc, itcA, itcB, logits } = itcLoss(image, text, model.logitScale, model.logitVlScale, same);

  const negatives: NegativeIndices = opts.negatives
    ? {
        imageForText: tensor(opts.negatives.imageForText, { device: images.backend }),
        textForImage: tensor(opts.negatives.textForImage, { device: images.backend }),
      }
    : sampleNegativeIndices(logits, logits.mT(), model.rng, same); // on the device, no read
  const { imageForText: negImg, textForImage: negTxt } = negatives;
  const fused = model.fuse(
    concat([ids, ids, ids.indexSelect(0, negTxt), mlmIds]), // [4B, T]
    concat([mask, mask, mask.indexSelect(0, negTxt), mask]), // the negative text keeps its mask
    concat([images, images.indexSelect(0, negImg), images, images]), // [4B, 3, S, S]
  ); // [4B, T+1+P, C]
  const itmLogits = model.itmLogits(fused.narrow(0, 0, 3 * B)); // [3B, 2]
  const itm = itmLoss(itmLogits);
  const T = ids.shape[1];
  const mlm = maskedLm(model, fused.narrow(0, 3 * B, B).narrow(1, 0, T), batch.mlmLabels);
  const total = mlm.loss.mul(VL_MLM_WEIGHT).add(itc).add(itm); // the reference's key order
  return {
    total,
    itc,
    itm,
    mlm: mlm.loss,
    itcA,
    itcB,
    itcLogits: logits,
    itmLogits,
    negatives,
    get mlmLogits() {
      return mlm.logits;
    },
    get mlmLabels() {
      return mlm.labels;
    },
    mlmAll: mlm.all,
  };
}

/** A loader batch as stage-3 inputs. Shapes: images [B, 3, S, S], ids etc. [B, T]. */
export function vlBatch(b: Batch, S: number): VlBatch {
  const B = b.batchSize,
    T = b.length,
    mlm = b.mlm!;
  return {
    images: tensor(b.images, { shape: [B, 3, S, S] }),
    ids: tensor(b.ids, { shape: [B, T] }),
    attentionMask: tensor(b.attentionMask, { shape: [B, T] }),
    mlmIds: tensor(mlm.inputIds, { shape: [B, T] }),
    mlmLabels: tensor(mlm.labels, { shape: [B, T] }),
    groups: contentGroups(b.captions),
  };
}

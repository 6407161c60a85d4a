/**
 * Learning checks on held-out batches, in the training layout: for each batch of B unseen test
 * scenes, ITM accuracy on the positive and its two hard negatives (drawn from the batch's ITC
 * similarities, as training draws them; a model that always answers "no match" scores the prior
 * 2/3) and in-batch ITC accuracy (the matching caption / image is the arg-max of its row, both
 * directions; chance 1/B), plus ITM's ranking of the same pairs: the ROC AUC of the matched-minus-
 * unmatched logit margin, positives against hard negatives (0.5 = no separation). Accuracy needs the
 * head to cross its decision threshold; the AUC shows whether it separates matched from unmatched pairs
 * at all. Used by test/models/vlmo_learn.test.ts and quoted in RESULTS.md.
 */
import { concat, noGrad, Rng, tensor } from '../../engine/index.js';
import type { DatasetName, Normalize, Split, Tokenizer } from '../../data/index.js';
import { buildGallery } from '../common/gallery.js';
import { sameGroup, sampleHardNegatives } from '../common/objectives.js';
import type { Vlmo } from './vlmo.js';

export interface BatchAccuracyOptions {
  dataset: DatasetName;
  size: number;
  seed: number;
  normalize: Normalize;
  batchSize: number;
  split?: Split;
}

export interface BatchAccuracy {
  /** ITM accuracy over positives and hard negatives, and what "never a match" scores (2/3). */
  itm: number;
  itmPrior: number;
  /** ROC AUC of the ITM margin (logit "match" minus logit "no match"): positives vs hard negatives; 0.5 = none. */
  itmAuc: number;
  /** In-batch ITC accuracy (image->text and text->image averaged), and chance (1/B). */
  itc: number;
  itcChance: number;
  /** Full batches scored (a short last batch is dropped). */
  batches: number;
}

/** ITM and in-batch ITC accuracy on held-out batches, in eval mode without gradients. */
export function heldOutBatchAccuracy(model: Vlmo, tokenizer: Tokenizer, o: BatchAccuracyOptions): BatchAccuracy {
  const B = o.batchSize;
  if (!(Number.isInteger(B) && B >= 2 && o.size >= B))
    throw new RangeError(`heldOutBatchAccuracy: need batchSize >= 2 and size >= batchSize, got ${B} and ${o.size}`);
  return noGrad(() => {
    model.eval();
    const g = buildGallery(tokenizer, {
      dataset: o.dataset,
      size: o.size,
      seed: o.seed,
      normalize: o.normalize,
      textLength: model.config.maxTextLen,
      split: o.split,
    });
    const rng = new Rng(o.seed),
      per = 3 * g.S * g.S,
      batches = Math.floor(g.n / B);
    let itmHits = 0,
      itcHits = 0;
    const posMargins: number[] = [],
      negMargins: number[] = [];
    for (let k = 0; k < batches; k++) {
      const s = k * B;
      const images = tensor(g.images.subarray(s * per, (s + B) * per), { shape: [B, 3, g.S, g.S] });
      const ids = tensor(g.ids.subarray(s * g.L, (s + B) * g.L), { shape: [B, g.L] }),
        mask = tensor(g.mask.subarray(s * g.L, (s + B) * g.L), { shape: [B, g.L] });
      const sim = model
        .encodeImage(images)
        .feat.matmul(model.encodeText(ids, mask).feat.mT())
        .mul(model.logitScale.exp()); // [B, B] image rows
      const i2t = sim.argmax(-1).dataSync(),
        t2i = sim.mT().argmax(-1).dataSync();
      for (let r = 0; r < B; r++) itcHits += (i2t[r] === r ? 1 : 0) + (t2i[r] === r ? 1 : 0);
      const group = Int32Array.from({ length: B }, (_, r) => g.matches(s + r)[0]); // same facts: not a negative
      const neg = sampleHardNegatives(sim, sim.mT(), rng, sameGroup(group)),
        ni = tensor(neg.imageForText),
        nt = tensor(neg.textForImage);
      const logits = model
        .itmLogits(
          model.fuse(
            concat([ids, ids, ids.indexSelect(0, nt)]),
            concat([mask, mask, mask.indexSelect(0, nt)]),
            concat([images, images.indexSelect(0, ni), images]),
          ),
        )
        .dataSync(); // [3B, 2]: match, 2 negatives
      for (let r = 0; r < 3 * B; r++) {
        const margin = logits[2 * r + 1] - logits[2 * r],
          positive = r < B;
        itmHits += margin > 0 === positive ? 1 : 0;
        (positive ? posMargins : negMargins).push(margin);
      }
    }
    return {
      itm: itmHits / (3 * B * batches),
      itmPrior: 2 / 3,
      itmAuc: rocAuc(posMargins, negMargins),
      itc: itcHits / (2 * B * batches),
      itcChance: 1 / B,
      batches,
    };
  });
}

/** P(a random positive scores above a random negative), ties counting half (Mann-Whitney U / (n_pos n_neg)). */
export function rocAuc(positives: readonly number[], negatives: readonly number[]): number {
  if (!positives.length || !negatives.length)
    throw new RangeError('rocAuc: needs at least one positive and one negative');
  const all = [...positives.map((v) => [v, 1] as const), ...negatives.map((v) => [v, 0] as const)].sort(
    (a, b) => a[0] - b[0],
  );
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j][0] === all[i][0]) j++;
    const midRank = (i + 1 + j) / 2; // 1-based ranks i+1..j share their mean
    for (let k = i; k < j; k++) if (all[k][1] === 1) rankSum += midRank;
    i = j;
  }
  const np = positives.length,
    nn = negatives.length;
  return (rankSum - (np * (np + 1)) / 2) / (np * nn);
}

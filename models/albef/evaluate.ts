/**
 * ALBEF evaluation on a held-out split: image<->text retrieval R@1/5/10 by ITC cosine similarity and
 * by ALBEF's re-ranking (ITC top-k re-scored by the ITM head, ALBEF:Retrieval.py), ITM accuracy on
 * in-batch hard negatives, MLM accuracy on masked tokens; each overall and on the held-out
 * compositions. A caption counts as correct for every scene it describes exactly (captions of
 * simple scenes repeat), as COCO counts any of an image's five captions.
 */
import { concat, noGrad, Rng, tensor, tidy, type Tensor } from '../../engine/index.js';
import {
  maskTokens,
  type DatasetName,
  type Normalize,
  type Split as DataSplit,
  type Tokenizer,
} from '../../data/index.js';
import { buildGallery, meanOver, splitBy, type Split } from '../common/gallery.js';
import {
  retrievalReport,
  rerankTopK,
  scoreMatrix,
  transpose,
  type RetrievalReport,
  type ScoreMatrix,
} from '../common/retrieval.js';
import type { Albef } from './albef.js';
import { sameGroup, sampleHardNegatives } from '../common/objectives.js';

export interface EvalOptions {
  dataset: DatasetName;
  /** Scenes in the gallery. */
  size: number;
  /** Which split (default 'test'; only 'test' has held-out compositions). */
  split?: DataSplit;
  seed: number;
  normalize: Normalize;
  /** Encoding batch. */
  batchSize: number;
  /** Candidates re-ranked by ITM per query (ALBEF: 256 on COCO; 16 suits a gallery of 1,000). */
  k: number;
}

export type { Split };

export interface EvalReport {
  scenes: number;
  heldOutScenes: number;
  k: number;
  /** Expected R@1 of a random ranking (matching captions included). */
  chanceR1: number;
  itc: Split<RetrievalReport>;
  itcItm: Split<RetrievalReport>;
  itmAccuracy: Split<number>;
  mlmAccuracy: Split<number>;
  /**
   * What the ITC-mined hard negatives of the ITM evaluation are, % of negatives (both directions):
   * `countMatch` shows as many objects as the positive (`countMatchRandom`: the same for a uniformly
   * drawn other scene of the batch), `sameFacts` states exactly the positive's facts (a false negative).
   */
  hardNegatives: { countMatch: number; countMatchRandom: number; sameFacts: number };
}

interface Encoded {
  image: Tensor;
  text: Tensor;
  mask: Tensor;
  ids: Tensor;
  imageFeat: Tensor;
  textFeat: Tensor;
}

function encodeAll(
  model: Albef,
  images: Float32Array,
  ids: Int32Array,
  mask: Int32Array,
  n: number,
  S: number,
  L: number,
  bs: number,
): Encoded[] {
  const out: Encoded[] = [];
  for (let s = 0; s < n; s += bs) {
    const b = Math.min(bs, n - s),
      per = 3 * S * S;
    const img = tensor(images.subarray(s * per, (s + b) * per), { shape: [b, 3, S, S] });
    const idT = tensor(ids.subarray(s * L, (s + b) * L), { shape: [b, L] }),
      maskT = tensor(mask.subarray(s * L, (s + b) * L), { shape: [b, L] });
    const image = model.encodeImage(img),
      text = model.encodeText(idT, maskT);
    out.push({
      image,
      text,
      mask: maskT,
      ids: idT,
      imageFeat: model.imageFeature(image),
      textFeat: model.textFeature(text),
    });
  }
  return out;
}

/** Runs every metric in eval mode (no dropout) without gradients. */
export function evaluateAlbef(model: Albef, tokenizer: Tokenizer, o: EvalOptions): EvalReport {
  return noGrad(() => {
    model.eval();
    const g = buildGallery(tokenizer, {
      dataset: o.dataset,
      split: o.split,
      size: o.size,
      seed: o.seed,
      normalize: o.normalize,
      textLength: 16,
    });
    const { n, S, L, matches } = g;
    const batches = encodeAll(model, g.images, g.ids, g.mask, n, S, L, o.batchSize);

    const V = concat(batches.map((b) => b.imageFeat)),
      T = concat(batches.map((b) => b.textFeat)); // [n, E]
    const i2t = scoreMatrix(n, n, V.matmul(T.mT()).dataSync()); // cosine similarities
    const report = (m: ScoreMatrix): Split<RetrievalReport> =>
      splitBy(g, (q) => retrievalReport(m, transpose(m), matches, matches, q, q));

    // ALBEF re-ranking: the ITM class-1 logit of each (image, text) candidate pair, fused in batches.
    const images3 = concat(batches.map((b) => b.image)),
      texts3 = concat(batches.map((b) => b.text)),
      masks = concat(batches.map((b) => b.mask));
    const memo = new Map<number, number>();
    const itmScores = (pairs: readonly [number, number][]): Float64Array => {
      const todo = [...new Set(pairs.map(([i, t]) => i * n + t).filter((key) => !memo.has(key)))];
      for (let s = 0; s < todo.length; s += 4 * o.batchSize) {
        const chunk = todo.slice(s, s + 4 * o.batchSize);
        // One tidy scope per chunk: its intermediates are released at once (thousands of pairs).
        const logits = tidy(() => {
          const ii = tensor(Int32Array.from(chunk, (key) => Math.floor(key / n))),
            tt = tensor(Int32Array.from(chunk, (key) => key % n));
          return model
            .itmLogits(model.fuse(texts3.indexSelect(0, tt), masks.indexSelect(0, tt), images3.indexSelect(0, ii)))
            .dataSync();
        });
        chunk.forEach((key, r) => memo.set(key, logits[2 * r + 1]));
      }
      return Float64Array.from(pairs, ([i, t]) => memo.get(i * n + t)!);
    };
    const i2tItm = rerankTopK(i2t, o.k, itmScores);
    const t2iItm = rerankTopK(transpose(i2t), o.k, (pairs) => itmScores(pairs.map(([t, i]) => [i, t])));
    const itcItm = splitBy(g, (q) => retrievalReport(i2tItm, t2iItm, matches, matches, q, q));

    // ITM accuracy on the training layout: positives and in-batch hard negatives drawn from ITC,
    // never a scene whose facts equal the positive's (its caption is true of the image: a match).
    const rng = new Rng(o.seed),
      itmOk: number[] = new Array(n).fill(0),
      mlmHits = new Array(n).fill(0),
      mlmCount = new Array(n).fill(0);
    const count = Array.from({ length: n }, (_, i) => g.dataset.meta(i).objects.length);
    const neg = { pairs: 0, countMatch: 0, sameFacts: 0, randomPairs: 0, randomCountMatch: 0 };
    let offset = 0;
    for (const b of batches) {
      const B = b.image.shape[0];
      if (B >= 2) {
        const sim = b.imageFeat.matmul(b.textFeat.mT()).div(model.temp); // [B, B]
        const group = Int32Array.from({ length: B }, (_, r) => g.matches(offset + r)[0]); // scenes stating the same facts
        const hard = sampleHardNegatives(sim, sim.mT(), rng, sameGroup(group));
        const ni = tensor(hard.imageForText),
          nt = tensor(hard.textForImage);
        const fused = model.fuse(
          concat([b.text, b.text, b.text.indexSelect(0, nt)]),
          concat([b.mask, b.mask, b.mask.indexSelect(0, nt)]),
          concat([b.image, b.image.indexSelect(0, ni), b.image]),
        );
        const pred = model.itmLogits(fused).argmax(-1).dataSync();
        for (let r = 0; r < B; r++)
          itmOk[offset + r] =
            ((pred[r] === 1 ? 1 : 0) + (pred[B + r] === 0 ? 1 : 0) + (pred[2 * B + r] === 0 ? 1 : 0)) / 3;
        for (let r = 0; r < B; r++) {
          for (const j of [hard.imageForText[r], hard.textForImage[r]]) {
            neg.pairs++;
            if (count[offset + j] === count[offset + r]) neg.countMatch++;
            if (g.matches(offset + r).includes(offset + j)) neg.sameFacts++;
          }
          for (let j = 0; j < B; j++)
            if (j !== r) {
              neg.randomPairs++;
              if (count[offset + j] === count[offset + r]) neg.randomCountMatch++;
            }
        }
      }
      // MLM accuracy: ALBEF masking of the test captions, predictions at the masked positions.
      const m = maskTokens(b.ids.dataSync(), b.mask.dataSync(), tokenizer.vocabSize, rng, tokenizer.maskIds('albef'));
      const posList: number[] = [];
      m.labels.forEach((y, k) => {
        if (y !== -100) posList.push(k);
      });
      if (posList.length) {
        const states = model.textEncoder.bert.multimodal(tensor(m.inputIds, { shape: b.ids.shape }), b.mask, b.image);
        const pred = model.textEncoder
          .logitsAt(states, tensor(Int32Array.from(posList)))
          .argmax(-1)
          .dataSync();
        posList.forEach((k, r) => {
          const i = offset + Math.floor(k / L);
          mlmCount[i]++;
          if (pred[r] === m.labels[k]) mlmHits[i]++;
        });
      }
      offset += B;
    }
    const tokenShare = (q: number[] | undefined): number => (100 * meanOver(mlmHits, q)) / meanOver(mlmCount, q); // hits / masked tokens
    return {
      scenes: n,
      heldOutScenes: g.heldOut.length,
      k: o.k,
      chanceR1: g.chanceR1,
      itc: report(i2t),
      itcItm,
      itmAccuracy: splitBy(g, (q) => 100 * meanOver(itmOk, q)),
      mlmAccuracy: splitBy(g, tokenShare),
      hardNegatives: {
        countMatch: (100 * neg.countMatch) / neg.pairs,
        countMatchRandom: (100 * neg.randomCountMatch) / neg.randomPairs,
        sameFacts: (100 * neg.sameFacts) / neg.pairs,
      },
    };
  });
}

/** The report as an aligned text table. */
export function formatReport(r: EvalReport, title: string): string {
  const f = (x: number): string => x.toFixed(1).padStart(6);
  const row = (name: string, x: RetrievalReport): string =>
    `${name.padEnd(30)}${f(x.i2t.r1)}${f(x.i2t.r5)}${f(x.i2t.r10)}   ${f(x.t2i.r1)}${f(x.t2i.r5)}${f(x.t2i.r10)}`;
  const lines = [title, `${'scenes'.padEnd(12)}${'ranking'.padEnd(18)}  image->text R@1/5/10   text->image R@1/5/10`];
  for (const [label, key] of [
    ['all', 'all'],
    ['regular', 'regular'],
    ['held-out', 'heldOut'],
  ] as const) {
    lines.push(row(`${label.padEnd(12)}ITC`, r.itc[key]), row(`${label.padEnd(12)}ITC + ITM@${r.k}`, r.itcItm[key]));
  }
  lines.push(
    `ITM accuracy (hard negatives)  all ${r.itmAccuracy.all.toFixed(1)}%   regular ${r.itmAccuracy.regular.toFixed(1)}%   held-out ${r.itmAccuracy.heldOut.toFixed(1)}%`,
  );
  lines.push(
    `MLM accuracy (masked tokens)   all ${r.mlmAccuracy.all.toFixed(1)}%   regular ${r.mlmAccuracy.regular.toFixed(1)}%   held-out ${r.mlmAccuracy.heldOut.toFixed(1)}%`,
  );
  const h = r.hardNegatives;
  lines.push(
    `ITM hard negatives: ${h.countMatch.toFixed(1)}% show the positive's object count (random in-batch scene: ${h.countMatchRandom.toFixed(1)}%), ${h.sameFacts.toFixed(1)}% state its exact facts`,
  );
  lines.push(
    `(${r.scenes} test scenes, ${r.heldOutScenes} with held-out compositions; gallery: all scenes; chance R@1 ${r.chanceR1.toFixed(2)}%)`,
  );
  return lines.join('\n');
}

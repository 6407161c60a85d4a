/**
 * VLMo evaluation on a held-out split, in both retrieval modes of the paper:
 *   dual encoder  image and text embeddings computed once, separately (V-FFN / L-FFN paths), all
 *                 scores by one matrix product (UNILM objectives.py `compute_irtr_recall`);
 *   re-ranked     the dual encoder's top k per query re-scored by the fusion encoder:
 *                 score = ITM logit + ITC similarity, −100 + ITC elsewhere (`compute_irtr_recall_with_rerank`);
 * with the wall time of each; plus ITM accuracy on in-batch hard negatives and MLM accuracy on
 * VLMo-masked captions, each overall, on regular scenes and on held-out compositions.
 */
import { concat, noGrad, Rng, tensor, tidy, type Tensor } from '../../engine/index.js';
import {
  maskTokens,
  type DatasetName,
  type Normalize,
  type Split as DataSplit,
  type Tokenizer,
} from '../../data/index.js';
import { buildGallery, meanOver, splitBy, type Gallery, type Split } from '../common/gallery.js';
import {
  retrievalReport,
  rerankTopK,
  scoreMatrix,
  transpose,
  type RetrievalReport,
  type ScoreMatrix,
} from '../common/retrieval.js';
import { sameGroup, sampleHardNegatives } from '../common/objectives.js';
import { labelledPositions } from './objectives.js';
import type { Vlmo } from './vlmo.js';

export interface VlmoEvalOptions {
  dataset: DatasetName;
  size: number;
  seed: number;
  normalize: Normalize;
  /** Encoding batch (fusion chunks are 4× this). */
  batchSize: number;
  /** Candidates re-ranked by ITM per query (VLMo: 32 on COCO; 16 suits a gallery of 1,000). */
  k: number;
  split?: DataSplit;
}

export interface VlmoEvalReport {
  scenes: number;
  heldOutScenes: number;
  k: number;
  chanceR1: number;
  dual: Split<RetrievalReport>;
  rerank: Split<RetrievalReport>;
  itmAccuracy: Split<number>;
  mlmAccuracy: Split<number>;
  /** Wall seconds: embedding all images and texts, the score matrix, the fusion re-scoring; and the two modes end to end. */
  seconds: { encode: number; similarity: number; rerank: number; dual: number; reranked: number };
  /** Distinct (image, text) pairs the fusion encoder scored. */
  fusedPairs: number;
}

const now = (): number => performance.now() / 1000;

interface Tensors {
  images: Tensor;
  ids: Tensor;
  mask: Tensor;
  imageFeat: Tensor;
  textFeat: Tensor;
}

function rows(g: Gallery, s: number, b: number): { images: Tensor; ids: Tensor; mask: Tensor } {
  const per = 3 * g.S * g.S;
  return {
    images: tensor(g.images.subarray(s * per, (s + b) * per), { shape: [b, 3, g.S, g.S] }),
    ids: tensor(g.ids.subarray(s * g.L, (s + b) * g.L), { shape: [b, g.L] }),
    mask: tensor(g.mask.subarray(s * g.L, (s + b) * g.L), { shape: [b, g.L] }),
  };
}

/** Dual-encoder embeddings of the whole gallery (the `_ft` paths: no VL-FFN branch). */
function embedAll(model: Vlmo, g: Gallery, bs: number): Tensors[] {
  const out: Tensors[] = [];
  for (let s = 0; s < g.n; s += bs) {
    const r = rows(g, s, Math.min(bs, g.n - s));
    out.push({ ...r, imageFeat: model.encodeImage(r.images).feat, textFeat: model.encodeText(r.ids, r.mask).feat });
  }
  return out;
}

/** Runs every metric in eval mode without gradients. */
export function evaluateVlmo(model: Vlmo, tokenizer: Tokenizer, o: VlmoEvalOptions): VlmoEvalReport {
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
    const n = g.n;
    const t0 = now(),
      batches = embedAll(model, g, o.batchSize),
      t1 = now();
    const V = concat(batches.map((b) => b.imageFeat)),
      T = concat(batches.map((b) => b.textFeat)); // [n, C]
    const i2t = scoreMatrix(n, n, V.matmul(T.mT()).dataSync()),
      t2i = transpose(i2t),
      t2 = now(); // cosine similarities
    const report = (a: ScoreMatrix, b: ScoreMatrix): Split<RetrievalReport> =>
      splitBy(g, (q) => retrievalReport(a, b, g.matches, g.matches, q, q));
    const dual = report(i2t, t2i);

    // Re-ranking: the fusion encoder's ITM logit on each candidate pair, memoized across both directions.
    const images = concat(batches.map((b) => b.images)),
      ids = concat(batches.map((b) => b.ids)),
      mask = concat(batches.map((b) => b.mask));
    const memo = new Map<number, number>();
    const itm = (pairs: readonly [number, number][]): Float64Array => {
      const todo = [...new Set(pairs.map(([i, t]) => i * n + t).filter((key) => !memo.has(key)))];
      for (let s = 0; s < todo.length; s += 4 * o.batchSize) {
        const chunk = todo.slice(s, s + 4 * o.batchSize);
        // One tidy scope per chunk: its intermediates are released at once (thousands of pairs).
        const logits = tidy(() => {
          const ii = tensor(Int32Array.from(chunk, (key) => Math.floor(key / n))),
            tt = tensor(Int32Array.from(chunk, (key) => key % n));
          return model
            .itmLogits(model.fuse(ids.indexSelect(0, tt), mask.indexSelect(0, tt), images.indexSelect(0, ii)))
            .dataSync();
        });
        chunk.forEach((key, r) => memo.set(key, logits[2 * r + 1]));
      }
      return Float64Array.from(pairs, ([i, t]) => memo.get(i * n + t)!);
    };
    const plus = (a: ScoreMatrix, b: ScoreMatrix): ScoreMatrix =>
      scoreMatrix(
        a.rows,
        a.cols,
        a.data.map((x, i) => x + b.data[i]),
      );
    const i2tRe = plus(rerankTopK(i2t, o.k, itm), i2t); // ITM + ITC, as the reference
    const t2iRe = plus(
      rerankTopK(t2i, o.k, (pairs) => itm(pairs.map(([t, i]) => [i, t]))),
      t2i,
    );
    const t3 = now();
    const rerank = report(i2tRe, t2iRe);

    // ITM accuracy on the training layout (hard negatives from the ITC logits), MLM accuracy on VLMo masks.
    const rng = new Rng(o.seed),
      itmOk = new Array<number>(n).fill(NaN),
      mlmHits: number[][] = Array.from({ length: n }, () => []);
    let offset = 0;
    for (const b of batches) {
      const B = b.images.shape[0];
      if (B >= 2) {
        const sim = b.imageFeat.matmul(b.textFeat.mT()).mul(model.logitScale.exp());
        const group = Int32Array.from({ length: B }, (_, r) => g.matches(offset + r)[0]); // same facts: not a negative
        const neg = sampleHardNegatives(sim, sim.mT(), rng, sameGroup(group)),
          ni = tensor(neg.imageForText),
          nt = tensor(neg.textForImage);
        const pred = model
          .itmLogits(
            model.fuse(
              concat([b.ids, b.ids, b.ids.indexSelect(0, nt)]),
              concat([b.mask, b.mask, b.mask.indexSelect(0, nt)]),
              concat([b.images, b.images.indexSelect(0, ni), b.images]),
            ),
          )
          .argmax(-1)
          .dataSync();
        for (let r = 0; r < B; r++)
          itmOk[offset + r] =
            ((pred[r] === 1 ? 1 : 0) + (pred[B + r] === 0 ? 1 : 0) + (pred[2 * B + r] === 0 ? 1 : 0)) / 3;
      }
      const m = maskTokens(b.ids.dataSync(), b.mask.dataSync(), tokenizer.vocabSize, rng, tokenizer.maskIds('vlmo'));
      const labels = tensor(m.labels, { shape: b.ids.shape }),
        pos = labelledPositions(labels);
      if (pos) {
        const text = model.fuse(tensor(m.inputIds, { shape: b.ids.shape }), b.mask, b.images).narrow(1, 0, g.L); // [B, L, C]
        const pred = model.mlmScore
          .forward(text.reshape([-1, text.shape[2]]).indexSelect(0, pos))
          .argmax(-1)
          .dataSync();
        Array.from(pos.dataSync()).forEach((k, r) =>
          mlmHits[offset + Math.floor(k / g.L)].push(pred[r] === m.labels[k] ? 1 : 0),
        );
      }
      offset += B;
    }
    const mlmMean = (q: number[] | undefined): number => {
      const hits = (q ?? mlmHits.map((_, i) => i)).flatMap((i) => mlmHits[i]);
      return hits.length ? (100 * hits.reduce((a, b) => a + b, 0)) / hits.length : NaN;
    };
    return {
      scenes: n,
      heldOutScenes: g.heldOut.length,
      k: o.k,
      chanceR1: g.chanceR1,
      dual,
      rerank,
      itmAccuracy: splitBy(g, (q) => 100 * meanOver(itmOk, q)),
      mlmAccuracy: splitBy(g, mlmMean),
      seconds: { encode: t1 - t0, similarity: t2 - t1, rerank: t3 - t2, dual: t2 - t0, reranked: t3 - t0 },
      fusedPairs: memo.size,
    };
  });
}

/** The report as an aligned text table. */
export function formatVlmoReport(r: VlmoEvalReport, title: string): string {
  const f = (x: number): string => x.toFixed(1).padStart(6);
  const row = (name: string, x: RetrievalReport): string =>
    `${name.padEnd(34)}${f(x.i2t.r1)}${f(x.i2t.r5)}${f(x.i2t.r10)}   ${f(x.t2i.r1)}${f(x.t2i.r5)}${f(x.t2i.r10)}`;
  const lines = [title, `${'scenes'.padEnd(12)}${'mode'.padEnd(22)}  image->text R@1/5/10   text->image R@1/5/10`];
  for (const [label, key] of [
    ['all', 'all'],
    ['regular', 'regular'],
    ['held-out', 'heldOut'],
  ] as const) {
    lines.push(
      row(`${label.padEnd(12)}dual encoder (ITC)`, r.dual[key]),
      row(`${label.padEnd(12)}re-ranked ITM+ITC@${r.k}`, r.rerank[key]),
    );
  }
  const s = r.seconds;
  lines.push(
    `time: dual encoder ${s.dual.toFixed(1)} s (embed ${s.encode.toFixed(1)} s + scores ${s.similarity.toFixed(2)} s); ` +
      `re-ranked ${s.reranked.toFixed(1)} s (+ ${s.rerank.toFixed(1)} s fusing ${r.fusedPairs} pairs)`,
  );
  lines.push(
    `ITM accuracy (hard negatives)  all ${r.itmAccuracy.all.toFixed(1)}%   regular ${r.itmAccuracy.regular.toFixed(1)}%   held-out ${r.itmAccuracy.heldOut.toFixed(1)}%`,
  );
  lines.push(
    `MLM accuracy (masked tokens)   all ${r.mlmAccuracy.all.toFixed(1)}%   regular ${r.mlmAccuracy.regular.toFixed(1)}%   held-out ${r.mlmAccuracy.heldOut.toFixed(1)}%`,
  );
  lines.push(
    `(${r.scenes} test scenes, ${r.heldOutScenes} with held-out compositions; gallery: all scenes; chance R@1 ${r.chanceR1.toFixed(2)}%)`,
  );
  return lines.join('\n');
}

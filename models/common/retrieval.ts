/**
 * Image-text retrieval metrics shared by ALBEF and VLMo: Recall@K in both directions from a score
 * matrix, and ALBEF's top-k re-ranking, where the k best candidates of a cheap similarity (ITC) are
 * re-scored by an expensive scorer (the ITM head on fused pairs) and every other item scores −100
 * (ALBEF:Retrieval.py `evaluation`).
 */

/** A dense score matrix: rows are queries, columns gallery items. Shapes: data [rows·cols]. */
export interface ScoreMatrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

export function scoreMatrix(rows: number, cols: number, data?: ArrayLike<number>): ScoreMatrix {
  if (data && data.length !== rows * cols)
    throw new RangeError(`scoreMatrix: ${data.length} values for ${rows}x${cols}`);
  return { rows, cols, data: data ? Float64Array.from(data) : new Float64Array(rows * cols) };
}

/** The transpose (text->image scores from image->text ones). */
export function transpose(m: ScoreMatrix): ScoreMatrix {
  const out = scoreMatrix(m.cols, m.rows);
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) out.data[j * m.rows + i] = m.data[i * m.cols + j];
  return out;
}

/** Indices of the k highest scores of row r, best first (ties: lower index first). */
export function topK(m: ScoreMatrix, r: number, k: number): number[] {
  const idx = Array.from({ length: m.cols }, (_, j) => j),
    off = r * m.cols;
  idx.sort((a, b) => m.data[off + b] - m.data[off + a] || a - b);
  return idx.slice(0, Math.min(k, m.cols));
}

/**
 * Rank (0 = best) of the best-ranked positive of each query: the number of gallery items that score
 * strictly higher than it, plus equal-scoring items with a lower index (so ties cannot flatter).
 */
export function positiveRanks(
  m: ScoreMatrix,
  positives: (q: number) => readonly number[],
  queries?: readonly number[],
): number[] {
  const qs = queries ?? Array.from({ length: m.rows }, (_, i) => i);
  return qs.map((q) => {
    const pos = positives(q),
      off = q * m.cols;
    if (pos.length === 0) throw new RangeError(`query ${q} has no positive`);
    let best = Infinity;
    for (const p of pos) {
      const s = m.data[off + p];
      let rank = 0;
      for (let j = 0; j < m.cols; j++) if (m.data[off + j] > s || (m.data[off + j] === s && j < p)) rank++;
      best = Math.min(best, rank);
    }
    return best;
  });
}

/** R@K in percent: the share of queries whose best positive ranks below K. */
export function recallAtK(ranks: readonly number[], ks: readonly number[] = [1, 5, 10]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of ks) out[`r${k}`] = ranks.length ? (100 * ranks.filter((r) => r < k).length) / ranks.length : NaN;
  return out;
}

/** Recall in both directions plus their mean, the usual retrieval report. */
export interface RetrievalReport {
  i2t: Record<string, number>;
  t2i: Record<string, number>;
  mean: number;
}

/**
 * R@1/5/10 image->text and text->image from image-by-text scores. `textsOf(i)` lists the texts that
 * match image i and `imagesOf(t)` the images that match text t (several, when captions repeat).
 * `imageQueries` / `textQueries` restrict the queries (e.g. to held-out compositions); the gallery
 * is always every item.
 */
export function retrievalReport(
  i2t: ScoreMatrix,
  t2i: ScoreMatrix,
  textsOf: (i: number) => readonly number[],
  imagesOf: (t: number) => readonly number[],
  imageQueries?: readonly number[],
  textQueries?: readonly number[],
): RetrievalReport {
  const a = recallAtK(positiveRanks(i2t, textsOf, imageQueries)),
    b = recallAtK(positiveRanks(t2i, imagesOf, textQueries));
  const all = [...Object.values(a), ...Object.values(b)];
  return { i2t: a, t2i: b, mean: all.reduce((s, x) => s + x, 0) / all.length };
}

/**
 * ALBEF re-ranking: for each query the top k items by `m` are scored by `scorer` (called once with
 * every (query, item) pair, so it can batch them); all other items get −100.
 */
export function rerankTopK(
  m: ScoreMatrix,
  k: number,
  scorer: (pairs: readonly [number, number][]) => ArrayLike<number>,
): ScoreMatrix {
  const pairs: [number, number][] = [];
  for (let q = 0; q < m.rows; q++) for (const j of topK(m, q, k)) pairs.push([q, j]);
  const scores = scorer(pairs);
  if (scores.length !== pairs.length)
    throw new RangeError(`rerankTopK: scorer returned ${scores.length} scores for ${pairs.length} pairs`);
  const out = scoreMatrix(m.rows, m.cols);
  out.data.fill(-100);
  pairs.forEach(([q, j], n) => {
    out.data[q * m.cols + j] = scores[n];
  });
  return out;
}

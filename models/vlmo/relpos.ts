/**
 * VLMo's relative position bias (UNILM:vlmo/vlmo/modules/vlmo_module.py
 * `build_relative_position_embed`, `get_rel_pos_bias`; docs/reference.md#vlmo-embeddings-and-relative-position-bias). One table of R rows × (H·L)
 * columns holds a separate scalar per (relative offset, head, layer). Its rows are laid out as:
 *
 *   [0, (2g−1)²)            image patch → patch, BEiT's 2-D offset (query minus key)
 *   (2g−1)², +1, +2         image [CLS] as query, as key, [CLS] → [CLS]
 *   Ri = (2g−1)² + 3        text query → image key (one row)
 *   Ri + 1                  image query → text key (one row)
 *   [Ri + 2, Ri + 2 + 2·T0) text token → token, 1-D offset (key minus query); the last three rows
 *                           are the text [CLS] row, column and corner
 *
 * Index matrices are plain int32 arrays, computed once per shape.
 */
import { tensor, type Tensor } from '../../engine/index.js';

/** Row counts of the table. Shapes: table [total, H·L]. */
export interface RelPosLayout {
  /** (2g−1)² + 3: the image region, [CLS] rows included. */
  imageRows: number;
  /** 2·T0: the text region, [CLS] rows included. */
  textRows: number;
  /** imageRows + 2 cross-modal rows + textRows. */
  total: number;
}

export function relPosLayout(grid: number, textLenOfInitCkpt: number): RelPosLayout {
  const imageRows = (2 * grid - 1) ** 2 + 3,
    textRows = 2 * textLenOfInitCkpt;
  return { imageRows, textRows, total: imageRows + 2 + textRows };
}

/** Writes the [CLS] row, column and corner of an n × n index block (the reference's assignment order). */
function fillCls(
  idx: Int32Array,
  n: number,
  stride: number,
  at: number,
  rowCls: number,
  colCls: number,
  corner: number,
): void {
  for (let j = 0; j < n; j++) idx[at + j] = rowCls; // [CLS] as query -> any key
  for (let i = 0; i < n; i++) idx[at + i * stride] = colCls; // any query -> [CLS] as key
  idx[at] = corner;
}

/**
 * Image index (BEiT): for patches i, j at (row, col), (Δr + g − 1)·(2g − 1) + (Δc + g − 1) with
 * Δ = query − key; token 0 is [CLS]. Shapes: -> [(g²+1)·(g²+1)], row-major [query, key].
 */
export function imageRelPosIndex(grid: number): Int32Array {
  const n = grid * grid + 1,
    side = 2 * grid - 1,
    R = side * side + 3,
    idx = new Int32Array(n * n);
  for (let p = 0; p < grid * grid; p++) {
    for (let q = 0; q < grid * grid; q++) {
      const dr = Math.floor(p / grid) - Math.floor(q / grid),
        dc = (p % grid) - (q % grid);
      idx[(p + 1) * n + (q + 1)] = (dr + grid - 1) * side + (dc + grid - 1);
    }
  }
  fillCls(idx, n, n, 0, R - 3, R - 2, R - 1);
  return idx;
}

/**
 * Text index: tokens i, j ≥ 1 use (j − i) + (T0 − 2) + Ri + 2 (key minus query: the opposite sign to
 * the image part, which matters only when loading released weights). Shapes: -> [T·T].
 */
export function textRelPosIndex(textLen: number, layout: RelPosLayout): Int32Array {
  const T = textLen,
    T0 = layout.textRows / 2,
    base = layout.imageRows + 2,
    idx = new Int32Array(T * T);
  for (let i = 1; i < T; i++) for (let j = 1; j < T; j++) idx[i * T + j] = j - i + (T0 - 2) + base;
  fillCls(idx, T, T, 0, layout.total - 3, layout.total - 2, layout.total - 1);
  return idx;
}

/**
 * Fused [text ; image] index: the text block, the image block, and one row for each cross-modal
 * direction. Shapes: -> [(T+g²+1)·(T+g²+1)].
 */
export function fusedRelPosIndex(textLen: number, grid: number, layout: RelPosLayout): Int32Array {
  const T = textLen,
    I = grid * grid + 1,
    n = T + I,
    idx = new Int32Array(n * n);
  const text = textRelPosIndex(T, layout),
    image = imageRelPosIndex(grid);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const qText = i < T,
        kText = j < T;
      idx[i * n + j] =
        qText && kText
          ? text[i * T + j]
          : qText
            ? layout.imageRows // text query -> image key
            : kText
              ? layout.imageRows + 1 // image query -> text key
              : image[(i - T) * I + (j - T)];
    }
  }
  return idx;
}

/**
 * Gathers every layer's bias from the table: bias_l[h, q, k] = table[index[q, k], l·H + h].
 * Shapes: table [R, L·H], index [n·n] -> L tensors [H, n, n].
 */
export function relPosBiases(table: Tensor, index: Int32Array, heads: number, layers: number): Tensor[] {
  const n = Math.round(Math.sqrt(index.length));
  const ids = tensor(index, { shape: [n * n], device: table.backend });
  const all = table
    .indexSelect(0, ids) // [n·n, L·H]
    .reshape([n, n, layers, heads])
    .permute(2, 3, 0, 1); // [L, H, n, n]
  return Array.from({ length: layers }, (_, l) => all.narrow(0, l, 1).squeeze(0)); // L × [H, n, n]
}

/**
 * Weakly supervised grounding: Grad-CAM on a fusion layer's cross-attention, as in the ALBEF paper's
 * visualizations (ALBEF:Grounding.py and its visualization notebook). For a score s, the map of text
 * token t is mean_heads( A[h, t, p] · max(0, ∂s/∂A[h, t, p]) ) over the image patches p (the image
 * [CLS] column dropped), a grid of (S/p)² cells per word. Two scores are offered:
 *
 * - `'itm'`, the paper's: s is the ITM logit of "matched" for the whole caption, one backward pass.
 *   Only layers before the last can carry a word's map: in the last fusion layer a word's row
 *   reaches nothing the ITM head reads (it reads [CLS]), so its gradient there is exactly zero.
 * - `'mlm'`: for each word t, the word is replaced by [MASK] and s is log p(word t) of the MLM head
 *   at t: where the model looks to recover the word it cannot see. One pass per word.
 *
 * On albef-tiny (2 fusion layers) the 'mlm' maps peak on the named object far more often than the
 * 'itm' ones (models/albef/RESULTS.md; chosen on validation scenes), so 'mlm' is the default.
 */
import { grad, noGrad, type Tensor, tensor } from '../../engine/index.js';
import { encodePng, renderGrid } from '../../data/index.js';
import type { Albef } from './albef.js';

export interface Grounding {
  /** Text tokens of the caption (with [CLS] and [SEP]). */
  tokens: string[];
  /** One map per token, row-major over the patch grid ([CLS], [SEP] and [PAD] rows are zero under 'mlm'). Shapes: [T][g·g]. */
  maps: Float64Array[];
  /** Patch grid side g. */
  grid: number;
  /** ITM logit of "matched" (class 1) and its probability, for the unmasked caption. */
  itmLogit: number;
  itmProb: number;
}

export type GroundingMethod = 'mlm' | 'itm';
export const GROUNDING_METHODS: readonly GroundingMethod[] = ['mlm', 'itm'];

export interface GradCamOptions {
  /** Fusion layer, counted from 0 (default 0; ALBEF's base model uses the 3rd of its 6). */
  layer?: number;
  /** Which score the maps explain (default 'mlm'; see the module comment). */
  method?: GroundingMethod;
  /** The tokenizer's [MASK] id: required by 'mlm'. */
  maskId?: number;
}

const SPECIAL = new Set(['[CLS]', '[SEP]', '[PAD]']);

/** mean_heads(A · max(0, G)) over the patch columns of rows [t0, t0 + n). Shapes: A, G [1, H, T, 1+N] -> n rows of N. */
function camRows(A: Tensor, G: Tensor, t0: number, n: number): Float64Array[] {
  const N = A.shape[3]! - 1;
  const cam = A.narrow(2, t0, n)
    .narrow(3, 1, N)
    .mul(G.narrow(2, t0, n).narrow(3, 1, N).clamp(0))
    .mean(1)
    .squeeze(0)
    .dataSync(); // [n, N]
  return Array.from({ length: n }, (_, t) => Float64Array.from(cam.subarray(t * N, (t + 1) * N)));
}

/**
 * Per-token Grad-CAM maps for one image and caption (see the module comment for the methods).
 * Shapes: image [1, 3, S, S]; ids, mask [1, T].
 */
export function gradCam(
  model: Albef,
  image: Tensor,
  ids: Tensor,
  mask: Tensor,
  tokens: string[],
  opts: GradCamOptions = {},
): Grounding {
  const { layer = 0, method = 'mlm', maskId } = opts;
  const fusionLayers = model.config.text.layers - model.config.text.fusionLayer;
  if (!(Number.isInteger(layer) && layer >= 0 && layer < fusionLayers))
    throw new RangeError(`gradCam: layer ${layer} outside the ${fusionLayers} fusion layers`);
  if (!GROUNDING_METHODS.includes(method))
    throw new RangeError(`gradCam: method '${method}' is not one of ${GROUNDING_METHODS.join(', ')}`);
  if (method === 'mlm' && !(Number.isInteger(maskId) && maskId! >= 0 && maskId! < model.config.text.vocabSize))
    throw new RangeError(`gradCam: method 'mlm' needs opts.maskId, the tokenizer's [MASK] id (got ${maskId})`);
  if (ids.shape.length !== 2 || ids.shape[0] !== 1 || tokens.length !== ids.shape[1])
    throw new RangeError(
      `gradCam: ids must be [1, T] with T = tokens.length (${tokens.length}); got [${ids.shape.join(', ')}]`,
    );
  model.eval();
  // Every map is a gradient at the attention probabilities, downstream of the image tower: its
  // states are computed once, without a graph, and shared by every pass below.
  const img = noGrad(() => model.encodeImage(image)); // [1, 1+N, Cv]
  const fuse = (i: Tensor) => model.textEncoder.bert.fuse(model.encodeText(i, mask), mask, img);
  // The unmasked pass gives the ITM logit; only 'itm' differentiates through it.
  const fused = method === 'itm' ? fuse(ids) : noGrad(() => fuse(ids));
  const logits = model.itmLogits(fused.out); // [1, 2]
  const probs = fused.crossAttn[layer]!; // [1, H, T, 1+N]
  const [, , T, P] = probs.shape as [number, number, number, number];
  const l = logits.dataSync();
  let maps: Float64Array[];
  if (method === 'itm') {
    const [g] = grad(logits.narrow(1, 1, 1).sum(), [probs]);
    maps = camRows(probs, g!, 0, T);
  } else {
    const idsArr = Int32Array.from(ids.dataSync());
    maps = tokens.map((tok, t) => {
      if (SPECIAL.has(tok)) return new Float64Array(P - 1);
      const masked = idsArr.slice();
      masked[t] = maskId!;
      const f = fuse(tensor(masked, { shape: [1, T], dtype: 'int32' }));
      const logp = model.textEncoder.head
        .forward(f.out.narrow(1, t, 1).reshape([1, -1]))
        .logSoftmax(-1)
        .narrow(1, idsArr[t]!, 1)
        .sum();
      const [g] = grad(logp, [f.crossAttn[layer]!]);
      return camRows(f.crossAttn[layer]!, g!, t, 1)[0]!;
    });
  }
  return {
    tokens,
    maps,
    grid: Math.round(Math.sqrt(P - 1)),
    itmLogit: l[1]!,
    itmProb: 1 / (1 + Math.exp(l[0]! - l[1]!)),
  };
}

/** Bilinear upsampling of a g×g map to size×size (cell centres aligned). */
function upsample(map: Float64Array, g: number, size: number): Float64Array {
  const out = new Float64Array(size * size);
  for (let y = 0; y < size; y++) {
    const fy = Math.min(Math.max(((y + 0.5) * g) / size - 0.5, 0), g - 1),
      y0 = Math.floor(fy),
      y1 = Math.min(y0 + 1, g - 1),
      wy = fy - y0;
    for (let x = 0; x < size; x++) {
      const fx = Math.min(Math.max(((x + 0.5) * g) / size - 0.5, 0), g - 1),
        x0 = Math.floor(fx),
        x1 = Math.min(x0 + 1, g - 1),
        wx = fx - x0;
      out[y * size + x] =
        (1 - wy) * ((1 - wx) * map[y0 * g + x0] + wx * map[y0 * g + x1]) +
        wy * ((1 - wx) * map[y1 * g + x0] + wx * map[y1 * g + x1]);
    }
  }
  return out;
}

/** The jet colormap at v in [0, 1]. */
function jet(v: number): [number, number, number] {
  const c = (x: number): number => Math.min(1, Math.max(0, x));
  return [c(1.5 - Math.abs(4 * v - 3)), c(1.5 - Math.abs(4 * v - 2)), c(1.5 - Math.abs(4 * v - 1))];
}

/**
 * The image with one heat map per word blended over it (the notebook's getAttMap: min-max
 * normalized, weight map^0.7), as PNG bytes. `image` is [3, S, S] in [0, 1] (not normalized).
 */
export function groundingPng(image: Float32Array, S: number, caption: string, g: Grounding, scale = 4): Uint8Array {
  const size = S * scale,
    up = new Float32Array(3 * size * size);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        up[c * size * size + y * size + x] = image[c * S * S + Math.floor(y / scale) * S + Math.floor(x / scale)];
      }
  const cells = [{ image: up, caption: `${caption} (ITM p=${g.itmProb.toFixed(2)})` }];
  g.tokens.forEach((tok, t) => {
    if (tok === '[CLS]' || tok === '[SEP]' || tok === '[PAD]') return;
    const m = upsample(g.maps[t], g.grid, size);
    let lo = Infinity,
      hi = -Infinity;
    for (const v of m) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const out = new Float32Array(up.length);
    for (let p = 0; p < size * size; p++) {
      const v = hi > lo ? (m[p] - lo) / (hi - lo) : 0,
        w = v ** 0.7,
        rgb = jet(v);
      for (let c = 0; c < 3; c++) out[c * size * size + p] = (1 - w) * up[c * size * size + p] + w * rgb[c];
    }
    cells.push({ image: out, caption: tok });
  });
  const grid = renderGrid(cells, { imageSize: size, cols: Math.min(cells.length, 5), scale: 1, maxLines: 3 });
  return encodePng(grid.width, grid.height, grid.rgb);
}

/** How often a word's Grad-CAM map peaks on the object the word names (a flat map counts as a miss). */
export interface GroundingStats {
  /** Words scored (colour, size and kind words of the captions), and how many peaked inside their object's box. */
  words: number;
  hits: number;
  /** Expected hit rate of a peak at a uniformly random patch (the share of patches touching the named object). */
  chance: number;
  /** Hits / words per word type. */
  byType: Record<'colour' | 'size' | 'kind', { words: number; hits: number }>;
  /** Scenes with at least one scored word, and those where more than half of their scored words hit. */
  scenes: number;
  scenesMostWords: number;
}

const COLOUR_WORDS = new Set(['red', 'green', 'blue', 'yellow', 'white', 'purple']);
const SIZE_WORDS = new Set(['small', 'little', 'large', 'big']);

/**
 * Scores per-word grounding on scenes whose objects are known: in the caption grammar a size or
 * colour word belongs to the next kind word (the noun phrase "small red 3"), and a kind word names
 * the object of that kind. A word hits when its map's peak patch overlaps that object's glyph box.
 * `ground` returns the Grad-CAM of one (scene, caption) pair; `objects` are the scene's objects.
 */
export function groundingStats(
  scenes: {
    tokens: string[];
    maps: Float64Array[];
    grid: number;
    imageSize: number;
    objects: { kind: string; x: number; y: number; box: number }[];
  }[],
): GroundingStats {
  const out: GroundingStats = {
    words: 0,
    hits: 0,
    chance: 0,
    byType: { colour: { words: 0, hits: 0 }, size: { words: 0, hits: 0 }, kind: { words: 0, hits: 0 } },
    scenes: 0,
    scenesMostWords: 0,
  };
  let chanceSum = 0;
  for (const s of scenes) {
    const cell = s.imageSize / s.grid;
    const touches = (p: number, o: { x: number; y: number; box: number }): boolean => {
      const px = (p % s.grid) * cell,
        py = Math.floor(p / s.grid) * cell;
      return px < o.x + o.box && px + cell > o.x && py < o.y + o.box && py + cell > o.y;
    };
    const [words0, hits0] = [out.words, out.hits];
    s.tokens.forEach((tok, t) => {
      const type = COLOUR_WORDS.has(tok)
        ? 'colour'
        : SIZE_WORDS.has(tok)
          ? 'size'
          : s.objects.some((o) => o.kind === tok)
            ? 'kind'
            : null;
      if (!type) return;
      const kind = type === 'kind' ? tok : s.tokens.slice(t + 1).find((w) => s.objects.some((o) => o.kind === w));
      const obj = s.objects.find((o) => o.kind === kind);
      if (!obj) return;
      const m = s.maps[t];
      let peak = 0,
        low = 0;
      for (let p = 1; p < m.length; p++) {
        if (m[p]! > m[peak]!) peak = p;
        if (m[p]! < m[low]!) low = p;
      }
      // A flat map (e.g. all zero) peaks nowhere: a miss.
      const hit = m[peak]! > m[low]! && touches(peak, obj) ? 1 : 0;
      out.words++;
      out.hits += hit;
      out.byType[type].words++;
      out.byType[type].hits += hit;
      let covered = 0;
      for (let p = 0; p < m.length; p++) if (touches(p, obj)) covered++;
      chanceSum += covered / m.length;
    });
    if (out.words > words0) {
      out.scenes++;
      if (2 * (out.hits - hits0) > out.words - words0) out.scenesMostWords++;
    }
  }
  out.chance = out.words ? chanceSum / out.words : NaN;
  return out;
}

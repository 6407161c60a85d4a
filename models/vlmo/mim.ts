/**
 * Stage 1 data preparation: our substitute for BEiT's visual tokens (docs/reference.md#vlmo-tiny). BEiT predicts the
 * DALL-E dVAE code (vocabulary 8192) of each masked patch; that tokenizer is not available here, so a
 * fixed codebook is built once, before stage 1, by k-means over normalized p×p patches of training
 * images, and each patch's target is its nearest centroid. Masks are BEiT's block-wise masks.
 */
import { noGrad, tensor, type Rng } from '../../engine/index.js';

/** K centroids of D = 3·p·p values each, in the patch embedding's (channel, row, col) order. */
export interface Codebook {
  k: number;
  dim: number;
  centroids: Float32Array;
}

/**
 * Every p×p patch of every image as a row, flattened as (channel, row, col), i.e. the order a
 * PatchConv2d weight reads. Shapes: images [n, 3, S, S] -> [n·g², 3·p·p], patches row-major per image.
 */
export function patchVectors(images: Float32Array, n: number, S: number, p: number): Float32Array {
  const g = S / p,
    D = 3 * p * p,
    out = new Float32Array(n * g * g * D);
  for (let b = 0; b < n; b++) {
    for (let pr = 0; pr < g; pr++)
      for (let pc = 0; pc < g; pc++) {
        const row = (b * g * g + pr * g + pc) * D;
        for (let c = 0; c < 3; c++)
          for (let i = 0; i < p; i++)
            for (let j = 0; j < p; j++) {
              out[row + c * p * p + i * p + j] = images[((b * 3 + c) * S + pr * p + i) * S + pc * p + j];
            }
      }
  }
  return out;
}

/** Index of the nearest centroid of each row: argmin ‖x − c‖² = argmin (‖c‖² − 2 x·c), x·c by one matmul. */
export function nearest(x: Float32Array, rows: number, cb: Codebook): Int32Array {
  const { k, dim, centroids } = cb;
  const dots = noGrad(() =>
    tensor(x, { shape: [rows, dim] }).matmul(tensor(centroids, { shape: [k, dim] }).mT()),
  ).dataSync(); // [rows, K]
  const norms = new Float64Array(k);
  for (let j = 0; j < k; j++) for (let d = 0; d < dim; d++) norms[j] += centroids[j * dim + d] ** 2;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = Infinity;
    for (let j = 0; j < k; j++) {
      const dist = norms[j] - 2 * dots[r * k + j];
      if (dist < best) {
        best = dist;
        out[r] = j;
      }
    }
  }
  return out;
}

/**
 * k-means (Lloyd) with k-means++ seeding on the rows of x. An emptied cluster is re-seeded at the row
 * farthest from its centroid. Shapes: x [rows, dim] -> centroids [k, dim].
 */
export function kmeans(x: Float32Array, rows: number, dim: number, k: number, rng: Rng, iters = 15): Codebook {
  if (rows < k) throw new RangeError(`kmeans: ${rows} patches for ${k} centroids`);
  const c = new Float32Array(k * dim),
    d2 = new Float64Array(rows).fill(Infinity);
  const sq = (r: number, j: number): number => {
    let s = 0;
    for (let d = 0; d < dim; d++) s += (x[r * dim + d] - c[j * dim + d]) ** 2;
    return s;
  };
  let pick = rng.int(0, rows);
  for (let j = 0; j < k; j++) {
    c.set(x.subarray(pick * dim, (pick + 1) * dim), j * dim);
    let total = 0;
    for (let r = 0; r < rows; r++) {
      d2[r] = Math.min(d2[r], sq(r, j));
      total += d2[r];
    }
    let u = rng.uniform() * total; // k-means++: draw ∝ D(x)²
    pick = 0;
    while (pick < rows - 1 && (u -= d2[pick]) > 0) pick++;
  }
  const cb: Codebook = { k, dim, centroids: c };
  for (let it = 0; it < iters; it++) {
    const assign = nearest(x, rows, cb),
      sums = new Float64Array(k * dim),
      counts = new Int32Array(k);
    for (let r = 0; r < rows; r++) {
      counts[assign[r]]++;
      for (let d = 0; d < dim; d++) sums[assign[r] * dim + d] += x[r * dim + d];
    }
    for (let j = 0; j < k; j++) {
      if (counts[j] > 0) {
        for (let d = 0; d < dim; d++) c[j * dim + d] = sums[j * dim + d] / counts[j];
        continue;
      }
      let far = 0,
        farD = -1;
      for (let r = 0; r < rows; r++) {
        const s = sq(r, assign[r]);
        if (s > farD) {
          farD = s;
          far = r;
        }
      }
      c.set(x.subarray(far * dim, (far + 1) * dim), j * dim);
    }
  }
  return cb;
}

/** The code of every patch of a batch. Shapes: images [B, 3, S, S] -> [B, g²] int32. */
export function patchCodes(cb: Codebook, images: Float32Array, B: number, S: number, p: number): Int32Array {
  return nearest(patchVectors(images, B, S, p), B * (S / p) ** 2, cb);
}

/**
 * BEiT's block-wise masking (BEiT `MaskingGenerator`): repeatedly pick a rectangle of random area in
 * [minPatches, remaining] and aspect ratio in [0.3, 1/0.3] (log-uniform), and mask its unmasked
 * patches if that adds between 1 and `remaining`; stop at `count` or when 10 tries add nothing.
 * Shapes: -> [g·g] (1 = masked), row-major.
 */
export function blockMask(grid: number, count: number, rng: Rng, minPatches = 2): Uint8Array {
  const mask = new Uint8Array(grid * grid),
    logAspect = Math.log(1 / 0.3);
  let masked = 0;
  while (masked < count) {
    const room = count - masked;
    let added = 0;
    for (let attempt = 0; attempt < 10 && added === 0; attempt++) {
      const area = minPatches + rng.uniform() * (room - minPatches),
        aspect = Math.exp((2 * rng.uniform() - 1) * logAspect);
      const h = Math.round(Math.sqrt(area * aspect)),
        w = Math.round(Math.sqrt(area / aspect));
      if (w >= grid || h >= grid || h * w === 0) continue;
      const top = rng.int(0, grid - h + 1),
        left = rng.int(0, grid - w + 1);
      let already = 0;
      for (let i = top; i < top + h; i++) for (let j = left; j < left + w; j++) already += mask[i * grid + j];
      if (h * w - already > 0 && h * w - already <= room) {
        for (let i = top; i < top + h; i++)
          for (let j = left; j < left + w; j++)
            if (!mask[i * grid + j]) {
              mask[i * grid + j] = 1;
              added++;
            }
      }
    }
    if (added === 0) break;
    masked += added;
  }
  return mask;
}

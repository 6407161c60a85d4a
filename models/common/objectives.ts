/**
 * Objectives and metrics ALBEF and VLMo share: image-text matching on hard negatives mined from the
 * contrastive similarities (drawn on the device by the Gumbel-max trick), masked cross-entropy over
 * the labelled rows, and accuracy over labelled rows. Each model's own objectives live in its
 * folder (models/albef/losses.ts, models/vlmo/objectives.ts).
 */
import {
  concat,
  crossEntropy,
  full,
  noGrad,
  tensor,
  type Rng,
  type Tensor,
  type TypedArray,
} from '../../engine/index.js';

/** Fixed hard negatives, as host batch indices: the image paired with each text, the text paired with each image. */
export interface HardNegatives {
  imageForText: Int32Array;
  textForImage: Int32Array;
}

/** Hard negatives as the training step uses them: int32 batch indices on the sims' device. Shapes: [B] each. */
export interface NegativeIndices {
  imageForText: Tensor;
  textForImage: Tensor;
}

/**
 * The distribution a hard negative is drawn from: softmax over the in-batch columns s[:, :B]
 * (already scaled by 1/τ), the diagonal (the positive) zeroed; rows left unnormalized, as in the
 * reference. A host read, for tests and metrics: the sampler never forms these weights.
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
 * One draw from unnormalized host weights (torch.multinomial(w, 1)); a row whose weights all
 * underflowed to 0 gives a uniform index other than `exclude`. Not used by training (see
 * `drawNegatives`); kept for host-side callers.
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

/** Row i lists every in-batch column but i: the candidates for row i's negative. Shapes: [B, B−1] row-major. */
function offDiagonalColumns(B: number): Int32Array {
  const cols = new Int32Array(B * (B - 1));
  for (let i = 0, k = 0; i < B; i++) for (let j = 0; j < B; j++) if (j !== i) cols[k++] = j;
  return cols;
}

/** n draws of Gumbel(0, 1), −log(−log u), from the host generator. */
function gumbelNoise(n: number, rng: Rng): Float64Array {
  const g = new Float64Array(n);
  for (let k = 0; k < n; k++) g[k] = -Math.log(-Math.log(rng.uniform() || Number.MIN_VALUE)); // u = 0 has probability 2^-53
  return g;
}

/**
 * Which in-batch pairs show the same content: 1 at (i, j) when rows i and j carry the same group id
 * (the diagonal always 1). A group id names what a pair shows, as ALBEF's retrieval fine-tuning
 * uses image ids: two scenes whose captions state the same facts are each other's positives, so
 * neither may serve as the other's "non-matching" pair. Shapes: groups [B] -> [B, B] row-major.
 */
export function sameGroup(groups: ArrayLike<number>): Uint8Array {
  const B = groups.length,
    same = new Uint8Array(B * B);
  for (let i = 0; i < B; i++) for (let j = 0; j < B; j++) same[i * B + j] = i === j || groups[i] === groups[j] ? 1 : 0;
  return same;
}

/**
 * Contrastive targets for content groups: row i is 1/|group(i)| on its group's in-batch columns and
 * 0 elsewhere (queue columns included). `who` names the caller in the error for a wrong-size matrix.
 * Shapes: same [B, B] -> [B, N] row-major, N >= B.
 */
export function groupTargetRows(same: Uint8Array, B: number, N: number, who: string): Float64Array {
  if (same.length !== B * B)
    throw new RangeError(`${who}: same-group matrix has ${same.length} entries, expected ${B}×${B}`);
  const y = new Float64Array(B * N);
  for (let i = 0; i < B; i++) {
    let n = 0;
    for (let j = 0; j < B; j++) n += same[i * B + j];
    for (let j = 0; j < B; j++) if (same[i * B + j]) y[i * N + j] = 1 / n;
  }
  return y;
}

/** The score a candidate of the same group gets: far below any similarity, so it is never drawn while another exists. */
const EXCLUDED = -1e9;

/** The candidates' penalties: EXCLUDED where row i's candidate j shows i's content. Shapes: [B, B−1]. */
function exclusionPenalty(same: Uint8Array, B: number): Float32Array {
  const p = new Float32Array(B * (B - 1));
  for (let i = 0, k = 0; i < B; i++) for (let j = 0; j < B; j++) if (j !== i) p[k++] = same[i * B + j] ? EXCLUDED : 0;
  return p;
}

/**
 * One hard negative per row, drawn from softmax(s[:, :B]) with the positive excluded, on the sims'
 * device and without reading anything back (Gumbel-max trick): index_i = argmax_{j≠i} (s_ij + g_ij),
 * g_ij i.i.d. Gumbel(0, 1). That is a sample of softmax_{j≠i}(s_ij), the reference's
 * torch.multinomial on softmax(s)_ij with w_ii = 0 (the log and the normalizer do not move the
 * argmax). The positive is not a candidate at all (row i ranks only the B−1 columns j ≠ i), and
 * working in logits means no weight can underflow. With `same` (`sameGroup`), columns that show
 * row i's content are excluded too (unless every column does: then one of them is drawn). The
 * noise is drawn on the host from `rng`, so runs stay deterministic and resumable; the index is
 * an int32 tensor for indexSelect. Shapes: sim [B, N >= B], same [B, B] -> [B] int32.
 */
export function drawNegatives(sim: Tensor, rng: Rng, same?: Uint8Array): Tensor {
  const B = sim.shape[0],
    device = sim.backend;
  return noGrad(() => {
    const cols = tensor(offDiagonalColumns(B), { shape: [B, B - 1], device }); // [B, B−1]
    const g = gumbelNoise(B * (B - 1), rng);
    if (same) {
      const p = exclusionPenalty(same, B);
      for (let k = 0; k < g.length; k++) g[k] += p[k];
    }
    const noise = tensor(g, { shape: [B, B - 1], dtype: sim.dtype, device });
    const pick = sim.detach().narrow(1, 0, B).gather(1, cols).add(noise).argmax(1, true); // [B, 1] rank among j ≠ i
    return cols.gather(1, pick).reshape([B]); // [B] column index
  });
}

/**
 * ITM hard-negative mining (no gradient through the choice): for text b an image drawn from row b of
 * softmax(s_t2i[:, :B]), for image b a text drawn from row b of softmax(s_i2t[:, :B]), positives
 * excluded (`drawNegatives`), and with `same` every pair of the positive's group too. Needs B >= 2.
 * Shapes: sims [B, B+Q], same [B, B] -> [B] int32 each, on their device.
 */
export function sampleNegativeIndices(simI2t: Tensor, simT2i: Tensor, rng: Rng, same?: Uint8Array): NegativeIndices {
  const B = simI2t.shape[0];
  if (B < 2) throw new RangeError(`ITM hard negatives need a batch of at least 2 pairs, got ${B}`);
  if (same && same.length !== B * B)
    throw new RangeError(`ITM hard negatives: same-group matrix has ${same.length} entries, expected ${B}×${B}`);
  const imageForText = drawNegatives(simT2i, rng, same);
  return { imageForText, textForImage: drawNegatives(simI2t, rng, same) };
}

/** `sampleNegativeIndices` read back to the host (evaluation and tests; training keeps them on the device). */
export function sampleHardNegatives(simI2t: Tensor, simT2i: Tensor, rng: Rng, same?: Uint8Array): HardNegatives {
  const n = sampleNegativeIndices(simI2t, simT2i, rng, same);
  return {
    imageForText: Int32Array.from(n.imageForText.dataSync()),
    textForImage: Int32Array.from(n.textForImage.dataSync()),
  };
}

/** ITM labels: B matched pairs (1) then 2B mismatched ones (0). Shapes: [3B] int32. */
export function itmLabels(B: number, like: Tensor): Tensor {
  return concat([
    full([B], 1, { dtype: 'int32', device: like.backend }),
    full([2 * B], 0, { dtype: 'int32', device: like.backend }),
  ]);
}

/**
 * ITM: binary cross-entropy (2-way softmax) of the head's logits on the fusion [CLS] of
 * [positives; (text, hard-negative image); (hard-negative text, image)], labels 1, 0, 0.
 * Shapes: logits [3B, 2] -> scalar.
 */
export function itmLoss(logits: Tensor): Tensor {
  return crossEntropy(logits, itmLabels(logits.shape[0] / 3, logits));
}

/** 1 at labelled rows (label != −100), 0 elsewhere, in `dtype`. Shapes: [N] int32 -> [N]. */
export function labelledRows(labels: Tensor, dtype: Tensor['dtype']): Tensor {
  return labels.reshape([-1]).ne(-100).to(dtype);
}

/**
 * Cross-entropy averaged over the labelled rows (label != −100) only, the count kept on the device;
 * 0 when no row is labelled (PyTorch's ignore_index mean would be NaN). Equals the plain
 * cross-entropy of the labelled rows alone. Shapes: logits [N, V], labels [N] (any shape of N) int32 -> [].
 */
export function maskedCrossEntropy(logits: Tensor, labels: Tensor): Tensor {
  const count = labelledRows(labels, logits.dtype).sum().clamp(1);
  return crossEntropy(logits, labels.reshape([-1]), { reduction: 'sum' }).div(count); // unlabelled rows count 0
}

/**
 * The labelled rows of all-position logits and labels, for metrics such as MLM accuracy: a host
 * read of the labels, so not part of a training step. Null when nothing is labelled.
 * Shapes: logits [N, V], labels [N] -> [M, V], [M].
 */
export function labelledSubset(logits: Tensor, labels: Tensor): { logits: Tensor; labels: Tensor } | null {
  const l = labels.reshape([-1]),
    host = l.dataSync(),
    idx: number[] = [];
  for (let i = 0; i < host.length; i++) if (host[i] !== -100) idx.push(i);
  if (!idx.length) return null;
  const pos = tensor(Int32Array.from(idx), { device: labels.backend });
  return { logits: logits.indexSelect(0, pos), labels: l.indexSelect(0, pos) };
}

/**
 * `{ logits, labels }` getters over `labelledSubset`, computed on first access only: a step that
 * never asks for them (e.g. on webgpu) reads nothing. Shapes: [N, V], [N] -> [M, V] | null, [M] | null.
 */
export function lazyLabelledSubset(
  logits: Tensor | null,
  labels: Tensor | null,
): { readonly logits: Tensor | null; readonly labels: Tensor | null } {
  let memo: { logits: Tensor; labels: Tensor } | null | undefined;
  const get = (): { logits: Tensor; labels: Tensor } | null =>
    memo === undefined ? (memo = logits && labels ? labelledSubset(logits, labels) : null) : memo;
  return {
    get logits() {
      return get()?.logits ?? null;
    },
    get labels() {
      return get()?.labels ?? null;
    },
  };
}

/** Share of correct argmax predictions over the labelled rows (label −100 is skipped; NaN if none). */
export function correctShare(pred: ArrayLike<number>, y: ArrayLike<number>): number {
  let ok = 0,
    n = 0;
  for (let i = 0; i < y.length; i++)
    if (y[i] !== -100) {
      n++;
      if (pred[i] === y[i]) ok++;
    }
  return n ? ok / n : NaN;
}

/** Share of correct argmax predictions; rows labelled −100 are skipped. Shapes: logits [N, C], labels [N] int32. */
export function accuracy(logits: Tensor, labels: Tensor): number {
  return correctShare(logits.argmax(-1).dataSync(), labels.reshape([-1]).dataSync());
}

/**
 * Reads every tensor of a record (all reads in flight together, so it works on every device,
 * 'webgpu' included), then disposes them: what a training step logs after its tidy scope.
 */
export async function readAll(reads: Record<string, Tensor>): Promise<Record<string, TypedArray>> {
  const keys = Object.keys(reads);
  const values = await Promise.all(keys.map((k) => reads[k].data()));
  for (const k of keys) reads[k].dispose();
  return Object.fromEntries(keys.map((k, i) => [k, values[i]]));
}

/**
 * ALBEF's objectives, one function each (spec A3): image-text contrastive with momentum
 * distillation, image-text matching on hard negatives, masked language modelling with momentum
 * distillation. `Albef.losses` only wires them.
 */
import { concat, crossEntropy, eye, full, noGrad, tensor, type Rng, type Tensor } from '../../engine/index.js';

/**
 * ALBEF momentum distillation targets: q = α·softmax(s_m) + (1 − α)·Y, where Y is one-hot on the
 * first B columns (the in-batch positives; queue columns are negatives).
 * Shapes: simM [B, B+Q] -> [B, B+Q].
 */
export function softTargets(simM: Tensor, alpha: number): Tensor {
  const [B, N] = simM.shape;
  const y = eye(B, N, { dtype: simM.dtype, device: simM.backend });
  return simM.softmax(1).mul(alpha).add(y.mul(1 - alpha));
}

/**
 * ITC with momentum distillation: per direction the cross-entropy −Σ_j q_ij log softmax(s)_ij of the
 * online-vs-(momentum + queue) similarities against the soft targets, averaged over rows; itc is the
 * mean of both directions. At α = 0 this is InfoNCE with queue negatives.
 * Shapes: sims and targets [B, B+Q] -> scalars.
 */
export function itcLoss(simI2t: Tensor, simT2i: Tensor, targetI2t: Tensor, targetT2i: Tensor): { i2t: Tensor; t2i: Tensor; itc: Tensor } {
  const i2t = crossEntropy(simI2t, targetI2t);
  const t2i = crossEntropy(simT2i, targetT2i);
  return { i2t, t2i, itc: i2t.add(t2i).div(2) };
}

/** Fixed hard negatives, as host batch indices: the image paired with each text, the text paired with each image. */
export interface HardNegatives { imageForText: Int32Array; textForImage: Int32Array }

/** Hard negatives as the training step uses them: int32 batch indices on the sims' device. Shapes: [B] each. */
export interface NegativeIndices { imageForText: Tensor; textForImage: Tensor }

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
 * One hard negative per row, drawn from softmax(s[:, :B]) with the positive excluded, on the sims'
 * device and without reading anything back (Gumbel-max trick): index_i = argmax_{j≠i} (s_ij + g_ij),
 * g_ij i.i.d. Gumbel(0, 1). That is a sample of softmax_{j≠i}(s_ij), the reference's
 * torch.multinomial on softmax(s)_ij with w_ii = 0 (the log and the normalizer do not move the
 * argmax). The positive is not a candidate at all (row i ranks only the B−1 columns j ≠ i), and
 * working in logits means no weight can underflow. The noise is drawn on the host from `rng`, so
 * runs stay deterministic and resumable; the index is an int32 tensor for indexSelect.
 * Shapes: sim [B, N >= B] -> [B] int32.
 */
export function drawNegatives(sim: Tensor, rng: Rng): Tensor {
  const B = sim.shape[0], device = sim.backend;
  return noGrad(() => {
    const cols = tensor(offDiagonalColumns(B), { shape: [B, B - 1], device });                     // [B, B−1]
    const noise = tensor(gumbelNoise(B * (B - 1), rng), { shape: [B, B - 1], dtype: sim.dtype, device });
    const pick = sim.detach().narrow(1, 0, B).gather(1, cols).add(noise).argmax(1, true);          // [B, 1] rank among j ≠ i
    return cols.gather(1, pick).reshape([B]);                                                      // [B] column index
  });
}

/**
 * ITM hard-negative mining (no gradient through the choice): for text b an image drawn from row b of
 * softmax(s_t2i[:, :B]), for image b a text drawn from row b of softmax(s_i2t[:, :B]), positives
 * excluded (`drawNegatives`). Needs B >= 2. Shapes: sims [B, B+Q] -> [B] int32 each, on their device.
 */
export function sampleNegativeIndices(simI2t: Tensor, simT2i: Tensor, rng: Rng): NegativeIndices {
  const B = simI2t.shape[0];
  if (B < 2) throw new RangeError(`ITM hard negatives need a batch of at least 2 pairs, got ${B}`);
  const imageForText = drawNegatives(simT2i, rng);
  return { imageForText, textForImage: drawNegatives(simI2t, rng) };
}

/** `sampleNegativeIndices` read back to the host (evaluation and tests; training keeps them on the device). */
export function sampleHardNegatives(simI2t: Tensor, simT2i: Tensor, rng: Rng): HardNegatives {
  const n = sampleNegativeIndices(simI2t, simT2i, rng);
  return { imageForText: Int32Array.from(n.imageForText.dataSync()), textForImage: Int32Array.from(n.textForImage.dataSync()) };
}

/** ITM labels: B matched pairs (1) then 2B mismatched ones (0). Shapes: [3B] int32. */
export function itmLabels(B: number, like: Tensor): Tensor {
  return concat([full([B], 1, { dtype: 'int32', device: like.backend }), full([2 * B], 0, { dtype: 'int32', device: like.backend })]);
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
 * MLM with momentum distillation over the labelled rows only (label != −100; the others weigh 0):
 * (1 − α)·CE(logits, labels) + α·mean_i[−Σ_v q_iv log softmax(logits)_iv], q the momentum model's
 * softmax on the same masked ids; without `soft`, the plain CE. Both means divide by the number of
 * labelled rows M, kept on the device (no read), so the logits may cover every position. With
 * M = 0 the loss is 0 (the reference's mean would be NaN).
 * Shapes: logits [N, V], labels [N] int32, soft [N, V] -> scalar.
 */
export function mlmLoss(logits: Tensor, labels: Tensor, soft: Tensor | null, alpha: number): Tensor {
  const ce = maskedCrossEntropy(logits, labels);
  if (!soft) return ce;
  const valid = labelledRows(labels, logits.dtype), count = valid.sum().clamp(1);          // [N], M
  const distill = crossEntropy(logits, soft, { reduction: 'none' }).mul(valid).sum().div(count);
  return ce.mul(1 - alpha).add(distill.mul(alpha));
}

/**
 * Cross-entropy averaged over the labelled rows (label != −100) only, the count kept on the device;
 * 0 when no row is labelled (PyTorch's ignore_index mean would be NaN). Equals the plain
 * cross-entropy of the labelled rows alone. Shapes: logits [N, V], labels [N] (any shape of N) int32 -> [].
 */
export function maskedCrossEntropy(logits: Tensor, labels: Tensor): Tensor {
  const count = labelledRows(labels, logits.dtype).sum().clamp(1);
  return crossEntropy(logits, labels.reshape([-1]), { reduction: 'sum' }).div(count);     // unlabelled rows count 0
}

/**
 * The labelled rows of all-position logits and labels, for metrics such as MLM accuracy: a host
 * read of the labels, so not part of a training step. Null when nothing is labelled.
 * Shapes: logits [N, V], labels [N] -> [M, V], [M].
 */
export function labelledSubset(logits: Tensor, labels: Tensor): { logits: Tensor; labels: Tensor } | null {
  const l = labels.reshape([-1]), host = l.dataSync(), idx: number[] = [];
  for (let i = 0; i < host.length; i++) if (host[i] !== -100) idx.push(i);
  if (!idx.length) return null;
  const pos = tensor(Int32Array.from(idx), { device: labels.backend });
  return { logits: logits.indexSelect(0, pos), labels: l.indexSelect(0, pos) };
}

/**
 * `{ logits, labels }` getters over `labelledSubset`, computed on first access only: a step that
 * never asks for them (e.g. on webgpu) reads nothing. Shapes: [N, V], [N] -> [M, V] | null, [M] | null.
 */
export function lazyLabelledSubset(logits: Tensor | null, labels: Tensor | null): { readonly logits: Tensor | null; readonly labels: Tensor | null } {
  let memo: { logits: Tensor; labels: Tensor } | null | undefined;
  const get = (): { logits: Tensor; labels: Tensor } | null => (memo === undefined ? (memo = logits && labels ? labelledSubset(logits, labels) : null) : memo);
  return { get logits() { return get()?.logits ?? null; }, get labels() { return get()?.labels ?? null; } };
}

/**
 * Losses as modules over the engine's functional losses (one implementation each, in
 * engine/nn_functional.ts), plus the symmetric InfoNCE of CLIP/ALBEF/VLMo image-text contrast.
 */
import {
  arange,
  binaryCrossEntropyWithLogits,
  crossEntropy,
  klDiv,
  matmul,
  mseLoss,
  type CrossEntropyOpts,
  type Reduction,
  type Tensor,
} from '../engine/index.js';
import { Module } from './module.js';

/**
 * Cross-entropy of logits against class ids (int32; ignoreIndex, default -100, and labelSmoothing)
 * or against class probabilities (a float target shaped like the logits), as PyTorch's.
 * Shapes: logits [N, C] (or [N, C, d...]), target [N] int32 or [N, C] -> [] (or per-sample with 'none').
 */
export class CrossEntropyLoss extends Module {
  constructor(readonly opts: CrossEntropyOpts = {}) {
    super();
  }
  forward(logits: Tensor, target: Tensor): Tensor {
    return crossEntropy(logits, target, this.opts);
  }
}

/** Numerically stable BCE on logits. Shapes: logits and target alike -> []. */
export class BCEWithLogitsLoss extends Module {
  constructor(readonly reduction: Reduction = 'mean') {
    super();
  }
  forward(logits: Tensor, target: Tensor): Tensor {
    return binaryCrossEntropyWithLogits(logits, target, this.reduction);
  }
}

/** KL(target ‖ exp(input)) with log-probability input, as torch.nn.KLDivLoss. Shapes: alike -> []. */
export class KLDivLoss extends Module {
  constructor(readonly opts: { reduction?: Reduction | 'batchmean'; logTarget?: boolean } = {}) {
    super();
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return klDiv(input, target, this.opts);
  }
}

/** Mean squared error. Shapes: alike -> []. */
export class MSELoss extends Module {
  constructor(readonly reduction: Reduction = 'mean') {
    super();
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return mseLoss(input, target, this.reduction);
  }
}

/**
 * Symmetric InfoNCE over a batch of N matched pairs: logits = img · txtᵀ / temperature, target i for
 * row i; the mean of the image-to-text and text-to-image cross-entropies (CLIP; ALBEF/VLMo ITC
 * without queues). Pass L2-normalized features for cosine similarity. `temperature` may be a
 * learnable 0-d tensor.
 * Shapes: imageFeats [N, E], textFeats [N, E] -> [].
 */
export function infoNce(imageFeats: Tensor, textFeats: Tensor, temperature: number | Tensor): Tensor {
  const N = imageFeats.shape[0];
  const logits = matmul(imageFeats, textFeats, { transB: true }).div(temperature); // [N, E] @ [E, N] -> [N, N]
  const target = arange(0, N, 1, { device: imageFeats.backend }); // [N] int32: pair i matches i
  const i2t = crossEntropy(logits, target);
  const t2i = crossEntropy(logits.mT(), target);
  return i2t.add(t2i).div(2);
}

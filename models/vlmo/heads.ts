/**
 * VLMo's small task heads (UNILM:vlmo/vlmo/modules/heads.py), plus the stage-1 masked-image-modelling
 * head that replaces BEiT's (docs/reference.md#vlmo-tiny). Each one is a few lines; the model only wires them.
 */
import { zeros, type Rng, type Tensor } from '../../engine/index.js';
import { GELU, LayerNorm, Linear } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { BACKBONE_EPS, BERT_EPS } from './config.js';

/** Row 0 of every sequence: the [CLS] state. Shapes: [B, n, C] -> [B, C]. */
export function clsOf(x: Tensor): Tensor {
  return x.narrow(1, 0, 1).squeeze(1);
}

/** tanh(dense(x[:, 0])): the pooled [CLS] used by ITM, VQA and NLVR2, not by ITC (docs/reference.md#vlmo-heads). Shapes: [B, n, C] -> [B, C]. */
export class Pooler extends Module {
  readonly dense: Linear;
  constructor(dim: number, rng: Rng) {
    super();
    this.dense = this.registerModule('dense', new Linear(dim, dim, { rng }));
  }
  forward(x: Tensor): Tensor {
    return this.dense.forward(clsOf(x)).tanh();
  }
}

/** Linear C -> 2 on the pooled [CLS]; class 1 = matched. Shapes: [B, C] -> [B, 2]. */
export class ItmHead extends Module {
  readonly fc: Linear;
  constructor(dim: number, rng: Rng) {
    super();
    this.fc = this.registerModule('fc', new Linear(dim, 2, { rng }));
  }
  forward(x: Tensor): Tensor {
    return this.fc.forward(x);
  }
}

/** Linear C -> C without bias; the caller L2-normalizes (no 256-d projection in VLMo). Shapes: [B, C] -> [B, C]. */
export class ItcHead extends Module {
  readonly fc: Linear;
  constructor(dim: number, rng: Rng) {
    super();
    this.fc = this.registerModule('fc', new Linear(dim, dim, { bias: false, rng }));
  }
  forward(x: Tensor): Tensor {
    return this.fc.forward(x);
  }
}

/** BERT's prediction-head transform: dense, GELU (erf), LayerNorm (eps 1e-12). Shapes: [..., C] -> [..., C]. */
export class PredictionTransform extends Module {
  readonly dense: Linear;
  readonly act = new GELU();
  readonly layerNorm: LayerNorm;
  constructor(dim: number, rng: Rng) {
    super();
    this.dense = this.registerModule('dense', new Linear(dim, dim, { rng }));
    this.layerNorm = this.registerModule('LayerNorm', new LayerNorm(dim, BERT_EPS));
  }
  forward(x: Tensor): Tensor {
    return this.layerNorm.forward(this.act.forward(this.dense.forward(x)));
  }
}

/**
 * MLM head: transform, then a decoder C -> V **untied** from the word embeddings (docs/reference.md#vlmo-heads) plus its
 * own bias. Shapes: [..., C] -> [..., V].
 */
export class MlmHead extends Module {
  readonly transform: PredictionTransform;
  readonly decoder: Linear;
  constructor(dim: number, vocabSize: number, rng: Rng) {
    super();
    this.transform = this.registerModule('transform', new PredictionTransform(dim, rng));
    this.decoder = this.registerModule('decoder', new Linear(dim, vocabSize, { bias: false, rng }));
    this.registerParameter('bias', zeros([vocabSize]));
  }
  get bias(): Tensor {
    return this.param('bias');
  }
  forward(x: Tensor): Tensor {
    return this.decoder.forward(this.transform.forward(x)).add(this.bias);
  }
}

/**
 * Stage-1 head (our substitute for BEiT's, docs/reference.md#vlmo-tiny): LayerNorm + Linear C -> K over the final states
 * of masked patches, predicting each patch's k-means code. Shapes: [..., C] -> [..., K].
 */
export class MimHead extends Module {
  readonly norm: LayerNorm;
  readonly fc: Linear;
  constructor(dim: number, codebookSize: number, rng: Rng) {
    super();
    this.norm = this.registerModule('norm', new LayerNorm(dim, BACKBONE_EPS));
    this.fc = this.registerModule('fc', new Linear(dim, codebookSize, { rng }));
  }
  forward(x: Tensor): Tensor {
    return this.fc.forward(this.norm.forward(x));
  }
}

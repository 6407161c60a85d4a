/**
 * Transformer building blocks: the position-wise FeedForward and one TransformerLayer in either
 * residual arrangement: pre-LN (ViT, VLMo: x + f(LN(x))) or post-LN (BERT: LN(x + f(x))), with an
 * optional cross-attention sub-layer (ALBEF's fusion layers), layer scale and stochastic depth.
 */
import { defaultRng, full, type Rng, type Tensor } from '../engine/index.js';
import { MultiHeadAttention, type AttentionConfig, type AttentionInputs } from './attention.js';
import { Dropout, DropPath, GELU, LayerNorm, Linear } from './layers.js';
import { Module } from './module.js';

/** fc2(GELU(fc1(x))) (timm's Mlp names). Shapes: [..., C] -> [..., C]; hidden [..., mlpDim]. */
export class FeedForward extends Module {
  readonly fc1: Linear;
  readonly act: GELU;
  readonly fc2: Linear;
  constructor(dim: number, hidden: number, opts: { approximate?: 'none' | 'tanh'; rng?: Rng } = {}) {
    super();
    const rng = opts.rng ?? defaultRng();
    this.fc1 = this.registerModule('fc1', new Linear(dim, hidden, { rng }));
    this.act = this.registerModule('act', new GELU(opts.approximate ?? 'none'));
    this.fc2 = this.registerModule('fc2', new Linear(hidden, dim, { rng }));
  }
  forward(x: Tensor): Tensor {
    return this.fc2.forward(this.act.forward(this.fc1.forward(x)));
  }
}

export interface TransformerLayerConfig extends Pick<AttentionConfig, 'fusedQkv' | 'qkvBias' | 'attnDropout'> {
  /** C: model width. */
  dim: number;
  /** H: attention heads. */
  heads: number;
  /** Hidden width of the FeedForward (4C in ViT and BERT). */
  mlpDim: number;
  /** 'pre': x + f(LN(x)) (ViT, VLMo); 'post': LN(x + f(x)) (BERT). */
  norm: 'pre' | 'post';
  /** LayerNorm eps (ViT/VLMo 1e-6, BERT 1e-12). Default 1e-5. */
  eps?: number;
  /** Add a cross-attention sub-layer between self-attention and the FeedForward. */
  crossAttention?: boolean;
  /** Width of the states cross-attention reads (ALBEF's encoder_width). Default C. */
  kvDim?: number;
  /** Dropout on each sub-layer's output before the residual add (BERT's hidden dropout). */
  dropout?: number;
  /** Stochastic-depth rate for the residual branches (timm/VLMo drop_path). */
  dropPath?: number;
  /** Initial value of the learnable per-channel layer scales gamma1, gamma2 (VLMo 0.1); none if unset. */
  layerScale?: number;
  /** GELU form in the FeedForward. */
  approximate?: 'none' | 'tanh';
  rng?: Rng;
}

export interface LayerInputs {
  /** Additive self-attention mask broadcastable to [B, H, T, T] (keyPaddingMask). */
  mask?: Tensor;
  /** Self-attention logit bias [H, T, T] or [B, H, T, T]. */
  relPosBias?: Tensor;
  causal?: boolean;
  /** States cross-attention reads, [B, S, kvDim]; required iff the layer has cross-attention. */
  context?: Tensor;
  /** Additive mask over the context keys, broadcastable to [B, H, T, S]. */
  contextMask?: Tensor;
}

/**
 * One transformer layer. Sub-layers: `attn` (norm `norm1`), optional `crossAttn` (norm
 * `crossNorm`), `mlp` (norm `norm2`); optional layer scales `gamma1`, `gamma2` [C].
 * Shapes: x [B, T, C], context [B, S, kvDim] -> [B, T, C].
 */
export class TransformerLayer extends Module {
  readonly norm1: LayerNorm;
  readonly attn: MultiHeadAttention;
  readonly crossNorm: LayerNorm | null = null;
  readonly crossAttn: MultiHeadAttention | null = null;
  readonly norm2: LayerNorm;
  readonly mlp: FeedForward;
  readonly drop: Dropout;
  readonly dropPath: DropPath;

  constructor(readonly config: TransformerLayerConfig) {
    super();
    const { dim, heads, eps = 1e-5, fusedQkv, qkvBias, attnDropout } = config;
    const rng = config.rng ?? defaultRng();
    this.norm1 = this.registerModule('norm1', new LayerNorm(dim, eps));
    this.attn = this.registerModule(
      'attn',
      new MultiHeadAttention({ dim, heads, fusedQkv, qkvBias, attnDropout, rng }),
    );
    if (config.crossAttention) {
      this.crossNorm = this.registerModule('crossNorm', new LayerNorm(dim, eps));
      this.crossAttn = this.registerModule(
        'crossAttn',
        new MultiHeadAttention({ dim, heads, kvDim: config.kvDim ?? dim, attnDropout, rng }),
      );
    }
    this.norm2 = this.registerModule('norm2', new LayerNorm(dim, eps));
    this.mlp = this.registerModule(
      'mlp',
      new FeedForward(dim, config.mlpDim, { approximate: config.approximate, rng }),
    );
    if (config.layerScale !== undefined) {
      this.registerParameter('gamma1', full([dim], config.layerScale));
      this.registerParameter('gamma2', full([dim], config.layerScale));
    }
    this.drop = this.registerModule('drop', new Dropout(config.dropout ?? 0, rng.fork()));
    this.dropPath = this.registerModule('dropPath', new DropPath(config.dropPath ?? 0, rng.fork()));
  }

  get gamma1(): Tensor | null {
    return this.paramOrNull('gamma1');
  }
  get gamma2(): Tensor | null {
    return this.paramOrNull('gamma2');
  }

  /** x + dropPath(gamma · dropout(r)) (pre-LN) or norm(x + dropPath(gamma · dropout(r))) (post-LN). */
  private residual(x: Tensor, r: Tensor, gamma: Tensor | null, norm: LayerNorm): Tensor {
    let branch = this.drop.forward(r);
    if (gamma) branch = branch.mul(gamma);
    const y = x.add(this.dropPath.forward(branch));
    return this.config.norm === 'post' ? norm.forward(y) : y;
  }

  /** The sub-layer's input: normalized first in pre-LN, as is in post-LN. */
  private input(x: Tensor, norm: LayerNorm): Tensor {
    switch (this.config.norm) {
      case 'pre':
        return norm.forward(x);
      case 'post':
        return x;
    }
  }

  /** Output plus the self- and cross-attention probabilities [B, H, T, T|S]. */
  forwardWithAttention(x: Tensor, inputs: LayerInputs = {}): { out: Tensor; attn: Tensor; crossAttn: Tensor | null } {
    const r = this.run(x, inputs, true);
    return { out: r.out, attn: r.attn!, crossAttn: r.crossAttn };
  }

  /** The output alone: attention through the fused op, no probabilities kept. */
  forward(x: Tensor, inputs: LayerInputs = {}): Tensor {
    return this.run(x, inputs, false).out;
  }

  private run(
    x: Tensor,
    inputs: LayerInputs,
    withProbs: boolean,
  ): { out: Tensor; attn: Tensor | null; crossAttn: Tensor | null } {
    const attend = (m: MultiHeadAttention, h: Tensor, a: AttentionInputs) =>
      withProbs ? m.attend(h, a) : { out: m.forward(h, a), probs: null };
    const sa = attend(this.attn, this.input(x, this.norm1), {
      mask: inputs.mask,
      relPosBias: inputs.relPosBias,
      causal: inputs.causal,
    });
    x = this.residual(x, sa.out, this.gamma1, this.norm1); // [B, T, C]
    let crossProbs: Tensor | null = null;
    if (this.crossAttn && this.crossNorm) {
      if (!inputs.context) throw new Error('TransformerLayer: this layer has cross-attention; pass inputs.context');
      const cross = attend(this.crossAttn, this.input(x, this.crossNorm), {
        context: inputs.context,
        mask: inputs.contextMask,
      });
      x = this.residual(x, cross.out, null, this.crossNorm); // [B, T, C]
      crossProbs = cross.probs;
    } else if (inputs.context) {
      throw new Error('TransformerLayer: got inputs.context but the layer has no cross-attention');
    }
    x = this.residual(x, this.mlp.forward(this.input(x, this.norm2)), this.gamma2, this.norm2); // [B, T, C]
    return { out: x, attn: sa.probs, crossAttn: crossProbs };
  }
}

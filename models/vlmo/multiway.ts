/**
 * The Multiway (mixture-of-modality-experts) transformer of VLMo
 * (UNILM:vlmo/vlmo/modules/multiway_transformer.py; docs/reference.md#vlmo-multiway-block). Each block shares one
 * self-attention (and its LayerNorm) across modalities and routes the FFN by input: V-FFN for image
 * tokens, L-FFN for text tokens, VL-FFN (top blocks only) for fused sequences. Attention, FFNs and
 * norms are nn's layers, the same ones ALBEF's encoders use; only the routing is VLMo's.
 */
import { concat, full, type Rng, type Tensor } from '../../engine/index.js';
import { MultiHeadAttention } from '../../nn/attention.js';
import { DropPath, LayerNorm, ModuleList } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { PatchEmbed } from '../../nn/patch_embed.js';
import { FeedForward } from '../../nn/transformer.js';
import { BACKBONE_EPS, gridSize, type VlmoConfig } from './config.js';

/**
 * What a block is fed: image tokens only, text tokens only, or a fused [text ; image] sequence.
 * The reference passes `modality_type` strings; here it is a closed union switched exhaustively.
 */
export type Modality = 'image' | 'text' | 'vl';

/** Per-call inputs of a block. */
export interface BlockInputs {
  /** Additive key-padding mask, broadcastable to [B, H, n, n] (0 kept, −∞ padded). */
  mask?: Tensor;
  /** This layer's relative position bias [H, n, n]. */
  relPosBias?: Tensor;
}

/**
 * One Multiway block:
 *   x ← x + dropPath(γ1 ⊙ Attn(norm1(x)))                       (shared by every modality)
 *   x ← x + dropPath(γ2 ⊙ FFN_m(norm2_m(x)))                    (expert m chosen by the modality)
 * γ2 is shared by the block's experts; each expert has its own pre-FFN LayerNorm (as the reference).
 * Fields mirror the reference: norm1, attn, norm2Text/norm2Imag/norm2Vl, mlpText/mlpImag/mlpVl, gamma1/2.
 * Shapes: x [B, n, C] -> [B, n, C]; in 'vl' mode n = T + P with text first.
 */
export class MultiwayBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn: MultiHeadAttention;
  readonly dropPath: DropPath;
  readonly norm2Text: LayerNorm;
  readonly norm2Imag: LayerNorm;
  readonly mlpText: FeedForward;
  readonly mlpImag: FeedForward;
  readonly mlpVl: FeedForward | null = null;
  readonly norm2Vl: LayerNorm | null = null;

  constructor(
    readonly config: VlmoConfig,
    opts: { withVlffn: boolean; dropPath: number; rng: Rng },
  ) {
    super();
    const { dim, heads, mlpDim } = config,
      rng = opts.rng;
    this.norm1 = this.registerModule('norm1', new LayerNorm(dim, BACKBONE_EPS));
    // q and v carry biases, k does not (as the reference).
    this.attn = this.registerModule(
      'attn',
      new MultiHeadAttention({ dim, heads, fusedQkv: true, qkvBias: [true, false, true], rng }),
    );
    this.dropPath = this.registerModule('drop_path', new DropPath(opts.dropPath, rng.fork()));
    this.norm2Text = this.registerModule('norm2_text', new LayerNorm(dim, BACKBONE_EPS));
    this.norm2Imag = this.registerModule('norm2_imag', new LayerNorm(dim, BACKBONE_EPS));
    this.mlpText = this.registerModule('mlp_text', new FeedForward(dim, mlpDim, { rng }));
    this.mlpImag = this.registerModule('mlp_imag', new FeedForward(dim, mlpDim, { rng }));
    if (opts.withVlffn) {
      this.mlpVl = this.registerModule('mlp_vl', new FeedForward(dim, mlpDim, { rng }));
      this.norm2Vl = this.registerModule('norm2_vl', new LayerNorm(dim, BACKBONE_EPS));
    }
    this.registerParameter('gamma_1', full([dim], config.layerScale));
    this.registerParameter('gamma_2', full([dim], config.layerScale));
  }

  get gamma1(): Tensor {
    return this.param('gamma_1');
  }
  get gamma2(): Tensor {
    return this.param('gamma_2');
  }

  /** dropPath(γ2 ⊙ expert(norm(x))): one expert's residual branch. */
  private expert(mlp: FeedForward, norm: LayerNorm, x: Tensor): Tensor {
    return this.dropPath.forward(mlp.forward(norm.forward(x)).mul(this.gamma2));
  }

  forward(x: Tensor, modality: Modality, inputs: BlockInputs = {}): Tensor {
    const a = this.attn.forward(this.norm1.forward(x), inputs); // [B, n, C]
    x = x.add(this.dropPath.forward(a.mul(this.gamma1)));
    switch (modality) {
      case 'image':
        return x.add(this.expert(this.mlpImag, this.norm2Imag, x));
      case 'text':
        return x.add(this.expert(this.mlpText, this.norm2Text, x));
      case 'vl': {
        if (this.mlpVl && this.norm2Vl) return x.add(this.expert(this.mlpVl, this.norm2Vl, x));
        // Bottom blocks: text tokens (the first T: text always comes first, padded to T) to L-FFN, image tokens to V-FFN.
        const T = this.config.maxTextLen,
          n = x.shape[1];
        const text = x.narrow(1, 0, T),
          image = x.narrow(1, T, n - T); // [B, T, C], [B, P, C]
        return concat(
          [
            text.add(this.expert(this.mlpText, this.norm2Text, text)),
            image.add(this.expert(this.mlpImag, this.norm2Imag, image)),
          ],
          1,
        ); // [B, T+P, C]
      }
    }
  }
}

/**
 * The backbone's vision stem and blocks: `patch_embed`, `cls_token`, `blocks`, `norm` (the final
 * LayerNorm shared by all modes, as the reference). No absolute positions: positions come from the
 * relative bias (Base and Large). Stochastic depth grows linearly from 0 to config.dropPath.
 */
export class MultiwayTransformer extends Module {
  readonly patchEmbed: PatchEmbed;
  readonly blocks: ModuleList<MultiwayBlock>;
  readonly norm: LayerNorm;

  constructor(
    readonly config: VlmoConfig,
    rng: Rng,
  ) {
    super();
    const { dim, depth, patchSize, vlffnStart, dropPath } = config;
    this.patchEmbed = this.registerModule('patch_embed', new PatchEmbed(patchSize, 3, dim, { rng }));
    this.registerParameter('cls_token', full([1, 1, dim], 0));
    const rates = Array.from({ length: depth }, (_, i) => (depth === 1 ? 0 : (dropPath * i) / (depth - 1)));
    this.blocks = this.registerModule(
      'blocks',
      new ModuleList(rates.map((p, i) => new MultiwayBlock(config, { withVlffn: i >= vlffnStart, dropPath: p, rng }))),
    );
    this.norm = this.registerModule('norm', new LayerNorm(dim, BACKBONE_EPS));
  }

  get clsToken(): Tensor {
    return this.param('cls_token');
  }
  /** Patches per image, g². */
  get numPatches(): number {
    return gridSize(this.config) ** 2;
  }

  /** [CLS] + patch tokens. Shapes: images [B, 3, S, S] -> [B, 1+P, C]. */
  visualEmbed(images: Tensor): Tensor {
    return this.prependCls(this.patchEmbed.forward(images));
  }

  /** Shapes: patches [B, P, C] -> [B, 1+P, C]. */
  prependCls(patches: Tensor): Tensor {
    const [B, , C] = patches.shape;
    return concat([this.clsToken.expand([B, 1, C]), patches], 1);
  }
}

/**
 * ALBEF's image encoder (ALBEF:models/vit.py): a pre-LN ViT whose blocks are nn's TransformerLayer,
 * registered under timm's names so `visual_encoder.blocks.0.attn.qkv.weight` maps 1:1.
 */
import { concat, zeros, type Rng, type Tensor } from '../../engine/index.js';
import { truncNormal_, zeros_ } from '../../nn/init.js';
import { LayerNorm, Linear, ModuleList } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { PatchEmbed } from '../../nn/patch_embed.js';
import { TransformerLayer } from '../../nn/transformer.js';
import type { VitConfig } from './config.js';

/**
 * [CLS] + patch tokens, plus learned positions, through `depth` pre-LN blocks and a final LayerNorm.
 * Parameters: patch_embed.proj, cls_token [1, 1, C], pos_embed [1, 1+N, C], blocks.i, norm.
 * Shapes: images [B, 3, S, S] -> [B, 1+N, C] with N = (S/p)².
 */
export class VisionTransformer extends Module {
  readonly patchEmbed: PatchEmbed;
  readonly blocks: ModuleList<TransformerLayer>;
  readonly norm: LayerNorm;
  readonly numPatches: number;

  constructor(
    readonly config: VitConfig,
    rng: Rng,
    initStd = 0.02,
  ) {
    super();
    const { imageSize, patchSize, dim, depth, heads, mlpDim, eps } = config;
    this.patchEmbed = this.registerModule('patch_embed', new PatchEmbed(patchSize, 3, dim, { rng }));
    this.numPatches = this.patchEmbed.numPatches(imageSize);
    // timm init: [CLS] and positions trunc-normal(0.02); Linear weights trunc-normal(0.02), zero bias.
    this.registerParameter('cls_token', truncNormal_(zeros([1, 1, dim]), rng, { std: initStd }));
    this.registerParameter('pos_embed', truncNormal_(zeros([1, 1 + this.numPatches, dim]), rng, { std: initStd }));
    this.blocks = this.registerModule('blocks', new ModuleList<TransformerLayer>());
    for (let i = 0; i < depth; i++) {
      this.blocks.push(
        new TransformerLayer({ dim, heads, mlpDim, norm: 'pre', eps, fusedQkv: true, qkvBias: true, rng }),
      );
    }
    this.norm = this.registerModule('norm', new LayerNorm(dim, eps));
    for (const m of this.blocks.modules()) {
      if (m instanceof Linear) {
        truncNormal_(m.weight, rng, { std: initStd });
        if (m.bias) zeros_(m.bias);
      }
    }
  }

  get clsToken(): Tensor {
    return this.param('cls_token');
  }
  get posEmbed(): Tensor {
    return this.param('pos_embed');
  }

  forward(images: Tensor): Tensor {
    const S = this.config.imageSize;
    if (images.ndim !== 4 || images.shape[1] !== 3 || images.shape[2] !== S || images.shape[3] !== S) {
      throw new RangeError(
        `VisionTransformer: expected images [B, 3, ${S}, ${S}] for this config, got [${images.shape}]`,
      );
    }
    const B = images.shape[0],
      C = this.config.dim;
    const patches = this.patchEmbed.forward(images); // [B, N, C]
    const cls = this.clsToken.expand([B, 1, C]); // [B, 1, C]
    let x = concat([cls, patches], 1).add(this.posEmbed); // [B, 1+N, C], positions on [CLS] too
    for (const block of this.blocks) x = block.forward(x); // pre-LN: x + f(LN(x))
    return this.norm.forward(x); // final LN on every token
  }
}

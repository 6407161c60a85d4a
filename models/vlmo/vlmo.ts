/**
 * VLMo (Bao et al., NeurIPS 2022): one Multiway transformer that is a dual encoder (image-only and
 * text-only inputs, modality experts in every block: ITC, fast retrieval) and a fusion encoder
 * ([text ; image], VL-FFN in the top blocks: ITM, MLM, VQA). Reference:
 * UNILM:vlmo/vlmo/modules/vlmo_module.py (`infer`, `infer_text`, `infer_image`). Children are
 * registered under the reference's names, so state-dict keys are the reference's (see weights.ts).
 */
import { concat, full, noGrad, ones, Rng, type Tensor } from '../../engine/index.js';
import { keyPaddingMask } from '../../nn/attention.js';
import { normal_, truncNormal_, zeros_ } from '../../nn/init.js';
import { Dropout, Embedding, LayerNorm, Linear } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { BERT_EPS, gridSize, validateConfig, type VlmoConfig } from './config.js';
import { ItcHead, ItmHead, MimHead, MlmHead, Pooler, clsOf } from './heads.js';
import { MultiwayTransformer, type Modality } from './multiway.js';
import { fusedRelPosIndex, imageRelPosIndex, relPosBiases, relPosLayout, textRelPosIndex } from './relpos.js';

/**
 * BERT embeddings as VLMo builds them (`position_embedding_type="rel_pos"`): word + token-type-0 ->
 * LayerNorm -> dropout. The 40-row absolute position table exists (it is in the checkpoint and the
 * parameter count) but is never added (docs/reference.md#vlmo-embeddings-and-relative-position-bias). Shapes: ids [B, T] int32 -> [B, T, C].
 */
export class TextEmbeddings extends Module {
  readonly wordEmbeddings: Embedding;
  readonly positionEmbeddings: Embedding;
  readonly tokenTypeEmbeddings: Embedding;
  readonly layerNorm: LayerNorm;
  readonly dropout: Dropout;

  constructor(config: VlmoConfig, rng: Rng) {
    super();
    const { vocabSize, dim, maxTextLen } = config;
    this.wordEmbeddings = this.registerModule('word_embeddings', new Embedding(vocabSize, dim, { paddingIdx: 0, rng }));
    this.positionEmbeddings = this.registerModule('position_embeddings', new Embedding(maxTextLen, dim, { rng }));
    this.tokenTypeEmbeddings = this.registerModule('token_type_embeddings', new Embedding(2, dim, { rng }));
    this.layerNorm = this.registerModule('LayerNorm', new LayerNorm(dim, BERT_EPS));
    // The reference sets the text dropout to drop_path_rate.
    this.dropout = this.registerModule('dropout', new Dropout(config.dropPath, rng.fork()));
  }

  forward(ids: Tensor): Tensor {
    const x = this.wordEmbeddings.forward(ids).add(this.tokenTypeEmbeddings.weight.narrow(0, 0, 1)); // [B, T, C]
    return this.dropout.forward(this.layerNorm.forward(x));
  }
}

/** A dual-encoder pass: final-normed states and the L2-normalized ITC feature, plus the VL-FFN branch's. */
export interface UnimodalOutput {
  /** Shapes: [B, n, C] after the final LayerNorm. */
  hidden: Tensor;
  /** normalize(itc_*_proj([CLS])). Shapes: [B, C]. */
  feat: Tensor;
  /** The extra ITC branch (docs/reference.md#vlmo-routing): top blocks re-run in 'vl' mode -> normalize(itc_vl_*_proj). Shapes: [B, C]. */
  vlFeat: Tensor | null;
}

export interface VlmoOptions {
  /** Seeds the weight init and the hard-negative sampler. */
  seed?: number;
  /** Build the stage-1 masked-image-modelling parts (`mask_token`, `mim_head`). */
  mim?: boolean;
  /** Build the stage-1 scene-facts head (`facts_head`, Linear C -> F on the image [CLS]) with F facts. */
  facts?: number;
  /** Draw the reference init (default true); false leaves nn's defaults (counting parameters). */
  init?: boolean;
  /** Overrides the generator built from `seed`. */
  rng?: Rng;
}

/** L2 normalization along the last dim, x / ‖x‖ (the reference divides by the norm, no epsilon). Shapes: [..., C]. */
export function l2normalize(x: Tensor): Tensor {
  return x.div(x.mul(x).sum(-1, true).sqrt());
}

export class Vlmo extends Module {
  readonly transformer: MultiwayTransformer;
  readonly textEmbeddings: TextEmbeddings;
  readonly tokenTypeEmbeddings: Embedding;
  readonly pooler: Pooler;
  readonly mlmScore: MlmHead;
  readonly itmScore: ItmHead;
  readonly itcTextProj: ItcHead;
  readonly itcImageProj: ItcHead;
  readonly itcVlTextProj: ItcHead;
  readonly itcVlImageProj: ItcHead;
  readonly mimHead: MimHead | null = null;
  /** Stage 1's multi-label scene-facts head (see facts.ts), or null. */
  readonly factsHead: Linear | null = null;
  /** Draws ITM hard negatives. */
  readonly rng: Rng;
  private readonly indexCache = new Map<Modality, Int32Array>();

  constructor(
    readonly config: VlmoConfig,
    opts: VlmoOptions = {},
  ) {
    super();
    validateConfig(config);
    const rng = opts.rng ?? new Rng(opts.seed ?? 0),
      C = config.dim;
    this.transformer = this.registerModule('transformer', new MultiwayTransformer(config, rng));
    const layout = relPosLayout(gridSize(config), config.maxTextLenOfInitCkpt);
    this.registerParameter('relative_position_bias_table', full([layout.total, config.heads * config.depth], 0));
    this.textEmbeddings = this.registerModule('text_embeddings', new TextEmbeddings(config, rng));
    this.tokenTypeEmbeddings = this.registerModule('token_type_embeddings', new Embedding(2, C, { rng }));
    this.pooler = this.registerModule('pooler', new Pooler(C, rng));
    this.mlmScore = this.registerModule('mlm_score', new MlmHead(C, config.vocabSize, rng));
    this.itmScore = this.registerModule('itm_score', new ItmHead(C, rng));
    this.itcTextProj = this.registerModule('itc_text_proj', new ItcHead(C, rng));
    this.itcImageProj = this.registerModule('itc_image_proj', new ItcHead(C, rng));
    this.itcVlTextProj = this.registerModule('itc_vl_text_proj', new ItcHead(C, rng));
    this.itcVlImageProj = this.registerModule('itc_vl_image_proj', new ItcHead(C, rng));
    this.registerParameter('logit_scale', full([], Math.log(1 / 0.07)));
    this.registerParameter('logit_vl_scale', full([], Math.log(1 / 0.07)));
    if (opts.mim) {
      this.registerParameter('mask_token', full([1, 1, C], 0));
      this.mimHead = this.registerModule('mim_head', new MimHead(C, config.codebookSize, rng));
    }
    if (opts.facts) this.factsHead = this.registerModule('facts_head', new Linear(C, opts.facts, { rng }));
    if (opts.init ?? true) initVlmo_(this, rng, config.initStd);
    this.rng = rng.fork();
  }

  get relPosTable(): Tensor {
    return this.param('relative_position_bias_table');
  }
  get logitScale(): Tensor {
    return this.param('logit_scale');
  }
  get logitVlScale(): Tensor {
    return this.param('logit_vl_scale');
  }
  get maskToken(): Tensor {
    return this.param('mask_token');
  }
  /** The parameters' dtype (image inputs are cast to it). */
  get dtype(): 'float32' | 'float64' {
    return this.relPosTable.dtype as 'float32' | 'float64';
  }
  /** Blocks with a VL-FFN start here; = depth when there is none (stages 1 and 2). */
  get vlffnStart(): number {
    return this.config.vlffnStart;
  }

  /**
   * The backbone as the reference counts it (175,430,496 parameters for Base;
   * docs/reference.md#vlmo-parameter-counts): transformer, relative-position table, text
   * embeddings, modality embedding. Task heads are left out.
   */
  backboneParameters(): Tensor[] {
    return [
      ...this.transformer.parameters(),
      this.relPosTable,
      ...this.textEmbeddings.parameters(),
      ...this.tokenTypeEmbeddings.parameters(),
    ];
  }

  /** The relative-position index of one input layout (cached). Shapes: [n·n]. */
  private relPosIndex(modality: Modality): Int32Array {
    let idx = this.indexCache.get(modality);
    if (!idx) {
      const g = gridSize(this.config),
        T = this.config.maxTextLen,
        layout = relPosLayout(g, this.config.maxTextLenOfInitCkpt);
      switch (modality) {
        case 'image':
          idx = imageRelPosIndex(g);
          break;
        case 'text':
          idx = textRelPosIndex(T, layout);
          break;
        case 'vl':
          idx = fusedRelPosIndex(T, g, layout);
          break;
      }
      this.indexCache.set(modality, idx);
    }
    return idx;
  }

  /** Every layer's bias [H, n, n] for one input layout. */
  relPosBias(modality: Modality): Tensor[] {
    return relPosBiases(this.relPosTable, this.relPosIndex(modality), this.config.heads, this.config.depth);
  }

  /** Text tokens + modality embedding 0. Shapes: ids [B, T] -> [B, T, C]. */
  embedText(ids: Tensor): Tensor {
    checkText(ids, this.config.maxTextLen);
    return this.textEmbeddings.forward(ids).add(this.tokenTypeEmbeddings.weight.narrow(0, 0, 1));
  }

  /**
   * [CLS] + patches + modality embedding 1 (no LayerNorm, no absolute positions). With `mimMask`
   * (1 = masked, stage 1) masked patches are replaced by the learned mask token first, as BEiT.
   * Shapes: images [B, 3, S, S], mimMask [B, P] -> [B, 1+P, C].
   */
  embedImage(images: Tensor, mimMask?: Tensor): Tensor {
    let patches = this.transformer.patchEmbed.forward(images.to(this.dtype)); // [B, P, C]
    if (mimMask) {
      const w = mimMask.to(this.dtype).unsqueeze(-1); // [B, P, 1]
      patches = patches.mul(w.neg().add(1)).add(this.maskToken.mul(w));
    }
    return this.transformer.prependCls(patches).add(this.tokenTypeEmbeddings.weight.narrow(0, 1, 1));
  }

  /**
   * Runs every block in one modality's expert mode; with `vlBranch`, also re-runs the top blocks in
   * 'vl' mode from the state entering them (the reference's extra ITC branch). Both outputs are
   * final-normed. Shapes: x [B, n, C] -> [B, n, C].
   */
  private encodeUnimodal(
    x: Tensor,
    modality: 'image' | 'text',
    mask: Tensor | undefined,
    vlBranch: boolean,
  ): { hidden: Tensor; vl: Tensor | null } {
    const biases = this.relPosBias(modality),
      start = this.vlffnStart,
      blocks = [...this.transformer.blocks];
    let vl: Tensor | null = null;
    blocks.forEach((blk, i) => {
      if (i === start && vlBranch) vl = x;
      x = blk.forward(x, modality, { mask, relPosBias: biases[i] });
    });
    const norm = this.transformer.norm;
    if (vl === null) return { hidden: norm.forward(x), vl: null };
    let v: Tensor = vl;
    for (let i = start; i < blocks.length; i++) v = blocks[i].forward(v, 'vl', { mask, relPosBias: biases[i] });
    return { hidden: norm.forward(x), vl: norm.forward(v) };
  }

  /** Image-only (dual-encoder) pass: V-FFN in every block. Shapes: images [B, 3, S, S] -> [B, 1+P, C]. */
  encodeImage(images: Tensor, opts: { vlBranch?: boolean; mimMask?: Tensor } = {}): UnimodalOutput {
    const vlBranch = (opts.vlBranch ?? false) && this.vlffnStart < this.config.depth;
    const { hidden, vl } = this.encodeUnimodal(this.embedImage(images, opts.mimMask), 'image', undefined, vlBranch);
    return {
      hidden,
      feat: l2normalize(this.itcImageProj.forward(clsOf(hidden))),
      vlFeat: vl && l2normalize(this.itcVlImageProj.forward(clsOf(vl))),
    };
  }

  /** Text-only (dual-encoder) pass: L-FFN in every block. Shapes: ids, attentionMask [B, T] -> [B, T, C]. */
  encodeText(ids: Tensor, attentionMask: Tensor, opts: { vlBranch?: boolean } = {}): UnimodalOutput {
    const vlBranch = (opts.vlBranch ?? false) && this.vlffnStart < this.config.depth;
    const mask = keyPaddingMask(attentionMask, -Infinity, this.dtype); // [B, 1, 1, T]
    const { hidden, vl } = this.encodeUnimodal(this.embedText(ids), 'text', mask, vlBranch);
    return {
      hidden,
      feat: l2normalize(this.itcTextProj.forward(clsOf(hidden))),
      vlFeat: vl && l2normalize(this.itcVlTextProj.forward(clsOf(vl))),
    };
  }

  /**
   * Fusion pass on [text ; image]: split routing in the bottom blocks, VL-FFN in the top ones,
   * attention over all tokens with padded text keys masked (the reference's key mask).
   * Shapes: ids, attentionMask [B, T], images [B, 3, S, S] -> [B, T+1+P, C].
   */
  fuse(ids: Tensor, attentionMask: Tensor, images: Tensor): Tensor {
    const text = this.embedText(ids),
      image = this.embedImage(images); // [B, T, C], [B, 1+P, C]
    const [B, P1] = image.shape;
    const keep = concat([attentionMask, ones([B, P1], { dtype: 'int32', device: attentionMask.backend })], 1);
    const mask = keyPaddingMask(keep, -Infinity, this.dtype); // [B, 1, 1, T+1+P]
    const biases = this.relPosBias('vl');
    let x = concat([text, image], 1); // [B, T+1+P, C]
    [...this.transformer.blocks].forEach((blk, i) => {
      x = blk.forward(x, 'vl', { mask, relPosBias: biases[i] });
    });
    return this.transformer.norm.forward(x);
  }

  /** ITM logits of fused states; class 1 = matched. Shapes: [B, n, C] -> [B, 2]. */
  itmLogits(fused: Tensor): Tensor {
    return this.itmScore.forward(this.pooler.forward(fused));
  }
}

/** Throws unless ids are [B, maxTextLen] int32: texts are always padded to exactly T (docs/reference.md#vlmo-embeddings-and-relative-position-bias). */
function checkText(ids: Tensor, T: number): void {
  if (ids.dtype !== 'int32') throw new TypeError(`VLMo: text ids must be int32, got ${ids.dtype}`);
  if (ids.ndim !== 2 || ids.shape[1] !== T) {
    throw new RangeError(
      `VLMo: text ids are [${ids.shape}], expected [B, ${T}]: pad every text to maxTextLen (padding 'max_length')`,
    );
  }
}

/**
 * The reference init: backbone Linear weights trunc-normal(0.02) with zero biases and the [CLS]
 * token trunc-normal (multiway_transformer.py `_init_weights`; the patch conv keeps PyTorch's
 * default); embeddings and heads N(0, 0.02²) with zero biases (objectives.py `init_weights`);
 * LayerNorms 1/0, the relative-position table and q/v biases 0, logit scales ln(1/0.07).
 * Stage 1's mask token and MIM head are trunc-normal(0.02), as BEiT's; its facts head is N(0, std²), zero bias.
 */
export function initVlmo_(model: Vlmo, rng: Rng, std: number): void {
  noGrad(() => {
    for (const m of model.transformer.modules()) {
      if (m instanceof Linear) {
        truncNormal_(m.weight, rng, { std });
        if (m.bias) zeros_(m.bias);
      }
    }
    truncNormal_(model.transformer.clsToken, rng, { std });
    const heads: Module[] = [
      model.textEmbeddings,
      model.tokenTypeEmbeddings,
      model.pooler,
      model.mlmScore,
      model.itmScore,
      model.itcTextProj,
      model.itcImageProj,
      model.itcVlTextProj,
      model.itcVlImageProj,
    ];
    for (const root of heads) {
      for (const m of root.modules()) {
        if (m instanceof Linear || m instanceof Embedding) normal_(m.weight, rng, { std });
        if (m instanceof Linear && m.bias) zeros_(m.bias);
      }
    }
    if (model.mimHead) {
      truncNormal_(model.maskToken, rng, { std });
      truncNormal_(model.mimHead.fc.weight, rng, { std });
      zeros_(model.mimHead.fc.bias!);
    }
    if (model.factsHead) {
      normal_(model.factsHead.weight, rng, { std });
      zeros_(model.factsHead.bias!);
    }
  });
}

/**
 * ALBEF configurations: the released base model (ViT-B/16 at 256 px + BERT-base split 6/6) and the
 * tiny CPU model (docs/reference.md#albef-tiny), as typed records with their defaults commented (nanoGPT's GPTConfig).
 */

/** The image encoder: a pre-LN ViT with learned absolute positions (incl. [CLS]) and a final LN. */
export interface VitConfig {
  /** Input side in pixels (images are square). */
  imageSize: number;
  /** Patch side p: the grid is (imageSize / p)². */
  patchSize: number;
  /** C: token width. */
  dim: number;
  depth: number;
  heads: number;
  /** FFN hidden width (4C). */
  mlpDim: number;
  /** LayerNorm eps: 1e-6 in every ViT norm. */
  eps: number;
}

/** The text + fusion encoder: one post-LN BERT whose layers from `fusionLayer` on add cross-attention. */
export interface BertConfig {
  /** V: vocabulary size (30,522 for bert-base-uncased). */
  vocabSize: number;
  /** C: hidden width. */
  hidden: number;
  /** Total layers; layers [0, fusionLayer) are the text encoder, the rest the fusion encoder. */
  layers: number;
  fusionLayer: number;
  heads: number;
  /** FFN hidden width (4C). */
  intermediate: number;
  /** Learned absolute positions: the longest text the model accepts. */
  maxPositions: number;
  /** Token-type rows (always type 0 in ALBEF, but the table is part of the checkpoint). */
  typeVocabSize: number;
  /** LayerNorm eps: 1e-12 (BERT). */
  eps: number;
  /** Dropout on embeddings and every sub-layer output (0.1). */
  hiddenDropout: number;
  /** Dropout on attention probabilities (0.1). */
  attnDropout: number;
  /** Width of the image states cross-attention reads (`encoder_width` = the ViT's C). */
  encoderWidth: number;
  /** [PAD] id: its embedding row starts at zero and gets no gradient from the lookup. */
  padId: number;
}

export interface AlbefConfig {
  name: string;
  vision: VitConfig;
  text: BertConfig;
  /** E: width of the ITC projections (256 base, 32 tiny). */
  embedDim: number;
  /** Q: length of each feature queue; must be a multiple of the batch size. */
  queueSize: number;
  /** EMA momentum m of the momentum model (0.995). */
  momentum: number;
  /** Distillation weight α after the warm-up ramp (0.4). */
  alpha: number;
  /** Initial temperature τ (0.07); clamped to [0.001, 0.5] each forward. */
  temp: number;
  /** MLM selection probability (0.15). */
  mlmProb: number;
  /** Std of the normal / truncated-normal weight init (0.02, BERT's initializer_range). */
  initStd: number;
}

/** ALBEF as released (ALBEF:configs/Pretrain.yaml, config_bert.json): 209,937,725 trainable parameters. */
export const ALBEF_BASE: AlbefConfig = {
  name: 'albef-base',
  vision: { imageSize: 256, patchSize: 16, dim: 768, depth: 12, heads: 12, mlpDim: 3072, eps: 1e-6 },
  text: {
    vocabSize: 30522,
    hidden: 768,
    layers: 12,
    fusionLayer: 6,
    heads: 12,
    intermediate: 3072,
    maxPositions: 512,
    typeVocabSize: 2,
    eps: 1e-12,
    hiddenDropout: 0.1,
    attnDropout: 0.1,
    encoderWidth: 768,
    padId: 0,
  },
  embedDim: 256,
  queueSize: 65536,
  momentum: 0.995,
  alpha: 0.4,
  temp: 0.07,
  mlmProb: 0.15,
  initStd: 0.02,
};

/**
 * ALBEF-tiny (docs/reference.md#albef-tiny): every architectural element kept, widths and lengths shrunk for 2-core
 * CPU training on 32×32 scenes. `vocabSize` defaults to 1,000 (422,955 parameters); the
 * trainer passes the tokenizer's size. Init std 0.07: BERT's 0.02 is set for width 768, and
 * 0.02·√(768/64) ≈ 0.07 keeps its per-layer gain at width 64. Measured on MNIST scenes (200 steps,
 * lr 1e-3, see RESULTS.md): MLM accuracy 28% at 0.07 against 8% at 0.2 and the 0.02 init's text
 * [CLS] equal for every caption (mean pairwise cosine 1.0000 at 0.02, 0.996 at 0.07, 0.71 at 0.2).
 */
export function albefTiny(vocabSize = 1000): AlbefConfig {
  return {
    name: 'albef-tiny',
    vision: { imageSize: 32, patchSize: 8, dim: 64, depth: 2, heads: 4, mlpDim: 256, eps: 1e-6 },
    text: {
      vocabSize,
      hidden: 64,
      layers: 4,
      fusionLayer: 2,
      heads: 4,
      intermediate: 256,
      maxPositions: 32,
      typeVocabSize: 2,
      eps: 1e-12,
      hiddenDropout: 0.1,
      attnDropout: 0.1,
      encoderWidth: 64,
      padId: 0,
    },
    embedDim: 32,
    queueSize: 256,
    momentum: 0.995,
    alpha: 0.4,
    temp: 0.07,
    mlmProb: 0.15,
    initStd: 0.07,
  };
}

/**
 * A micro config for gradient checks and PyTorch parity (a few thousand parameters): 8×8 images of
 * 4 patches, one ViT block, one text and one fusion layer, no dropout.
 */
export function albefMicro(vocabSize = 12): AlbefConfig {
  return {
    name: 'albef-micro',
    vision: { imageSize: 8, patchSize: 4, dim: 8, depth: 1, heads: 2, mlpDim: 16, eps: 1e-6 },
    text: {
      vocabSize,
      hidden: 8,
      layers: 2,
      fusionLayer: 1,
      heads: 2,
      intermediate: 16,
      maxPositions: 8,
      typeVocabSize: 2,
      eps: 1e-12,
      hiddenDropout: 0,
      attnDropout: 0,
      encoderWidth: 8,
      padId: 0,
    },
    embedDim: 4,
    queueSize: 6,
    momentum: 0.995,
    alpha: 0.4,
    temp: 0.07,
    mlmProb: 0.15,
    initStd: 0.02,
  };
}

/** The named configs the command line accepts. */
export const CONFIG_NAMES = ['albef-tiny', 'albef-base', 'albef-micro'] as const;
export type ConfigName = (typeof CONFIG_NAMES)[number];

/** A config by name, with the vocabulary size of the tokenizer in use. */
export function albefConfig(name: string, vocabSize?: number): AlbefConfig {
  switch (name as ConfigName) {
    case 'albef-tiny':
      return albefTiny(vocabSize);
    case 'albef-micro':
      return albefMicro(vocabSize);
    case 'albef-base':
      return vocabSize === undefined ? ALBEF_BASE : { ...ALBEF_BASE, text: { ...ALBEF_BASE.text, vocabSize } };
  }
  throw new RangeError(`unknown ALBEF config '${name}'; expected one of ${CONFIG_NAMES.join(', ')}`);
}

/** Throws a RangeError naming the first inconsistent field. */
export function validateConfig(c: AlbefConfig): void {
  const fail = (msg: string): never => {
    throw new RangeError(`${c.name}: ${msg}`);
  };
  const v = c.vision,
    t = c.text;
  if (v.imageSize % v.patchSize !== 0) fail(`imageSize ${v.imageSize} is not a multiple of patchSize ${v.patchSize}`);
  if (v.dim % v.heads !== 0) fail(`vision dim ${v.dim} is not divisible by ${v.heads} heads`);
  if (t.hidden % t.heads !== 0) fail(`text hidden ${t.hidden} is not divisible by ${t.heads} heads`);
  if (!(t.fusionLayer >= 1 && t.fusionLayer < t.layers))
    fail(`fusionLayer ${t.fusionLayer} must be in [1, ${t.layers})`);
  if (t.encoderWidth !== v.dim) fail(`text.encoderWidth ${t.encoderWidth} must equal the vision width ${v.dim}`);
  if (!(t.padId >= 0 && t.padId < t.vocabSize)) fail(`padId ${t.padId} outside the vocabulary of ${t.vocabSize}`);
  if (!(c.queueSize > 0 && Number.isInteger(c.queueSize)))
    fail(`queueSize must be a positive integer, got ${c.queueSize}`);
  if (!(c.momentum >= 0 && c.momentum <= 1)) fail(`momentum ${c.momentum} outside [0, 1]`);
  if (!(c.temp >= 0.001 && c.temp <= 0.5)) fail(`temp ${c.temp} outside the clamp range [0.001, 0.5]`);
}

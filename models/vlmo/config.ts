/**
 * VLMo configurations (UNILM:vlmo/vlmo/modules/multiway_transformer.py `vlmo_*_patch16`,
 * UNILM:vlmo/vlmo/config.py): the released Base and Large backbones and the tiny CPU model
 * (docs/reference.md#vlmo-tiny), as typed records with their defaults commented (nanoGPT's GPTConfig).
 */

export interface VlmoConfig {
  name: string;
  /** Input side in pixels (square images). */
  imageSize: number;
  /** Patch side p: the grid is g × g with g = imageSize / p. */
  patchSize: number;
  /** C: width of every token. */
  dim: number;
  /** L: number of Multiway blocks. */
  depth: number;
  /** H: attention heads (head width C / H). */
  heads: number;
  /** FFN hidden width of every expert (4C). */
  mlpDim: number;
  /** Blocks with index >= vlffnStart carry a VL-FFN (Base 10, Large 21); = depth means none (stages 1, 2). */
  vlffnStart: number;
  /** T: every text is padded to exactly this length; fused sequences split at T (docs/reference.md#vlmo-embeddings-and-relative-position-bias). */
  maxTextLen: number;
  /** T0 of the relative-position text rows (2·T0 rows); the reference keeps 196 from its text stage. */
  maxTextLenOfInitCkpt: number;
  /** V: vocabulary size (30,522 for bert-base-uncased). */
  vocabSize: number;
  /** Initial value of the layer scales gamma_1, gamma_2 (0.1). */
  layerScale: number;
  /** Stochastic-depth rate of the last block (linear from 0); also the text-embedding dropout (as the reference). */
  dropPath: number;
  /** Std of the normal / truncated-normal init (0.02). */
  initStd: number;
  /** MLM selection probability (0.15). */
  mlmProb: number;
  /** Stage 1 (our substitute for BEiT): size K of the k-means patch codebook the MIM head predicts. */
  codebookSize: number;
  /** Stage 1: fraction of the g² patches masked block-wise (0.4). */
  mimMaskRatio: number;
}

/** LayerNorm eps of every backbone norm (timm partial(nn.LayerNorm, eps=1e-6)). */
export const BACKBONE_EPS = 1e-6;
/** LayerNorm eps of BERT's embeddings and the MLM head transform. */
export const BERT_EPS = 1e-12;

/** VLMo-Base (docs/reference.md#vlmo-parameter-counts): 175,430,496 backbone parameters. */
export const VLMO_BASE: VlmoConfig = {
  name: 'vlmo-base',
  imageSize: 224,
  patchSize: 16,
  dim: 768,
  depth: 12,
  heads: 12,
  mlpDim: 3072,
  vlffnStart: 10,
  maxTextLen: 40,
  maxTextLenOfInitCkpt: 196,
  vocabSize: 30522,
  layerScale: 0.1,
  dropPath: 0.1,
  initStd: 0.02,
  mlmProb: 0.15,
  codebookSize: 8192,
  mimMaskRatio: 0.4,
};

/** VLMo-Large (docs/reference.md#vlmo-parameter-counts): 561,544,448 backbone parameters. */
export const VLMO_LARGE: VlmoConfig = {
  ...VLMO_BASE,
  name: 'vlmo-large',
  dim: 1024,
  depth: 24,
  heads: 16,
  mlpDim: 4096,
  vlffnStart: 21,
};

/**
 * VLMo-tiny (docs/reference.md#vlmo-tiny): 32×32 images in 8×8 patches, C = 64, 4 blocks (the last with a VL-FFN),
 * 16-token texts. With V = 1,000 the backbone has 445,600 parameters; the trainer passes the
 * tokenizer's size. Drop path is 0 (runs are too short to need it).
 * Init std 0.07, not 0.02: BERT's initializer_range suits width 768; at width 64 every caption's
 * dual-encoder [CLS] feature starts equal to 4-5 decimals (cosine 0.9999) and ITC sits at its
 * collapsed fixed point ln B. An earlier 0.2 broke that collapse but saturated the pooler (18% of
 * its tanh outputs above 0.99 after training, the fused [CLS] almost input-independent, ITM at its
 * prior); 0.07 is what ALBEF-tiny uses (models/vlmo/RESULTS.md). Layer scale 1, not Base's 0.1: on
 * four blocks 0.1 keeps every block's contribution small for hundreds of steps (a gamma moves about
 * lr per step); with 1 the default run's text->image R@1 rose from 40 to 55% and ITM from 71 to 74%.
 */
export function vlmoTiny(vocabSize = 1000): VlmoConfig {
  return {
    name: 'vlmo-tiny',
    imageSize: 32,
    patchSize: 8,
    dim: 64,
    depth: 4,
    heads: 4,
    mlpDim: 256,
    vlffnStart: 3,
    maxTextLen: 16,
    maxTextLenOfInitCkpt: 16,
    vocabSize,
    layerScale: 1,
    dropPath: 0,
    initStd: 0.07,
    mlmProb: 0.15,
    codebookSize: 128,
    mimMaskRatio: 0.4,
  };
}

/**
 * A micro config for gradient checks and PyTorch parity: 8×8 images of 2×2 patches, C = 8, two heads,
 * three blocks (bottom two split-routed, top one VL-FFN), 5-token texts, no drop path.
 */
export function vlmoMicro(vocabSize = 12): VlmoConfig {
  return {
    name: 'vlmo-micro',
    imageSize: 8,
    patchSize: 4,
    dim: 8,
    depth: 3,
    heads: 2,
    mlpDim: 16,
    vlffnStart: 2,
    maxTextLen: 5,
    maxTextLenOfInitCkpt: 5,
    vocabSize,
    layerScale: 0.1,
    dropPath: 0,
    initStd: 0.02,
    mlmProb: 0.15,
    codebookSize: 6,
    mimMaskRatio: 0.5,
  };
}

/** The named configs the command line accepts. */
export const VLMO_CONFIG_NAMES = ['vlmo-tiny', 'vlmo-base', 'vlmo-large', 'vlmo-micro'] as const;
export type VlmoConfigName = (typeof VLMO_CONFIG_NAMES)[number];

/** A config by name, with the vocabulary size of the tokenizer in use. */
export function vlmoConfig(name: string, vocabSize?: number): VlmoConfig {
  const withVocab = (c: VlmoConfig): VlmoConfig => (vocabSize === undefined ? c : { ...c, vocabSize });
  switch (name as VlmoConfigName) {
    case 'vlmo-tiny':
      return vlmoTiny(vocabSize);
    case 'vlmo-micro':
      return vlmoMicro(vocabSize);
    case 'vlmo-base':
      return withVocab(VLMO_BASE);
    case 'vlmo-large':
      return withVocab(VLMO_LARGE);
  }
  throw new RangeError(`unknown VLMo config '${name}'; expected one of ${VLMO_CONFIG_NAMES.join(', ')}`);
}

/** g: patches per image side. */
export function gridSize(c: VlmoConfig): number {
  return c.imageSize / c.patchSize;
}

/** Throws a RangeError naming the first inconsistent field. */
export function validateConfig(c: VlmoConfig): void {
  const fail = (msg: string): never => {
    throw new RangeError(`${c.name}: ${msg}`);
  };
  if (c.imageSize % c.patchSize !== 0) fail(`imageSize ${c.imageSize} is not a multiple of patchSize ${c.patchSize}`);
  if (c.dim % c.heads !== 0) fail(`dim ${c.dim} is not divisible by ${c.heads} heads`);
  if (!(Number.isInteger(c.vlffnStart) && c.vlffnStart >= 1 && c.vlffnStart <= c.depth)) {
    fail(`vlffnStart ${c.vlffnStart} must be in [1, depth ${c.depth}] (at least one split-routed block)`);
  }
  if (!(c.maxTextLen >= 2)) fail(`maxTextLen ${c.maxTextLen} must hold [CLS] and [SEP]`);
  if (c.maxTextLenOfInitCkpt < c.maxTextLen)
    fail(`maxTextLenOfInitCkpt ${c.maxTextLenOfInitCkpt} < maxTextLen ${c.maxTextLen}: text offsets would collide`);
  if (!(c.layerScale > 0)) fail(`layerScale must be > 0 (the reference's None variant is Base-plus, not built here)`);
  if (!(c.dropPath >= 0 && c.dropPath < 1)) fail(`dropPath ${c.dropPath} outside [0, 1)`);
  if (!(c.mimMaskRatio > 0 && c.mimMaskRatio < 1)) fail(`mimMaskRatio ${c.mimMaskRatio} outside (0, 1)`);
}

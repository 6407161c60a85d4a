/** VLMo (Bao et al., NeurIPS 2022): Multiway transformer, objectives, stagewise training, evaluation, configs and counts. */
export { TextEmbeddings, Vlmo, initVlmo_, type UnimodalOutput, type VlmoOptions } from './vlmo.js';
export { MultiwayBlock, MultiwayTransformer, type BlockInputs, type Modality } from './multiway.js';
export { clsOf, ItcHead, ItmHead, MimHead, MlmHead as VlmoMlmHead, Pooler, PredictionTransform } from './heads.js';
export {
  fusedRelPosIndex,
  imageRelPosIndex,
  relPosBiases,
  relPosLayout,
  textRelPosIndex,
  type RelPosLayout,
} from './relpos.js';
export {
  BACKBONE_EPS,
  BERT_EPS,
  gridSize,
  validateConfig as validateVlmoConfig,
  VLMO_BASE,
  VLMO_CONFIG_NAMES,
  VLMO_LARGE,
  vlmoConfig,
  vlmoMicro,
  vlmoTiny,
  type VlmoConfig,
  type VlmoConfigName,
} from './config.js';
export {
  itcBranchLoss,
  itcLoss as vlmoItcLoss,
  labelledPositions,
  mimLoss,
  mimObjective,
  mlmLoss as vlmoMlmLoss,
  textMlmObjective,
  VL_MLM_WEIGHT,
  vlObjective,
  type MaskedPrediction,
  type VlBatch,
  type VlOutput,
} from './objectives.js';
export {
  freezeForStage,
  LANGUAGE_STAGE_KEYS,
  loadPreviousStage,
  STAGE_NAMES,
  stageConfig,
  STAGES,
  trainsInStage,
  VISION_STAGE_KEYS,
  vlmoNoDecay,
  type Stage,
} from './stages.js';
export { fromReference, fromReferenceKey, toReference, toReferenceKey } from './weights.js';
export { countParameters as countVlmoParameters, type ParameterCount } from './count.js';
export { blockMask, kmeans, nearest, patchCodes, patchVectors, type Codebook } from './mim.js';
export { evaluateVlmo, formatVlmoReport, type VlmoEvalOptions, type VlmoEvalReport } from './evaluate.js';

/**
 * ALBEF (Li et al., NeurIPS 2021): model, objectives, configs, checkpoint layout, training steps,
 * evaluation, grounding. Runs anywhere; `trainAlbef`, `loadRun` and the CLI commands (files) are in
 * `vlgrad/node`.
 */
export {
  Albef,
  l2normalize,
  type AlbefInputs,
  type AlbefOutput,
  type ForwardOptions,
  type MomentumOutputs,
} from './albef.js';
export { BertEmbeddings, BertForMaskedLM, BertLayer, BertModel, MlmHead } from './bert.js';
export {
  ALBEF_BASE,
  albefConfig,
  albefMicro,
  albefTiny,
  CONFIG_NAMES,
  validateConfig,
  type AlbefConfig,
  type BertConfig,
  type VitConfig,
} from './config.js';
export { itcLoss, mlmLoss, softTargets } from './losses.js';
export { alphaRamp, enqueue, initQueue } from './momentum.js';
export { VisionTransformer } from './vit.js';
export { countParameters, type AlbefParameterCount } from './count.js';
export { IGNORED_REFERENCE_KEYS, referenceLayout, type LayoutEntry } from './weights.js';
export { albefStep, batchInputs } from './step.js';
export {
  AlbefSession,
  albefSetup,
  TRAIN_DEFAULTS,
  type AlbefSetup,
  type AlbefTrainOptions,
  type RunInfo,
} from './session.js';
export { evaluateAlbef, formatReport, type EvalOptions, type EvalReport } from './evaluate.js';
export {
  GROUNDING_METHODS,
  type GradCamOptions,
  gradCam,
  type Grounding,
  type GroundingMethod,
  groundingPng,
  groundingStats,
  type GroundingStats,
} from './grounding.js';

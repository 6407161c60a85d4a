/**
 * vlgrad/nn: Module, layers, attention and transformer blocks, initializers and losses.
 * (Optimizers, schedulers, EMA and checkpoints are exported below by their own lines.)
 */
export { Module, StateDictError, type TensorDict, type UnaryModule } from './module.js';
export { Linear, Embedding, LayerNorm, Dropout, DropPath, GELU, Identity, Sequential, ModuleList } from './layers.js';
export {
  MultiHeadAttention,
  keyPaddingMask,
  causalMask,
  type AttentionConfig,
  type AttentionInputs,
} from './attention.js';
export { FeedForward, TransformerLayer, type TransformerLayerConfig, type LayerInputs } from './transformer.js';
export { PatchConv2d, PatchEmbed } from './patch_embed.js';
export * from './init.js';
export { CrossEntropyLoss, BCEWithLogitsLoss, KLDivLoss, MSELoss, infoNce } from './losses.js';
export * from './optim.js';
export * from './schedulers.js';
export * from './clip_grad.js';
export { Ema, matchByName, emaLoop, type EmaPair } from './ema.js';
export {
  serialize,
  deserialize,
  deserializeBlob,
  type TensorRecord,
  type StateDict,
  type Metadata,
  type Checkpoint,
} from './safetensors.js';
export { CheckpointError } from './checkpoint_error.js';

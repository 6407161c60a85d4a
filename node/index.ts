/**
 * vlgrad/node: the parts of vlgrad that need Node (files, the command line, npm packages loaded by
 * name). Everything else (`vlgrad`, `vlgrad/nn`, `vlgrad/models`, `vlgrad/data`, `vlgrad/kernels`)
 * also runs in a browser; see README.md, "In the browser".
 *
 *   import { load, save, trainAlbef } from 'vlgrad/node';
 */
export { load, save, SimulatedCrash, type AtomicWriteOptions } from '../nn/safetensors_node.js';
export { MissingMnistError, mnistSource } from '../data/mnist_source.js';
export { trainAlbef } from '../models/albef/train.js';
export { albefCommands, loadRun } from '../models/albef/cli.js';
export {
  loadStageModel,
  parseStages,
  prepareCodebook,
  trainVlmo,
  VLMO_TRAIN_DEFAULTS,
  vlBatch,
  type StageDone,
  type VlmoRunInfo,
  type VlmoTrainOptions,
} from '../models/vlmo/train.js';
export { loadVlmoRun, vlmoCommands, vlmoVqaModel } from '../models/vlmo/cli.js';
export {
  latestCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  resumeTraining,
  saveCheckpoint,
  type TrainerState,
} from '../models/common/checkpoint.js';
export * from '../models/common/cli.js';
export * from '../models/common/jsonl.js';
export * from '../models/common/vqa.js';

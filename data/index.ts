/**
 * vlgrad/data: seeded image-caption datasets (MNIST scenes, shapes), a BERT WordPiece tokenizer, MLM
 * masking and resumable batch loaders. Images are plain Float32Arrays; models wrap them in tensors.
 */
export {
  COLOURS,
  DATASET_NAMES,
  DIGIT_KINDS,
  HELD_OUT_PAIRS,
  HELD_OUT_RELATION,
  KINDS,
  MAX_OBJECTS,
  RELATIONS,
  SHAPE_KINDS,
  SIZES,
  type Colour,
  type DatasetName,
  type Relation,
  type Size,
} from './attributes.js';
export { makeDataset, SceneDataset, type DatasetOptions, type SceneItem } from './dataset.js';
export { DataError } from './errors.js';
export { MissingMnistError, mnistSource } from './mnist_source.js';
export { shapesSource, SHAPE_POOL_SIZE } from './shapes_source.js';
export { GLYPH_SIZE, type GlyphSource } from './glyph_source.js';
export { mirrorScene, type Background, type SceneMeta, type SceneObject } from './scene.js';
export { renderScene } from './render.js';
export {
  captionFor,
  MAX_CAPTION_TOKENS,
  sceneFacts,
  sameFacts,
  type ObjectFacts,
  type SceneFacts,
} from './captions.js';
export {
  CaptionParseError,
  contentGroups,
  factsOf,
  holds,
  parseText,
  type Mention,
  type ParsedText,
} from './caption_parser.js';
export {
  answerQuestion,
  questionsFor,
  type Question,
  type QuestionCategory,
  type QuestionFormat,
} from './questions.js';
export type { NoiseKind, NoiseOptions } from './noise.js';
export { DEFAULT_SPLIT_FRACTIONS, heldOutReasons, SPLITS, type Split, type SplitFractions } from './splits.js';
export { Tokenizer, type BatchEncoding, type EncodeOptions, type Encoding, type MaskIds } from './tokenizer.js';
export { buildVocab, grammarVocab, grammarWords, SPECIAL_TOKENS, type BuildVocabOptions } from './vocab.js';
export { basicTokenize, wordpiece, type BasicOptions } from './wordpiece.js';
export { IGNORE_INDEX, maskTokens, type MaskOptions, type MaskResult } from './masking.js';
export {
  channelStats,
  DataLoader,
  type Batch,
  type LoaderDataset,
  type LoaderOptions,
  type LoaderState,
  type Normalize,
} from './loader.js';
export { chwToRgb8, encodePng } from './png.js';
export { renderGrid, type GridCell, type GridOptions } from './grid.js';
export {
  DEFAULT_FACT_GROUPS,
  FACT_GROUPS,
  factBatch,
  factTargets,
  factVocab,
  sceneFactLabels,
  type FactGroup,
  type FactsSource,
  type FactVocab,
} from './facts.js';

/**
 * vlgrad/models: the vision-language models built on the engine and nn, and the training
 * infrastructure they share (models/common).
 */
export * from './albef/index.js';
export * from './common/index.js';
export * from './vlmo/index.js';

/**
 * A narrow ALBEF-tiny for tests that exercise the trainer's plumbing (run directories, locks,
 * resume) rather than learning: ViT width 16 with one block, text width 16 with one text and one
 * fusion layer, no dropout, a 16-entry queue. A step takes milliseconds.
 */
import { grammarVocab } from '../../data/index.js';
import { albefTiny, type AlbefConfig } from '../../models/albef/config.js';

const tiny = albefTiny(grammarVocab().length);

export const ALBEF_NARROW: AlbefConfig = {
  ...tiny,
  name: 'albef-narrow',
  queueSize: 16,
  vision: { ...tiny.vision, dim: 16, depth: 1, heads: 2, mlpDim: 32 },
  text: {
    ...tiny.text,
    hidden: 16,
    layers: 2,
    fusionLayer: 1,
    heads: 2,
    intermediate: 32,
    maxPositions: 16,
    encoderWidth: 16,
    hiddenDropout: 0,
    attnDropout: 0,
  },
  embedDim: 8,
};

/**
 * Counting VLMo-Base (175M) and -Large (562M) parameters without allocating them: the real `Vlmo`
 * module tree is built on the meta device (models/common/count.ts); Large takes a couple of seconds.
 */
import { countOnMeta, partCounts } from '../common/count.js';
import type { VlmoConfig } from './config.js';
import { Vlmo } from './vlmo.js';

/** Parameter counts of a config, from its module tree. */
export interface ParameterCount {
  /** The backbone (docs/vlmo.md): transformer + relative-position table + text embeddings + modality embedding. */
  backbone: number;
  /** Everything the stage-3 model holds: backbone + pooler, MLM, ITM and 4 ITC heads, 2 logit scales. */
  total: number;
  /** Per top-level child (plus the root's own parameters), for component-by-component checks. */
  parts: Record<string, number>;
}

/** Counts the parameters of `config` on the meta device (no weights are allocated). */
export function countParameters(config: VlmoConfig): ParameterCount {
  return countOnMeta(
    (rng) => new Vlmo(config, { init: false, rng }),
    (model) => ({
      backbone: model.backboneParameters().reduce((n, p) => n + p.size, 0),
      total: model.numParameters(),
      parts: partCounts(model),
    }),
  );
}

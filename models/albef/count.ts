/**
 * Counting ALBEF's parameters without allocating them: the real `Albef` (online model, momentum
 * copy, queues) is built on the meta device (models/common/count.ts). albef-base has 209,937,725
 * trainable parameters and a frozen momentum copy of 209,936,186 (the ITM head and the temperature
 * are not copied).
 */
import { countOnMeta, partCounts } from '../common/count.js';
import { Albef } from './albef.js';
import type { AlbefConfig } from './config.js';

/** Trainable (online) and frozen (momentum) parameter counts, and the count per top-level module. */
export interface AlbefParameterCount {
  online: number;
  momentum: number;
  parts: Record<string, number>;
}

/** Counts the parameters of `config` from its module tree on the meta device. */
export function countParameters(config: AlbefConfig): AlbefParameterCount {
  return countOnMeta(
    (rng) => new Albef(config, { rng }),
    (model) => {
      const online = model.numParameters({ trainableOnly: true });
      return { online, momentum: model.numParameters() - online, parts: partCounts(model) };
    },
  );
}

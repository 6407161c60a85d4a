/**
 * Stage-1 scene facts (our departure from BEiT-style MIM, see docs/vlmo.md): multi-label targets
 * naming what a scene's caption states about its objects, computed from the training scene's
 * metadata by data/facts.ts: how many objects (one-hot), which colours, kinds and sizes occur, and
 * which (colour, kind) and (size, kind) pairs occur. This is the miniature of starting the image
 * tower from a supervised ImageNet model: it teaches the tower to tell digits and colours apart
 * before vision-language training needs it.
 */
import { DEFAULT_FACT_GROUPS, factTargets, factVocab, type DatasetName, type FactVocab } from '../../data/index.js';
import type { SceneMeta } from '../../data/scene.js';

/** Stage 1's fact groups: ALBEF's warm-start facts plus the object count. */
const STAGE1_GROUPS = ['count', ...DEFAULT_FACT_GROUPS] as const;

/** The fact names of a dataset, in target order ('count:2', 'colour:red', 'kind:7', 'size:large', 'pair:red 7', 'sizePair:large 7'). */
export function factNames(dataset: DatasetName): string[] {
  return [...factVocab(dataset, STAGE1_GROUPS).labels];
}

/** Stage 1's targets over one dataset's fact vocabulary; build once per dataset. */
export class FactTargets {
  readonly vocab: FactVocab;
  constructor(readonly dataset: DatasetName) {
    this.vocab = factVocab(dataset, STAGE1_GROUPS);
  }

  /** The fact names, in target order. */
  get names(): readonly string[] {
    return this.vocab.labels;
  }

  /** F, the number of facts. */
  get size(): number {
    return this.vocab.labels.length;
  }

  /** 0/1 targets of a batch of scenes. Shapes: -> [B·F] (row-major [B, F]). */
  targets(metas: readonly SceneMeta[]): Float32Array {
    const F = this.size,
      out = new Float32Array(metas.length * F);
    metas.forEach((m, b) => factTargets(m, this.vocab, out, b * F));
    return out;
  }
}

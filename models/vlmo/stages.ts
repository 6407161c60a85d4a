/**
 * Stagewise pre-training (docs/reference.md#vlmo-stagewise-pre-training): which parameters each stage trains, decided by the
 * reference's own rule: substrings of the reference state-dict key (UNILM:vlmo/run.py for stage 2).
 *   1 vision    image-only masked image modelling: patch embed, [CLS], attention + norm1, V-FFN +
 *               norm2_imag, layer scales, relative-position table, final LN, mask token, MIM head
 *               (our BEiT substitute; the reference loads a BEiT checkpoint instead);
 *   2 language  text-only MLM with attention and V-FFN frozen: text embeddings, modality embedding,
 *               L-FFN + norm2_text, MLM head, the whole relative-position table, final LN;
 *   3 vision-language  everything, with a freshly initialized VL-FFN.
 * Stages 1 and 2 build the model without VL-FFN (`vlffn_start_layer_index` = depth, as run.py does).
 */
import type { Tensor } from '../../engine/index.js';
import type { Module } from '../../nn/module.js';
import type { VlmoConfig } from './config.js';
import { toReferenceKey } from './weights.js';

export const STAGES = [1, 2, 3] as const;
export type Stage = (typeof STAGES)[number];

/** Stage names for logs and directories. */
export const STAGE_NAMES: Readonly<Record<Stage, string>> = { 1: 'vision', 2: 'language', 3: 'vision-language' };

/** UNILM:vlmo/run.py: with the text-only MLM loss on, only keys containing one of these train. */
export const LANGUAGE_STAGE_KEYS = [
  'text_embeddings',
  'token_type_embeddings',
  'mlp_text',
  'norm2_text',
  'mlm_score',
  'relative_position_bias_table',
  'transformer.norm',
] as const;

/** Our stage-1 set, written in the same style (BEiT trains all of these; docs/reference.md#vlmo-tiny). */
export const VISION_STAGE_KEYS = [
  'transformer.patch_embed',
  'transformer.cls_token',
  '.attn.',
  '.norm1.',
  'mlp_imag',
  'norm2_imag',
  'gamma_1',
  'gamma_2',
  'relative_position_bias_table',
  'transformer.norm',
  'mask_token',
  'mim_head',
  'facts_head',
] as const;

/** Whether the parameter with this (our) name trains in `stage`. */
export function trainsInStage(stage: Stage, name: string): boolean {
  const key = toReferenceKey(name);
  switch (stage) {
    case 1:
      return VISION_STAGE_KEYS.some((s) => key.includes(s));
    case 2:
      return LANGUAGE_STAGE_KEYS.some((s) => key.includes(s));
    case 3:
      return true;
  }
}

/** Sets requiresGrad for `stage` on every parameter; returns the names on each side. */
export function freezeForStage(model: Module, stage: Stage): { trainable: string[]; frozen: string[] } {
  const trainable: string[] = [],
    frozen: string[] = [];
  for (const [name, p] of model.namedParameters()) {
    const on = trainsInStage(stage, name);
    p.requiresGrad = on;
    (on ? trainable : frozen).push(name);
  }
  return { trainable, frozen };
}

/** The model config of a stage: no VL-FFN before stage 3. */
export function stageConfig(config: VlmoConfig, stage: Stage): VlmoConfig {
  return stage === 3 ? config : { ...config, vlffnStart: config.depth };
}

/**
 * VLMo's weight-decay exclusion (UNILM:vlmo/vlmo/modules/vlmo_utils.py `set_schedule`): any key
 * containing 'bias' (so q/v biases and the relative-position table too), or the BERT/final/norm1/norm2
 * LayerNorm names. Expert norms (`norm2_text.weight`), gammas, [CLS] and logit scales are decayed (docs/reference.md#vlmo-training-recipe).
 */
export function vlmoNoDecay(name: string): boolean {
  const key = toReferenceKey(name);
  return [
    'bias',
    'LayerNorm.bias',
    'LayerNorm.weight',
    'norm.bias',
    'norm.weight',
    'norm1.bias',
    'norm1.weight',
    'norm2.bias',
    'norm2.weight',
  ].some((s) => key.includes(s));
}

/**
 * Loads the previous stage's weights into a fresh model of `stage` (non-strict) and checks that what
 * does not carry over is exactly what should not: entering stage 3, the VL-FFN (+ norm2_vl) is new and
 * keeps its fresh init; leaving stage 1, the MIM head and mask token are dropped (as BEiT's head is).
 * Returns the names left at their fresh init and those dropped.
 */
export function loadPreviousStage(
  model: Module,
  previous: Record<string, Tensor>,
  stage: Stage,
): { fresh: string[]; dropped: string[] } {
  const { missing, unexpected } = model.loadStateDict(previous, { strict: false });
  const newInStage3 = (k: string): boolean => /\.(mlp_vl|norm2_vl)\./.test(k);
  const stage1Only = (k: string): boolean =>
    k === 'mask_token' || k.startsWith('mim_head.') || k.startsWith('facts_head.');
  const badMissing = missing.filter((k) => !(stage === 3 && newInStage3(k)));
  const badUnexpected = unexpected.filter((k) => !stage1Only(k));
  if (badMissing.length || badUnexpected.length) {
    throw new Error(
      `stage ${stage}: the previous stage's checkpoint does not fit: ` +
        `${badMissing.length ? `missing ${badMissing.join(', ')}` : ''}${badUnexpected.length ? ` unexpected ${badUnexpected.join(', ')}` : ''}`,
    );
  }
  return { fresh: missing, dropped: unexpected };
}

/** Parses '1,2,3' into sorted stages. */
export function parseStages(s: string): Stage[] {
  const out = [
    ...new Set(
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
        .map(Number),
    ),
  ].sort();
  for (const n of out)
    if (!(STAGES as readonly number[]).includes(n))
      throw new RangeError(`--stages: unknown stage '${n}' (expected some of 1,2,3)`);
  if (out.length === 0) throw new RangeError('--stages: name at least one of 1,2,3');
  return out as Stage[];
}

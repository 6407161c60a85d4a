/**
 * MLM masking as ALBEF's `mask()` and HF's language-modelling collator do it: each eligible position is
 * chosen with probability `prob` (Bernoulli, not a fixed count); a chosen token becomes [MASK] 80% of the
 * time, a uniformly random id from the whole vocabulary 10%, and stays as it is 10%. Labels hold the
 * original id where chosen and -100 (ignored by cross-entropy) everywhere else.
 */
import type { Rng } from '../engine/random.js';
import { check } from './errors.js';

const BUILT_PAD_ID = 0,
  BUILT_CLS_ID = 2,
  BUILT_MASK_ID = 4; // ids of buildVocab's specials

/** The label of positions the MLM loss ignores. */
export const IGNORE_INDEX = -100;

/** Options of `maskTokens`. `Tokenizer.maskIds('albef' | 'vlmo')` gives `maskId` and `exclude`. */
export interface MaskOptions {
  maskId: number;
  /**
   * Ids never chosen. ALBEF: [PAD] and [CLS] ([SEP] may be masked); VLMo: every special token.
   * Defaults to ALBEF's set with `buildVocab`'s ids ([PAD]=0, [CLS]=2); with any other vocabulary
   * (detected by maskId != 4) it must be given, e.g. from `tokenizer.maskIds()`.
   */
  exclude?: readonly number[];
  /** Selection probability (default 0.15). */
  prob?: number;
}

/** Masked ids and labels. Shapes: same as the input ids. */
export interface MaskResult {
  inputIds: Int32Array;
  labels: Int32Array;
  /** Chosen positions; 0 means the MLM loss has no term (guard the mean against 0/0). */
  numMasked: number;
}

/**
 * Mask a batch of token ids (any shape, flattened). `padOrMask` is either the [PAD] id or an attention
 * mask of the same length; padded positions (mask 0) are never chosen.
 */
export function maskTokens(
  ids: ArrayLike<number>,
  padOrMask: number | ArrayLike<number>,
  vocabSize: number,
  rng: Rng,
  opts: MaskOptions,
): MaskResult {
  check(
    opts.exclude !== undefined || opts.maskId === BUILT_MASK_ID,
    `maskTokens: pass exclude (e.g. tokenizer.maskIds()) for a vocabulary whose [MASK] is not id ${BUILT_MASK_ID}`,
  );
  const prob = opts.prob ?? 0.15,
    exclude = new Set(opts.exclude ?? [BUILT_PAD_ID, BUILT_CLS_ID]);
  check(prob >= 0 && prob <= 1, `mask prob must be in [0, 1], got ${prob}`);
  check(Number.isInteger(vocabSize) && vocabSize > 0, `vocabSize must be a positive integer, got ${vocabSize}`);
  check(
    Number.isInteger(opts.maskId) && opts.maskId >= 0 && opts.maskId < vocabSize,
    `maskId ${opts.maskId} outside the vocabulary`,
  );
  const mask = typeof padOrMask === 'number' ? null : padOrMask;
  check(
    mask === null || mask.length === ids.length,
    `attention mask has ${mask?.length} entries for ${ids.length} ids`,
  );
  const inputIds = Int32Array.from(ids),
    labels = new Int32Array(ids.length).fill(IGNORE_INDEX);
  let numMasked = 0;
  for (let k = 0; k < ids.length; k++) {
    const padded = mask ? mask[k] === 0 : ids[k] === padOrMask;
    if (padded || exclude.has(ids[k]) || !(rng.uniform() < prob)) continue;
    labels[k] = ids[k];
    numMasked++;
    const u = rng.uniform();
    if (u < 0.8) inputIds[k] = opts.maskId;
    else if (u < 0.9) inputIds[k] = rng.int(0, vocabSize);
  }
  return { inputIds, labels, numMasked };
}

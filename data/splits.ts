/**
 * Splits. Source images are partitioned per kind into train/val/test pools by a permutation fixed by
 * `splitSeed` (not the scene seed), so a model trained with any scene seed never sees a test digit.
 * Held-out compositions (see `HELD_OUT_PAIRS`, `HELD_OUT_RELATION`) are detected here.
 */
import { HELD_OUT_PAIRS, HELD_OUT_RELATION, type DatasetName } from './attributes.js';
import { check } from './errors.js';
import { rngFor, Stream } from './seeds.js';
import type { SceneObject } from './scene.js';

/** The dataset splits. */
export const SPLITS = ['train', 'val', 'test'] as const;
/** A dataset split. */
export type Split = (typeof SPLITS)[number];

/** Fraction of each kind's source pool given to each split. Must be positive and sum to at most 1. */
export interface SplitFractions {
  train: number;
  val: number;
  test: number;
}

/** 80/10/10, as MNIST-sized pools (about 1,000 per kind) leave about 100 test glyphs per kind. */
export const DEFAULT_SPLIT_FRACTIONS: Readonly<SplitFractions> = { train: 0.8, val: 0.1, test: 0.1 };

/** Throw a clear `DataError` if the fractions cannot partition a pool. */
export function validateSplitFractions(f: SplitFractions): void {
  for (const s of SPLITS) {
    check(
      Number.isFinite(f[s]) && f[s] > 0 && f[s] < 1,
      `impossible split fraction ${s}=${f[s]}: each of train, val, test must be in (0, 1)`,
    );
  }
  const sum = f.train + f.val + f.test;
  check(sum <= 1 + 1e-9, `impossible split fractions: train+val+test = ${sum} > 1 (source images cannot be shared)`);
}

/**
 * The source indices of one kind's pool that belong to `split`, sorted ascending.
 * Shapes: pool of `count` -> about `count * fractions[split]` indices.
 */
export function sourcePool(
  count: number,
  kind: number,
  split: Split,
  f: SplitFractions,
  splitSeed: number,
): Int32Array {
  const perm = rngFor(Stream.sourceSplit, splitSeed, kind).permutation(count);
  const nTrain = Math.floor(count * f.train),
    nVal = Math.floor(count * f.val),
    nTest = Math.floor(count * f.test);
  const start = split === 'train' ? 0 : split === 'val' ? nTrain : nTrain + nVal;
  const n = split === 'train' ? nTrain : split === 'val' ? nVal : nTest;
  check(n >= 1, `split fraction ${split}=${f[split]} leaves no source image for kind ${kind} (pool of ${count})`);
  return Int32Array.from(perm.slice(start, start + n)).sort();
}

/**
 * The held-out compositions a set of objects contains, as readable strings ('red 7', 'red above blue');
 * empty for every train and val scene.
 */
export function heldOutReasons(dataset: DatasetName, objects: readonly SceneObject[]): string[] {
  const reasons: string[] = [];
  for (const o of objects) {
    if (isHeldOutPair(dataset, o.colour, o.kind)) reasons.push(`${o.colour} ${o.kind}`);
  }
  const { top, bottom } = HELD_OUT_RELATION;
  const stacked = objects.some((a) => a.colour === top && objects.some((b) => b.colour === bottom && a.row < b.row));
  if (stacked) reasons.push(`${top} above ${bottom}`);
  return reasons;
}

/** Whether (colour, kind) is one of the dataset's held-out pairs. */
export function isHeldOutPair(dataset: DatasetName, colour: string, kind: string): boolean {
  return HELD_OUT_PAIRS[dataset].some(([c, k]) => c === colour && k === kind);
}

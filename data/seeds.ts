/**
 * Seed derivation. Every random choice in `data/` draws from an `Rng` seeded by hashing the user's seed
 * with the coordinates of what is being made (stream, split, index). That is what lets `get(i)` be
 * computed in any order, lazily, and still be a pure function of the seed.
 */
import { Rng } from '../engine/random.js';

/** Independent random streams, so adding draws to one never shifts another. */
export const Stream = {
  scene: 1,
  render: 2,
  caption: 3,
  noisePick: 4,
  noise: 5,
  questions: 6,
  heldOutPick: 7,
  sourceSplit: 8,
  shuffle: 9,
  flip: 10,
  mask: 11,
  shapeGlyph: 12,
} as const;

/** Numeric ids of the splits, used only as hash inputs. */
export const SPLIT_ID = { train: 0, val: 1, test: 2 } as const;

function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Hash a tuple of non-negative integers to a uint32 seed (murmur3-style mixing per word).
 * Numbers above 2^32 are folded in as two words so large indices never alias.
 */
export function deriveSeed(...parts: readonly number[]): number {
  let h = 0x9747b28c;
  for (const p of parts) {
    const lo = p >>> 0,
      hi = Math.floor(p / 4294967296) >>> 0;
    h = fmix32(Math.imul(h ^ lo, 0xcc9e2d51) + 0x1b873593);
    if (hi !== 0) h = fmix32(Math.imul(h ^ hi, 0xcc9e2d51) + 0x1b873593);
  }
  return h;
}

/** An `Rng` for the given coordinates. */
export function rngFor(...parts: readonly number[]): Rng {
  return new Rng(deriveSeed(...parts));
}

/** Pick one element uniformly. */
export function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(0, xs.length)];
}

/**
 * Noisy image-text pairs, as in web-crawled data (what ALBEF's momentum distillation is for). A chosen
 * fraction of a split's captions is replaced by another scene's caption ('swap') or has one fact changed
 * ('corrupt': a colour, kind, size, or two objects trading places). The noisy items are exactly
 * round(fraction * size), picked by a seeded permutation, and flagged so experiments can measure them.
 */
import type { Rng } from '../engine/random.js';
import { COLOURS, KINDS, SIZES } from './attributes.js';
import { sameFacts, sceneFacts } from './captions.js';
import { check } from './errors.js';
import { heldOutReasons } from './splits.js';
import type { SceneMeta } from './scene.js';
import { pick, rngFor, Stream } from './seeds.js';

/** How noisy captions are made. 'mixed' alternates swap and corrupt over the noisy items. */
export type NoiseKind = 'swap' | 'corrupt' | 'mixed';
/** The noise option of `makeDataset`. */
export interface NoiseOptions {
  fraction: number;
  kind?: NoiseKind;
}

/** Per-item noise codes. */
export const CLEAN = 0,
  SWAP = 1,
  CORRUPT = 2;

/** Validate a noise option; throws `DataError`. */
export function validateNoise(noise: NoiseOptions): void {
  check(
    Number.isFinite(noise.fraction) && noise.fraction >= 0 && noise.fraction <= 1,
    `noise.fraction must be in [0, 1], got ${noise.fraction}`,
  );
  check(
    noise.kind === undefined || ['swap', 'corrupt', 'mixed'].includes(noise.kind),
    `unknown noise.kind '${noise.kind}'; expected 'swap', 'corrupt' or 'mixed'`,
  );
}

/** Which items are noisy and how: CLEAN, SWAP or CORRUPT per index. Shapes: [size]. */
export function noiseCodes(size: number, noise: NoiseOptions | undefined, seed: number, splitId: number): Uint8Array {
  const codes = new Uint8Array(size);
  if (!noise || noise.fraction === 0) return codes;
  const count = Math.round(noise.fraction * size);
  const perm = rngFor(Stream.noisePick, seed, splitId).permutation(size);
  const kind = noise.kind ?? 'mixed';
  for (let k = 0; k < count; k++) {
    codes[perm[k]] = kind === 'swap' ? SWAP : kind === 'corrupt' ? CORRUPT : k % 2 === 0 ? SWAP : CORRUPT;
  }
  return codes;
}

/**
 * A copy of the scene with one fact changed, so its caption is false for the original image. Choices
 * depend only on `rng` and the object count, never on positions, so corrupting a mirrored scene gives the
 * mirror of the corrupted scene. Ordinary scenes never gain a held-out composition this way.
 */
export function corruptScene(meta: SceneMeta, rng: Rng): SceneMeta {
  const truth = sceneFacts(meta),
    mayHoldOut = meta.heldOut.length > 0;
  for (let attempt = 0; attempt < 50; attempt++) {
    const objects = meta.objects.map((o) => ({ ...o }));
    const j = rng.int(0, objects.length),
      o = objects[j];
    const absent = KINDS[meta.dataset].filter((k) => !objects.some((p) => p.kind === k));
    const op = rng.int(0, objects.length >= 2 ? 4 : 3);
    if (op === 0)
      o.colour = pick(
        rng,
        COLOURS.filter((c) => c !== o.colour),
      );
    else if (op === 1)
      o.size = pick(
        rng,
        SIZES.filter((s) => s !== o.size),
      );
    else if (op === 2) {
      if (absent.length === 0) continue;
      o.kind = pick(rng, absent);
    } else {
      const p = objects[(j + rng.int(1, objects.length)) % objects.length];
      [o.row, o.col, p.row, p.col] = [p.row, p.col, o.row, o.col];
    }
    const bad = { ...meta, objects, heldOut: heldOutReasons(meta.dataset, objects) };
    if (!sameFacts(sceneFacts(bad), truth) && (mayHoldOut || bad.heldOut.length === 0)) return bad;
  }
  throw new Error('corruptScene: no admissible corruption found'); // unreachable: a size flip always works
}

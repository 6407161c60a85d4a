/**
 * `makeDataset`: a lazily computed, seeded image-caption dataset. Item i is a pure function of the
 * options and i, so items can be read in any order, by any number of loaders, and stay byte-identical.
 * The scene itself depends on (seed, split, i) and `splitSeed`; `size` enters only through which items
 * are noisy or held out, since those are exact fractions of the split.
 */
import { DATASET_NAMES, KINDS, MAX_OBJECTS, type DatasetName } from './attributes.js';
import { captionFor, sameFacts, sceneFacts } from './captions.js';
import { check } from './errors.js';
import type { GlyphSource } from './glyph_source.js';
import { mnistSource } from './mnist_source.js';
import { CLEAN, corruptScene, noiseCodes, SWAP, validateNoise, type NoiseOptions } from './noise.js';
import { questionsFor, type Question } from './questions.js';
import { renderScene } from './render.js';
import { mirrorScene, sampleScene, type SceneMeta, type SceneSpec } from './scene.js';
import { rngFor, SPLIT_ID, Stream } from './seeds.js';
import { shapesSource } from './shapes_source.js';
import {
  DEFAULT_SPLIT_FRACTIONS,
  SPLITS,
  sourcePool,
  validateSplitFractions,
  type Split,
  type SplitFractions,
} from './splits.js';

/** Options of `makeDataset`. */
export interface DatasetOptions {
  /** 'mnist-scenes' (real handwritten digits; needs the `mnist` package) or 'shapes' (no dependency). */
  name: DatasetName;
  split: Split;
  /** Number of scenes (items), a positive integer. */
  size: number;
  /** Image side in pixels: 32 (default) or 64. */
  imageSize?: 32 | 64;
  /** Scene seed, a uint32 (default 0). */
  seed?: number;
  /** Replace a fraction of captions by noisy ones (see noise.ts). Meant for train; allowed anywhere. */
  noise?: NoiseOptions;
  /** Objects per scene, 1..3 (defaults 1 and 3). */
  minObjects?: number;
  maxObjects?: number;
  /** Fraction of test scenes that hold a held-out composition (default 0.2; test split only). */
  heldOutFraction?: number;
  /** How each kind's source images are split (default 0.8/0.1/0.1), and by which permutation. */
  splitFractions?: SplitFractions;
  splitSeed?: number;
  /** Use these glyphs instead of the dataset's own (e.g. a vendored copy of MNIST). */
  source?: GlyphSource;
}

/** Everything about one item. */
export interface SceneItem {
  index: number;
  /** Shapes: [3, S, S], values in [0, 1]. */
  image: Float32Array;
  /** The caption used for training: `cleanCaption`, or a noisy one if `noisy`. */
  caption: string;
  /** The true caption of the image. */
  cleanCaption: string;
  meta: SceneMeta;
  noisy: boolean;
  noiseKind: 'swap' | 'corrupt' | null;
  /** A test scene with a composition never seen in train/val (reasons in `meta.heldOut`). */
  heldOut: boolean;
  questions: Question[];
}

/** A seeded, lazily computed scene dataset. Create it with `makeDataset`. */
export class SceneDataset {
  readonly length: number;
  readonly imageSize: number;
  readonly name: DatasetName;
  readonly split: Split;
  readonly seed: number;
  private readonly splitId: number;
  private readonly spec: SceneSpec;
  private readonly noise: Uint8Array;
  private readonly heldOutFlags: Uint8Array;

  /** Use `makeDataset`, which validates the options. */
  constructor(
    readonly options: Readonly<DatasetOptions>,
    readonly source: GlyphSource,
  ) {
    const o = options;
    this.name = o.name;
    this.split = o.split;
    this.length = o.size;
    this.imageSize = o.imageSize ?? 32;
    this.seed = o.seed ?? 0;
    this.splitId = SPLIT_ID[o.split];
    const fractions = o.splitFractions ?? DEFAULT_SPLIT_FRACTIONS;
    this.spec = {
      dataset: o.name,
      imageSize: this.imageSize,
      kinds: source.kinds,
      pools: source.kinds.map((_, k) => sourcePool(source.count(k), k, o.split, fractions, o.splitSeed ?? 0)),
      minObjects: o.minObjects ?? 1,
      maxObjects: o.maxObjects ?? MAX_OBJECTS,
      heldOut: false,
    };
    this.noise = noiseCodes(this.length, o.noise, this.seed, this.splitId);
    this.heldOutFlags = new Uint8Array(this.length);
    const held = Math.round((o.heldOutFraction ?? (o.split === 'test' ? 0.2 : 0)) * this.length);
    const perm = held > 0 ? rngFor(Stream.heldOutPick, this.seed).permutation(this.length) : [];
    for (let k = 0; k < held; k++) this.heldOutFlags[perm[k]] = 1;
  }

  private checkIndex(i: number): void {
    if (!(Number.isInteger(i) && i >= 0 && i < this.length)) {
      throw new RangeError(`index ${i} out of range for a dataset of ${this.length} scenes`);
    }
  }

  /** Scene metadata of item i (or of its horizontal mirror). */
  meta(i: number, mirror = false): SceneMeta {
    this.checkIndex(i);
    const spec = this.heldOutFlags[i] ? { ...this.spec, heldOut: true } : this.spec;
    const meta = sampleScene(spec, rngFor(Stream.scene, this.seed, this.splitId, i));
    return mirror ? mirrorScene(meta) : meta;
  }

  /** The image of item i, [3, S, S] in [0, 1], written into `out` at `offset` when given. */
  image(i: number, mirror = false, out?: Float32Array, offset = 0): Float32Array {
    return renderScene(this.meta(i, mirror), this.source, out, offset);
  }

  /** The true caption of item i; `variant` > 0 gives other paraphrases of the same scene. */
  cleanCaption(i: number, mirror = false, variant = 0): string {
    return captionFor(this.meta(i, mirror), this.captionRng(i, variant));
  }

  /** The training caption of item i: noisy for flagged items, else the clean caption. */
  caption(i: number, mirror = false): string {
    return this.captionOf(i, this.meta(i, mirror), mirror);
  }

  /** Write item i's image into `out` at `offset` and return its training caption (one scene sample for both). */
  renderInto(i: number, mirror: boolean, out: Float32Array, offset: number): string {
    const meta = this.meta(i, mirror);
    renderScene(meta, this.source, out, offset);
    return this.captionOf(i, meta, mirror);
  }

  private captionRng(i: number, variant: number) {
    return rngFor(Stream.caption, this.seed, this.splitId, i, variant);
  }

  private captionOf(i: number, meta: SceneMeta, mirror: boolean): string {
    const code = this.noise[i];
    if (code === CLEAN) return captionFor(meta, this.captionRng(i, 0));
    const rng = rngFor(Stream.noise, this.seed, this.splitId, i);
    if (code === SWAP && this.length > 1) {
      const truth = sceneFacts(meta);
      for (let attempt = 0; attempt < 32; attempt++) {
        const j = (i + 1 + rng.int(0, this.length - 1)) % this.length;
        if (!sameFacts(sceneFacts(this.meta(j, mirror)), truth)) return this.cleanCaption(j, mirror);
      }
    }
    // 'corrupt', and the rare swap with no partner that differs: captioned from the same stream as the clean one
    return captionFor(corruptScene(meta, rng), this.captionRng(i, 0));
  }

  /** How item i's caption was made noisy, or null if it is clean. */
  noiseKind(i: number): 'swap' | 'corrupt' | null {
    this.checkIndex(i);
    return this.noise[i] === CLEAN ? null : this.noise[i] === SWAP ? 'swap' : 'corrupt';
  }

  /** Whether item i is a held-out composition scene (test split only). */
  isHeldOut(i: number): boolean {
    this.checkIndex(i);
    return this.heldOutFlags[i] === 1;
  }

  /** VQA questions and NLVR statements about item i. */
  questions(i: number, mirror = false): Question[] {
    return questionsFor(this.meta(i, mirror), rngFor(Stream.questions, this.seed, this.splitId, i));
  }

  /** Everything about item i. `mirror` gives the horizontally mirrored scene with left/right swapped in its text. */
  get(i: number, opts: { mirror?: boolean } = {}): SceneItem {
    const mirror = opts.mirror ?? false,
      meta = this.meta(i, mirror),
      noiseKind = this.noiseKind(i);
    const cleanCaption = captionFor(meta, this.captionRng(i, 0));
    return {
      index: i,
      image: renderScene(meta, this.source),
      meta,
      cleanCaption,
      noiseKind,
      caption: noiseKind ? this.captionOf(i, meta, mirror) : cleanCaption,
      noisy: noiseKind !== null,
      heldOut: this.isHeldOut(i),
      questions: this.questions(i, mirror),
    };
  }
}

const isCount = (x: unknown, lo: number, hi = Infinity): boolean =>
  typeof x === 'number' && Number.isInteger(x) && x >= lo && x <= hi;

/** Create a dataset, validating every option with a clear `DataError` (or `MissingMnistError`). */
export function makeDataset(opts: DatasetOptions): SceneDataset {
  check(typeof opts === 'object' && opts !== null, 'makeDataset needs an options object');
  check(
    (DATASET_NAMES as readonly string[]).includes(opts.name),
    `unknown dataset '${String(opts.name)}'; expected one of ${DATASET_NAMES.map((n) => `'${n}'`).join(', ')}`,
  );
  check(
    (SPLITS as readonly string[]).includes(opts.split),
    `unknown split '${String(opts.split)}'; expected one of ${SPLITS.map((n) => `'${n}'`).join(', ')}`,
  );
  check(isCount(opts.size, 1), `size must be a positive integer number of scenes, got ${String(opts.size)}`);
  check(
    opts.imageSize === undefined || opts.imageSize === 32 || opts.imageSize === 64,
    `imageSize must be 32 or 64, got ${String(opts.imageSize)}`,
  );
  check(
    opts.seed === undefined || isCount(opts.seed, 0, 0xffffffff),
    `seed must be an integer in [0, 2^32), got ${String(opts.seed)}`,
  );
  check(
    opts.splitSeed === undefined || isCount(opts.splitSeed, 0, 0xffffffff),
    `splitSeed must be an integer in [0, 2^32)`,
  );
  const lo = opts.minObjects ?? 1,
    hi = opts.maxObjects ?? MAX_OBJECTS;
  check(
    isCount(lo, 1, MAX_OBJECTS) && isCount(hi, 1, MAX_OBJECTS) && lo <= hi,
    `objects per scene must satisfy 1 <= minObjects <= maxObjects <= ${MAX_OBJECTS}, got ${lo}..${hi}`,
  );
  if (opts.noise) validateNoise(opts.noise);
  if (opts.heldOutFraction !== undefined) {
    check(
      opts.split === 'test',
      `heldOutFraction applies only to split 'test' (train and val never hold held-out compositions)`,
    );
    check(
      opts.heldOutFraction >= 0 && opts.heldOutFraction <= 1,
      `heldOutFraction must be in [0, 1], got ${opts.heldOutFraction}`,
    );
  }
  validateSplitFractions(opts.splitFractions ?? DEFAULT_SPLIT_FRACTIONS);
  const source = opts.source ?? (opts.name === 'shapes' ? shapesSource() : mnistSource());
  check(
    source.kinds.join() === KINDS[opts.name].join(),
    `source '${source.name}' must provide the kinds of '${opts.name}' (${KINDS[opts.name].join(' ')}) in that order`,
  );
  return new SceneDataset(opts, source);
}

/**
 * Batches for training. Epoch e's order, each item's flip and each batch's MLM draw are pure functions of
 * (seed, e, position), so the loader's whole state is {epoch, batch} and a restored loader continues
 * bit for bit. A batch is built only when asked for: nothing is loaded ahead.
 */
import { check } from './errors.js';
import { maskTokens, type MaskResult } from './masking.js';
import { rngFor, Stream } from './seeds.js';
import type { Tokenizer } from './tokenizer.js';

/** What the loader needs from a dataset (`SceneDataset` has it). */
export interface LoaderDataset {
  readonly length: number;
  readonly imageSize: number;
  /** Write item i's image ([3, S, S]) into `out` at `offset`; return its caption. */
  renderInto(i: number, mirror: boolean, out: Float32Array, offset: number): string;
  noiseKind(i: number): 'swap' | 'corrupt' | null;
}

/** Per-channel normalization: x' = (x − mean[c]) / std[c]. */
export interface Normalize {
  mean: readonly number[];
  std: readonly number[];
}

/** Options of `DataLoader`. */
export interface LoaderOptions {
  batchSize: number;
  tokenizer: Tokenizer;
  /** Reshuffle every epoch (default true). */
  shuffle?: boolean;
  /** Loader seed (default 0), independent of the dataset's. */
  seed?: number;
  /** Drop a last, short batch (default false). */
  dropLast?: boolean;
  /** Text length including [CLS] and [SEP] (default 16); captions are padded and truncated to it. */
  maxLength?: number;
  normalize?: Normalize;
  /**
   * Probability of a horizontal flip per item (default 0). Flips mirror the layout and swap left/right
   * in the caption; digits keep their orientation, since a mirrored 3 is no longer a 3.
   */
  flip?: number;
  /** Add MLM inputs and labels (see `maskTokens`): ALBEF or VLMo exclusions, probability default 0.15. */
  mlm?: { style?: 'albef' | 'vlmo'; prob?: number };
}

/** One batch. Shapes: images [B, 3, S, S]; ids, attentionMask [B, L]. */
export interface Batch {
  images: Float32Array;
  ids: Int32Array;
  attentionMask: Int32Array;
  /** Dataset indices of the rows. */
  indices: number[];
  captions: string[];
  /** 1 where the caption is a noisy pair. Shapes: [B]. */
  noisy: Uint8Array;
  /** 1 where the item was flipped. Shapes: [B]. */
  flipped: Uint8Array;
  /** Present when `mlm` is set. Shapes: inputIds, labels [B, L]. */
  mlm?: MaskResult;
  batchSize: number;
  length: number;
  epoch: number;
  /** Index of the batch within its epoch. */
  batch: number;
}

/** Where a loader is: the next batch to produce. */
export interface LoaderState {
  epoch: number;
  batch: number;
}

/** Seeded, resumable batching over a dataset. */
export class DataLoader implements Iterable<Batch> {
  /** Batches in one epoch. */
  readonly batchesPerEpoch: number;
  private epoch = 0;
  private batch = 0;
  private cached: { epoch: number; order: number[] } | null = null;
  private readonly opts: LoaderOptions & { seed: number; maxLength: number; flip: number };

  constructor(
    readonly dataset: LoaderDataset,
    opts: LoaderOptions,
  ) {
    check(
      Number.isInteger(opts.batchSize) && opts.batchSize > 0,
      `batchSize must be a positive integer, got ${opts.batchSize}`,
    );
    const flip = opts.flip ?? 0,
      maxLength = opts.maxLength ?? 16,
      seed = opts.seed ?? 0;
    check(flip >= 0 && flip <= 1, `flip is a probability in [0, 1], got ${flip}`);
    check(Number.isInteger(maxLength) && maxLength >= 2, `maxLength must be an integer >= 2, got ${maxLength}`);
    if (opts.normalize) {
      const { mean, std } = opts.normalize;
      check(
        mean.length === 3 && std.length === 3 && std.every((s) => s > 0),
        'normalize needs 3 means and 3 positive stds',
      );
    }
    const n = dataset.length;
    this.batchesPerEpoch = opts.dropLast ? Math.floor(n / opts.batchSize) : Math.ceil(n / opts.batchSize);
    check(this.batchesPerEpoch > 0, `dropLast with batchSize ${opts.batchSize} > dataset size ${n} leaves no batch`);
    this.opts = { ...opts, seed, maxLength, flip };
  }

  /** The dataset indices of an epoch, in visiting order. */
  order(epoch: number): number[] {
    if (this.cached?.epoch !== epoch) {
      const n = this.dataset.length;
      const order =
        (this.opts.shuffle ?? true)
          ? rngFor(Stream.shuffle, this.opts.seed, epoch).permutation(n)
          : Array.from({ length: n }, (_, i) => i);
      this.cached = { epoch, order };
    }
    return this.cached.order;
  }

  /** Batch `batch` of epoch `epoch` (a pure function of the options). */
  batchAt(epoch: number, batch: number): Batch {
    check(
      Number.isInteger(batch) && batch >= 0 && batch < this.batchesPerEpoch,
      `batch ${batch} outside epoch of ${this.batchesPerEpoch}`,
    );
    const { batchSize, tokenizer, maxLength, normalize, flip, seed } = this.opts;
    const indices = this.order(epoch).slice(batch * batchSize, (batch + 1) * batchSize);
    const B = indices.length,
      S = this.dataset.imageSize,
      per = 3 * S * S;
    const images = new Float32Array(B * per),
      noisy = new Uint8Array(B),
      flipped = new Uint8Array(B);
    const captions = indices.map((i, b) => {
      const mirror = flip > 0 && rngFor(Stream.flip, seed, epoch, i).uniform() < flip;
      flipped[b] = mirror ? 1 : 0;
      noisy[b] = this.dataset.noiseKind(i) === null ? 0 : 1;
      return this.dataset.renderInto(i, mirror, images, b * per);
    });
    if (normalize) normalizeInPlace(images, S * S, normalize);
    const enc = tokenizer.encodeBatch(captions, { maxLength, padding: 'max_length', truncation: true });
    const out: Batch = {
      images,
      ids: enc.ids,
      attentionMask: enc.attentionMask,
      indices,
      captions,
      noisy,
      flipped,
      batchSize: B,
      length: enc.length,
      epoch,
      batch,
    };
    if (this.opts.mlm) {
      const { maskId, exclude } = tokenizer.maskIds(this.opts.mlm.style ?? 'albef');
      out.mlm = maskTokens(enc.ids, enc.attentionMask, tokenizer.vocabSize, rngFor(Stream.mask, seed, epoch, batch), {
        maskId,
        exclude,
        prob: this.opts.mlm.prob ?? 0.15,
      });
    }
    return out;
  }

  /** The next batch; after an epoch's last batch the next epoch starts. */
  next(): Batch {
    const b = this.batchAt(this.epoch, this.batch);
    if (++this.batch === this.batchesPerEpoch) {
      this.epoch++;
      this.batch = 0;
    }
    return b;
  }

  /** The rest of the current epoch, one batch at a time. */
  *[Symbol.iterator](): Iterator<Batch> {
    const epoch = this.epoch;
    while (this.epoch === epoch) yield this.next();
  }

  /** The position to save for resuming. */
  state(): LoaderState {
    return { epoch: this.epoch, batch: this.batch };
  }

  /** Resume at a saved position. */
  setState(s: LoaderState): this {
    check(
      Number.isInteger(s.epoch) &&
        s.epoch >= 0 &&
        Number.isInteger(s.batch) &&
        s.batch >= 0 &&
        s.batch < this.batchesPerEpoch,
      `bad loader state ${JSON.stringify(s)}`,
    );
    this.epoch = s.epoch;
    this.batch = s.batch;
    return this;
  }
}

function normalizeInPlace(images: Float32Array, plane: number, { mean, std }: Normalize): void {
  for (let base = 0; base < images.length; base += 3 * plane) {
    for (let c = 0; c < 3; c++) {
      const m = mean[c],
        inv = 1 / std[c],
        off = base + c * plane;
      for (let p = 0; p < plane; p++) images[off + p] = (images[off + p] - m) * inv;
    }
  }
}

/** Per-channel mean and std over `count` items (default 1,000), for `normalize`. */
export function channelStats(dataset: LoaderDataset, count = 1000): Normalize {
  const n = Math.min(count, dataset.length),
    S = dataset.imageSize,
    plane = S * S;
  const sum = [0, 0, 0],
    sq = [0, 0, 0],
    img = new Float32Array(3 * plane);
  for (let i = 0; i < n; i++) {
    dataset.renderInto(i, false, img, 0);
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < plane; p++) {
        const v = img[c * plane + p];
        sum[c] += v;
        sq[c] += v * v;
      }
    }
  }
  const total = n * plane;
  const mean = sum.map((s) => s / total);
  return { mean, std: sq.map((s, c) => Math.sqrt(Math.max(s / total - mean[c] ** 2, 1e-12))) };
}

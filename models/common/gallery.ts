/**
 * A retrieval gallery for evaluation, shared by ALBEF's and VLMo's evaluators: a split's images
 * (normalized as in training) and clean captions (padded to a fixed length), which texts match which
 * scenes (a caption counts for every scene it describes exactly, as COCO counts any of an image's
 * five captions), and the ordinary vs held-out-composition scenes.
 */
import {
  makeDataset,
  sceneFacts,
  type DatasetName,
  type Normalize,
  type SceneDataset,
  type Split as DataSplit,
  type Tokenizer,
} from '../../data/index.js';

/** One metric overall, on ordinary test scenes, and on scenes with held-out compositions. */
export interface Split<T> {
  all: T;
  regular: T;
  heldOut: T;
}

export interface Gallery {
  dataset: SceneDataset;
  n: number;
  /** Image side S and text length L. */
  S: number;
  L: number;
  /** Shapes: images [n, 3, S, S] normalized; ids, mask [n, L]. */
  images: Float32Array;
  ids: Int32Array;
  mask: Int32Array;
  /** Scenes whose facts equal scene i's (i included): the texts that match image i and vice versa. */
  matches(i: number): number[];
  regular: number[];
  heldOut: number[];
  /** Expected R@1 (%) of a random ranking, matching captions included. */
  chanceR1: number;
}

export interface GalleryOptions {
  dataset: DatasetName;
  size: number;
  seed: number;
  normalize: Normalize;
  textLength: number;
  split?: DataSplit;
}

export function buildGallery(tokenizer: Tokenizer, o: GalleryOptions): Gallery {
  const ds = makeDataset({ name: o.dataset, split: o.split ?? 'test', size: o.size, seed: o.seed });
  const n = ds.length,
    S = ds.imageSize,
    L = o.textLength,
    plane = S * S;
  const images = new Float32Array(n * 3 * plane);
  for (let i = 0; i < n; i++) ds.image(i, false, images, i * 3 * plane);
  for (let i = 0; i < images.length; i++) {
    const c = Math.floor(i / plane) % 3;
    images[i] = (images[i] - o.normalize.mean[c]) / o.normalize.std[c];
  }
  const enc = tokenizer.encodeBatch(
    Array.from({ length: n }, (_, i) => ds.cleanCaption(i)),
    { maxLength: L, padding: 'max_length', truncation: true },
  );
  const keys = Array.from({ length: n }, (_, i) => JSON.stringify(sceneFacts(ds.meta(i))));
  const groups = new Map<string, number[]>();
  keys.forEach((k, i) => groups.set(k, [...(groups.get(k) ?? []), i]));
  const all = Array.from({ length: n }, (_, i) => i);
  const matches = (i: number): number[] => groups.get(keys[i])!;
  return {
    dataset: ds,
    n,
    S,
    L,
    images,
    ids: enc.ids,
    mask: enc.attentionMask,
    matches,
    regular: all.filter((i) => !ds.isHeldOut(i)),
    heldOut: all.filter((i) => ds.isHeldOut(i)),
    chanceR1: (100 * all.reduce((s, i) => s + matches(i).length / n, 0)) / n,
  };
}

/** f over all scenes (undefined), the regular ones and the held-out ones. */
export function splitBy<T>(g: Gallery, f: (queries: number[] | undefined) => T): Split<T> {
  return { all: f(undefined), regular: f(g.regular), heldOut: f(g.heldOut) };
}

/** The mean of per-scene values over the queries (all scenes when undefined). */
export function meanOver(values: readonly number[], queries: readonly number[] | undefined): number {
  const qs = queries ?? values.map((_, i) => i);
  return qs.length ? qs.reduce((s, i) => s + values[i], 0) / qs.length : NaN;
}

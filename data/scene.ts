/**
 * Scene metadata and its sampler. A scene is one to three objects on a 2x2 layout (one object may sit
 * anywhere); every pair of objects is then either side by side, stacked, or diagonal, so "left of" and
 * "above" are never borderline. The renderer (render.ts) and the text (captions.ts, questions.ts) are
 * functions of this metadata alone.
 */
import type { Rng } from '../engine/random.js';
import {
  COLOURS,
  HELD_OUT_PAIRS,
  HELD_OUT_RELATION,
  SIZES,
  type Colour,
  type DatasetName,
  type Relation,
  type Size,
} from './attributes.js';
import { heldOutReasons, isHeldOutPair } from './splits.js';

/** One object in a scene. */
export interface SceneObject {
  /** Kind label as captions say it: '7', 'circle'. Unique within a scene. */
  kind: string;
  colour: Colour;
  size: Size;
  /** Cell of the 2x2 layout (a lone object: the cell holding its centre). Row 0 is the top. */
  row: number;
  col: number;
  /** Top-left pixel of the object's square glyph box, and the box side in pixels. */
  x: number;
  y: number;
  box: number;
  /** Index of the glyph in its kind's source pool (pools are disjoint across splits). */
  source: number;
  /** Brightness multiplier of the colour, in [0.85, 1]. */
  shade: number;
}

/** Background textures; all are faint (amplitude <= 0.05) so every colour stays legible. */
export type Texture = 'plain' | 'noise' | 'stripes' | 'checker';

/** The scene's background: a dark grey level, a slight tint, and a texture. */
export interface Background {
  level: number;
  tint: [number, number, number];
  texture: Texture;
  amplitude: number;
  period: number;
  angle: number;
  /** Seed of the per-pixel noise texture. */
  seed: number;
}

/** Everything about a scene that images, captions and questions are computed from. */
export interface SceneMeta {
  dataset: DatasetName;
  imageSize: number;
  objects: SceneObject[];
  background: Background;
  /** Held-out compositions present ('red 7', 'red above blue'); empty outside held-out test scenes. */
  heldOut: string[];
  /** Whether this is the horizontal mirror of the sampled scene (flip augmentation). */
  mirrored: boolean;
}

/** What the sampler needs to know about the dataset and split. */
export interface SceneSpec {
  dataset: DatasetName;
  imageSize: number;
  kinds: readonly string[];
  /** Per kind (index into `kinds`), the source glyph indices this split may use. */
  pools: readonly Int32Array[];
  minObjects: number;
  maxObjects: number;
  /** Sample a held-out test scene (at least one held-out composition) instead of an ordinary one. */
  heldOut: boolean;
}

const LARGE = 0.875,
  SMALL = 0.625; // glyph box as a fraction of a layout cell
const TEXTURES: readonly Texture[] = ['plain', 'plain', 'noise', 'stripes', 'checker'];

/** Box side in pixels of an object of the given size in an image of side `imageSize`. */
export function boxSide(size: Size, imageSize: number): number {
  return Math.round((imageSize / 2) * (size === 'large' ? LARGE : SMALL));
}

/** The relation of a to b if they are adjacent in one row or column, else null (diagonal or alone). */
export function adjacentRelation(a: SceneObject, b: SceneObject): Relation | null {
  if (a.row === b.row && a.col !== b.col) return a.col < b.col ? 'left' : 'right';
  if (a.col === b.col && a.row !== b.row) return a.row < b.row ? 'above' : 'below';
  return null;
}

/** Whether "a REL b" holds anywhere in the image (diagonal pairs are both left/right and above/below). */
export function holdsRelation(a: SceneObject, rel: Relation, b: SceneObject): boolean {
  switch (rel) {
    case 'left':
      return a.col < b.col;
    case 'right':
      return a.col > b.col;
    case 'above':
      return a.row < b.row;
    case 'below':
      return a.row > b.row;
  }
}

function layoutCells(n: number, rng: Rng): [number, number][] {
  if (n === 2) {
    const line = rng.int(0, 2);
    return rng.int(0, 2) === 0
      ? [
          [line, 0],
          [line, 1],
        ]
      : [
          [0, line],
          [1, line],
        ];
  }
  const empty = rng.int(0, 4);
  return [0, 1, 2, 3].filter((c) => c !== empty).map((c) => [c >> 1, c & 1]);
}

function pickColours(spec: SceneSpec, kinds: string[], rows: number[], rng: Rng): Colour[] {
  // Ordinary scenes reject held-out compositions; the expected number of redraws is below 0.1.
  for (let attempt = 0; attempt < 1000; attempt++) {
    const colours = kinds.map(() => COLOURS[rng.int(0, COLOURS.length)]);
    if (spec.heldOut) return colours;
    const pairOk = kinds.every((k, j) => !isHeldOutPair(spec.dataset, colours[j], k));
    const { top, bottom } = HELD_OUT_RELATION;
    const relOk = !colours.some((c, a) => c === top && colours.some((d, b) => d === bottom && rows[a] < rows[b]));
    if (pairOk && relOk) return colours;
  }
  throw new Error('scene sampler: could not avoid held-out compositions'); // unreachable with the built-in sets
}

/** Force one held-out composition into a held-out test scene (a pair, or the relation when stacked). */
function forceHeldOut(spec: SceneSpec, kinds: string[], colours: Colour[], rows: number[], rng: Rng): void {
  const stacked: [number, number][] = [];
  rows.forEach((r, a) =>
    rows.forEach((s, b) => {
      if (r < s) stacked.push([a, b]);
    }),
  );
  if (stacked.length > 0 && rng.uniform() < 0.5) {
    const [a, b] = stacked[rng.int(0, stacked.length)];
    colours[a] = HELD_OUT_RELATION.top;
    colours[b] = HELD_OUT_RELATION.bottom;
    return;
  }
  const pairs = HELD_OUT_PAIRS[spec.dataset];
  const [colour, kind] = pairs[rng.int(0, pairs.length)];
  const j = kinds.includes(kind) ? kinds.indexOf(kind) : rng.int(0, kinds.length);
  kinds[j] = kind;
  colours[j] = colour;
}

/** Sample a scene. Consumes a fixed pattern of draws from `rng` for a given object count and layout. */
export function sampleScene(spec: SceneSpec, rng: Rng): SceneMeta {
  const S = spec.imageSize,
    cell = S / 2;
  const n = rng.int(spec.minObjects, spec.maxObjects + 1);
  const cells = n === 1 ? [] : rng.shuffle(layoutCells(n, rng));
  const kinds = rng
    .permutation(spec.kinds.length)
    .slice(0, n)
    .map((k) => spec.kinds[k]);
  const sizes = kinds.map(() => SIZES[rng.int(0, SIZES.length)]);
  const boxes = sizes.map((s) => boxSide(s, S));
  const xy = boxes.map((box, j) =>
    n === 1
      ? [rng.int(0, S - box + 1), rng.int(0, S - box + 1)]
      : [cells[j][1] * cell + rng.int(0, cell - box + 1), cells[j][0] * cell + rng.int(0, cell - box + 1)],
  );
  const rows = xy.map(([, y], j) => (n === 1 ? Math.floor((y + boxes[j] / 2) / cell) : cells[j][0]));
  const cols = xy.map(([x], j) => (n === 1 ? Math.floor((x + boxes[j] / 2) / cell) : cells[j][1]));
  const colours = pickColours(spec, kinds, rows, rng);
  if (spec.heldOut) forceHeldOut(spec, kinds, colours, rows, rng);
  const objects: SceneObject[] = kinds.map((kind, j) => {
    const pool = spec.pools[spec.kinds.indexOf(kind)];
    return {
      kind,
      colour: colours[j],
      size: sizes[j],
      row: rows[j],
      col: cols[j],
      x: xy[j][0],
      y: xy[j][1],
      box: boxes[j],
      source: pool[rng.int(0, pool.length)],
      shade: 0.85 + 0.15 * rng.uniform(),
    };
  });
  return {
    dataset: spec.dataset,
    imageSize: S,
    objects,
    background: sampleBackground(rng),
    heldOut: heldOutReasons(spec.dataset, objects),
    mirrored: false,
  };
}

function sampleBackground(rng: Rng): Background {
  const level = 0.02 + 0.14 * rng.uniform();
  const tint: [number, number, number] = [0, 0, 0].map(() => (rng.uniform() - 0.5) * 0.06) as [number, number, number];
  return {
    level,
    tint,
    texture: TEXTURES[rng.int(0, TEXTURES.length)],
    amplitude: 0.02 + 0.03 * rng.uniform(),
    period: rng.int(3, 9),
    angle: rng.uniform() * Math.PI,
    seed: rng.nextU32(),
  };
}

/** The horizontal mirror of a scene: layout and background flip, glyphs keep their orientation. */
export function mirrorScene(meta: SceneMeta): SceneMeta {
  const S = meta.imageSize;
  return {
    ...meta,
    objects: meta.objects.map((o) => ({ ...o, col: 1 - o.col, x: S - o.x - o.box })),
    mirrored: !meta.mirrored,
  };
}

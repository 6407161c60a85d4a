/**
 * The facts a scene's caption names, as a fixed multi-label vocabulary: how many objects, which colours, which kinds
 * (digits or shapes), which sizes and which (colour, kind) and (size, kind) pairs the scene holds.
 * A multi-hot target over this vocabulary is what a unimodal image warm start learns to predict
 * (`vlgrad pretrain vit`), the miniature of starting from a classifier's weights (DeiT) as the
 * references do. Targets are computed from the scene itself (`SceneMeta`); every caption of a clean
 * scene states exactly these facts (see `sceneFacts`), so this is the caption's content, read
 * without parsing. Training code builds targets from training scenes only.
 */
import { COLOURS, KINDS, MAX_OBJECTS, SIZES, type DatasetName } from './attributes.js';
import { check } from './errors.js';
import type { SceneMeta } from './scene.js';

/** The groups of facts. 'count' is one-hot (1 to 3 objects), 'pair' is (colour, kind), 'sizePair' is (size, kind). */
export const FACT_GROUPS = ['count', 'colour', 'kind', 'size', 'pair', 'sizePair'] as const;
/** A group of facts. */
export type FactGroup = (typeof FACT_GROUPS)[number];

/**
 * The default groups: everything a caption names about its objects (relations excepted) but the
 * count, which ITC learns first on its own (ALBEF's warm start); VLMo's stage 1 adds 'count'.
 */
export const DEFAULT_FACT_GROUPS: readonly FactGroup[] = FACT_GROUPS.filter((g) => g !== 'count');

/** A fact vocabulary: label names in a fixed order and the group each belongs to. */
export interface FactVocab {
  dataset: DatasetName;
  groups: readonly FactGroup[];
  /** Label names, e.g. 'count:2', 'colour:red', 'kind:7', 'size:large', 'pair:red 7', 'sizePair:large 7'. */
  labels: readonly string[];
  /** Group of each label (same order as `labels`). */
  groupOf: readonly FactGroup[];
}

/**
 * The fact vocabulary of a dataset. For `mnist-scenes` with every group: 6 colours + 10 digits +
 * 2 sizes + 60 (colour, digit) + 20 (size, digit) = 98 labels. Held-out (colour, kind) pairs are
 * labels too; they are simply never positive in training scenes.
 */
export function factVocab(dataset: DatasetName, groups: readonly FactGroup[] = DEFAULT_FACT_GROUPS): FactVocab {
  check(
    groups.length > 0 && groups.every((g) => (FACT_GROUPS as readonly string[]).includes(g)),
    `factVocab: unknown fact group in [${groups.join(', ')}]; expected some of ${FACT_GROUPS.join(', ')}`,
  );
  check(new Set(groups).size === groups.length, `factVocab: repeated fact group in [${groups.join(', ')}]`);
  const kinds = KINDS[dataset];
  check(kinds !== undefined, `factVocab: unknown dataset '${String(dataset)}'`);
  const labels: string[] = [],
    groupOf: FactGroup[] = [];
  const add = (g: FactGroup, names: readonly string[]): void => {
    for (const n of names) {
      labels.push(`${g}:${n}`);
      groupOf.push(g);
    }
  };
  for (const g of FACT_GROUPS) {
    if (!groups.includes(g)) continue; // fixed group order, whatever order the caller lists them in
    if (g === 'count')
      add(
        g,
        Array.from({ length: MAX_OBJECTS }, (_, i) => String(i + 1)),
      );
    else if (g === 'colour') add(g, COLOURS);
    else if (g === 'kind') add(g, kinds);
    else if (g === 'size') add(g, SIZES);
    else if (g === 'pair')
      add(
        g,
        COLOURS.flatMap((c) => kinds.map((k) => `${c} ${k}`)),
      );
    else
      add(
        g,
        SIZES.flatMap((s) => kinds.map((k) => `${s} ${k}`)),
      );
  }
  return { dataset, groups: FACT_GROUPS.filter((g) => groups.includes(g)), labels, groupOf };
}

/** The label names that hold for a scene (a subset of `vocab.labels`). */
export function sceneFactLabels(meta: SceneMeta, vocab: FactVocab): string[] {
  check(
    meta.dataset === vocab.dataset,
    `sceneFactLabels: a '${meta.dataset}' scene against a '${vocab.dataset}' fact vocabulary`,
  );
  const on = new Set<string>([`count:${meta.objects.length}`]);
  for (const o of meta.objects) {
    on.add(`colour:${o.colour}`)
      .add(`kind:${o.kind}`)
      .add(`size:${o.size}`)
      .add(`pair:${o.colour} ${o.kind}`)
      .add(`sizePair:${o.size} ${o.kind}`);
  }
  return vocab.labels.filter((l) => on.has(l));
}

/**
 * Multi-hot targets of a scene: 1 where the fact holds, 0 elsewhere, written into `out` at `offset`
 * when given. Mirroring a scene does not change its facts. Shapes: [vocab.labels.length].
 */
export function factTargets(meta: SceneMeta, vocab: FactVocab, out?: Float32Array, offset = 0): Float32Array {
  const F = vocab.labels.length,
    dst = out ?? new Float32Array(F);
  check(
    offset >= 0 && offset + F <= dst.length,
    `factTargets: ${F} labels do not fit at offset ${offset} of an array of ${dst.length}`,
  );
  dst.fill(0, offset, offset + F);
  const index = labelIndex(vocab);
  for (const l of sceneFactLabels(meta, vocab)) dst[offset + index.get(l)!] = 1;
  return dst;
}

/** What `factBatch` needs from a dataset (`SceneDataset` has it). */
export interface FactsSource {
  meta(i: number, mirror?: boolean): SceneMeta;
}

/** Multi-hot targets of several scenes, one row each. Shapes: [indices.length, F] row-major. */
export function factBatch(ds: FactsSource, indices: readonly number[], vocab: FactVocab): Float32Array {
  const F = vocab.labels.length,
    out = new Float32Array(indices.length * F);
  indices.forEach((i, r) => factTargets(ds.meta(i), vocab, out, r * F));
  return out;
}

const indexCache = new WeakMap<FactVocab, Map<string, number>>();
function labelIndex(vocab: FactVocab): Map<string, number> {
  let m = indexCache.get(vocab);
  if (!m) {
    m = new Map(vocab.labels.map((l, k) => [l, k]));
    indexCache.set(vocab, m);
  }
  return m;
}

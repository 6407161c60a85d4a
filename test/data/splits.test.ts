import t from 'tap';
import {
  HELD_OUT_PAIRS,
  HELD_OUT_RELATION,
  KINDS,
  makeDataset,
  parseText,
  type DatasetName,
  type SceneMeta,
} from '../../data/index.js';
import { DEFAULT_SPLIT_FRACTIONS, sourcePool } from '../../data/splits.js';
import { shapesSource } from '../../data/shapes_source.js';
import { mnistSource } from '../../data/mnist_source.js';
import { DATASETS } from './helpers.js';

const SPLITS = ['train', 'val', 'test'] as const;

/** Held-out compositions in a scene, checked from scratch (not with the library's own detector). */
function compositions(name: DatasetName, meta: SceneMeta): string[] {
  const found: string[] = [];
  for (const o of meta.objects) {
    if (HELD_OUT_PAIRS[name].some(([c, k]) => c === o.colour && k === o.kind)) found.push(`${o.colour} ${o.kind}`);
  }
  for (const a of meta.objects) {
    for (const b of meta.objects) {
      if (a.colour === HELD_OUT_RELATION.top && b.colour === HELD_OUT_RELATION.bottom && a.row < b.row)
        found.push('relation');
    }
  }
  return found;
}

/** Held-out compositions a text states: a held-out (colour, kind) pair, or the held-out colours stacked. */
function statedCompositions(name: DatasetName, text: string): string[] {
  const p = parseText(text),
    found: string[] = [];
  for (const o of p.objects) {
    if (HELD_OUT_PAIRS[name].some(([c, k]) => c === o.colour && k === o.kind)) found.push(`${o.colour} ${o.kind}`);
  }
  const colour = (k: string) => p.objects.find((o) => o.kind === k)?.colour;
  for (const r of p.relations) {
    const [top, bottom] =
      r.rel === 'above' ? [r.subject, r.object] : r.rel === 'below' ? [r.object, r.subject] : [null, null];
    if (top && bottom && colour(top) === HELD_OUT_RELATION.top && colour(bottom) === HELD_OUT_RELATION.bottom)
      found.push('relation');
  }
  return found;
}

for (const [name, skip] of DATASETS) {
  t.test(`${name}: splits are disjoint in source images`, { skip }, async (t) => {
    const source = name === 'shapes' ? shapesSource() : mnistSource();
    for (let kind = 0; kind < source.kinds.length; kind++) {
      const pools = SPLITS.map((s) => sourcePool(source.count(kind), kind, s, DEFAULT_SPLIT_FRACTIONS, 0));
      const all = pools.flatMap((p) => [...p]);
      t.equal(new Set(all).size, all.length, `kind ${source.kinds[kind]}: pools disjoint`);
      t.ok(
        pools.every((p, k) => p.length === Math.floor(source.count(kind) * DEFAULT_SPLIT_FRACTIONS[SPLITS[k]])),
        'pool sizes follow the fractions',
      );
    }
    // and the scenes actually drawn: no source glyph of one split appears in another
    const used = SPLITS.map((split) => {
      const ds = makeDataset({ name, split, size: 1500, seed: 4 });
      return new Set(
        Array.from({ length: ds.length }, (_, i) => ds.meta(i).objects.map((o) => `${o.kind}:${o.source}`)).flat(),
      );
    });
    for (const [a, b] of [
      [0, 1],
      [0, 2],
      [1, 2],
    ]) {
      const shared = [...used[a]].filter((x) => used[b].has(x));
      t.equal(shared.length, 0, `${SPLITS[a]} and ${SPLITS[b]} share no source image`);
    }
  });

  t.test(`${name}: held-out compositions never appear in train or val`, { skip }, async (t) => {
    let scenes = 0,
      texts = 0;
    for (const split of ['train', 'val'] as const) {
      const ds = makeDataset({ name, split, size: 2000, seed: 8, noise: { fraction: 0.5 } });
      for (let i = 0; i < ds.length; i++) {
        const item = ds.get(i, { mirror: i % 2 === 1 });
        if (compositions(name, item.meta).length > 0 || item.heldOut || item.meta.heldOut.length > 0) scenes++;
        const said = [item.caption, ...item.questions.filter((q) => q.format === 'nlvr').map((q) => q.text)];
        if (said.some((s) => statedCompositions(name, s).length > 0)) texts++;
      }
    }
    t.equal(scenes, 0, 'no train/val scene contains a held-out pair or relation');
    t.equal(texts, 0, 'no train/val caption (noisy ones included) or statement mentions one');
  });

  t.test(`${name}: the test split holds a flagged, exact fraction of held-out scenes`, { skip }, async (t) => {
    for (const fraction of [undefined, 0.5]) {
      const ds = makeDataset({ name, split: 'test', size: 500, seed: 3, heldOutFraction: fraction });
      let flagged = 0,
        mismatched = 0,
        relations = 0;
      const pairs = new Set<string>();
      for (let i = 0; i < ds.length; i++) {
        const meta = ds.meta(i),
          found = compositions(name, meta);
        if (ds.isHeldOut(i)) flagged++;
        if (ds.isHeldOut(i) !== found.length > 0 || meta.heldOut.length > 0 !== ds.isHeldOut(i)) mismatched++;
        for (const f of found) {
          if (f === 'relation') relations++;
          else pairs.add(f);
        }
      }
      t.equal(
        flagged,
        Math.round((fraction ?? 0.2) * 500),
        `heldOutFraction ${fraction ?? '0.2 (default)'}: exact count`,
      );
      t.equal(mismatched, 0, 'flagged scenes, and only they, hold a held-out composition');
      t.ok(relations > 0, 'the held-out relation occurs');
      t.equal(pairs.size, HELD_OUT_PAIRS[name].length, 'every held-out pair occurs');
    }
  });
}

t.test('each held-out colour and kind still occurs in training with other partners', async (t) => {
  for (const [name, skip] of DATASETS) {
    if (skip) continue;
    const ds = makeDataset({ name, split: 'train', size: 3000, seed: 1 });
    const seen = new Set<string>();
    for (let i = 0; i < ds.length; i++) for (const o of ds.meta(i).objects) seen.add(`${o.colour} ${o.kind}`);
    const expected = KINDS[name].length * 6 - HELD_OUT_PAIRS[name].length;
    t.equal(seen.size, expected, `${name}: all ${expected} allowed (colour, kind) pairs occur in train`);
  }
});

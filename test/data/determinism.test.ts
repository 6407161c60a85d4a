import t from 'tap';
import { makeDataset, type DatasetOptions } from '../../data/index.js';
import { DEFAULT_SPLIT_FRACTIONS, sourcePool } from '../../data/splits.js';
import { bytes, DATASETS } from './helpers.js';

const N = 40;

for (const [name, skip] of DATASETS) {
  t.test(`${name}: the same seed gives byte-identical images, captions, questions and flags`, { skip }, async (t) => {
    for (const split of ['train', 'val', 'test'] as const) {
      const opts: DatasetOptions = { name, split, size: N, seed: 7, noise: { fraction: 0.25 } };
      const a = makeDataset(opts),
        b = makeDataset({ ...opts });
      let same = true;
      // b is read back to front: items must not depend on the order they are computed in
      const fromB = Array.from({ length: N }, (_, k) => N - 1 - k)
        .map((i) => [i, b.get(i)] as const)
        .reverse();
      for (const [i, y] of fromB) {
        const x = a.get(i);
        same &&=
          bytes(x.image).equals(bytes(y.image)) &&
          x.caption === y.caption &&
          x.cleanCaption === y.cleanCaption &&
          JSON.stringify([x.meta, x.questions, x.noiseKind, x.heldOut]) ===
            JSON.stringify([y.meta, y.questions, y.noiseKind, y.heldOut]);
      }
      t.ok(same, `${split}: every item identical`);
      t.equal(bytes(a.image(3, true)).equals(bytes(b.image(3, true))), true, `${split}: mirrored image identical`);
    }
  });

  t.test(`${name}: different seeds give different scenes`, { skip }, async (t) => {
    const a = makeDataset({ name, split: 'train', size: N, seed: 1 });
    const b = makeDataset({ name, split: 'train', size: N, seed: 2 });
    let images = 0,
      captions = 0;
    for (let i = 0; i < N; i++) {
      if (!bytes(a.image(i)).equals(bytes(b.image(i)))) images++;
      if (a.caption(i) !== b.caption(i)) captions++;
    }
    t.equal(images, N, 'every image differs');
    t.ok(captions >= N * 0.9, `captions differ (${captions}/${N})`);
    const noisyA = Array.from({ length: N }, (_, i) =>
      makeDataset({ name, split: 'train', size: N, seed: 1, noise: { fraction: 0.5 } }).noiseKind(i),
    );
    const noisyB = Array.from({ length: N }, (_, i) =>
      makeDataset({ name, split: 'train', size: N, seed: 2, noise: { fraction: 0.5 } }).noiseKind(i),
    );
    t.not(JSON.stringify(noisyA), JSON.stringify(noisyB), 'noisy items differ');
  });
}

t.test('source splits are a pure function of splitSeed', async (t) => {
  for (const split of ['train', 'val', 'test'] as const) {
    const a = sourcePool(1000, 3, split, DEFAULT_SPLIT_FRACTIONS, 0);
    t.same(a, sourcePool(1000, 3, split, DEFAULT_SPLIT_FRACTIONS, 0), `${split}: same splitSeed, same pool`);
    t.not(
      bytes(a).equals(bytes(sourcePool(1000, 3, split, DEFAULT_SPLIT_FRACTIONS, 1))),
      true,
      `${split}: other splitSeed, other pool`,
    );
  }
  // the scene seed does not move source images between splits: that is what keeps test digits unseen
  const used = (seed: number) => {
    const ds = makeDataset({ name: 'shapes', split: 'test', size: 300, seed });
    return new Set(
      Array.from({ length: 300 }, (_, i) => ds.meta(i).objects.map((o) => `${o.kind}:${o.source}`)).flat(),
    );
  };
  const pool = new Set(
    ['circle', 'square', 'triangle'].flatMap((k, kind) =>
      Array.from(sourcePool(1000, kind, 'test', DEFAULT_SPLIT_FRACTIONS, 0), (s) => `${k}:${s}`),
    ),
  );
  for (const seed of [0, 5, 99])
    t.ok(
      [...used(seed)].every((u) => pool.has(u)),
      `scene seed ${seed} draws only test glyphs`,
    );
});

t.test('different splitSeeds give different scenes for the same scene seed', async (t) => {
  const a = makeDataset({ name: 'shapes', split: 'train', size: 20, seed: 3, splitSeed: 0 });
  const b = makeDataset({ name: 'shapes', split: 'train', size: 20, seed: 3, splitSeed: 1 });
  const diff = Array.from({ length: 20 }, (_, i) => !bytes(a.image(i)).equals(bytes(b.image(i)))).filter(
    Boolean,
  ).length;
  t.ok(diff >= 18, `${diff}/20 images differ (same layout and colours, other source glyphs)`);
});

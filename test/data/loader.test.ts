import t from 'tap';
import {
  channelStats,
  DataLoader,
  grammarVocab,
  IGNORE_INDEX,
  makeDataset,
  Tokenizer,
  type LoaderDataset,
} from '../../data/index.js';
import { bytes, swapLeftRight } from './helpers.js';

const tokenizer = Tokenizer.fromVocab(grammarVocab());
const ds = makeDataset({ name: 'shapes', split: 'train', size: 50, seed: 1, noise: { fraction: 0.2 } });

t.test('batches: shapes, contents, every item once per epoch', async (t) => {
  const loader = new DataLoader(ds, { batchSize: 16, tokenizer, seed: 3 });
  t.equal(loader.batchesPerEpoch, 4);
  const seen: number[] = [];
  const sizes: number[] = [];
  for (const b of loader) {
    sizes.push(b.batchSize);
    seen.push(...b.indices);
    t.equal(b.images.length, b.batchSize * 3 * 32 * 32);
    t.equal(b.ids.length, b.batchSize * 16);
    t.equal(b.length, 16, 'padded to maxLength 16');
    const k = 1,
      i = b.indices[k];
    t.ok(bytes(b.images.subarray(k * 3072, (k + 1) * 3072)).equals(bytes(ds.image(i))), 'row image = dataset image');
    t.equal(b.captions[k], ds.caption(i));
    t.same(
      Array.from(b.ids.subarray(k * 16, (k + 1) * 16)),
      Array.from(tokenizer.encode(ds.caption(i), { maxLength: 16, padding: 'max_length' }).ids),
    );
    t.same(
      Array.from(b.noisy),
      b.indices.map((j) => (ds.noiseKind(j) ? 1 : 0)),
      'noisy flags',
    );
  }
  t.same(sizes, [16, 16, 16, 2], 'last batch is short');
  t.same(
    [...seen].sort((a, b) => a - b),
    Array.from({ length: 50 }, (_, i) => i),
    'each item once',
  );
  t.not(seen.join(), Array.from({ length: 50 }, (_, i) => i).join(), 'shuffled');
  t.same(loader.state(), { epoch: 1, batch: 0 }, 'the epoch is over');
  const next = [...loader].flatMap((b) => b.indices);
  t.not(next.join(), seen.join(), 'a new epoch reshuffles');
  const plain = new DataLoader(ds, { batchSize: 16, tokenizer, shuffle: false, dropLast: true });
  t.same(
    [...plain].flatMap((b) => b.indices),
    Array.from({ length: 48 }, (_, i) => i),
    'shuffle off, dropLast',
  );
});

t.test('resuming from state() is bit-identical', async (t) => {
  const opts = {
    batchSize: 8,
    tokenizer,
    seed: 5,
    flip: 0.5,
    mlm: {},
    normalize: { mean: [0.1, 0.1, 0.1], std: [0.3, 0.3, 0.3] },
  };
  const a = new DataLoader(ds, opts);
  const ref = Array.from({ length: 15 }, () => a.next());
  const b = new DataLoader(ds, opts);
  for (let k = 0; k < 9; k++) b.next();
  const saved = b.state();
  const c = new DataLoader(ds, opts).setState(saved);
  let same = true;
  for (let k = 9; k < 15; k++) {
    const x = c.next(),
      y = ref[k];
    same &&=
      bytes(x.images).equals(bytes(y.images)) &&
      bytes(x.ids).equals(bytes(y.ids)) &&
      bytes(x.mlm!.inputIds).equals(bytes(y.mlm!.inputIds)) &&
      bytes(x.mlm!.labels).equals(bytes(y.mlm!.labels)) &&
      x.indices.join() === y.indices.join() &&
      bytes(x.flipped).equals(bytes(y.flipped));
  }
  t.ok(same, 'batches 9..14 equal after restoring state at batch 9 (crossing an epoch boundary)');
  t.same(saved, { epoch: 1, batch: 2 });
});

t.test('flip mirrors the image and swaps left/right in the caption', async (t) => {
  const loader = new DataLoader(ds, { batchSize: 50, tokenizer, seed: 2, flip: 0.5, shuffle: false });
  const b = loader.next();
  const flips = Array.from(b.flipped).filter(Boolean).length;
  t.ok(flips > 10 && flips < 40, `about half flipped (${flips})`);
  let ok = 0;
  for (let k = 0; k < 50; k++) {
    const i = b.indices[k],
      mirrored = b.flipped[k] === 1;
    const cap = mirrored ? swapLeftRight(ds.caption(i)) : ds.caption(i);
    if (
      b.captions[k] === cap &&
      bytes(b.images.subarray(k * 3072, (k + 1) * 3072)).equals(bytes(ds.image(i, mirrored)))
    )
      ok++;
  }
  t.equal(ok, 50);
});

t.test('normalization uses per-channel mean and std', async (t) => {
  const stats = channelStats(ds, 50);
  t.equal(stats.mean.length, 3);
  const loader = new DataLoader(ds, { batchSize: 50, tokenizer, shuffle: false, normalize: stats });
  const b = loader.next(),
    plane = 32 * 32;
  for (let c = 0; c < 3; c++) {
    let s = 0,
      q = 0;
    for (let k = 0; k < 50; k++) {
      for (let p = 0; p < plane; p++) {
        const v = b.images[k * 3 * plane + c * plane + p];
        s += v;
        q += v * v;
      }
    }
    const n = 50 * plane,
      mean = s / n,
      sd = Math.sqrt(q / n - mean * mean);
    t.ok(
      Math.abs(mean) < 1e-4 && Math.abs(sd - 1) < 1e-3,
      `channel ${c}: mean ${mean.toExponential(1)}, std ${sd.toFixed(4)}`,
    );
  }
});

t.test('MLM option: ALBEF exclusions, labels -100 elsewhere', async (t) => {
  const loader = new DataLoader(ds, { batchSize: 50, tokenizer, mlm: { prob: 0.3 } });
  const b = loader.next();
  let bad = 0;
  for (let k = 0; k < b.ids.length; k++) {
    const chosen = b.mlm!.labels[k] !== IGNORE_INDEX;
    if (chosen && (b.ids[k] === tokenizer.padId || b.ids[k] === tokenizer.clsId || b.mlm!.labels[k] !== b.ids[k]))
      bad++;
  }
  t.equal(bad, 0);
  t.ok(b.mlm!.numMasked > 0);
});

t.test('never loads more than a batch ahead', async (t) => {
  let calls = 0;
  const counting: LoaderDataset = {
    length: ds.length,
    imageSize: ds.imageSize,
    noiseKind: (i) => ds.noiseKind(i),
    renderInto: (i, m, out, off) => {
      calls++;
      return ds.renderInto(i, m, out, off);
    },
  };
  const loader = new DataLoader(counting, { batchSize: 8, tokenizer });
  t.equal(calls, 0, 'constructing loads nothing');
  const it = loader[Symbol.iterator]();
  it.next();
  t.equal(calls, 8, 'first batch: 8 items');
  it.next();
  t.equal(calls, 16, 'second batch: 8 more, none prefetched');
});

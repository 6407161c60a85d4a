// data/facts.ts: the fact vocabulary is fixed and complete, and a scene's targets are exactly what its
// caption states (checked against the independent caption parser), mirror-invariant and batchable.
import t from 'tap';
import {
  factBatch,
  factTargets,
  factVocab,
  makeDataset,
  parseText,
  sceneFactLabels,
  DataError,
} from '../../data/index.js';

t.test('vocabulary sizes and order', async (t) => {
  const v = factVocab('mnist-scenes');
  t.equal(v.labels.length, 6 + 10 + 2 + 60 + 20, 'colours + digits + sizes + (colour, digit) + (size, digit)');
  t.equal(new Set(v.labels).size, v.labels.length, 'labels are unique');
  t.equal(v.labels[0], 'colour:red');
  t.same(
    factVocab('shapes', ['pair', 'colour']).labels.slice(0, 7),
    ['colour:red', 'colour:green', 'colour:blue', 'colour:yellow', 'colour:white', 'colour:purple', 'pair:red circle'],
    'groups keep a fixed order whatever order they are listed in',
  );
  t.throws(() => factVocab('shapes', ['colour', 'nope' as never]), DataError, 'an unknown group is a clear error');
});

t.test('targets are the facts the clean caption states', async (t) => {
  const ds = makeDataset({ name: 'shapes', split: 'train', size: 200, seed: 3 });
  const v = factVocab('shapes');
  for (let i = 0; i < ds.length; i++) {
    const p = parseText(ds.cleanCaption(i));
    const want = new Set<string>();
    for (const o of p.objects) {
      want
        .add(`colour:${o.colour}`)
        .add(`kind:${o.kind}`)
        .add(`size:${o.size}`)
        .add(`pair:${o.colour} ${o.kind}`)
        .add(`sizePair:${o.size} ${o.kind}`);
    }
    const got = sceneFactLabels(ds.meta(i), v);
    if (got.length !== want.size || got.some((l) => !want.has(l))) {
      t.fail(`scene ${i}: ${got} vs caption ${[...want]}`);
      return;
    }
    const y = factTargets(ds.meta(i), v),
      y2 = factTargets(ds.meta(i, true), v);
    if (y.some((x, k) => x !== (want.has(v.labels[k]) ? 1 : 0)) || y.some((x, k) => x !== y2[k])) {
      t.fail(`scene ${i}: multi-hot or mirror differs`);
      return;
    }
  }
  t.pass(`${ds.length} scenes: labels = parsed caption facts, mirror-invariant`);
  const rows = factBatch(ds, [5, 7], v),
    F = v.labels.length;
  t.same([...rows.subarray(F, 2 * F)], [...factTargets(ds.meta(7), v)], 'factBatch rows are per-scene targets');
  t.throws(
    () => factTargets(ds.meta(0), factVocab('mnist-scenes')),
    DataError,
    "a scene against another dataset's vocabulary is refused",
  );
});

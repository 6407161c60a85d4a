// Content groups: pairs whose captions state the same facts are each other's positives. Checked: the
// grouping of real captions against the scenes' facts, the same-group matrix, hard negatives that
// never draw a same-group pair while another exists, ITC targets spread over the group, ALBEF's
// error for a wrong-length group list, and that distinct groups change nothing.
import t from 'tap';
import fc from 'fast-check';
import { noGrad, randn, Rng, tensor } from '../../engine/index.js';
import { contentGroups, makeDataset, sceneFacts } from '../../data/index.js';
import { softTargets } from '../../models/albef/losses.js';
import { itcBranchLoss } from '../../models/vlmo/objectives.js';
import { drawNegatives, sameGroup } from '../../models/common/objectives.js';
import { B, microSetup } from './albef_fixtures.js';

t.test('contentGroups: same facts, same id (whatever the wording); unparseable text is alone', async (t) => {
  const ds = makeDataset({ name: 'shapes', split: 'train', size: 400, seed: 3 });
  const captions = Array.from({ length: ds.length }, (_, i) => ds.cleanCaption(i, false, i % 3));
  const groups = contentGroups(captions);
  const facts = Array.from({ length: ds.length }, (_, i) => JSON.stringify(sceneFacts(ds.meta(i))));
  let pairsSame = 0;
  for (let i = 0; i < ds.length; i++)
    for (let j = i + 1; j < ds.length; j++) {
      if ((groups[i] === groups[j]) !== (facts[i] === facts[j])) t.fail(`scenes ${i} and ${j}`);
      if (facts[i] === facts[j]) pairsSame++;
    }
  t.ok(pairsSame > 0, `the sample holds scenes with equal facts (${pairsSame} pairs), so the check bites`);
  t.same([...contentGroups(['a small red 3', 'no such words', 'no such words', 'a small red 3'])], [0, 1, 2, 0]);
});

t.test('sameGroup: 1 where ids agree, the diagonal always', async (t) => {
  t.same([...sameGroup([4, 7, 4])], [1, 0, 1, 0, 1, 0, 1, 0, 1]);
});

t.test('hard negatives never come from the positive group while another candidate exists', async (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 9 }),
      fc.integer({ min: 0, max: 1e6 }),
      fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 9, maxLength: 9 }),
      (n, seed, ids) => {
        const groups = ids.slice(0, n),
          same = sameGroup(groups);
        const sim = noGrad(() => randn([n, n + 2], { rng: new Rng(seed) }).mul(5));
        const picks = drawNegatives(sim, new Rng(seed), same).dataSync();
        return groups.every((g, i) => {
          const others = groups.some((h, j) => j !== i && h !== g);
          return picks[i] !== i && (!others || groups[picks[i]] !== g);
        });
      },
    ),
    { numRuns: 200 },
  );
  const sim = noGrad(() => randn([6, 6], { rng: new Rng(5) }));
  t.same(
    [...drawNegatives(sim, new Rng(9), sameGroup([0, 1, 2, 3, 4, 5])).dataSync()],
    [...drawNegatives(sim, new Rng(9)).dataSync()],
    'all groups distinct: the same draws as without groups',
  );
});

t.test('ITC targets spread the one-hot mass over the in-batch group', async (t) => {
  const sim = tensor(
    [
      [1, 0, 2, 0.5],
      [0.5, 3, -1, 0],
      [0, 1, 1, 2],
    ],
    { dtype: 'float64' },
  ); // B = 3 in-batch columns + 1 queue column
  t.same(softTargets(sim, 0, sameGroup([0, 1, 0])).toArray(), [
    [0.5, 0, 0.5, 0],
    [0, 1, 0, 0],
    [0.5, 0, 0.5, 0],
  ]);
  t.same(
    softTargets(sim, 0.4, sameGroup([0, 1, 2])).toArray(),
    softTargets(sim, 0.4).toArray(),
    'distinct groups: the plain one-hot',
  );
  t.throws(() => softTargets(sim, 0.4, sameGroup([0, 1])), /same-group matrix has 4 entries, expected 3×3/);
});

t.test('ALBEF: distinct groups leave the losses unchanged; a wrong-length list is refused', async (t) => {
  const a = microSetup(),
    b = microSetup();
  const plain = noGrad(() => a.model.losses(a.inputs, { alpha: a.alpha }));
  const grouped = noGrad(() =>
    b.model.losses({ ...b.inputs, groups: Int32Array.from({ length: B }, (_, i) => i) }, { alpha: b.alpha }),
  );
  t.equal(grouped.total.item(), plain.total.item(), 'same total loss, same negatives drawn');
  const c = microSetup();
  const merged = noGrad(() => c.model.losses({ ...c.inputs, groups: Int32Array.from([0, 0, 1]) }, { alpha: c.alpha }));
  t.not(merged.itc.item(), plain.itc.item(), 'grouping rows 0 and 1 changes the ITC targets');
  t.same([...merged.negatives.imageForText.dataSync()].slice(0, 2).sort(), [2, 2], 'rows 0 and 1 draw row 2');
  t.throws(
    () => microSetup().model.losses({ ...a.inputs, groups: Int32Array.from([0, 1]) }),
    /ALBEF: groups has 2 ids, expected 3/,
  );
});

t.test('VLMo ITC: a group spreads the target; distinct groups are the plain diagonal', async (t) => {
  const rng = new Rng(2);
  const v = randn([4, 5], { rng, dtype: 'float64' }),
    w = randn([4, 5], { rng, dtype: 'float64' }),
    scale = tensor(0.5, { dtype: 'float64' });
  const plain = itcBranchLoss(v, w, scale).loss.item();
  t.equal(itcBranchLoss(v, w, scale, sameGroup([0, 1, 2, 3])).loss.item(), plain, 'distinct groups');
  // rows 0 and 1 one group: by hand, each direction's row 0 and 1 targets are (1/2, 1/2, 0, 0)
  const logits = v.matmul(w.mT()).mul(Math.exp(0.5)).toArray() as number[][];
  const lse = (xs: number[]) => Math.log(xs.reduce((a, x) => a + Math.exp(x), 0));
  const cols = logits[0].map((_, j) => logits.map((r) => r[j]));
  const dir = (m: number[][]) =>
    m.reduce((acc, row, i) => acc + (i < 2 ? lse(row) - (row[0] + row[1]) / 2 : lse(row) - row[i]), 0) / 4;
  const want = (dir(logits) + dir(cols)) / 2;
  t.ok(Math.abs(itcBranchLoss(v, w, scale, sameGroup([0, 0, 2, 3])).loss.item() - want) < 1e-12, 'by hand');
});

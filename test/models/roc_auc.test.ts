// rocAuc, the ITM ranking measure of the VLMo learning checks: hand-computed cases, and against a
// brute-force count over every (positive, negative) pair on random scores with many ties.
import fc from 'fast-check';
import t from 'tap';
import { rocAuc } from '../../models/vlmo/learning.js';

const bruteForce = (pos: number[], neg: number[]): number => {
  let wins = 0;
  for (const p of pos) for (const n of neg) wins += p > n ? 1 : p === n ? 0.5 : 0;
  return wins / (pos.length * neg.length);
};

t.test('hand-computed cases', async (t) => {
  t.equal(rocAuc([2, 3], [0, 1]), 1, 'every positive above every negative');
  t.equal(rocAuc([0, 1], [2, 3]), 0, 'every positive below every negative');
  t.equal(rocAuc([1, 1], [1, 1, 1]), 0.5, 'all tied');
  t.equal(rocAuc([1, 3], [2]), 0.5, 'one pair won, one lost');
  t.equal(rocAuc([2], [1, 2, 3]), 0.5, 'a win, a tie and a loss');
  t.throws(() => rocAuc([], [1]), RangeError, 'no positives');
  t.throws(() => rocAuc([1], []), RangeError, 'no negatives');
});

t.test('equals the pair count on random scores with ties; swapping the classes gives 1 - AUC', async (t) => {
  const scores = fc.array(fc.integer({ min: -4, max: 4 }), { minLength: 1, maxLength: 30 });
  fc.assert(
    fc.property(scores, scores, (pos, neg) => {
      const auc = rocAuc(pos, neg);
      return Math.abs(auc - bruteForce(pos, neg)) < 1e-12 && Math.abs(auc + rocAuc(neg, pos) - 1) < 1e-12;
    }),
  );
  t.pass('property held on 100 random cases');
});

// ALBEF's objectives and state on hand-checkable micro examples: the soft-target mix, ITC, ITM
// labels and hard-negative sampling (never the positive; frequencies follow the softmax), MLM labels
// and the distillation mix, queue enqueue and wrap-around, the EMA update inside forward, τ clamping, and the
// errors bad inputs must give.
import t from 'tap';
import { noGrad, ones, randn, Rng, tensor, type Tensor } from '../../engine/index.js';
import { grammarVocab, maskTokens, Tokenizer } from '../../data/index.js';
import { Albef } from '../../models/albef/albef.js';
import { albefMicro } from '../../models/albef/config.js';
import { itcLoss, mlmLoss, softTargets } from '../../models/albef/losses.js';
import {
  hardNegativeWeights,
  itmLabels,
  itmLoss,
  sampleHardNegatives,
  sampleNegativeIndices,
} from '../../models/common/objectives.js';
import { enqueue } from '../../models/albef/momentum.js';
import { B, microSetup } from './albef_fixtures.js';

const f64 = (x: number[][] | number[]): Tensor => tensor(x, { dtype: 'float64' });
const close = (a: number, b: number, tol = 1e-12): boolean => Math.abs(a - b) <= tol;
const softmax = (xs: number[]): number[] => {
  const e = xs.map(Math.exp),
    s = e.reduce((a, b) => a + b);
  return e.map((v) => v / s);
};

t.test('soft targets: α·softmax(s_m) + (1 − α)·one-hot on the first B columns', async (t) => {
  const sim = [
    [1, 0, 2],
    [0.5, 3, -1],
  ]; // B = 2 in-batch columns + 1 queue column
  const q = softTargets(f64(sim), 0.4).toArray() as number[][];
  sim.forEach((row, i) =>
    softmax(row).forEach((p, j) => t.ok(close(q[i][j], 0.4 * p + (i === j ? 0.6 : 0)), `q[${i}][${j}]`)),
  );
  t.ok(
    q.every((row) =>
      close(
        row.reduce((a, b) => a + b),
        1,
      ),
    ),
    'rows are distributions',
  );
  const hard = softTargets(f64(sim), 0).toArray();
  t.same(
    hard,
    [
      [1, 0, 0],
      [0, 1, 0],
    ],
    'α = 0: plain one-hot (InfoNCE with queue negatives)',
  );
});

t.test('ITC: cross-entropy against the targets, averaged over both directions', async (t) => {
  const s = [[2, 0, 1]],
    q = [[0.7, 0.2, 0.1]];
  const logp = s[0].map((v) => v - Math.log(s[0].reduce((a, x) => a + Math.exp(x), 0)));
  const want = -q[0].reduce((a, qi, j) => a + qi * logp[j], 0);
  const { i2t, t2i, itc } = itcLoss(f64(s), f64([[0, 0, 0]]), f64(q), f64([[1, 0, 0]]));
  t.ok(close(i2t.item(), want), `i2t ${i2t.item()} = ${want}`);
  t.ok(close(t2i.item(), Math.log(3)), 'uniform logits, one-hot target: log 3');
  t.ok(close(itc.item(), (want + Math.log(3)) / 2), 'itc is the mean of both directions');
});

t.test('ITM: labels [1]*B + [0]*2B and the 2-way cross-entropy', async (t) => {
  t.same(itmLabels(2, f64([0])).toArray(), [1, 1, 0, 0, 0, 0]);
  const logits = [
    [0, 1],
    [2, 0],
    [0, 0],
    [1, 1],
    [0, 3],
    [-1, 1],
  ];
  const want = logits.map(([a, b], i) => -Math.log(softmax([a, b])[i < 2 ? 1 : 0])).reduce((x, y) => x + y) / 6;
  t.ok(close(itmLoss(f64(logits)).item(), want), `${itmLoss(f64(logits)).item()} = ${want}`);
});

t.test('hard negatives: weights are the in-batch softmax with the positive zeroed', async (t) => {
  const sim = [
    [3, 1, 0, 9],
    [1, 2, 2, 9],
    [0, 0, 5, 9],
  ]; // last column is a queue entry: ignored
  const w = hardNegativeWeights(f64(sim));
  sim.forEach((row, i) =>
    softmax(row.slice(0, 3)).forEach((p, j) => t.ok(close(w[i * 3 + j], i === j ? 0 : p), `w[${i}][${j}]`)),
  );
});

t.test('hard negatives are never the positive and follow the softmax weights (statistical)', async (t) => {
  const sim = f64([
    [2, 1, 0, -1],
    [0.5, 3, 0.5, 0],
    [1, 1, 1, 1],
    [0, 2, 1, 4],
  ]);
  const w = hardNegativeWeights(sim),
    rng = new Rng(3),
    n = 5000,
    counts = new Array(16).fill(0);
  let textPositives = 0;
  for (let k = 0; k < n; k++) {
    const neg = sampleHardNegatives(sim, sim, rng);
    neg.imageForText.forEach((j, b) => counts[b * 4 + j]++);
    neg.textForImage.forEach((j, b) => {
      if (j === b) textPositives++;
    });
  }
  t.equal(textPositives, 0, 'no image is ever paired with its own text as a negative');
  for (let b = 0; b < 4; b++) {
    t.equal(counts[b * 5], 0, `row ${b}: the positive is never drawn`);
    const total = [0, 1, 2, 3].reduce((a, j) => a + w[b * 4 + j], 0);
    let chi2 = 0;
    for (let j = 0; j < 4; j++) {
      if (j === b) continue;
      const expected = (n * w[b * 4 + j]) / total;
      chi2 += (counts[b * 4 + j] - expected) ** 2 / expected;
    }
    t.ok(chi2 < 13.8, `row ${b}: frequencies match the weights (χ² = ${chi2.toFixed(2)} < 13.8, 2 d.o.f., p = 0.001)`);
  }
  t.throws(() => sampleHardNegatives(f64([[1, 2]]), f64([[1, 2]]), rng), /at least 2/, 'B = 1 is an error');
  // τ at its floor: every off-diagonal softmax weight underflows to 0; the Gumbel-max draw works on
  // the logits, so it still picks a non-positive column, and the two equal ones about equally often.
  const peaked = f64([
      [2000, 0, 0],
      [0, 2000, 0],
      [0, 0, 2000],
    ]),
    seen = [0, 0, 0];
  let positives = 0;
  for (let k = 0; k < 400; k++) {
    const neg = sampleHardNegatives(peaked, peaked, rng);
    neg.imageForText.forEach((j, b) => {
      if (j === b) positives++;
      if (b === 0) seen[j]++;
    });
  }
  t.equal(positives, 0, 'underflowed weights: the positive is still never drawn');
  t.ok(
    seen[1] > 150 && seen[2] > 150,
    `underflowed weights: the other columns share the draws (${seen[1]}, ${seen[2]})`,
  );
  const dev = sampleNegativeIndices(peaked, peaked, rng);
  t.same(
    [dev.imageForText.dtype, dev.imageForText.shape, dev.imageForText.device],
    ['int32', [3], 'cpu'],
    "indices stay an int32 tensor on the sims' device",
  );
});

t.test('MLM: labels, exclusions and the 80/10/10 rule (ALBEF style, via data/masking)', async (t) => {
  const tok = Tokenizer.fromVocab(grammarVocab());
  const enc = tok.encodeBatch(Array(400).fill('a big red 7 left of a small blue 3'), {
    maxLength: 16,
    padding: 'max_length',
    truncation: true,
  });
  const { inputIds, labels, numMasked } = maskTokens(
    enc.ids,
    enc.attentionMask,
    tok.vocabSize,
    new Rng(1),
    tok.maskIds('albef'),
  );
  let masked = 0,
    asMask = 0,
    kept = 0,
    sepMasked = 0,
    changedUnlabelled = 0,
    special = 0,
    wrongLabel = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === -100) {
      if (inputIds[i] !== enc.ids[i]) changedUnlabelled++;
      continue;
    }
    masked++;
    if (enc.ids[i] === tok.padId || enc.ids[i] === tok.clsId) special++;
    if (labels[i] !== enc.ids[i]) wrongLabel++;
    if (enc.ids[i] === tok.sepId) sepMasked++;
    if (inputIds[i] === tok.maskId) asMask++;
    else if (inputIds[i] === enc.ids[i]) kept++;
  }
  t.equal(masked, numMasked);
  t.equal(changedUnlabelled, 0, 'unlabelled (−100) positions keep their id');
  t.equal(special, 0, 'never [PAD] or [CLS]');
  t.equal(wrongLabel, 0, 'label = original id at masked positions');
  const eligible = 400 * 11; // 10 words + [SEP] per caption
  t.ok(Math.abs(masked / eligible - 0.15) < 0.02, `about 15% chosen (${((100 * masked) / eligible).toFixed(1)}%)`);
  t.ok(Math.abs(asMask / masked - 0.8) < 0.05, `about 80% become [MASK] (${((100 * asMask) / masked).toFixed(1)}%)`);
  t.ok(
    kept / masked > 0.05 && kept / masked < 0.2,
    `about 10% (+ random hits) stay (${((100 * kept) / masked).toFixed(1)}%)`,
  );
  t.ok(sepMasked > 0, '[SEP] can be masked');
});

t.test('MLM loss: (1 − α)·CE + α·distillation over the masked positions', async (t) => {
  const logits = [
      [1, 2, 0],
      [0, 0, 3],
    ],
    labels = tensor(Int32Array.from([1, 0])),
    soft = [
      [0.2, 0.5, 0.3],
      [0.1, 0.1, 0.8],
    ];
  const logp = logits.map((r) => r.map((v) => v - Math.log(r.reduce((a, x) => a + Math.exp(x), 0))));
  const ce = -(logp[0][1] + logp[1][0]) / 2;
  const distill =
    -(soft[0].reduce((a, q, v) => a + q * logp[0][v], 0) + soft[1].reduce((a, q, v) => a + q * logp[1][v], 0)) / 2;
  t.ok(close(mlmLoss(f64(logits), labels, f64(soft), 0.4).item(), 0.6 * ce + 0.4 * distill));
  t.ok(close(mlmLoss(f64(logits), labels, null, 0.4).item(), ce), 'no soft labels: plain CE');
  // All positions, −100 where unmasked: the same loss as on the masked rows alone, and 0 with none masked.
  const allLogits = [[5, -1, 2], ...logits, [0, 4, 1]],
    allSoft = [[0.3, 0.3, 0.4], ...soft, [1, 0, 0]];
  const allLabels = tensor(Int32Array.from([-100, 1, 0, -100]));
  t.ok(
    close(mlmLoss(f64(allLogits), allLabels, f64(allSoft), 0.4).item(), 0.6 * ce + 0.4 * distill),
    'unlabelled (−100) rows weigh 0',
  );
  t.ok(close(mlmLoss(f64(allLogits), allLabels, null, 0.4).item(), ce), 'unlabelled rows weigh 0 (plain CE)');
  t.equal(
    mlmLoss(f64(allLogits), tensor(new Int32Array(4).fill(-100)), f64(allSoft), 0.4).item(),
    0,
    'nothing masked: 0, not NaN',
  );
});

t.test('queue: enqueue writes columns at the pointer and wraps around', async (t) => {
  let q = f64([
      [0, 0, 0, 0],
      [0, 0, 0, 0],
    ]),
    ptr = 0; // E = 2, Q = 4
  ({ queue: q, ptr } = enqueue(
    q,
    f64([
      [1, 2],
      [3, 4],
    ]),
    ptr,
  )); // B = 2 rows [B, E]
  t.same(q.toArray(), [
    [1, 3, 0, 0],
    [2, 4, 0, 0],
  ]);
  t.equal(ptr, 2);
  ({ queue: q, ptr } = enqueue(
    q,
    f64([
      [5, 6],
      [7, 8],
    ]),
    ptr,
  ));
  t.same(q.toArray(), [
    [1, 3, 5, 7],
    [2, 4, 6, 8],
  ]);
  t.equal(ptr, 0, 'wraps to 0');
  ({ queue: q, ptr } = enqueue(
    q,
    f64([
      [9, 9],
      [9, 9],
    ]),
    ptr,
  ));
  t.same(
    q.toArray(),
    [
      [9, 9, 5, 7],
      [9, 9, 6, 8],
    ],
    'the oldest columns are overwritten first',
  );
  t.throws(
    () =>
      enqueue(
        q,
        f64([
          [1, 1],
          [1, 1],
          [1, 1],
        ]),
        0,
      ),
    /not a multiple of the batch size 3/,
  );
});

t.test('forward: τ clamped, EMA before use, features enqueued; losses sum to total', async (t) => {
  const { model, inputs, negatives, alpha } = microSetup();
  noGrad(() => model.temp.assign(model.temp.mul(0).add(0.9)));
  const online = new Map(model.namedParameters());
  const before = new Map(
    [...online].filter(([, p]) => !p.requiresGrad).map(([n, p]) => [n, Float64Array.from(p.dataSync())]),
  );
  const q0 = model.queuePtr;
  const out = model.forward(inputs, { alpha, negatives });
  t.equal(model.temp.item(), 0.5, 'τ clamped to 0.5');
  let worst = 0;
  for (const [name, old] of before) {
    const now = online.get(name)!.dataSync(),
      src = online.get(name.replace(/_m(?=\.)/, ''))!.dataSync();
    for (let i = 0; i < old.length; i++) worst = Math.max(worst, Math.abs(now[i] - (0.995 * old[i] + 0.005 * src[i])));
  }
  t.ok(worst < 1e-12, `every momentum parameter moved by the EMA rule (max error ${worst})`);
  t.equal(model.queuePtr, (q0 + B) % model.config.queueSize, 'queue pointer advanced by B');
  const cols = (model.imageQueue.toArray() as number[][]).map((row) => row.slice(q0, q0 + B));
  const feats = out.imageFeatM.toArray() as number[][];
  t.ok(
    cols.every((row, e) => row.every((v, b) => v === feats[b][e])),
    'the momentum image features are the new queue columns',
  );
  t.ok(close(out.total.item(), out.mlm.item() + out.itc.item() + out.itm.item(), 1e-12), 'total = mlm + itc + itm');
  t.ok(out.mlmLogits !== null && out.mlmLogits.shape[0] === 6, 'MLM logits only at the 6 masked positions');
});

t.test('queue_ptr: the host mirror is saved through the buffer and restored by loadStateDict', async (t) => {
  const a = new Albef(albefMicro(12), { seed: 1 }),
    b = new Albef(albefMicro(12), { seed: 2 });
  a.queuePtr = 3;
  t.same(a.stateDict().queue_ptr.toArray(), [3], 'the setter writes the buffer the state dict saves');
  b.loadStateDict(a.stateDict());
  t.equal(b.queuePtr, 3, 'loadStateDict refreshes the mirror');
});

t.test('clear errors for bad inputs', async (t) => {
  const config = albefMicro(12),
    model = new Albef(config);
  const ids = tensor(Int32Array.from([2, 5, 3, 2, 6, 3]), { shape: [2, 3] }),
    attentionMask = ones([2, 3], { dtype: 'int32' });
  t.throws(
    () => model.forward({ images: randn([2, 3, 16, 16]), ids, attentionMask }),
    /expected images \[B, 3, 8, 8\]/,
    'wrong image size',
  );
  t.throws(
    () =>
      model.forward({ images: randn([4, 3, 8, 8]), ids: ids.repeat(2, 1), attentionMask: attentionMask.repeat(2, 1) }),
    /queue size 6 is not a multiple of the batch size 4/,
    'queue not a multiple of the batch',
  );
  const long = tensor(new Int32Array(2 * 9).fill(5), { shape: [2, 9] });
  t.throws(
    () => model.forward({ images: randn([2, 3, 8, 8]), ids: long, attentionMask: ones([2, 9], { dtype: 'int32' }) }),
    /text of 9 tokens is longer than the 8 positions/,
    'text longer than max positions',
  );
  t.throws(
    () => model.forward({ images: randn([2, 3, 8, 8]), ids: ids.to('float32'), attentionMask }),
    /ids must be int32/,
  );
  t.throws(
    () => new Albef({ ...config, text: { ...config.text, fusionLayer: 2 } }),
    /fusionLayer 2 must be in \[1, 2\)/,
  );
  t.throws(() => {
    model.queuePtr = 6;
  }, /outside \[0, 6\)/);
});

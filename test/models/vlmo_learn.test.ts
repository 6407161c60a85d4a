// VLMo learns its defining objectives: a small config trained by the default recipe (stage 1 on
// scene facts, then vision-language training) must score, on batches of unseen test scenes, ITM
// accuracy on hard negatives clearly above the 2/3 that "never a match" gets, and in-batch ITC
// accuracy clearly above chance. The fresh, untrained model is scored too, to show the thresholds
// fail a model that has not learned. CI-sized: the dependency-free 'shapes' scenes, a 2-block
// C = 64 model, 400 fact steps then 1,000 stage-3 steps at lr 2e-3 (ITM leaves its prior only after
// ~300-500 stage-3 steps at this size; models/vlmo/RESULTS.md, "The learning test").
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { grammarVocab } from '../../data/index.js';
import { vlmoTiny, type VlmoConfig } from '../../models/vlmo/config.js';
import { heldOutBatchAccuracy, type BatchAccuracy } from '../../models/vlmo/learning.js';
import { stageConfig } from '../../models/vlmo/stages.js';
import { trainVlmo, VLMO_TRAIN_DEFAULTS } from '../../models/vlmo/train.js';
import { Vlmo } from '../../models/vlmo/vlmo.js';
import { setThreads } from '../../kernels/index.js';

// One GEMM thread: `npm test` runs two files at once on two cores, and this file's training is
// cheaper in CPU time on one (the matmul result does not depend on the thread count).
setThreads(1);

const SMALL: VlmoConfig = {
  ...vlmoTiny(grammarVocab().length),
  name: 'vlmo-learn',
  dim: 64,
  depth: 2,
  heads: 2,
  mlpDim: 128,
  vlffnStart: 1,
};
/** Thresholds, fixed before training: ITM 10 points above its prior, ITC at 4x chance. */
const ITM_MIN = 2 / 3 + 0.1,
  ITC_MIN_X_CHANCE = 4;
const B = 32;

const describe = (a: BatchAccuracy): string =>
  `ITM ${(100 * a.itm).toFixed(1)}% (prior ${(100 * a.itmPrior).toFixed(1)}%; ranking AUC ${a.itmAuc.toFixed(3)}, none 0.5), in-batch ITC ${(100 * a.itc).toFixed(1)}% (chance ${(100 * a.itcChance).toFixed(1)}%), ${a.batches} held-out batches of ${B}`;
const passes = (a: BatchAccuracy): boolean => a.itm > ITM_MIN && a.itc > ITC_MIN_X_CHANCE * a.itcChance;

t.test('the default recipe learns ITM and ITC on held-out batches; an untrained model does not', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'vlmo-learn-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const { model, tokenizer, info } = await trainVlmo({
    ...VLMO_TRAIN_DEFAULTS,
    config: SMALL,
    dataset: 'shapes',
    trainSize: 4096,
    stages: '1,3',
    steps1: 400,
    steps3: 1000,
    lr: 2e-3,
    batchSize: B,
    out,
    checkpointEvery: 10_000,
    progress: false,
  });
  const heldOut = {
    dataset: 'shapes' as const,
    size: 512,
    seed: 1,
    split: 'test' as const,
    normalize: info.normalize,
    batchSize: B,
  };
  const trained = heldOutBatchAccuracy(model, tokenizer, heldOut);
  t.comment(`trained: ${describe(trained)}`);
  t.ok(
    trained.itm > ITM_MIN,
    `ITM on hard negatives ${(100 * trained.itm).toFixed(1)}% > ${(100 * ITM_MIN).toFixed(1)}%`,
  );
  t.ok(
    trained.itc > ITC_MIN_X_CHANCE * trained.itcChance,
    `in-batch ITC ${(100 * trained.itc).toFixed(1)}% > ${ITC_MIN_X_CHANCE}x chance`,
  );
  const fresh = heldOutBatchAccuracy(new Vlmo(stageConfig(info.config, 3), { seed: 3 }), tokenizer, heldOut);
  t.comment(`untrained: ${describe(fresh)}`);
  t.notOk(passes(fresh), 'the untrained model fails the same thresholds');
});

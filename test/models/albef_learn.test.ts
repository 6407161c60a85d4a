// ALBEF learns its objectives, not just lowers its losses: a small ALBEF-tiny run on 'shapes' scenes
// (image tower first warm-started on the training scenes' caption facts, `pretrainVit`, then ALBEF)
// must, on 256 HELD-OUT test scenes in batches of 16 (the training batch), tell matches from
// ITC-mined hard negatives clearly above the "never a match" prior (66.7%) and retrieve in-batch
// clearly above chance both ways (>= 8x the 1/16 chance). A from-scratch model fails all three with
// this budget: set VLGRAD_LEARN_SCRATCH=1 to run the same config without the warm start and watch
// them fail (models/albef/RESULTS.md, "The learning test", records both runs).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { grammarVocab } from '../../data/index.js';
import { albefTiny, type AlbefConfig } from '../../models/albef/config.js';
import { evaluateAlbef } from '../../models/albef/evaluate.js';
import { PRETRAIN_DEFAULTS, pretrainVit } from '../../models/albef/pretrain.js';
import { trainAlbef, TRAIN_DEFAULTS } from '../../models/albef/train.js';
import type { Albef } from '../../models/albef/albef.js';
import { buildGallery } from '../../models/common/gallery.js';
import { noGrad, tensor } from '../../engine/index.js';
import type { Normalize, Tokenizer } from '../../data/index.js';
import { setThreads } from '../../kernels/index.js';

// One GEMM thread: `npm test` runs two files at once on two cores, and this file's training is
// cheaper in CPU time on one (the matmul result does not depend on the thread count).
setThreads(1);

/**
 * ITC in-batch accuracy on 256 held-out test scenes in batches of 16: the share of images whose most
 * similar caption in the batch (and of captions whose most similar image) states the query's facts.
 */
function inBatchItc(model: Albef, tokenizer: Tokenizer, normalize: Normalize): { i2t: number; t2i: number } {
  const g = buildGallery(tokenizer, { dataset: 'shapes', size: 256, seed: 1, normalize, textLength: 16 });
  const B = 16,
    per = 3 * g.S * g.S;
  let i2t = 0,
    t2i = 0;
  noGrad(() => {
    model.eval();
    for (let s = 0; s < g.n; s += B) {
      const v = model.imageFeature(
        model.encodeImage(tensor(g.images.subarray(s * per, (s + B) * per), { shape: [B, 3, g.S, g.S] })),
      );
      const ids = tensor(g.ids.subarray(s * g.L, (s + B) * g.L), { shape: [B, g.L] }),
        mask = tensor(g.mask.subarray(s * g.L, (s + B) * g.L), { shape: [B, g.L] });
      const sim = v.matmul(model.textFeature(model.encodeText(ids, mask)).mT()); // [B, B]
      const rowBest = sim.argmax(-1).dataSync(),
        colBest = sim.argmax(0).dataSync();
      for (let r = 0; r < B; r++) {
        if (g.matches(s + r).includes(s + rowBest[r])) i2t++;
        if (g.matches(s + r).includes(s + colBest[r])) t2i++;
      }
    }
  });
  return { i2t: (100 * i2t) / g.n, t2i: (100 * t2i) / g.n };
}

const scratch = process.env.VLGRAD_LEARN_SCRATCH === '1';
const num = (name: string, def: number): number => Number(process.env[name] ?? def);
const V = grammarVocab().length,
  tiny = albefTiny(V);
// ALBEF-tiny (its image tower and its text and fusion layers) with a CI-sized queue and ITC width, and
// no dropout: the training recipe's default (dropout slows ITM down; RESULTS.md).
const config: AlbefConfig = {
  ...tiny,
  name: 'albef-learn',
  queueSize: 64,
  momentum: 0.99,
  text: { ...tiny.text, maxPositions: 16, hiddenDropout: 0, attnDropout: 0 },
  embedDim: 16,
};
const scenes = { dataset: 'shapes' as const, trainSize: 4096, seed: 0 };

t.test(
  `ALBEF-tiny ${scratch ? 'FROM SCRATCH (expected to fail)' : 'warm-started'}: ITM and ITC on held-out test scenes beat their priors`,
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'albef-learn-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    let initVision = '';
    if (!scratch) {
      const vit = await pretrainVit({
        ...PRETRAIN_DEFAULTS,
        ...scenes,
        config,
        steps: num('VLGRAD_LEARN_VIT_STEPS', 300),
        batchSize: 32,
        lr: 3e-3,
        valSize: 128,
        out: join(dir, 'vit'),
        progress: false,
      });
      t.comment(
        `warm start: ${vit.info.options.steps} steps in ${vit.info.seconds.toFixed(0)} s; val facts exact ${(100 * vit.info.val.exact).toFixed(1)}%`,
      );
      initVision = vit.path;
    }
    const run = await trainAlbef({
      ...TRAIN_DEFAULTS,
      ...scenes,
      config,
      steps: num('VLGRAD_LEARN_STEPS', 400),
      batchSize: 16,
      lr: num('VLGRAD_LEARN_LR', 2e-3),
      warmupSteps: 20,
      checkpointEvery: 1000,
      out: join(dir, 'albef'),
      progress: false,
      initVision,
    });
    t.comment(`ALBEF: ${run.steps} steps in ${run.seconds.toFixed(0)} s`);
    // Held-out test scenes in batches of 16, the training batch: ITM's hard negatives are mined from ITC within each batch.
    const r = evaluateAlbef(run.model, run.tokenizer, {
      dataset: 'shapes',
      split: 'test',
      size: 256,
      seed: 1,
      normalize: run.info.normalize,
      batchSize: 16,
      k: 4,
    });
    const inBatch = inBatchItc(run.model, run.tokenizer, run.info.normalize),
      chance = 100 / 16;
    t.ok(
      r.itmAccuracy.all >= 75,
      `ITM accuracy on hard negatives ${r.itmAccuracy.all.toFixed(1)}% >= 75% (prior 66.7%)`,
    );
    t.ok(
      inBatch.i2t >= 8 * chance,
      `ITC image->text in-batch accuracy ${inBatch.i2t.toFixed(1)}% >= 8x chance (${chance.toFixed(1)}%)`,
    );
    t.ok(
      inBatch.t2i >= 8 * chance,
      `ITC text->image in-batch accuracy ${inBatch.t2i.toFixed(1)}% >= 8x chance (${chance.toFixed(1)}%)`,
    );
    t.comment(
      `gallery of 256: ITC R@1 ${r.itc.all.i2t.r1.toFixed(1)}% / ${r.itc.all.t2i.r1.toFixed(1)}% (chance ${r.chanceR1.toFixed(1)}%)`,
    );
  },
);

// Training smoke test on a small split: 300 steps of a narrowed ALBEF-tiny (every element kept;
// widths 32, one ViT block, one text and one fusion layer; init std 0.2, momentum 0.99 and no dropout
// for a short run) on 128 'shapes' scenes must lower every loss and lift text->image R@1 over 64 of
// those TRAINING scenes far above chance (unseen test scenes are only reported: learning that
// generalizes is albef_learn.test.ts's job). Then resuming from the step-280
// checkpoint in a fresh model must reproduce the uninterrupted run's step-300 state bit for bit.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { grammarVocab } from '../../data/index.js';
import { albefTiny, type AlbefConfig } from '../../models/albef/config.js';
import { evaluateAlbef } from '../../models/albef/evaluate.js';
import { trainAlbef, TRAIN_DEFAULTS, type AlbefTrainOptions } from '../../models/albef/train.js';
import { latestCheckpoint, listCheckpoints, loadCheckpoint } from '../../models/common/checkpoint.js';
import { readJsonl } from '../../models/common/jsonl.js';
import { setThreads } from '../../kernels/index.js';

// One GEMM thread: `npm test` runs two files at once on two cores, and this file's training is
// cheaper in CPU time on one (the matmul result does not depend on the thread count).
setThreads(1);

const V = grammarVocab().length,
  tiny = albefTiny(V);
const smoke: AlbefConfig = {
  ...tiny,
  name: 'albef-smoke',
  queueSize: 64,
  initStd: 0.2,
  momentum: 0.99,
  vision: { ...tiny.vision, dim: 32, depth: 1, heads: 2, mlpDim: 64 },
  text: {
    ...tiny.text,
    hidden: 32,
    layers: 2,
    fusionLayer: 1,
    heads: 2,
    intermediate: 64,
    maxPositions: 16,
    encoderWidth: 32,
    hiddenDropout: 0,
    attnDropout: 0,
  },
  embedDim: 16,
};

t.test(
  '300 steps lower every loss and retrieve their training scenes far above chance (unseen scenes reported); resume is bit-identical',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'albef-train-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const opts: AlbefTrainOptions = {
      ...TRAIN_DEFAULTS,
      config: smoke,
      dataset: 'shapes',
      trainSize: 128,
      steps: 300,
      batchSize: 16,
      lr: 2e-3,
      warmupSteps: 20,
      checkpointEvery: 20,
      out: join(dir, 'a'),
      progress: false,
    };
    const a = await trainAlbef(opts);
    t.comment(`300 steps in ${a.seconds.toFixed(1)} s`);
    const log = readJsonl(join(opts.out, 'log.jsonl'));
    t.equal(log.length, 300, 'one log record per step');
    const avg = (k: string, from: number, to: number): number =>
      log.slice(from, to).reduce((s, r) => s + (r[k] as number), 0) / (to - from);
    for (const k of ['itc', 'itm', 'mlm', 'total']) {
      const first = avg(k, 0, 30),
        last = avg(k, 270, 300);
      t.ok(last < first, `${k} falls: mean of the first 30 steps ${first.toFixed(3)} -> last 30 ${last.toFixed(3)}`);
    }
    const evalOn = (split: 'train' | 'test'): ReturnType<typeof evaluateAlbef> =>
      evaluateAlbef(a.model, a.tokenizer, {
        dataset: 'shapes',
        split,
        size: 64,
        seed: split === 'train' ? opts.seed : 1,
        normalize: a.info.normalize,
        batchSize: 32,
        k: 4,
      });
    const seen = evalOn('train'),
      unseen = evalOn('test');
    t.ok(
      seen.itc.all.t2i.r1 > 5 * seen.chanceR1,
      `text->image R@1 ${seen.itc.all.t2i.r1.toFixed(1)}% vs chance ${seen.chanceR1.toFixed(1)}% (64 training scenes)`,
    );
    t.comment(
      `unseen test scenes: text->image R@1 ${unseen.itc.all.t2i.r1.toFixed(1)}% vs chance ${unseen.chanceR1.toFixed(1)}%`,
    );

    // Resume: a fresh process-equivalent (new model, optimizer, loader) continues from step 280.
    t.same(
      await listCheckpoints(join(opts.out, 'checkpoints')),
      [260, 280, 300],
      'the newest three checkpoints are kept',
    );
    const resumed = join(dir, 'b');
    await cp(join(opts.out, 'checkpoints', 'step-000280'), join(resumed, 'checkpoints', 'step-000280'), {
      recursive: true,
    });
    await trainAlbef({ ...opts, out: resumed, resume: true });
    const [x, y] = await Promise.all([
      loadCheckpoint((await latestCheckpoint(join(opts.out, 'checkpoints')))!),
      loadCheckpoint((await latestCheckpoint(join(resumed, 'checkpoints')))!),
    ]);
    t.equal(y.state.step, 300);
    const differing = Object.keys(x.model).filter(
      (k) => !Buffer.from(x.model[k].dataSync().buffer).equals(Buffer.from(y.model[k].dataSync().buffer)),
    );
    t.same(
      differing,
      [],
      `all ${Object.keys(x.model).length} model tensors (momentum model and queues included) are bit-identical`,
    );
    const moments = Object.entries(x.optimizer.state)
      .flatMap(([id, s]) => Object.entries(s).map(([key, v]) => [id, key, v] as const))
      .filter(([id, key, v]) =>
        typeof v === 'number'
          ? v !== y.optimizer.state[Number(id)][key]
          : !Buffer.from(v.dataSync().buffer).equals(
              Buffer.from((y.optimizer.state[Number(id)][key] as typeof v).dataSync().buffer),
            ),
      );
    t.equal(moments.length, 0, 'AdamW moments and step counts are bit-identical');
    t.same(y.state.rngs, x.state.rngs, 'every RNG (dropout, hard negatives) is in the same state');
    const tail = (p: string): unknown[] =>
      readJsonl(join(p, 'log.jsonl'))
        .filter((r) => r.step > 280)
        .map(({ time_s: _t, samples_per_s: _s, cpu_s: _c, ...r }) => r);
    t.same(tail(resumed), tail(opts.out), 'the resumed log (steps 281-300) matches the uninterrupted one');
  },
);

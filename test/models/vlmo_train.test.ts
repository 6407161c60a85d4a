// Smoke training of every VLMo stage through the real command path (data, codebook, freezing,
// checkpoints; stage 1 with both of its objectives, MIM and scene facts), on a narrow config and the dependency-free 'shapes' scenes: each stage lowers its
// loss, stage 3 starts from the earlier stages' weights, and an interrupted stage resumes bit for bit.
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { grammarVocab } from '../../data/index.js';
import { readJsonl } from '../../models/common/jsonl.js';
import { save } from '../../nn/safetensors_node.js';
import { vlmoTiny, type VlmoConfig } from '../../models/vlmo/config.js';
import { trainedStages, trainVlmo, VLMO_TRAIN_DEFAULTS, type VlmoTrainOptions } from '../../models/vlmo/train.js';

const SMOKE: VlmoConfig = {
  ...vlmoTiny(grammarVocab().length),
  name: 'vlmo-smoke',
  dim: 32,
  depth: 2,
  heads: 2,
  mlpDim: 64,
  vlffnStart: 1,
  codebookSize: 16,
};

function options(out: string, o: Partial<VlmoTrainOptions>): VlmoTrainOptions {
  return {
    ...VLMO_TRAIN_DEFAULTS,
    config: SMOKE,
    dataset: 'shapes',
    trainSize: 64,
    batchSize: 16,
    lr: 3e-3,
    warmup: 0,
    codebookImages: 32,
    stage1: 'mim+facts',
    out,
    checkpointEvery: 1000,
    progress: false,
    ...o,
  };
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

t.test('each stage lowers its loss; later stages start from the earlier ones', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'vlmo-smoke-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const steps = 16;
  await trainVlmo(options(out, { stages: '1,2,3', steps1: steps, steps2: steps, steps3: steps }));
  for (const [stage, key] of [
    [1, 'mim'],
    [1, 'facts'],
    [2, 'mlm'],
    [3, 'total'],
  ] as const) {
    const log = readJsonl(join(out, `stage${stage}`, 'log.jsonl')).map((r) => r[key] as number);
    t.equal(log.length, steps, `stage ${stage}: ${steps} logged steps`);
    const first = mean(log.slice(0, 4)),
      last = mean(log.slice(-4));
    t.ok(last < first, `stage ${stage} ${key}: ${first.toFixed(3)} (first 4 steps) -> ${last.toFixed(3)} (last 4)`);
    t.ok(existsSync(join(out, `stage${stage}`, 'loss.svg')), `stage ${stage}: loss plot`);
  }
  const done3 = JSON.parse(readFileSync(join(out, 'stage3', 'done.json'), 'utf8'));
  t.match(
    done3.startedFrom,
    /stage2[/\\]checkpoints[/\\]step-000016$/,
    "stage 3 started from stage 2's final checkpoint",
  );
  t.ok(existsSync(join(out, 'codebook.safetensors')), 'the stage-1 codebook was built at data-prep time');
  const info = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
  const full = await trainedStages(out, info);
  t.same(
    full.stages,
    [1, 2, 3].map((stage) => ({ stage, planned: steps, trained: steps })),
    "eval.json's record: every stage trained its planned steps",
  );
  t.ok(
    full.complete && /stage3[/\\]checkpoints[/\\]step-000016$/.test(full.checkpoint ?? ''),
    'complete, newest stage-3 checkpoint',
  );
  rmSync(join(out, 'stage3', 'done.json')); // as if stage 3 had been interrupted
  const cut = await trainedStages(out, info);
  t.equal(cut.complete, false, 'a stage without done.json makes the record incomplete');
  t.equal(cut.stages[2].trained, null, 'and names that stage');
});

t.test('an interrupted stage resumes bit for bit (stage 1 masks and codes, stage 3 hard negatives)', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'vlmo-resume-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  for (const stage of [1, 3] as const) {
    const o = options(out, { stages: String(stage), steps1: 4, steps3: 4, checkpointEvery: 2 });
    await trainVlmo({ ...o, resume: stage === 3 }); // stage 3 continues the run in `out` (a new run would refuse it)
    const last = join(out, `stage${stage}`, 'checkpoints', 'step-000004');
    const want = ['model.safetensors', 'trainer.safetensors'].map((f) => readFileSync(join(last, f)));
    rmSync(last, { recursive: true }); // as if killed after step 2's checkpoint
    rmSync(join(out, `stage${stage}`, 'done.json'));
    await trainVlmo({ ...o, resume: true });
    const got = ['model.safetensors', 'trainer.safetensors'].map((f) => readFileSync(join(last, f)));
    t.ok(got[0].equals(want[0]), `stage ${stage}: weights after the resumed run are bit-identical`);
    t.ok(got[1].equals(want[1]), `stage ${stage}: optimizer, RNG and loader state too`);
  }
});

/** Every file under `dir` (dot files included) with its bytes. */
const snapshot = (dir: string): Record<string, string> =>
  Object.fromEntries(
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => [join(e.parentPath, e.name).slice(dir.length), readFileSync(join(e.parentPath, e.name), 'base64')]),
  );

t.test('a later stage that cannot start from the earlier one changes nothing (issue 13 items 2 and 5)', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'vlmo-stage-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const o = options(out, { stage1: 'facts', steps1: 2, steps2: 2, checkpointEvery: 2 });
  await trainVlmo({ ...o, stages: '1' });
  const weights = join(out, 'stage1', 'checkpoints', 'step-000002', 'model.safetensors');
  copyFileSync(weights, `${weights}.good`);
  // A checkpoint of another model: it reads, but does not fit stage 2.
  await save(weights, { other: { dtype: 'float32', shape: [1], data: new Float32Array(1) } });
  const before = snapshot(out);
  await t.rejects(
    trainVlmo({ ...o, stages: '2', resume: true }),
    /stage 2: the previous stage's checkpoint does not fit/,
  );
  t.same(snapshot(out), before, 'run.json and every other file unchanged');
  rmSync(weights); // no readable stage-1 checkpoint: an error, not a silent start from scratch
  const before2 = snapshot(out);
  await t.rejects(
    trainVlmo({ ...o, stages: '2', resume: true }),
    /starts from stage 1, which is done, but no checkpoint/,
  );
  t.same(snapshot(out), before2, 'unchanged again');
  copyFileSync(`${weights}.good`, weights);
  rmSync(`${weights}.good`);
  await trainVlmo({ ...o, stages: '2', resume: true });
  const info = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
  t.equal(info.options.stages, '1,2', "run.json lists both invocations' stages");
  t.match(
    JSON.parse(readFileSync(join(out, 'stage2', 'done.json'), 'utf8')).startedFrom,
    /stage1[/\\]checkpoints[/\\]step-000002$/,
  );
});

t.test('--layer-scale sets the initial gammas and is recorded in run.json', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'vlmo-ls-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  const { info } = await trainVlmo(
    options(out, { stages: '1', steps1: 1, stage1: 'facts', layerScale: 0.5, lr: 1e-9 }),
  );
  t.equal(info.config.layerScale, 0.5, 'the run config carries the value');
  t.equal(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).config.layerScale, 0.5, 'run.json records it');
  const { model } = await trainVlmo(options(join(out, 'default'), { stages: '1', steps1: 1, stage1: 'facts' }));
  t.equal(model.config.layerScale, SMOKE.layerScale, '0 (the default) keeps the config value');
});

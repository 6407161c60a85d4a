/**
 * Stagewise pre-training of VLMo on the bundled scenes (docs/reference.md#vlmo-stagewise-pre-training): stage 1 image-only masked image
 * modelling, stage 2 text-only MLM with attention and V-FFN frozen, stage 3 ITC + ITM + MLM with
 * everything trainable. Each stage is one run of the shared trainer in `<out>/stage<n>/` (log.jsonl,
 * loss.svg, checkpoints/ with bit-identical resume) and starts from the previous stage's final
 * weights when they exist. AdamW with VLMo's no-decay rule, betas (0.9, 0.98), linear warm-up then
 * linear decay to 0 (UNILM:vlmo/vlmo/modules/vlmo_utils.py `set_schedule`).
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultBackend, noGrad, Rng, setDefaultDevice, stack, tensor, tidy, type Tensor } from '../../engine/index.js';
import {
  channelStats,
  DataLoader,
  grammarVocab,
  makeDataset,
  Tokenizer,
  type DatasetName,
  type Normalize,
  type SceneDataset,
} from '../../data/index.js';
import { AdamW, paramGroups } from '../../nn/optim.js';
import { warmupLinear } from '../../nn/schedulers.js';
import { latestCheckpoint, moduleRngs, rngStates, saveCheckpoint } from '../common/checkpoint.js';
import { resumeFromCheckpoints } from '../common/resume.js';
import { checkResumeOptions, parseAllowChange, pickOptions, withRunDir, type OpenRun } from '../common/run_dir.js';
import { JsonlLog, readJsonl } from '../common/jsonl.js';
import { lossCurvesSvg } from '../common/plot.js';
import { ProgressBar } from '../common/progress.js';
import { onHost, startTrainingDevice, trainLoop, type StepReport } from '../common/trainer.js';
import { correctShare, readAll } from '../common/objectives.js';
import { gridSize, vlmoConfig, type VlmoConfig } from './config.js';
import { blockMask, patchCodes } from './mim.js';
import { factsExact, factsObjective, mimObjective, textMlmObjective, vlBatch, vlObjective } from './objectives.js';
import { FactTargets } from './facts.js';
import {
  freezeForStage,
  loadPreviousStage,
  STAGE_NAMES,
  stageConfig,
  parseStages,
  STAGES,
  vlmoNoDecay,
  type Stage,
} from './stages.js';
import { Vlmo } from './vlmo.js';
import { buildCodebook, loadStageModel, previousWeights, readCodebook, saveCodebook } from './stage_files.js';

export { parseStages } from './stages.js';
export { vlBatch } from './objectives.js';
export {
  loadStageCheckpoint,
  loadStageModel,
  prepareCodebook,
  trainedStages,
  type TrainedStages,
} from './stage_files.js';

export interface VlmoTrainOptions {
  /** A config name (its vocabulary becomes the tokenizer's) or a full config. */
  config: string | VlmoConfig;
  dataset: DatasetName;
  /** Training scenes (images for stage 1, captions for stage 2, pairs for stage 3). */
  trainSize: number;
  /** Fraction of noisy (mismatched) training captions. */
  noise: number;
  /** Which stages to run, e.g. '1,2,3' or '3' (stage 3 alone starts from scratch unless stage 2 is done in --out). */
  stages: string;
  steps1: number;
  steps2: number;
  steps3: number;
  batchSize: number;
  /** Peak learning rate, and the warm-up as a fraction of each stage's steps. */
  lr: number;
  warmup: number;
  weightDecay: number;
  /** Training images whose patches build the stage-1 k-means codebook. */
  codebookImages: number;
  /**
   * Stage 1's objective: 'mim' (masked image modelling on k-means codes), 'facts' (multi-label
   * scene facts on the image [CLS], see facts.ts), or 'mim+facts' (the sum).
   */
  stage1: Stage1Objective;
  /** Weight init std; 0 keeps the config's. */
  initStd: number;
  /** Initial value of the layer scales; 0 keeps the config's (optional for callers written before it). */
  layerScale?: number;
  /** Stage 1's peak learning rate; 0 uses `lr`. */
  lr1: number;
  seed: number;
  device: string;
  out: string;
  checkpointEvery: number;
  resume: boolean;
  /** Replace a run already in `out`; `allowChange`: options a resume may change (see VLMO_RESUME_KEYS). */
  overwrite?: boolean;
  allowChange?: string;
  progress: boolean;
}

/** Options that change a run's maths: a resume must keep them (or name them in `allowChange`); `steps<n>` counts once stage n has begun. */
export const VLMO_RESUME_KEYS = [
  'config',
  'dataset',
  'trainSize',
  'noise',
  'batchSize',
  'lr',
  'warmup',
  'weightDecay',
  'codebookImages',
  'stage1',
  'initStd',
  'layerScale',
  'lr1',
  'seed',
] as const;

/** Defaults of `vlgrad train vlmo`, sized from bench/vlmo_step.ts (see models/vlmo/RESULTS.md). */
export const VLMO_TRAIN_DEFAULTS: VlmoTrainOptions = {
  config: 'vlmo-tiny',
  dataset: 'mnist-scenes',
  // 65,536 generated scenes: on 8,192 stage 1's 12,000 facts steps memorized the training scenes
  // (facts loss 0.0002) and ITM on batch-64 negatives reached 83.3%; on 65,536 it reaches 87.8%.
  trainSize: 65536,
  noise: 0,
  stages: '1,2,3',
  steps1: 12000,
  steps2: 100,
  steps3: 900,
  batchSize: 32,
  lr: 1e-3,
  warmup: 0.1,
  weightDecay: 0.01,
  codebookImages: 1024,
  stage1: 'facts',
  initStd: 0,
  layerScale: 0,
  lr1: 3e-3,
  seed: 0,
  device: 'cpu',
  out: 'runs/vlmo-tiny',
  checkpointEvery: 100,
  resume: false,
  progress: true,
};

/** Stage 1's objectives. */
export const STAGE1_OBJECTIVES = ['mim', 'facts', 'mim+facts'] as const;
export type Stage1Objective = (typeof STAGE1_OBJECTIVES)[number];

/** What `<out>/run.json` records, so eval rebuilds the same model and data. */
export interface VlmoRunInfo {
  options: VlmoTrainOptions;
  config: VlmoConfig;
  normalize: Normalize;
  vocab: string[];
}

/** Written as `<out>/stage<n>/done.json` when a stage finishes. */
export interface StageDone {
  stage: Stage;
  steps: number;
  seconds: number;
  startedFrom: string;
}

/** A step's logged numbers. */
interface Logged {
  losses: Record<string, number>;
  extra: Record<string, number>;
}

/** Masked-prediction reads: `<name>_pred` (argmax per row) and `<name>_labels` (−100 rows are skipped by correctShare). */
const predictions = (name: string, all: { logits: Tensor; labels: Tensor }): Record<string, Tensor> =>
  noGrad(() => ({ [`${name}_pred`]: all.logits.argmax(-1), [`${name}_labels`]: all.labels.reshape([-1]) }));

/** Scalars stacked into one tensor now (a copy: later in-place updates do not change it), to read later. */
const stackScalars = (xs: Tensor[]): Tensor => noGrad(() => stack(xs));

interface StageContext {
  run: OpenRun;
  opts: VlmoTrainOptions;
  config: VlmoConfig;
  tokenizer: Tokenizer;
  train: SceneDataset;
  normalize: Normalize;
  /**
   * Whether what `--out` holds belongs to this run: true on a resume and after commit; false before a
   * new run's commit (an --overwrite's old stages and codebook are about to be deleted, not used).
   */
  inherits: boolean;
}

/**
 * One stage, in two halves: this call builds the model and reads and validates everything the stage
 * starts from (the previous stage's weights, a checkpoint to resume, the codebook) without writing;
 * the function it returns writes: it trains, logs, checkpoints and marks the stage done.
 */
async function prepareStage(stage: Stage, steps: number, ctx: StageContext): Promise<() => Promise<Vlmo>> {
  const { opts, config, tokenizer, train, normalize } = ctx,
    dir = join(opts.out, `stage${stage}`),
    ckptDir = join(dir, 'checkpoints');
  // Built and given the previous stage's weights on the host, then moved to the training device.
  const device = defaultBackend(),
    useMim = stage === 1 && opts.stage1 !== 'facts',
    facts = stage === 1 && opts.stage1 !== 'mim' ? new FactTargets(opts.dataset) : null;
  const model = onHost(
    () =>
      new Vlmo(stageConfig(config, stage), {
        seed: opts.seed + stage,
        mim: useMim,
        ...(facts ? { facts: facts.size } : {}),
      }),
  );
  const resumable = ctx.run.resuming && (await latestCheckpoint(ckptDir)) !== null;
  let startedFrom = 'scratch';
  if (!resumable) {
    const prev = stage > 1 && ctx.inherits ? await previousWeights(opts.out, stage) : null;
    if (prev) {
      loadPreviousStage(model, prev.weights, stage);
      startedFrom = prev.from;
    }
  }
  model.to(device);
  const { trainable } = freezeForStage(model, stage);
  const peakLr = stage === 1 && opts.lr1 > 0 ? opts.lr1 : opts.lr;
  const optimizer = new AdamW(
    paramGroups(
      model.namedParameters().filter(([, p]) => p.requiresGrad),
      { weightDecay: opts.weightDecay, noDecay: vlmoNoDecay },
    ),
    { lr: peakLr, betas: [0.9, 0.98], eps: 1e-8 },
  );
  const lrAt = warmupLinear({ warmupSteps: Math.floor(opts.warmup * steps), totalSteps: steps });
  const loader = new DataLoader(train, {
    batchSize: opts.batchSize,
    tokenizer,
    seed: opts.seed + stage,
    maxLength: config.maxTextLen,
    dropLast: true,
    normalize,
    ...(stage > 1 ? { mlm: { style: 'vlmo' as const, prob: config.mlmProb } } : {}),
  });
  const rngs = moduleRngs(model);
  const resumed = resumable
    ? await resumeFromCheckpoints({
        run: ctx.run,
        checkpoints: ckptDir,
        options: {},
        keys: [],
        target: { model, optimizer, rngs, loader },
        label: `stage ${stage}: `,
      })
    : null;
  const startStep = resumed?.step ?? 0,
    resumeFrom = resumed?.path ?? null; // options were checked for every stage up front
  if (resumed) startedFrom = String(resumed.state.extra.startedFrom ?? resumeFrom);
  const codebookPath = join(opts.out, 'codebook.safetensors'),
    saved = useMim && ctx.inherits ? await readCodebook(codebookPath, config) : null,
    codebook = useMim ? (saved ?? buildCodebook(train, normalize, config, opts.codebookImages, opts.seed)) : null;
  return async () => {
    if (!resumable) rmSync(dir, { recursive: true, force: true });
    if (codebook && !saved) await saveCodebook(codebookPath, codebook);
    console.log(
      `stage ${stage} (${STAGE_NAMES[stage]}): ${steps} steps, ${trainable.length} trainable tensors, from ${resumeFrom ? `${resumeFrom} (resumed)` : startedFrom}`,
    );
    const log = new JsonlLog(join(dir, 'log.jsonl'), resumeFrom ? { resumeAfter: startStep } : { fresh: true });
    const S = config.imageSize,
      g = gridSize(config),
      P = g * g,
      maskCount = Math.round(config.mimMaskRatio * P);

    const step = async (s: number): Promise<StepReport> => {
      const batch = loader.next(),
        lr = lrAt(s - 1, peakLr),
        B = batch.batchSize;
      for (const grp of optimizer.paramGroups) grp.lr = lr;
      model.train();
      // Forward, backward and update in a tidy scope (its intermediates go back to the buffer pool at
      // once); it returns the tensors to read, which are read after it and then disposed.
      const { reads, finish } = tidy(() => {
        const reads: Record<string, Tensor> = {};
        let total: Tensor, finish: (v: Record<string, ArrayLike<number>>) => Logged;
        if (stage === 1) {
          const images = tensor(batch.images, { shape: [B, 3, S, S] }),
            terms: Tensor[] = [];
          if (useMim) {
            const rng = new Rng((opts.seed * 1_000_003 + s) >>> 0),
              mask = new Int32Array(B * P); // masks: a pure function of the step
            for (let b = 0; b < B; b++) mask.set(blockMask(g, maskCount, rng), b * P);
            const out = mimObjective(model, {
              images,
              mimMask: tensor(mask, { shape: [B, P] }),
              codes: tensor(patchCodes(codebook!, batch.images, B, S, config.patchSize), { shape: [B, P] }),
            });
            terms.push(out.loss);
            Object.assign(reads, { mim: out.loss, ...predictions('mim', out.all) });
          }
          if (facts) {
            const metas = batch.indices.map((i, b) => train.meta(i, batch.flipped[b] === 1));
            const targets = tensor(facts.targets(metas), { shape: [B, facts.size] });
            const out = factsObjective(model, images, targets);
            terms.push(out.loss);
            Object.assign(reads, { facts: out.loss, facts_logits: out.logits, facts_targets: targets });
          }
          total = terms.length === 2 ? terms[0].add(terms[1]) : terms[0];
          finish = (v) => ({
            losses: {
              ...(useMim ? { mim: v.mim[0] } : {}),
              ...(facts ? { facts: v.facts[0] } : {}),
            },
            extra: {
              ...(useMim ? { mim_acc: correctShare(v.mim_pred, v.mim_labels) } : {}),
              ...(facts ? { facts_exact: factsExact(v.facts_logits, v.facts_targets, facts.size) } : {}),
            },
          });
        } else if (stage === 2) {
          const out = textMlmObjective(model, vlBatch(batch, S));
          total = out.loss;
          Object.assign(reads, { mlm: out.loss, ...predictions('mlm', out.all) });
          finish = (v) => ({ losses: { mlm: v.mlm[0] }, extra: { mlm_acc: correctShare(v.mlm_pred, v.mlm_labels) } });
        } else {
          const out = vlObjective(model, vlBatch(batch, S));
          total = out.total;
          // Stacked before the update, read after it: logit_scale is logged as it was in the forward pass.
          reads.scalars = stackScalars([out.itc, out.itm, out.mlm, out.total, out.itcA, out.itcB, model.logitScale]);
          Object.assign(reads, predictions('mlm', out.mlmAll));
          reads.itm_pred = noGrad(() => out.itmLogits.argmax(-1));
          reads.itc_pred = noGrad(() => out.itcLogits.argmax(-1));
          finish = (v) => {
            const x = v.scalars;
            return {
              losses: { itc: x[0], itm: x[1], mlm: x[2], total: x[3] },
              extra: {
                itc_a: x[4],
                itc_b: x[5],
                itm_acc: correctShare(
                  v.itm_pred,
                  Int32Array.from({ length: 3 * B }, (_, i) => (i < B ? 1 : 0)),
                ),
                mlm_acc: correctShare(v.mlm_pred, v.mlm_labels),
                itc_acc: correctShare(
                  v.itc_pred,
                  Int32Array.from({ length: B }, (_, i) => i),
                ),
                logit_scale: x[6],
              },
            };
          };
        }
        optimizer.zeroGrad();
        total.backward();
        optimizer.step();
        return { reads, finish };
      });
      const { losses, extra } = finish(await readAll(reads));
      return { losses, extra: { lr, ...extra }, samples: B };
    };
    const checkpoint = (s: number): Promise<string> =>
      saveCheckpoint(ckptDir, model, optimizer, {
        step: s,
        rngs: rngStates(rngs),
        extra: {
          loader: loader.state(),
          stage,
          startedFrom,
          options: pickOptions(opts, [...VLMO_RESUME_KEYS, `steps${stage}`]),
        },
      });
    const result = await trainLoop({
      startStep,
      totalSteps: steps,
      step,
      checkpoint,
      checkpointEvery: opts.checkpointEvery,
      log,
      progress: opts.progress ? new ProgressBar(process.stderr) : null,
    });
    const keys =
      stage === 1
        ? [...(useMim ? ['mim', 'mim_acc'] : []), ...(facts ? ['facts', 'facts_exact'] : [])]
        : stage === 2
          ? ['mlm', 'mlm_acc']
          : ['itc', 'itm', 'mlm', 'total', 'itm_acc', 'itc_acc'];
    writeFileSync(
      join(dir, 'loss.svg'),
      lossCurvesSvg(readJsonl(log.path), keys, {
        title: `${config.name} stage ${stage} (${STAGE_NAMES[stage]}), ${opts.dataset}, batch ${opts.batchSize}`,
      }),
    );
    const previous = existsSync(join(dir, 'done.json'))
      ? (JSON.parse(readFileSync(join(dir, 'done.json'), 'utf8')) as StageDone).seconds
      : 0;
    const done: StageDone = { stage, steps, seconds: (resumeFrom ? previous : 0) + result.seconds, startedFrom };
    writeFileSync(join(dir, 'done.json'), `${JSON.stringify(done, null, 2)}\n`);
    return model;
  };
}

type Trained = { model: Vlmo; tokenizer: Tokenizer; info: VlmoRunInfo; seconds: number };

/**
 * Runs the requested stages in order, holding the run directory's lock throughout (another process
 * training into `opts.out` is refused); returns the last stage's model.
 */
export async function trainVlmo(opts: VlmoTrainOptions): Promise<Trained> {
  const where = { resume: opts.resume, overwrite: opts.overwrite, command: 'train vlmo' };
  return withRunDir(opts.out, where, (run) => trainStages(run, opts));
}

async function trainStages(run: OpenRun, opts: VlmoTrainOptions): Promise<Trained> {
  const begun = STAGES.filter((s) => existsSync(join(opts.out, `stage${s}`, 'checkpoints'))).map((s) => `steps${s}`);
  const changed =
    run.resuming && run.saved
      ? checkResumeOptions({
          saved: run.saved.options,
          current: { ...opts },
          keys: [...VLMO_RESUME_KEYS, ...begun],
          allow: parseAllowChange(opts.allowChange),
          source: join(opts.out, 'run.json'),
        })
      : {};
  setDefaultDevice(await startTrainingDevice(opts.device));
  const t0 = performance.now(),
    stages = parseStages(opts.stages);
  const tokenizer = Tokenizer.fromVocab(grammarVocab());
  const named = typeof opts.config === 'string' ? vlmoConfig(opts.config, tokenizer.vocabSize) : opts.config;
  const config = {
    ...named,
    ...(opts.initStd > 0 ? { initStd: opts.initStd } : {}),
    ...((opts.layerScale ?? 0) > 0 ? { layerScale: opts.layerScale } : {}),
  };
  if (!(STAGE1_OBJECTIVES as readonly string[]).includes(opts.stage1))
    throw new RangeError(`train vlmo --stage1: '${opts.stage1}' is not one of ${STAGE1_OBJECTIVES.join(', ')}`);
  if (config.vocabSize !== tokenizer.vocabSize)
    throw new RangeError(
      `${config.name}: vocabSize ${config.vocabSize} differs from the tokenizer's ${tokenizer.vocabSize}`,
    );
  const train = makeDataset({
    name: opts.dataset,
    split: 'train',
    size: opts.trainSize,
    seed: opts.seed,
    imageSize: config.imageSize as 32 | 64,
    ...(opts.noise > 0 ? { noise: { fraction: opts.noise } } : {}),
  });
  const normalize = channelStats(train, 512);
  // run.json describes the whole run: the stages of earlier invocations stay listed (eval reports them).
  const before = run.resuming ? run.saved?.options.stages : undefined,
    recorded = typeof before === 'string' && before !== '' ? parseStages(before) : [];
  const allStages = [...new Set([...recorded, ...stages])].sort().join(',');
  const info: VlmoRunInfo = { options: { ...opts, stages: allStages }, config, normalize, vocab: [...tokenizer.vocab] };
  const ctx: StageContext = { run, opts, config, tokenizer, train, normalize, inherits: run.resuming };
  const steps: Record<Stage, number> = { 1: opts.steps1, 2: opts.steps2, 3: opts.steps3 };
  const todo = stages.filter((stage) => {
    if (opts.resume && existsSync(join(opts.out, `stage${stage}`, 'done.json'))) {
      const done = JSON.parse(readFileSync(join(opts.out, `stage${stage}`, 'done.json'), 'utf8')) as StageDone;
      if (done.steps === steps[stage]) {
        console.log(`stage ${stage}: already done (${done.steps} steps), skipped`);
        return false;
      }
    }
    return steps[stage] > 0;
  });
  // Item 2's rule: the first stage reads and validates what it starts from before anything is written.
  const first = todo.length ? await prepareStage(todo[0], steps[todo[0]], ctx) : null;
  let model = first ? null : await loadStageModel(opts.out, stages[stages.length - 1], config);
  run.commit(
    info,
    run.resuming
      ? { time: new Date().toISOString(), stages: opts.stages, ...(Object.keys(changed).length ? { changed } : {}) }
      : undefined,
  );
  ctx.inherits = true;
  for (const [i, stage] of todo.entries())
    model = await (i === 0 ? first! : await prepareStage(stage, steps[stage], ctx))();
  return { model: model!, tokenizer, info, seconds: (performance.now() - t0) / 1000 };
}

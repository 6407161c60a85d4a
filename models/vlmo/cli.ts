/**
 * `vlgrad train vlmo`, `eval vlmo`, `vqa vlmo`, `count vlmo`: stagewise pre-training of VLMo-tiny on
 * the bundled scenes (all stages or any, resumable), evaluation in both retrieval modes, VQA
 * fine-tuning through the shared head, and parameter counts of every config without training.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getBackend, setDefaultDevice } from '../../engine/index.js';
import { Tokenizer, type DatasetName } from '../../data/index.js';
import { command, flag, type Command } from '../common/cli.js';
import {
  checkCheckpointFlag,
  checkTrainSize,
  DATA_FLAGS,
  datasetFlag,
  deviceFlag,
  EVAL_FLAGS,
  RUN_FLAGS,
  runFlags,
  seedFlag,
  trainConfigFlag,
} from '../common/flags.js';
import { checkpointStep, requireRunJson, withSavedOptions, wroteVerb } from '../common/run_dir.js';
import { vqaCommand, type FusedClsModel } from '../common/vqa.js';
import { stateDictTo } from '../common/checkpoint.js';
import { HOST_DEVICES } from '../common/trainer.js';
import { vlmoConfig, VLMO_CONFIG_NAMES } from './config.js';
import { countParameters } from './count.js';
import { evaluateVlmo, formatVlmoReport, type VlmoEvalOptions } from './evaluate.js';
import {
  loadStageCheckpoint,
  parseStages,
  trainedStages,
  trainVlmo,
  VLMO_RESUME_KEYS,
  VLMO_TRAIN_DEFAULTS,
  type Stage1Objective,
  type VlmoRunInfo,
  type VlmoTrainOptions,
} from './train.js';
import { stageConfig } from './stages.js';
import { Vlmo } from './vlmo.js';

type EvalFlags = { evalSize: number; evalK: number; evalSeed: number; evalBatch: number };
/** VLMo as a VQA backbone: the pooled [CLS] of the fusion encoder (`infer` + pooler). */
export function vlmoVqaModel(model: Vlmo): FusedClsModel {
  return {
    module: model,
    dim: model.config.dim,
    textLength: model.config.maxTextLen,
    fusedCls: (images, ids, mask) => model.pooler.forward(model.fuse(ids, mask, images)),
  };
}

/**
 * Rebuilds the trained (stage-3) model of a run directory, on the device it trained on; a run trained
 * on a device other than cpu or cpu-ref (e.g. 'webgpu') is rebuilt on cpu, where evaluation and VQA
 * read synchronously.
 */
export async function loadVlmoRun(
  run: string,
  checkpoint?: string,
): Promise<{ model: Vlmo; tokenizer: Tokenizer; info: VlmoRunInfo; checkpoint: string }> {
  const info = requireRunJson<VlmoRunInfo>(run, 'train vlmo');
  checkCheckpointFlag(checkpoint ?? '');
  const device = HOST_DEVICES.includes(info.options.device) ? info.options.device : 'cpu';
  if (device !== info.options.device)
    console.log(`${run} was trained on ${info.options.device}; its model is loaded on cpu`);
  setDefaultDevice(getBackend(device));
  const loaded = await loadStageCheckpoint(run, 3, info.config, checkpoint || undefined);
  return { model: loaded.model, tokenizer: Tokenizer.fromVocab(info.vocab), info, checkpoint: loaded.checkpoint };
}

function evalOptions(f: EvalFlags, info: VlmoRunInfo): VlmoEvalOptions {
  return {
    dataset: info.options.dataset,
    size: f.evalSize,
    k: f.evalK,
    seed: f.evalSeed,
    batchSize: f.evalBatch,
    normalize: info.normalize,
  };
}

/**
 * The trained stage-3 model on cpu for evaluation (it reads synchronously, which 'webgpu' refuses): a
 * model trained on another device is rebuilt on cpu from its state dict, read with async reads.
 */
async function modelForEval(model: Vlmo, info: VlmoRunInfo): Promise<Vlmo> {
  if (HOST_DEVICES.includes(info.options.device)) return model;
  setDefaultDevice('cpu');
  const onCpu = new Vlmo(stageConfig(info.config, 3));
  onCpu.loadStateDict(await stateDictTo(model, 'cpu'));
  console.log(`evaluation runs on cpu: the model trained on ${info.options.device} was moved there`);
  return onCpu;
}

async function evaluateAndWrite(
  model: Vlmo,
  tokenizer: Tokenizer,
  info: VlmoRunInfo,
  f: EvalFlags,
  out: string,
  checkpoint: string,
): Promise<void> {
  const report = evaluateVlmo(model, tokenizer, evalOptions(f, info)),
    training = await trainedStages(out, info, checkpoint);
  const path = join(out, 'eval.json'),
    verb = wroteVerb(path);
  writeFileSync(
    path,
    `${JSON.stringify({ checkpoint, step: checkpointStep(checkpoint), training, ...report }, null, 2)}\n`,
  );
  console.log(formatVlmoReport(report, `${info.config.name} on ${info.options.dataset}, test split`));
  const steps = training.stages.map((s) => `stage ${s.stage} ${s.trained ?? 'unfinished'}/${s.planned}`).join(', ');
  console.log(`${training.complete ? 'trained' : 'CUT SHORT, trained'}: ${steps} steps; evaluated ${checkpoint}`);
  console.log(`${verb} ${path} (checkpoint ${checkpoint})`);
}

const D = VLMO_TRAIN_DEFAULTS;
const train = command({
  verb: 'train',
  model: 'vlmo',
  summary: 'stagewise pre-training of VLMo (1 vision MIM, 2 text MLM, 3 ITC+ITM+MLM), then evaluation',
  flags: {
    ...D, // every training option is a flag; the typed specs below override
    config: trainConfigFlag(D.config as string, VLMO_CONFIG_NAMES, (n) => vlmoConfig(n).imageSize),
    dataset: datasetFlag(D.dataset),
    ...DATA_FLAGS,
    trainSize: flag.int(D.trainSize, 'training scenes', { min: 1 }),
    stages: flag.str(
      D.stages,
      "stages to run, e.g. 1,2,3 or 3 (each starts from the previous stage's final weights in --out, if done; later stages into an existing --out need --resume)",
    ),
    steps1: flag.int(D.steps1, 'stage-1 steps (facts and/or masked image modelling, see --stage1)', { min: 1 }),
    steps2: flag.int(D.steps2, 'stage-2 steps (text-only MLM)', { min: 1 }),
    steps3: flag.int(D.steps3, 'stage-3 steps (ITC + ITM + MLM)', { min: 1 }),
    batchSize: flag.int(D.batchSize, 'samples per step', { min: 1 }),
    lr: flag.num(D.lr, 'peak learning rate (AdamW, betas 0.9/0.98)', { above: 0 }),
    warmup: flag.num(D.warmup, 'linear warm-up, as a fraction of each stage', { min: 0, max: 1 }),
    weightDecay: flag.num(D.weightDecay, "AdamW weight decay (VLMo's no-decay names excluded)", { min: 0 }),
    codebookImages: flag.int(D.codebookImages, 'training images for the stage-1 k-means codebook', { min: 1 }),
    stage1: flag.choice(D.stage1, 'stage-1 objective', {
      mim: 'masked image modelling',
      facts: "name the scene's colours, digits, sizes, pairs",
      'mim+facts': 'both',
    }),
    initStd: flag.num(D.initStd ?? 0, "weight init std (0 = the config's)", { min: 0 }),
    layerScale: flag.num(D.layerScale ?? 0, "initial layer-scale value gamma (0 = the config's)", { min: 0 }),
    lr1: flag.num(D.lr1 ?? 0, 'stage-1 peak learning rate (0 = --lr)', { min: 0 }),
    seed: seedFlag(D.seed, 'seed of init, data order, masks, negatives'),
    device: deviceFlag(D.device),
    out: flag.str(D.out, 'run directory (run.json, codebook, stage<n>/{log.jsonl,loss.svg,checkpoints}, eval.json)'),
    ...RUN_FLAGS,
    checkpointEvery: flag.int(D.checkpointEvery, 'checkpoint every N steps', { min: 1 }),
    resume: flag.bool(
      false,
      "continue: finished stages are skipped, an interrupted one resumes from its newest readable checkpoint (options not given are the saved run's)",
    ),
    eval: flag.bool(true, 'evaluate on the test split after stage 3'),
    ...EVAL_FLAGS,
  },
  async run(flags, { given }) {
    const f = flags.resume
      ? withSavedOptions(flags, given, flags.out, [...VLMO_RESUME_KEYS, 'steps1', 'steps2', 'steps3'])
      : flags;
    parseStages(f.stages);
    checkTrainSize(f.trainSize, f.noise);
    const { eval: doEval, evalSize, evalK, evalSeed, evalBatch, ...rest } = f;
    const opts: VlmoTrainOptions = {
      ...rest,
      dataset: rest.dataset as DatasetName,
      stage1: rest.stage1 as Stage1Objective,
    };
    const t0 = performance.now(),
      { model, tokenizer, info, seconds } = await trainVlmo(opts);
    console.log(`trained stages ${opts.stages} in ${seconds.toFixed(0)} s; run directory ${opts.out}`);
    if (doEval && opts.stages.includes('3')) {
      const { checkpoint } = await loadStageCheckpoint(opts.out, 3, info.config);
      await evaluateAndWrite(
        await modelForEval(model, info),
        tokenizer,
        info,
        { evalSize, evalK, evalSeed, evalBatch },
        opts.out,
        checkpoint,
      );
    }
    console.log(`total wall time ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  },
});

const evaluate = command({
  verb: 'eval',
  model: 'vlmo',
  summary: 'retrieval R@1/5/10 (dual encoder and ITM re-ranked, timed), ITM and MLM accuracy, held-out compositions',
  flags: { ...runFlags(VLMO_TRAIN_DEFAULTS.out), ...EVAL_FLAGS },
  async run(f) {
    const { model, tokenizer, info, checkpoint } = await loadVlmoRun(f.run, f.checkpoint);
    await evaluateAndWrite(model, tokenizer, info, f, f.run, checkpoint);
  },
});

const vqa = vqaCommand('vlmo', VLMO_TRAIN_DEFAULTS.out, async (run, checkpoint) => {
  const { model, tokenizer, info, checkpoint: from } = await loadVlmoRun(run, checkpoint);
  return {
    fused: vlmoVqaModel(model),
    tokenizer,
    dataset: info.options.dataset,
    normalize: info.normalize,
    seed: info.options.seed,
    name: info.config.name,
    checkpoint: from,
  };
});

const count = command({
  verb: 'count',
  model: 'vlmo',
  summary: 'parameter counts of a config, from its module tree, without allocating weights',
  flags: {
    config: flag.choice('vlmo-base', 'model config', VLMO_CONFIG_NAMES),
    vocabSize: flag.int(0, "vocabulary size (0: the config's own; tiny/micro default 1000/12)", { min: 0 }),
  },
  async run(f) {
    const c = vlmoConfig(f.config, f.vocabSize || undefined),
      r = countParameters(c);
    console.log(
      `${c.name} (V = ${c.vocabSize}): backbone ${r.backbone.toLocaleString('en-US')}, with pre-training heads ${r.total.toLocaleString('en-US')}`,
    );
    for (const [k, v] of Object.entries(r.parts))
      console.log(`  ${k.padEnd(30)} ${v.toLocaleString('en-US').padStart(14)}`);
  },
});

/** VLMo's commands for bin/vlgrad.ts. */
export const vlmoCommands: Command[] = [train, evaluate, vqa, count];

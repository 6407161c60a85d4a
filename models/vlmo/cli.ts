/**
 * `vlgrad train vlmo`, `eval vlmo`, `vqa vlmo`, `count vlmo`: stagewise pre-training of VLMo-tiny on
 * the bundled scenes (all stages or any, resumable), evaluation in both retrieval modes, VQA
 * fine-tuning through the shared head, and parameter counts of every config without training.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getBackend, setDefaultDevice } from '../../engine/index.js';
import { Tokenizer, type DatasetName } from '../../data/index.js';
import type { Command, FlagValue } from '../common/cli.js';
import { vqaCommand, type FusedClsModel } from '../common/vqa.js';
import { stateDictTo } from '../common/checkpoint.js';
import { HOST_DEVICES } from '../common/trainer.js';
import { vlmoConfig, VLMO_CONFIG_NAMES } from './config.js';
import { countParameters } from './count.js';
import { evaluateVlmo, formatVlmoReport, type VlmoEvalOptions } from './evaluate.js';
import { loadStageModel, trainedStages, trainVlmo, VLMO_TRAIN_DEFAULTS, type VlmoRunInfo, type VlmoTrainOptions } from './train.js';
import { stageConfig } from './stages.js';
import { Vlmo } from './vlmo.js';

const EVAL_DEFAULTS = { evalSize: 1000, evalK: 16, evalSeed: 1, evalBatch: 64 };
const EVAL_HELP = { evalSize: 'test scenes', evalK: 'ITM re-ranking candidates per query', evalSeed: 'test split seed', evalBatch: 'evaluation batch' };
/** VLMo as a VQA backbone: the pooled [CLS] of the fusion encoder (`infer` + pooler). */
export function vlmoVqaModel(model: Vlmo): FusedClsModel {
  return { module: model, dim: model.config.dim, textLength: model.config.maxTextLen,
    fusedCls: (images, ids, mask) => model.pooler.forward(model.fuse(ids, mask, images)) };
}

/**
 * Rebuilds the trained (stage-3) model of a run directory, on the device it trained on; a run trained
 * on a device other than cpu or cpu-ref (e.g. 'webgpu') is rebuilt on cpu, where evaluation and VQA
 * read synchronously.
 */
export async function loadVlmoRun(run: string, checkpoint?: string): Promise<{ model: Vlmo; tokenizer: Tokenizer; info: VlmoRunInfo }> {
  const info = JSON.parse(readFileSync(join(run, 'run.json'), 'utf8')) as VlmoRunInfo;
  const device = HOST_DEVICES.includes(info.options.device) ? info.options.device : 'cpu';
  if (device !== info.options.device) console.log(`${run} was trained on ${info.options.device}; its model is loaded on cpu`);
  setDefaultDevice(getBackend(device));
  return { model: await loadStageModel(run, 3, info.config, checkpoint || undefined), tokenizer: Tokenizer.fromVocab(info.vocab), info };
}

function evalOptions(f: Record<string, FlagValue>, info: VlmoRunInfo): VlmoEvalOptions {
  return { dataset: info.options.dataset, size: f.evalSize as number, k: f.evalK as number, seed: f.evalSeed as number,
    batchSize: f.evalBatch as number, normalize: info.normalize };
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

async function evaluateAndWrite(model: Vlmo, tokenizer: Tokenizer, info: VlmoRunInfo, f: Record<string, FlagValue>, out: string, checkpoint?: string): Promise<void> {
  const report = evaluateVlmo(model, tokenizer, evalOptions(f, info)), training = await trainedStages(out, info, checkpoint);
  writeFileSync(join(out, 'eval.json'), `${JSON.stringify({ ...report, training }, null, 2)}\n`);
  console.log(formatVlmoReport(report, `${info.config.name} on ${info.options.dataset}, test split`));
  const steps = training.stages.map((s) => `stage ${s.stage} ${s.trained ?? 'unfinished'}/${s.planned}`).join(', ');
  console.log(`${training.complete ? 'trained' : 'CUT SHORT, trained'}: ${steps} steps; evaluated ${training.checkpoint}`);
}

const train: Command = {
  verb: 'train', model: 'vlmo', summary: 'stagewise pre-training of VLMo (1 vision MIM, 2 text MLM, 3 ITC+ITM+MLM), then evaluation',
  flags: { ...VLMO_TRAIN_DEFAULTS, eval: true, ...EVAL_DEFAULTS } as Record<string, FlagValue>,
  help: {
    config: VLMO_CONFIG_NAMES.join(' | '), dataset: 'mnist-scenes | shapes', trainSize: 'training scenes', noise: 'fraction of noisy training captions',
    stages: 'stages to run, e.g. 1,2,3 or 3 (each starts from the previous stage\'s final weights in --out, if done)',
    steps1: 'stage-1 steps (masked image modelling)', steps2: 'stage-2 steps (text-only MLM)', steps3: 'stage-3 steps (ITC + ITM + MLM)',
    batchSize: 'samples per step', lr: 'peak learning rate (AdamW, betas 0.9/0.98)', warmup: 'linear warm-up, as a fraction of each stage',
    weightDecay: 'AdamW weight decay (VLMo\'s no-decay names excluded)', codebookImages: 'training images for the stage-1 k-means codebook',
    stage1: 'stage-1 objective: mim | facts | mim+facts (facts: name the scene\'s colours, digits, sizes, pairs)', initStd: 'weight init std (0 = the config\'s)', lr1: 'stage-1 peak learning rate (0 = --lr)',
    seed: 'seed of init, data order, masks, negatives', device: 'cpu | cpu-ref | webgpu | webasm | gpujs-cpu (gpu.js devices are started first; evaluation runs on cpu)',
    out: 'run directory (run.json, codebook, stage<n>/{log.jsonl,loss.svg,checkpoints}, eval.json)', checkpointEvery: 'checkpoint every N steps',
    resume: 'continue: finished stages are skipped, an interrupted one resumes from its newest checkpoint', progress: 'show the progress bar',
    eval: 'evaluate on the test split after stage 3', ...EVAL_HELP,
  },
  async run(f) {
    const opts = { ...(f as unknown as VlmoTrainOptions), dataset: f.dataset as DatasetName, stages: String(f.stages) };
    const t0 = performance.now(), { model, tokenizer, info, seconds } = await trainVlmo(opts);
    console.log(`trained stages ${opts.stages} in ${seconds.toFixed(0)} s; run directory ${opts.out}`);
    if (f.eval && opts.stages.includes('3')) await evaluateAndWrite(await modelForEval(model, info), tokenizer, info, f, opts.out);
    console.log(`total wall time ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  },
};

const evaluate: Command = {
  verb: 'eval', model: 'vlmo', summary: 'retrieval R@1/5/10 (dual encoder and ITM re-ranked, timed), ITM and MLM accuracy, held-out compositions',
  flags: { run: VLMO_TRAIN_DEFAULTS.out, checkpoint: '', ...EVAL_DEFAULTS },
  help: { run: 'run directory written by train', checkpoint: 'stage-3 checkpoint directory (default: newest)', ...EVAL_HELP },
  async run(f) {
    const { model, tokenizer, info } = await loadVlmoRun(f.run as string, f.checkpoint as string);
    await evaluateAndWrite(model, tokenizer, info, f, f.run as string, (f.checkpoint as string) || undefined);
  },
};

const vqa = vqaCommand('vlmo', VLMO_TRAIN_DEFAULTS.out, async (run, checkpoint) => {
  const { model, tokenizer, info } = await loadVlmoRun(run, checkpoint);
  return { fused: vlmoVqaModel(model), tokenizer, dataset: info.options.dataset, normalize: info.normalize, seed: info.options.seed, name: info.config.name };
});

const count: Command = {
  verb: 'count', model: 'vlmo', summary: 'parameter counts of a config, from its module tree, without allocating weights',
  flags: { config: 'vlmo-base', vocabSize: 0 },
  help: { config: VLMO_CONFIG_NAMES.join(' | '), vocabSize: 'vocabulary size (0: the config\'s own; tiny/micro default 1000/12)' },
  async run(f) {
    const c = vlmoConfig(f.config as string, (f.vocabSize as number) || undefined), r = countParameters(c);
    console.log(`${c.name} (V = ${c.vocabSize}): backbone ${r.backbone.toLocaleString('en-US')}, with pre-training heads ${r.total.toLocaleString('en-US')}`);
    for (const [k, v] of Object.entries(r.parts)) console.log(`  ${k.padEnd(30)} ${v.toLocaleString('en-US').padStart(14)}`);
  },
};

/** VLMo's commands for bin/vlgrad.ts. */
export const vlmoCommands: Command[] = [train, evaluate, vqa, count];

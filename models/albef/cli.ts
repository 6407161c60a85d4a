/**
 * `vlgrad train albef`, `eval albef`, `ground albef`, `vqa albef`: train ALBEF-tiny on the bundled
 * scenes and evaluate it, resume from a checkpoint, draw per-word Grad-CAM grounding maps, and
 * fine-tune the VQA head shared with VLMo.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getBackend, setDefaultDevice, tensor } from '../../engine/index.js';
import { makeDataset, Tokenizer, type DatasetName } from '../../data/index.js';
import { fromRecords, latestCheckpoint, stateDictTo } from '../common/checkpoint.js';
import { HOST_DEVICES } from '../common/trainer.js';
import type { Command, FlagValue } from '../common/cli.js';
import { vqaCommand, type FusedClsModel } from '../common/vqa.js';
import { load } from '../../nn/safetensors_node.js';
import { Albef } from './albef.js';
import { evaluateAlbef, formatReport, type EvalOptions } from './evaluate.js';
import { gradCam, groundingPng } from './grounding.js';
import { TRAIN_DEFAULTS, trainAlbef, type AlbefTrainOptions, type RunInfo } from './train.js';

const EVAL_DEFAULTS = { evalSize: 1000, evalK: 16, evalSeed: 1, evalBatch: 64 };

/**
 * Rebuilds a trained model from a run directory (run.json + the newest checkpoint, or `checkpoint`),
 * on the device it trained on; a run trained on a device other than cpu or cpu-ref (e.g. 'webgpu')
 * is rebuilt on cpu, where evaluation, grounding and VQA read synchronously.
 */
export async function loadRun(run: string, checkpoint?: string): Promise<{ model: Albef; tokenizer: Tokenizer; info: RunInfo }> {
  const info = JSON.parse(readFileSync(join(run, 'run.json'), 'utf8')) as RunInfo;
  const device = HOST_DEVICES.includes(info.options.device) ? info.options.device : 'cpu';
  if (device !== info.options.device) console.log(`${run} was trained on ${info.options.device}; its model is loaded on cpu`);
  setDefaultDevice(getBackend(device));
  const dir = checkpoint || (await latestCheckpoint(join(run, 'checkpoints')));
  if (!dir) throw new Error(`no checkpoint under ${join(run, 'checkpoints')}; train first (vlgrad train albef --out ${run})`);
  const model = new Albef(info.config, { seed: info.options.seed });
  model.loadStateDict(fromRecords((await load(join(dir, 'model.safetensors'))).tensors));
  return { model, tokenizer: Tokenizer.fromVocab(info.vocab), info };
}

/**
 * The trained model on cpu for evaluation and grounding (they read synchronously, which 'webgpu'
 * refuses): a model trained on another device is rebuilt on cpu from its state dict, read with
 * async reads. A model trained on cpu or cpu-ref is returned as it is.
 */
async function modelForEval(model: Albef, info: RunInfo): Promise<Albef> {
  if (HOST_DEVICES.includes(info.options.device)) return model;
  setDefaultDevice('cpu');
  const onCpu = new Albef(info.config, { seed: info.options.seed });
  onCpu.loadStateDict(await stateDictTo(model, 'cpu'));
  console.log(`evaluation and grounding run on cpu: the model trained on ${info.options.device} was moved there`);
  return onCpu;
}

function evalOptions(f: Record<string, FlagValue>, info: RunInfo): EvalOptions {
  return { dataset: info.options.dataset, size: f.evalSize as number, k: f.evalK as number, seed: f.evalSeed as number,
    batchSize: f.evalBatch as number, normalize: info.normalize };
}

function evaluateAndWrite(model: Albef, tokenizer: Tokenizer, info: RunInfo, f: Record<string, FlagValue>, out: string): void {
  const t0 = performance.now(), report = evaluateAlbef(model, tokenizer, evalOptions(f, info));
  const seconds = (performance.now() - t0) / 1000;
  writeFileSync(join(out, 'eval.json'), `${JSON.stringify({ ...report, seconds }, null, 2)}\n`);
  console.log(formatReport(report, `${info.config.name} on ${info.options.dataset}, test split (eval ${seconds.toFixed(0)} s)`));
}

function ground(model: Albef, tokenizer: Tokenizer, info: RunInfo, index: number, caption: string, layer: number, out: string): string {
  // The eval gallery's scenes (which scenes hold held-out compositions depends on the split's size).
  const ds = makeDataset({ name: info.options.dataset, split: 'test', size: Math.max(index + 1, EVAL_DEFAULTS.evalSize), seed: EVAL_DEFAULTS.evalSeed });
  const S = ds.imageSize, raw = ds.image(index), norm = raw.slice();
  for (let i = 0; i < norm.length; i++) { const c = Math.floor(i / (S * S)); norm[i] = (norm[i] - info.normalize.mean[c]) / info.normalize.std[c]; }
  const text = caption || ds.cleanCaption(index), enc = tokenizer.encode(text, { maxLength: 16, truncation: true });
  const g = gradCam(model, tensor(norm, { shape: [1, 3, S, S] }), tensor(enc.ids, { shape: [1, enc.ids.length] }),
    tensor(enc.attentionMask, { shape: [1, enc.ids.length] }), enc.tokens, layer);
  writeFileSync(out, groundingPng(raw, S, text, g));
  return `${out}: "${text}" (ITM p(match) = ${g.itmProb.toFixed(3)})`;
}

const train: Command = {
  verb: 'train', model: 'albef', summary: 'pre-train ALBEF on MNIST scenes, then evaluate and draw a grounding map',
  flags: { ...TRAIN_DEFAULTS, dropout: 0.1, queueSize: 256, eval: true, ...EVAL_DEFAULTS } as Record<string, FlagValue>,
  help: {
    config: 'albef-tiny | albef-micro | albef-base', dataset: 'mnist-scenes | shapes', trainSize: 'training scenes',
    noise: 'fraction of noisy (mismatched) training captions', steps: 'optimizer steps', batchSize: 'pairs per step (must divide the queue size)',
    lr: 'peak learning rate (AdamW)', warmupLr: 'learning rate at step 0', warmupSteps: 'linear warm-up steps', minLr: 'cosine floor',
    weightDecay: 'AdamW weight decay (not on biases and 1-D tensors)', seed: 'seed of init, data order, masks, dropout, negatives',
    device: 'cpu | cpu-ref | webgpu | webasm | gpujs-cpu (gpu.js devices are started first; evaluation runs on cpu)', out: 'run directory (log.jsonl, loss.svg, checkpoints/, eval.json)',
    checkpointEvery: 'checkpoint every N steps', maxMinutes: 'stop training after this many minutes (0 = never)', resume: 'continue from the newest checkpoint in --out', progress: 'show the progress bar',
    dropout: 'BERT dropout (hidden and attention)', queueSize: 'ITC feature-queue length', momentum: 'EMA momentum of the momentum model', eval: 'evaluate on the test split afterwards',
    evalSize: 'test scenes', evalK: 'ITM re-ranking candidates per query', evalSeed: 'test split seed', evalBatch: 'evaluation batch',
  },
  async run(f) {
    const opts = { ...(f as unknown as AlbefTrainOptions), dataset: f.dataset as DatasetName };
    const t0 = performance.now(), { model, tokenizer, info, seconds, steps } = await trainAlbef(opts);
    if (steps < opts.steps) console.log(`stopped at step ${steps} of ${opts.steps}: the --max-minutes ${opts.maxMinutes} budget ran out (resume with --resume --max-minutes 0)`);
    console.log(`trained to step ${steps} in ${seconds.toFixed(0)} s; run directory ${opts.out} (loss curves: ${join(opts.out, 'loss.svg')})`);
    if (!f.eval) return;
    const evalModel = await modelForEval(model, info);
    evaluateAndWrite(evalModel, tokenizer, info, f, opts.out);
    console.log(ground(evalModel, tokenizer, info, 0, '', 0, join(opts.out, 'grounding.png')));
    console.log(`total wall time ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  },
};

const evaluate: Command = {
  verb: 'eval', model: 'albef', summary: 'retrieval R@1/5/10 (ITC and ITC+ITM), ITM and MLM accuracy, held-out compositions',
  flags: { run: TRAIN_DEFAULTS.out, checkpoint: '', ...EVAL_DEFAULTS },
  help: { run: 'run directory written by train', checkpoint: 'checkpoint directory (default: newest in <run>/checkpoints)',
    evalSize: 'test scenes', evalK: 'ITM re-ranking candidates per query', evalSeed: 'test split seed', evalBatch: 'evaluation batch' },
  async run(f) {
    const { model, tokenizer, info } = await loadRun(f.run as string, f.checkpoint as string);
    evaluateAndWrite(model, tokenizer, info, f, f.run as string);
  },
};

const groundCmd: Command = {
  verb: 'ground', model: 'albef', summary: 'per-word Grad-CAM on the fusion cross-attention, as a PNG heat map over the image',
  flags: { run: TRAIN_DEFAULTS.out, checkpoint: '', index: 0, caption: '', layer: 0, out: '' },
  help: { run: 'run directory written by train', checkpoint: 'checkpoint directory', index: 'test scene index',
    caption: 'caption to ground (default: the scene\'s own)', layer: 'fusion layer (0 = first)', out: 'PNG path (default <run>/grounding-<index>.png)' },
  async run(f) {
    const { model, tokenizer, info } = await loadRun(f.run as string, f.checkpoint as string);
    const out = (f.out as string) || join(f.run as string, `grounding-${f.index}.png`);
    console.log(ground(model, tokenizer, info, f.index as number, f.caption as string, f.layer as number, out));
  },
};

/** ALBEF as a VQA backbone: the fusion encoder's [CLS] (no pooler; ALBEF's ITM head reads it directly). */
export function albefVqaModel(model: Albef): FusedClsModel {
  return { module: model, dim: model.config.text.hidden, textLength: 16,
    fusedCls: (images, ids, mask) => model.fuse(model.encodeText(ids, mask), mask, model.encodeImage(images)).narrow(1, 0, 1).squeeze(1) };
}

const vqa = vqaCommand('albef', TRAIN_DEFAULTS.out, async (run, checkpoint) => {
  const { model, tokenizer, info } = await loadRun(run, checkpoint);
  return { fused: albefVqaModel(model), tokenizer, dataset: info.options.dataset, normalize: info.normalize, seed: info.options.seed, name: info.config.name };
});

/** ALBEF's commands for bin/vlgrad.ts. */
export const albefCommands: Command[] = [train, evaluate, groundCmd, vqa];

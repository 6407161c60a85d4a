/**
 * Pre-training ALBEF on the bundled scenes: data, AdamW with ALBEF's weight-decay groups, warm-up +
 * cosine learning rate, the α ramp, checkpoints with everything needed to resume bit for bit
 * (model + momentum model + queues, optimizer, every RNG, the loader's position).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { noGrad, setDefaultDevice, stack, tensor, type Tensor } from '../../engine/index.js';
import { AdamW, paramGroups } from '../../nn/optim.js';
import { channelStats, DataLoader, grammarVocab, makeDataset, Tokenizer, type Batch, type DatasetName, type Normalize } from '../../data/index.js';
import { moduleRngs, rngStates, saveCheckpoint } from '../common/checkpoint.js';
import { resumeFromCheckpoints } from '../common/resume.js';
import { openRunDir, pickOptions } from '../common/run_dir.js';
import { JsonlLog, readJsonl } from '../common/jsonl.js';
import { alphaRamp, warmupCosine } from '../common/lr_schedule.js';
import { lossCurvesSvg } from '../common/plot.js';
import { ProgressBar } from '../common/progress.js';
import { onHost, startTrainingDevice, trainLoop, type StepReport } from '../common/trainer.js';
import { Albef, type AlbefInputs, type AlbefOutput } from './albef.js';
import { albefConfig, type AlbefConfig } from './config.js';

export interface AlbefTrainOptions {
  /** A config name (its vocabulary is the tokenizer's) or a full config. */
  config: string | AlbefConfig;
  dataset: DatasetName;
  /** Training scenes. */
  trainSize: number;
  /** Fraction of training captions replaced by wrong ones (noisy web pairs). */
  noise: number;
  steps: number;
  batchSize: number;
  /** Peak learning rate, its warm-up start, warm-up steps and cosine floor. */
  lr: number; warmupLr: number; warmupSteps: number; minLr: number;
  weightDecay: number;
  seed: number;
  device: string;
  /** Run directory: log, checkpoints, final weights, plot. */
  out: string;
  checkpointEvery: number;
  /** Wall-clock budget of the training loop in minutes (0 = none): past it, training stops after a checkpoint. */
  maxMinutes: number;
  resume: boolean;
  /** Replace a run already in `out` (a new run refuses a non-empty `out`); `allowChange`: see ALBEF_RESUME_KEYS. */
  overwrite?: boolean;
  allowChange?: string;
  progress: boolean;
  /** Override the config's dropout (BERT hidden and attention), queue size and EMA momentum. */
  dropout?: number;
  queueSize?: number;
  momentum?: number;
}

/**
 * The defaults of `vlgrad train albef`: about 0.65 s per step at batch 16 on an idle 2-core CPU, so
 * 900 steps (~10.5 min) plus the evaluation (~3 min) fit 15 minutes, and `maxMinutes` stops training
 * early on a busy machine (see RESULTS.md). lr 1e-3: 3e-3 learned nothing more in 200-step trials.
 * Momentum 0.99 instead of 0.995: spec D1 allows it for short runs.
 */
export const TRAIN_DEFAULTS: AlbefTrainOptions = {
  config: 'albef-tiny', dataset: 'mnist-scenes', trainSize: 8192, noise: 0, steps: 900, batchSize: 16,
  lr: 1e-3, warmupLr: 1e-5, warmupSteps: 30, minLr: 1e-5, weightDecay: 0.02, seed: 0, device: 'cpu',
  out: 'runs/albef-tiny', checkpointEvery: 100, maxMinutes: 12, resume: false, progress: true, momentum: 0.99,
};

/** Options that change a run's maths: a resume must keep them (or name them in `allowChange`). */
export const ALBEF_RESUME_KEYS = ['config', 'dataset', 'trainSize', 'noise', 'steps', 'batchSize', 'lr', 'warmupLr', 'warmupSteps', 'minLr',
  'weightDecay', 'seed', 'dropout', 'queueSize', 'momentum'] as const;

/** What a run directory's run.json records, so eval and grounding rebuild the same model and data. */
export interface RunInfo { options: AlbefTrainOptions; config: AlbefConfig; normalize: Normalize; vocab: string[] }

/**
 * A loader batch as model inputs, cut to its longest caption (ALBEF pads with padding='longest'; the
 * positions cut are padding, which attention masks out exactly, so only the cost changes).
 */
export function batchInputs(b: Batch, imageSize: number): AlbefInputs {
  const B = b.batchSize, L = b.length;
  let T = 1;
  for (let r = 0; r < B; r++) for (let k = L - 1; k >= T; k--) if (b.attentionMask[r * L + k]) { T = k + 1; break; }
  const cut = (a: Int32Array): Int32Array => (T === L ? a : Int32Array.from({ length: B * T }, (_, i) => a[Math.floor(i / T) * L + (i % T)]));
  const inputs: AlbefInputs = {
    images: tensor(b.images, { shape: [B, 3, imageSize, imageSize] }),
    ids: tensor(cut(b.ids), { shape: [B, T] }),
    attentionMask: tensor(cut(b.attentionMask), { shape: [B, T] }),
  };
  if (b.mlm) { inputs.mlmIds = tensor(cut(b.mlm.inputIds), { shape: [B, T] }); inputs.mlmLabels = tensor(cut(b.mlm.labels), { shape: [B, T] }); }
  return inputs;
}

/** Share of correct argmax predictions over the labelled rows (label −100 is skipped; NaN if none). */
function share(pred: ArrayLike<number>, y: ArrayLike<number>): number {
  let ok = 0, n = 0;
  for (let i = 0; i < y.length; i++) if (y[i] !== -100) { n++; if (pred[i] === y[i]) ok++; }
  return n ? ok / n : NaN;
}

/** Share of correct argmax predictions; rows labelled −100 are skipped. Shapes: logits [N, C], labels [N] int32. */
export function accuracy(logits: Tensor, labels: Tensor): number {
  return share(logits.argmax(-1).dataSync(), labels.reshape([-1]).dataSync());
}

/** `accuracy`, read asynchronously (every device, 'webgpu' included). */
export async function accuracyAsync(logits: Tensor, labels: Tensor): Promise<number> {
  const [pred, y] = await Promise.all([logits.argmax(-1).data(), labels.reshape([-1]).data()]);
  return share(pred, y);
}

/**
 * The logged numbers of a step, read with one asynchronous read of the stacked scalars (itc, itm,
 * mlm, total, τ) and the argmax reads of the accuracies, all in flight together.
 */
async function stepReadings(out: AlbefOutput, temp: Tensor): Promise<{ losses: Record<string, number>; temp: number; itm_acc: number; mlm_acc: number }> {
  const B = out.itmLogits.shape[0] / 3;
  const itmLabels = tensor(Int32Array.from({ length: 3 * B }, (_, i) => (i < B ? 1 : 0)));
  const scalars = noGrad(() => stack([out.itc, out.itm, out.mlm, out.total, temp]));
  const [v, itmAcc, mlmAcc] = await Promise.all([scalars.data(), accuracyAsync(out.itmLogits, itmLabels),
    out.mlmAll ? accuracyAsync(out.mlmAll.logits, out.mlmAll.labels) : NaN]);
  return { losses: { itc: v[0], itm: v[1], mlm: v[2], total: v[3] }, temp: v[4], itm_acc: itmAcc, mlm_acc: mlmAcc };
}

/** Builds the model, data and optimizer, resumes if asked, trains, and writes the run directory. */
export async function trainAlbef(opts: AlbefTrainOptions): Promise<{ model: Albef; tokenizer: Tokenizer; info: RunInfo; seconds: number; steps: number }> {
  const run = openRunDir(opts.out, { resume: opts.resume, overwrite: opts.overwrite, command: 'train albef' });    // checks only; writes nothing
  const device = await startTrainingDevice(opts.device);
  setDefaultDevice(device);
  const tokenizer = Tokenizer.fromVocab(grammarVocab());
  const base = typeof opts.config === 'string' ? albefConfig(opts.config, tokenizer.vocabSize) : opts.config;
  if (base.text.vocabSize !== tokenizer.vocabSize) throw new RangeError(`${base.name}: vocabSize ${base.text.vocabSize} differs from the tokenizer's ${tokenizer.vocabSize}`);
  const p = opts.dropout, config: AlbefConfig = {
    ...base, queueSize: opts.queueSize ?? base.queueSize, momentum: opts.momentum ?? base.momentum,
    text: p === undefined ? base.text : { ...base.text, hiddenDropout: p, attnDropout: p },
  };
  if (config.queueSize % opts.batchSize !== 0) {
    throw new RangeError(`queue size ${config.queueSize} is not a multiple of the batch size ${opts.batchSize}; pick a batch that divides it`);
  }
  const train = makeDataset({ name: opts.dataset, split: 'train', size: opts.trainSize, seed: opts.seed, imageSize: config.vision.imageSize as 32 | 64,
    ...(opts.noise > 0 ? { noise: { fraction: opts.noise } } : {}) });
  const normalize = channelStats(train, 512);
  const loader = new DataLoader(train, { batchSize: opts.batchSize, tokenizer, seed: opts.seed, maxLength: 16, dropLast: true, normalize,
    mlm: { style: 'albef', prob: config.mlmProb } });
  const model = onHost(() => new Albef(config, { seed: opts.seed })).to(device);   // initialised on the host, as on cpu
  const optimizer = new AdamW(paramGroups(model.namedParameters().filter(([, t]) => t.requiresGrad), { weightDecay: opts.weightDecay }),
    { lr: opts.lr, betas: [0.9, 0.999], eps: 1e-8 });
  const lrAt = warmupCosine({ lr: opts.lr, warmupLr: opts.warmupLr, warmupSteps: opts.warmupSteps, minLr: opts.minLr, totalSteps: opts.steps });
  const alphaAt = alphaRamp(config.alpha, loader.batchesPerEpoch);       // ALBEF: α ramps over the first epoch
  const rngs = moduleRngs(model);
  const info: RunInfo = { options: opts, config, normalize, vocab: [...tokenizer.vocab] };
  const ckptDir = join(opts.out, 'checkpoints');
  const resumed = await resumeFromCheckpoints({ run, checkpoints: ckptDir, options: { ...opts }, keys: ALBEF_RESUME_KEYS, allowChange: opts.allowChange,
    target: { model, optimizer, rngs, loader } });
  run.commit({ ...info }, resumed?.record);                       // the first write into the run directory
  const startStep = resumed?.step ?? 0, resumeFrom = resumed?.path ?? null;
  const log = new JsonlLog(join(opts.out, 'log.jsonl'), resumeFrom ? { resumeAfter: startStep } : { fresh: true });

  const step = async (s: number): Promise<StepReport> => {
    const batch = loader.next(), lr = lrAt(s - 1), alpha = alphaAt(s - 1);
    for (const g of optimizer.paramGroups) g.lr = lr;
    model.train();
    const out = model.forward(batchInputs(batch, config.vision.imageSize), { alpha });
    optimizer.zeroGrad();
    out.total.backward();
    optimizer.step();
    const r = await stepReadings(out, model.temp);       // τ after the update, as before
    return { losses: r.losses, extra: { lr, alpha, temp: r.temp, itm_acc: r.itm_acc, mlm_acc: r.mlm_acc }, samples: batch.batchSize };
  };
  const checkpoint = (s: number): Promise<string> =>
    saveCheckpoint(ckptDir, model, optimizer, { step: s, rngs: rngStates(rngs), extra: { loader: loader.state(), options: pickOptions(opts, ALBEF_RESUME_KEYS) } });
  const result = await trainLoop({
    startStep, totalSteps: opts.steps, step, checkpoint, checkpointEvery: opts.checkpointEvery, log,
    progress: opts.progress ? new ProgressBar(process.stderr) : null,
    shouldStop: (_step, elapsed) => opts.maxMinutes > 0 && elapsed > 60 * opts.maxMinutes,
  });
  writeFileSync(join(opts.out, 'loss.svg'), lossCurvesSvg(readJsonl(log.path), ['itc', 'itm', 'mlm', 'total'],
    { title: `${config.name} on ${opts.dataset} (${opts.trainSize} scenes, batch ${opts.batchSize})` }));
  return { model, tokenizer, info, seconds: result.seconds, steps: result.step };
}

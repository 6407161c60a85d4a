/**
 * Everything an ALBEF training run is made of except files: the options and their defaults, and
 * `albefSetup`, which builds the tokenizer, data, model, optimizer and schedules from them. Both
 * `trainAlbef` (Node, with a run directory) and `AlbefSession` (any runtime, a browser tab
 * included) start here, so the same options and seed give the same run everywhere.
 */
import type { Backend, Tensor } from '../../engine/index.js';
import {
  channelStats,
  DataLoader,
  grammarVocab,
  makeDataset,
  Tokenizer,
  type DatasetName,
  type Normalize,
} from '../../data/index.js';
import { AdamW, paramGroups } from '../../nn/optim.js';
import { warmupCosine } from '../../nn/schedulers.js';
import { onHost, type StepReport } from '../common/trainer.js';
import { Albef } from './albef.js';
import { albefConfig, type AlbefConfig } from './config.js';
import { alphaRamp } from './momentum.js';
import { albefStep } from './step.js';

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
  lr: number;
  warmupLr: number;
  warmupSteps: number;
  minLr: number;
  weightDecay: number;
  seed: number;
  device: string;
  /** Run directory: log, checkpoints, final weights, plot. */
  out: string;
  checkpointEvery: number;
  /** Wall-clock budget of the training loop in minutes (0 = none): past it, training stops after a checkpoint. */
  maxMinutes: number;
  resume: boolean;
  /** Replace a run already in `out` (a new run refuses a non-empty `out`); `allowChange`: see ALBEF_RESUME_KEYS (train.ts). */
  overwrite?: boolean;
  allowChange?: string;
  progress: boolean;
  /** Override the config's dropout (BERT hidden and attention), queue size and EMA momentum. */
  dropout?: number;
  queueSize?: number;
  momentum?: number;
  /**
   * A warm-start file (`vlgrad pretrain vit`) whose `visual_encoder.*` tensors initialise the online
   * and momentum image encoders; '' or absent = from scratch. Ignored when resuming (the checkpoint wins).
   */
  initVision?: string;
}

/**
 * The defaults of `vlgrad train albef`: 3,000 steps at batch 32, lr 1.5e-3, on 65,536 generated
 * training scenes (8,192 let ITM fit the training scenes and reject a third of the test positives;
 * batch 32 mines harder ITM negatives than 16 and lifted ITM on batch-64 negatives from 84% to 90%;
 * models/albef/RESULTS.md). A fixed schedule: the result does not depend on the machine's speed
 * (`maxMinutes` is an opt-in budget, 0 = none).
 * lr 1.5e-3 at batch 32 (1e-3 at batch 16 before; 3e-3 learned nothing more in 200-step trials).
 * Momentum 0.99 instead of 0.995: acceptable for short runs (docs/reference.md#albef-tiny).
 * Dropout 0 (the config's 0.1 is the reference's, made for BERT-base on millions of pairs): on this
 * tiny model and four epochs of 8,192 scenes, dropout slowed ITM and ITC down (RESULTS.md, "Dropout").
 */
export const TRAIN_DEFAULTS: AlbefTrainOptions = {
  config: 'albef-tiny',
  dataset: 'mnist-scenes',
  trainSize: 65536,
  noise: 0,
  steps: 3000,
  batchSize: 32,
  lr: 1.5e-3,
  warmupLr: 1e-5,
  warmupSteps: 30,
  minLr: 1e-5,
  weightDecay: 0.02,
  seed: 0,
  device: 'cpu',
  out: 'runs/albef-tiny',
  checkpointEvery: 100,
  maxMinutes: 0,
  resume: false,
  progress: true,
  momentum: 0.99,
  dropout: 0,
};

/** What a run directory's run.json records, so eval and grounding rebuild the same model and data. */
export interface RunInfo {
  options: AlbefTrainOptions;
  config: AlbefConfig;
  normalize: Normalize;
  vocab: string[];
}

/**
 * A warm start as read by the caller (reading files is the caller's business): the normalization the
 * tower learned with, and its `visual_encoder.*` state without the prefix (null when resuming).
 */
export interface AlbefWarmStart {
  source: string;
  normalize?: Normalize;
  vision: Record<string, Tensor> | null;
}

/** Loads a warm-started image encoder into the online and momentum towers, or says why it does not fit. */
export function applyVisionInit(model: Albef, warm: AlbefWarmStart): void {
  if (!warm.vision) return;
  try {
    model.visualEncoder.loadStateDict(warm.vision);
    model.visualEncoderM.loadStateDict(warm.vision);
  } catch (e) {
    throw new Error(
      `--init-vision ${warm.source}: does not fit ${model.config.name}'s image encoder: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

/** What `albefSetup` builds. */
export interface AlbefSetup {
  tokenizer: Tokenizer;
  config: AlbefConfig;
  loader: DataLoader;
  model: Albef;
  optimizer: AdamW;
  /** Learning rate and α of the 0-based step index. */
  lrAt(step: number): number;
  alphaAt(step: number): number;
  info: RunInfo;
}

/**
 * Builds a run from its options on `device` (the model is initialised on cpu and moved there).
 * Throws a RangeError for a config whose vocabulary is not the tokenizer's or a queue that the
 * batch size does not divide.
 */
export function albefSetup(
  opts: AlbefTrainOptions,
  device: Backend | string,
  warm: AlbefWarmStart | null = null,
): AlbefSetup {
  const tokenizer = Tokenizer.fromVocab(grammarVocab());
  const base = typeof opts.config === 'string' ? albefConfig(opts.config, tokenizer.vocabSize) : opts.config;
  if (base.text.vocabSize !== tokenizer.vocabSize)
    throw new RangeError(
      `${base.name}: vocabSize ${base.text.vocabSize} differs from the tokenizer's ${tokenizer.vocabSize}`,
    );
  const p = opts.dropout,
    config: AlbefConfig = {
      ...base,
      queueSize: opts.queueSize ?? base.queueSize,
      momentum: opts.momentum ?? base.momentum,
      text: p === undefined ? base.text : { ...base.text, hiddenDropout: p, attnDropout: p },
    };
  if (config.queueSize % opts.batchSize !== 0) {
    throw new RangeError(
      `queue size ${config.queueSize} is not a multiple of the batch size ${opts.batchSize}; pick a batch that divides it`,
    );
  }
  const train = makeDataset({
    name: opts.dataset,
    split: 'train',
    size: opts.trainSize,
    seed: opts.seed,
    imageSize: config.vision.imageSize as 32 | 64,
    ...(opts.noise > 0 ? { noise: { fraction: opts.noise } } : {}),
  });
  // A warm-started tower keeps the normalization it learned with (the same statistics for the same scenes).
  const normalize = warm?.normalize ?? channelStats(train, 512);
  const loader = new DataLoader(train, {
    batchSize: opts.batchSize,
    tokenizer,
    seed: opts.seed,
    maxLength: 16,
    dropLast: true,
    normalize,
    mlm: { style: 'albef', prob: config.mlmProb },
  });
  const model = onHost(() => {
    // initialised on the host, as on cpu
    const m = new Albef(config, { seed: opts.seed });
    if (warm) applyVisionInit(m, warm);
    return m;
  }).to(device);
  const optimizer = new AdamW(
    paramGroups(
      model.namedParameters().filter(([, t]) => t.requiresGrad),
      { weightDecay: opts.weightDecay },
    ),
    { lr: opts.lr, betas: [0.9, 0.999], eps: 1e-8 },
  );
  // timm's cosine with a warm-up prefix, as ALBEF's scheduler, but stepped per iteration rather than per epoch.
  const schedule = warmupCosine({
    warmupInit: opts.warmupLr,
    warmupSteps: opts.warmupSteps,
    minLr: opts.minLr,
    totalSteps: opts.steps,
  });
  const lrAt = (step: number): number => schedule(step, opts.lr);
  const alphaAt = alphaRamp(config.alpha, loader.batchesPerEpoch); // ALBEF: α ramps over the first epoch
  const info: RunInfo = { options: opts, config, normalize, vocab: [...tokenizer.vocab] };
  return { tokenizer, config, loader, model, optimizer, lrAt, alphaAt, info };
}

/**
 * A training run driven one step at a time by its caller (a browser tab's loop, a test), with no
 * files: `step()` trains the next batch and returns the logged numbers; `stateDict()`/the model
 * give the weights to save. Same options and seed as `trainAlbef`, same steps.
 */
export class AlbefSession {
  readonly setup: AlbefSetup;
  /** Steps done so far. */
  stepsDone = 0;

  constructor(
    readonly options: AlbefTrainOptions,
    device: Backend | string,
  ) {
    this.setup = albefSetup(options, device);
  }

  /** Trains one step (1-based step number `stepsDone + 1`) and returns what it logs. */
  async step(): Promise<StepReport> {
    const { model, optimizer, loader, lrAt, alphaAt } = this.setup,
      s = this.stepsDone;
    const report = await albefStep(model, optimizer, loader.next(), lrAt(s), alphaAt(s));
    this.stepsDone++;
    return report;
  }
}

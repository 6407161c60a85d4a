/**
 * `vlgrad train albef`, `eval albef`, `ground albef`, `vqa albef`: train ALBEF-tiny on the bundled
 * scenes and evaluate it, resume from a checkpoint, draw per-word Grad-CAM grounding maps, and
 * fine-tune the VQA head shared with VLMo.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { getBackend, setDefaultDevice, tensor } from '../../engine/index.js';
import { makeDataset, Tokenizer, type DatasetName } from '../../data/index.js';
import { fromRecords, newestReadable, stateDictTo } from '../common/checkpoint.js';
import { HOST_DEVICES } from '../common/trainer.js';
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
import { checkpointStep, openRunDir, requireRunJson, withSavedOptions, wroteVerb } from '../common/run_dir.js';
import { vqaCommand, type FusedClsModel } from '../common/vqa.js';
import { load } from '../../nn/safetensors_node.js';
import { Albef } from './albef.js';
import { albefConfig, CONFIG_NAMES } from './config.js';
import { evaluateAlbef, formatReport, type EvalOptions } from './evaluate.js';
import {
  GROUNDING_METHODS,
  gradCam,
  type GroundingMethod,
  groundingPng,
  groundingStats,
  type GroundingStats,
} from './grounding.js';
import {
  formatPretrain,
  PRETRAIN_DEFAULTS,
  pretrainCommand,
  pretrainVit,
  readPretrainInfo,
  type VitPretrainOptions,
} from './pretrain.js';
import { ALBEF_RESUME_KEYS, TRAIN_DEFAULTS, trainAlbef, type AlbefTrainOptions, type RunInfo } from './train.js';

type EvalFlags = { evalSize: number; evalK: number; evalSeed: number; evalBatch: number };

/**
 * Rebuilds a trained model from a run directory (run.json + the newest readable checkpoint, or
 * `checkpoint`), on the device it trained on; a run trained on a device other than cpu or cpu-ref
 * (e.g. 'webgpu') is rebuilt on cpu, where evaluation, grounding and VQA read synchronously.
 * `checkpoint` in the result is the directory the weights came from.
 */
export async function loadRun(
  run: string,
  checkpoint?: string,
): Promise<{ model: Albef; tokenizer: Tokenizer; info: RunInfo; checkpoint: string }> {
  const info = requireRunJson<RunInfo>(run, 'train albef');
  checkCheckpointFlag(checkpoint ?? '');
  const device = HOST_DEVICES.includes(info.options.device) ? info.options.device : 'cpu';
  if (device !== info.options.device)
    console.log(`${run} was trained on ${info.options.device}; its model is loaded on cpu`);
  setDefaultDevice(getBackend(device));
  const read = async (dir: string) => (await load(join(dir, 'model.safetensors'))).tensors;
  const found = checkpoint
    ? { path: checkpoint, value: await read(checkpoint) }
    : await newestReadable(join(run, 'checkpoints'), read);
  if (!found)
    throw new Error(
      `no readable checkpoint under ${join(run, 'checkpoints')}; train first (vlgrad train albef --out ${run})`,
    );
  const model = new Albef(info.config, { seed: info.options.seed });
  model.loadStateDict(fromRecords(found.value));
  return { model, tokenizer: Tokenizer.fromVocab(info.vocab), info, checkpoint: found.path };
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

function evalOptions(f: EvalFlags, info: RunInfo): EvalOptions {
  return {
    dataset: info.options.dataset,
    size: f.evalSize,
    k: f.evalK,
    seed: f.evalSeed,
    batchSize: f.evalBatch,
    normalize: info.normalize,
  };
}

/** Which training state an evaluation scored: a run cut short by --max-minutes says so. */
interface TrainingRecord {
  stepEvaluated: number;
  stepsPlanned: number;
  cutShort: boolean;
  initVision: string;
}

function evaluateAndWrite(
  model: Albef,
  tokenizer: Tokenizer,
  info: RunInfo,
  f: EvalFlags,
  out: string,
  checkpoint: string,
  training?: TrainingRecord,
): void {
  const t0 = performance.now(),
    report = evaluateAlbef(model, tokenizer, evalOptions(f, info));
  const seconds = (performance.now() - t0) / 1000,
    path = join(out, 'eval.json'),
    verb = wroteVerb(path);
  const record = {
    checkpoint,
    step: checkpointStep(checkpoint),
    ...(training ? { training } : {}),
    ...report,
    seconds,
  };
  writeFileSync(path, `${JSON.stringify(record, null, 2)}\n`);
  console.log(
    formatReport(report, `${info.config.name} on ${info.options.dataset}, test split (eval ${seconds.toFixed(0)} s)`),
  );
  console.log(`${verb} ${path} (checkpoint ${checkpoint})`);
}

/** Which maps to draw: the fusion layer and the score they explain (grounding.ts). */
type GroundingHow = { layer: number; method: GroundingMethod };

/** Grad-CAM of test scene `index` (the eval gallery's scenes) with `caption` (default: its own). */
function groundScene(
  model: Albef,
  tokenizer: Tokenizer,
  info: RunInfo,
  index: number,
  caption: string,
  how: GroundingHow,
) {
  // The eval gallery's scenes (which scenes hold held-out compositions depends on the split's size).
  const ds = makeDataset({
    name: info.options.dataset,
    split: 'test',
    size: EVAL_FLAGS.evalSize.default,
    seed: EVAL_FLAGS.evalSeed.default,
  });
  const S = ds.imageSize,
    raw = ds.image(index),
    norm = raw.slice();
  for (let i = 0; i < norm.length; i++) {
    const c = Math.floor(i / (S * S));
    norm[i] = (norm[i] - info.normalize.mean[c]) / info.normalize.std[c];
  }
  const text = caption || ds.cleanCaption(index),
    enc = tokenizer.encode(text, { maxLength: 16, truncation: true });
  const g = gradCam(
    model,
    tensor(norm, { shape: [1, 3, S, S] }),
    tensor(enc.ids, { shape: [1, enc.ids.length] }),
    tensor(enc.attentionMask, { shape: [1, enc.ids.length] }),
    enc.tokens,
    { ...how, maskId: tokenizer.maskId },
  );
  return { raw, S, text, g, meta: ds.meta(index) };
}

function ground(
  model: Albef,
  tokenizer: Tokenizer,
  info: RunInfo,
  index: number,
  caption: string,
  how: GroundingHow,
  out: string,
): string {
  const { raw, S, text, g } = groundScene(model, tokenizer, info, index, caption, how);
  const verb = wroteVerb(out);
  writeFileSync(out, groundingPng(raw, S, text, g));
  return `${verb} ${out}: "${text}" (${how.method} Grad-CAM, fusion layer ${how.layer}; ITM p(match) = ${g.itmProb.toFixed(3)})`;
}

/** Grounding statistics over test scenes 0..n-1 with their own captions (see `groundingStats`). */
function groundStats(model: Albef, tokenizer: Tokenizer, info: RunInfo, n: number, how: GroundingHow): GroundingStats {
  return groundingStats(
    Array.from({ length: n }, (_, i) => {
      const { S, g, meta } = groundScene(model, tokenizer, info, i, '', how);
      return { tokens: g.tokens, maps: g.maps, grid: g.grid, imageSize: S, objects: meta.objects };
    }),
  );
}

/** The statistics as one line. */
export function formatGroundingStats(s: GroundingStats, n: number, layer: number, method: GroundingMethod): string {
  const pct = (h: number, w: number): string => `${((100 * h) / w).toFixed(0)}% of ${w}`;
  return (
    `grounding (${method} Grad-CAM, fusion layer ${layer}, ${n} test scenes): a word's map peaks on the object it names for ${pct(s.hits, s.words)} words ` +
    `(colour ${pct(s.byType.colour.hits, s.byType.colour.words)}, size ${pct(s.byType.size.hits, s.byType.size.words)}, ` +
    `kind ${pct(s.byType.kind.hits, s.byType.kind.words)}); a random patch would hit ${(100 * s.chance).toFixed(0)}%; ` +
    `most of a scene's words hit in ${s.scenesMostWords} of ${s.scenes} scenes`
  );
}

/**
 * Scores grounding on test scenes 0..n-1 by each of `methods`, writes `<dir>/grounding-stats.json`
 * ({ scenes, layer, byMethod: { [method]: GroundingStats } }) and prints a line per method.
 */
function writeGroundStats(
  model: Albef,
  tokenizer: Tokenizer,
  info: RunInfo,
  n: number,
  layer: number,
  methods: readonly GroundingMethod[],
  dir: string,
): void {
  const byMethod: Partial<Record<GroundingMethod, GroundingStats>> = {};
  for (const method of methods) {
    byMethod[method] = groundStats(model, tokenizer, info, n, { layer, method });
    console.log(formatGroundingStats(byMethod[method]!, n, layer, method));
  }
  const path = join(dir, 'grounding-stats.json'),
    verb = wroteVerb(path);
  writeFileSync(path, `${JSON.stringify({ scenes: n, layer, byMethod }, null, 2)}\n`);
  console.log(`${verb} ${path}`);
}

/** The warm-up must end before the schedule does (said in flag terms, before anything runs). */
function checkWarmup(warmupSteps: number, steps: number): void {
  if (warmupSteps >= steps) throw new RangeError(`--warmup-steps ${warmupSteps} must be less than --steps ${steps}`);
}

/**
 * The image-tower warm start of a `train albef` run: 'none' (from scratch), a file path, or 'auto':
 * the `pretrain vit` checkpoint for this run's config, scenes and seed under `<dir of --out>/<config>-vit/`,
 * trained now unless a file made with the same options is already there.
 */
async function resolveInitVision(f: {
  initVision: string;
  vitSteps: number;
  config: string;
  dataset: string;
  trainSize: number;
  seed: number;
  out: string;
  progress: boolean;
}): Promise<string> {
  const spec = f.initVision;
  if (spec === 'none' || spec === '') return '';
  if (spec !== 'auto') return spec;
  const o: VitPretrainOptions = {
    ...PRETRAIN_DEFAULTS,
    config: f.config,
    dataset: f.dataset as DatasetName,
    trainSize: f.trainSize,
    seed: f.seed,
    steps: f.vitSteps,
    out: join(dirname(f.out), `${f.config}-vit`),
    progress: f.progress,
    warmupSteps: Math.min(PRETRAIN_DEFAULTS.warmupSteps, f.vitSteps - 1),
  }; // a short warm start warms up for fewer steps
  const path = join(o.out, 'vit.safetensors'),
    cached = await readPretrainInfo(path);
  const key = (x: VitPretrainOptions): string => JSON.stringify({ ...x, out: '', progress: false });
  if (cached && key(cached.options) === key(o)) {
    console.log(
      `warm start: reusing ${path} (cached: ${o.steps} facts steps, made with these options; delete it to retrain)`,
    );
    return path;
  }
  console.log(`warm start: training the image tower to name each scene's facts (${o.steps} steps) -> ${path}`);
  const r = await pretrainVit(o);
  console.log(formatPretrain(r.path, r.info));
  return r.path;
}

const D = TRAIN_DEFAULTS;
const train = command({
  verb: 'train',
  model: 'albef',
  summary: 'pre-train ALBEF on MNIST scenes, then evaluate and draw a grounding map',
  flags: {
    ...D, // every training option is a flag; the typed specs below override
    config: trainConfigFlag(D.config as string, CONFIG_NAMES, (n) => albefConfig(n).vision.imageSize),
    dataset: datasetFlag(D.dataset),
    ...DATA_FLAGS,
    trainSize: flag.int(D.trainSize, 'training scenes', { min: 1 }),
    steps: flag.int(D.steps, 'optimizer steps', { min: 1 }),
    batchSize: flag.int(D.batchSize, 'pairs per step (must divide the queue size)', { min: 1 }),
    lr: flag.num(D.lr, 'peak learning rate (AdamW)', { above: 0 }),
    warmupLr: flag.num(D.warmupLr, 'learning rate at step 0', { min: 0 }),
    warmupSteps: flag.int(D.warmupSteps, 'linear warm-up steps', { min: 0 }),
    minLr: flag.num(D.minLr, 'cosine floor', { min: 0 }),
    weightDecay: flag.num(D.weightDecay, 'AdamW weight decay (not on biases and 1-D tensors)', { min: 0 }),
    seed: seedFlag(D.seed, 'seed of init, data order, masks, dropout, negatives'),
    device: deviceFlag(D.device),
    out: flag.str(D.out, 'run directory (run.json, log.jsonl, loss.svg, checkpoints/, eval.json)'),
    ...RUN_FLAGS,
    checkpointEvery: flag.int(D.checkpointEvery, 'checkpoint every N steps', { min: 1 }),
    maxMinutes: flag.num(
      D.maxMinutes,
      'opt-in time budget: stop training after this many minutes (0 = train every step)',
      { min: 0 },
    ),
    initVision: flag.str(
      'auto',
      'image-tower warm start: auto (vlgrad pretrain vit, cached under <dir of --out>/<config>-vit/) | none | PATH to a vit.safetensors',
    ),
    vitSteps: flag.int(PRETRAIN_DEFAULTS.steps, 'steps of the automatic warm start (--init-vision auto)', { min: 1 }),
    groundingStats: flag.int(
      50,
      'after evaluation, score grounding on test scenes 0..N-1 (0 = skip; see ground albef --stats)',
      { min: 0, max: EVAL_FLAGS.evalSize.default },
    ),
    dropout: flag.num(D.dropout ?? 0, 'BERT dropout (hidden and attention; the config has 0.1)', { min: 0, max: 1 }),
    queueSize: flag.int(256, 'ITC feature-queue length', { min: 1 }),
    momentum: flag.num(D.momentum ?? 0.99, 'EMA momentum of the momentum model', { min: 0, max: 1 }),
    eval: flag.bool(true, 'evaluate on the test split afterwards'),
    ...EVAL_FLAGS,
  },
  async run(flags, { given }) {
    const f = flags.resume ? withSavedOptions(flags, given, flags.out, ALBEF_RESUME_KEYS) : flags;
    checkTrainSize(f.trainSize, f.noise);
    checkWarmup(f.warmupSteps, f.steps);
    openRunDir(f.out, { resume: f.resume, overwrite: f.overwrite, command: 'train albef', lock: false }); // refuse a bad --out before the warm start runs
    const t0 = performance.now(),
      initVision = await resolveInitVision(f);
    const {
      eval: doEval,
      evalSize,
      evalK,
      evalSeed,
      evalBatch,
      initVision: _spec,
      vitSteps: _v,
      groundingStats: nStats,
      ...rest
    } = f;
    const opts: AlbefTrainOptions = { ...rest, dataset: rest.dataset as DatasetName, initVision };
    const { model, tokenizer, info, seconds, steps } = await trainAlbef(opts);
    const cut =
      steps < opts.steps
        ? `CUT SHORT at step ${steps} of ${opts.steps} by --max-minutes ${opts.maxMinutes} (continue with --resume --max-minutes 0)`
        : '';
    if (cut) console.log(cut);
    console.log(
      `trained to step ${steps} in ${seconds.toFixed(0)} s; run directory ${opts.out} (loss curves: ${join(opts.out, 'loss.svg')})`,
    );
    if (!doEval) return;
    const checkpoint = join(opts.out, 'checkpoints', `step-${String(steps).padStart(6, '0')}`);
    const training: TrainingRecord = {
      stepEvaluated: steps,
      stepsPlanned: opts.steps,
      cutShort: steps < opts.steps,
      initVision,
    };
    const evalModel = await modelForEval(model, info);
    evaluateAndWrite(
      evalModel,
      tokenizer,
      info,
      { evalSize, evalK, evalSeed, evalBatch },
      opts.out,
      checkpoint,
      training,
    );
    console.log(
      ground(evalModel, tokenizer, info, 0, '', { layer: 0, method: 'mlm' }, join(opts.out, 'grounding.png')),
    );
    // Both methods are scored (the paper's 'itm' for comparison); the picture uses the default 'mlm'.
    if (nStats > 0) writeGroundStats(evalModel, tokenizer, info, nStats, 0, GROUNDING_METHODS, opts.out);
    if (cut) console.log(`these numbers are of step ${steps}, not of the planned ${opts.steps}: ${cut}`);
    console.log(
      `evaluated step ${steps} of ${opts.steps} (${checkpoint}); total wall time ${((performance.now() - t0) / 1000).toFixed(0)} s`,
    );
  },
});

const evaluate = command({
  verb: 'eval',
  model: 'albef',
  summary: 'retrieval R@1/5/10 (ITC and ITC+ITM), ITM and MLM accuracy, held-out compositions',
  flags: { ...runFlags(TRAIN_DEFAULTS.out), ...EVAL_FLAGS },
  async run(f) {
    const { model, tokenizer, info, checkpoint } = await loadRun(f.run, f.checkpoint);
    evaluateAndWrite(model, tokenizer, info, f, f.run, checkpoint);
  },
});

const groundCmd = command({
  verb: 'ground',
  model: 'albef',
  summary: 'per-word Grad-CAM on the fusion cross-attention, as a PNG heat map over the image',
  flags: {
    ...runFlags(TRAIN_DEFAULTS.out),
    index: flag.int(0, `test scene index (the evaluation gallery's ${EVAL_FLAGS.evalSize.default} scenes)`, {
      min: 0,
      max: EVAL_FLAGS.evalSize.default - 1,
    }),
    caption: flag.str('', "caption to ground (default: the scene's own)"),
    layer: flag.int(0, 'fusion layer (0 = first)', { min: 0 }),
    method: flag.choice(
      'mlm',
      "what the maps explain: mlm (each word masked, its MLM log-probability) | itm (the caption's ITM logit, the paper's)",
      GROUNDING_METHODS,
    ),
    out: flag.str('', 'PNG path (default <run>/grounding-<index>.png)'),
    stats: flag.int(
      0,
      "also score test scenes 0..N-1: how often each colour/size/digit word's map peaks on the object it names (-> <run>/grounding-stats.json)",
      { min: 0, max: EVAL_FLAGS.evalSize.default },
    ),
  },
  async run(f) {
    const { model, tokenizer, info } = await loadRun(f.run, f.checkpoint);
    const how = { layer: f.layer, method: f.method as GroundingMethod };
    if (f.stats > 0) writeGroundStats(model, tokenizer, info, f.stats, f.layer, [how.method], f.run);
    console.log(
      ground(model, tokenizer, info, f.index, f.caption, how, f.out || join(f.run, `grounding-${f.index}.png`)),
    );
  },
});

/** ALBEF as a VQA backbone: the fusion encoder's [CLS] (no pooler; ALBEF's ITM head reads it directly). */
export function albefVqaModel(model: Albef): FusedClsModel {
  return {
    module: model,
    dim: model.config.text.hidden,
    textLength: 16,
    fusedCls: (images, ids, mask) =>
      model.fuse(model.encodeText(ids, mask), mask, model.encodeImage(images)).narrow(1, 0, 1).squeeze(1),
  };
}

const vqa = vqaCommand('albef', TRAIN_DEFAULTS.out, async (run, checkpoint) => {
  const { model, tokenizer, info, checkpoint: from } = await loadRun(run, checkpoint);
  return {
    fused: albefVqaModel(model),
    tokenizer,
    dataset: info.options.dataset,
    normalize: info.normalize,
    seed: info.options.seed,
    name: info.config.name,
    checkpoint: from,
  };
});

/** ALBEF's commands for bin/vlgrad.ts. */
export const albefCommands: Command[] = [pretrainCommand, train, evaluate, groundCmd, vqa];

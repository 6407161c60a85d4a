/**
 * `vlgrad pretrain vit`: the unimodal warm start of ALBEF's image tower. The ViT of an ALBEF config
 * is trained on the training split to predict the facts each scene's caption names (multi-label
 * BCE on [CLS], models/common/facts.ts) and saved as a safetensors file under the reference names
 * (`visual_encoder.*`), which `vlgrad train albef --init-vision PATH` loads into the online and the
 * momentum image encoder. It is the miniature of ALBEF starting from DeiT weights.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getBackend, Rng } from '../../engine/index.js';
import {
  channelStats,
  DEFAULT_FACT_GROUPS,
  FACT_GROUPS,
  grammarVocab,
  makeDataset,
  type DatasetName,
  type FactGroup,
  type Normalize,
} from '../../data/index.js';
import { load, save } from '../../nn/safetensors_node.js';
import { fromRecords, toRecords } from '../common/records.js';
import type { Command, FlagValue } from '../common/cli.js';
import { evaluateFacts, trainFacts, type FactsMetrics, type ImageTower } from '../common/facts.js';
import { JsonlLog } from '../common/jsonl.js';
import { ProgressBar } from '../common/progress.js';
import { albefConfig, type AlbefConfig } from './config.js';
import type { AlbefWarmStart } from './session.js';
import { VisionTransformer } from './vit.js';

/** Options of `pretrainVit` (the flags of `vlgrad pretrain vit`). */
export interface VitPretrainOptions {
  /** ALBEF config (a name, or a full config from code) whose ViT is trained. */
  config: string | AlbefConfig;
  dataset: DatasetName;
  /** Training scenes and scene seed: use the ALBEF run's, so images and normalization are the same. */
  trainSize: number;
  seed: number;
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  minLr: number;
  weightDecay: number;
  /** Comma-separated fact groups (data/facts.ts). */
  groups: string;
  /** Validation scenes scored at the end (val split). */
  valSize: number;
  /** Output directory: vit.safetensors, log.jsonl, facts.json. */
  out: string;
  progress: boolean;
}

/**
 * Defaults of `vlgrad pretrain vit` (and of `train albef`'s automatic warm start): 6,000 steps at
 * batch 64 on 65,536 training scenes. With 3,000 steps on 8,192 scenes the tower named the digits of
 * 15% of validation scenes; 6,000 steps on the same 8,192 reached 22% while fitting the training
 * scenes ever better (47 epochs); on 65,536 scenes (6 epochs) 36% (models/albef/RESULTS.md). The
 * scenes are generated, so more of them cost nothing but the rendering each step does anyway.
 */
export const PRETRAIN_DEFAULTS: VitPretrainOptions = {
  config: 'albef-tiny',
  dataset: 'mnist-scenes',
  trainSize: 65536,
  seed: 0,
  steps: 6000,
  batchSize: 64,
  lr: 3e-3,
  warmupSteps: 30,
  minLr: 1e-5,
  weightDecay: 0.02,
  groups: DEFAULT_FACT_GROUPS.join(','),
  valSize: 500,
  out: 'runs/albef-tiny-vit',
  progress: true,
};

/** The metadata key of a warm-start file: the options that made it, its normalization and validation scores. */
export const PRETRAIN_META_KEY = 'vlgrad_pretrain';

/** What a warm-start file records (JSON under `PRETRAIN_META_KEY`). */
export interface VitPretrainInfo {
  options: VitPretrainOptions;
  vision: AlbefConfig['vision'];
  normalize: Normalize;
  val: FactsMetrics;
  seconds: number;
}

function parseGroups(s: string): FactGroup[] {
  const groups = s
    .split(',')
    .map((g) => g.trim())
    .filter(Boolean);
  const bad = groups.filter((g) => !(FACT_GROUPS as readonly string[]).includes(g));
  if (bad.length || !groups.length)
    throw new RangeError(
      `pretrain vit: --groups '${s}': unknown group ${bad.join(', ') || '(none given)'}; expected a comma list of ${FACT_GROUPS.join(', ')}`,
    );
  return groups as FactGroup[];
}

/** ALBEF's ViT as a warm-start tower: its [CLS] state after the final LayerNorm. */
export function vitTower(vit: VisionTransformer): ImageTower {
  return {
    module: vit,
    dim: vit.config.dim,
    imageSize: vit.config.imageSize,
    features: (images) => vit.forward(images).narrow(1, 0, 1).squeeze(1),
  };
}

/** Trains the ViT of `o.config` on the facts and writes `<out>/vit.safetensors`. Returns its path and record. */
export async function pretrainVit(o: VitPretrainOptions): Promise<{ path: string; info: VitPretrainInfo }> {
  const groups = parseGroups(o.groups);
  const config = typeof o.config === 'string' ? albefConfig(o.config, grammarVocab().length) : o.config;
  const imageSize = config.vision.imageSize as 32 | 64;
  // The same statistics `train albef` computes (first 512 training scenes of the same seed).
  const normalize = channelStats(
    makeDataset({ name: o.dataset, split: 'train', size: o.trainSize, seed: o.seed, imageSize }),
    512,
  );
  const vit = new VisionTransformer(config.vision, new Rng(o.seed), config.initStd);
  const tower = vitTower(vit);
  mkdirSync(o.out, { recursive: true });
  const log = new JsonlLog(join(o.out, 'log.jsonl'), { fresh: true });
  const r = await trainFacts(
    tower,
    { ...o, groups, normalize },
    { log, progress: o.progress ? new ProgressBar(process.stderr) : null },
  );
  const val = evaluateFacts(tower, r.head, {
    dataset: o.dataset,
    split: 'val',
    size: o.valSize,
    seed: o.seed,
    normalize,
    groups,
  });
  const info: VitPretrainInfo = { options: o, vision: config.vision, normalize, val, seconds: r.seconds };
  const records = toRecords(
    Object.fromEntries(Object.entries(vit.stateDict()).map(([k, t]) => [`visual_encoder.${k}`, t])),
  );
  const path = join(o.out, 'vit.safetensors');
  await save(path, records, { format: 'pt', producer: 'vlgrad', [PRETRAIN_META_KEY]: JSON.stringify(info) });
  writeFileSync(join(o.out, 'facts.json'), `${JSON.stringify(info, null, 2)}\n`);
  return { path, info };
}

/** The record of a warm-start file, or null if the file is absent or was not written by `pretrainVit`. */
export async function readPretrainInfo(path: string): Promise<VitPretrainInfo | null> {
  if (!existsSync(path)) return null;
  const meta = (await load(path)).metadata[PRETRAIN_META_KEY];
  return meta ? (JSON.parse(meta) as VitPretrainInfo) : null;
}

/**
 * Reads a warm-start file for `albefSetup`: the normalization it was trained with and its
 * `visual_encoder.*` tensors on cpu without the prefix (skipped with `tensors: false`, e.g. when a
 * resumed checkpoint supplies the weights). `albefSetup` loads them into the online and the momentum
 * image encoder (the momentum model starts as a copy of the online one, as at init). Throws naming
 * the file when it is missing or has no `visual_encoder.*` key.
 */
export async function readVisionInit(path: string, { tensors = true } = {}): Promise<AlbefWarmStart> {
  if (!existsSync(path))
    throw new Error(`--init-vision ${path}: no such file (make one with: vlgrad pretrain vit --out DIR)`);
  const file = await load(path),
    meta = file.metadata[PRETRAIN_META_KEY];
  const normalize = meta ? (JSON.parse(meta) as VitPretrainInfo).normalize : undefined;
  if (!tensors) return { source: path, normalize, vision: null };
  const all = fromRecords(file.tensors, getBackend('cpu'));
  const prefix = 'visual_encoder.';
  const vision = Object.fromEntries(
    Object.entries(all)
      .filter(([k]) => k.startsWith(prefix))
      .map(([k, t]) => [k.slice(prefix.length), t]),
  );
  if (!Object.keys(vision).length)
    throw new Error(
      `--init-vision ${path}: the file has no '${prefix}*' tensors (keys: ${Object.keys(all).slice(0, 5).join(', ')}...)`,
    );
  return { source: path, normalize, vision };
}

/** `vlgrad pretrain vit`. */
export const pretrainCommand: Command = {
  verb: 'pretrain',
  model: 'vit',
  summary: "warm-start ALBEF's image tower: predict each training scene's caption facts (multi-label, [CLS])",
  flags: { ...PRETRAIN_DEFAULTS } as unknown as Record<string, FlagValue>,
  help: {
    config: 'ALBEF config whose ViT is trained (albef-tiny | albef-micro | albef-base)',
    dataset: 'mnist-scenes | shapes',
    trainSize: "training scenes (use the ALBEF run's)",
    seed: "scene, init and order seed (use the ALBEF run's)",
    steps: 'optimizer steps',
    batchSize: 'scenes per step',
    lr: 'peak learning rate (AdamW)',
    warmupSteps: 'linear warm-up steps',
    minLr: 'cosine floor',
    weightDecay: 'AdamW weight decay',
    groups: `fact groups to predict, comma-separated (${FACT_GROUPS.join(', ')})`,
    valSize: 'validation scenes scored at the end',
    out: 'output directory (vit.safetensors, log.jsonl, facts.json)',
    progress: 'show the progress bar',
  },
  async run(f) {
    const o = f as unknown as VitPretrainOptions;
    if (o.warmupSteps >= o.steps)
      throw new RangeError(`--warmup-steps ${o.warmupSteps} must be less than --steps ${o.steps}`);
    const { path, info } = await pretrainVit(o);
    console.log(formatPretrain(path, info));
  },
};

/** One line per fact group: validation accuracy of the facts head. */
export function formatPretrain(path: string, info: VitPretrainInfo): string {
  const v = info.val,
    pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
  return [
    `${path}: ${info.options.steps} steps in ${info.seconds.toFixed(0)} s`,
    `  val (${info.options.valSize} scenes): all facts right ${pct(v.exact)}; per label ${pct(v.label)} (all-negative ${pct(v.labelBaseline)}); per group ` +
      Object.entries(v.groups)
        .map(([g, x]) => `${g} ${pct(x)}`)
        .join(', '),
  ].join('\n');
}

/**
 * A VLMo run directory's files, read back: what each stage trained (for eval.json), the final weights
 * of a finished stage (to evaluate, or to start the next stage from), and the stage-1 codebook.
 * Split from train.ts, which trains the stages.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Normalize, SceneDataset } from '../../data/index.js';
import { defaultBackend, getBackend, Rng, type Tensor } from '../../engine/index.js';
import { load, save } from '../../nn/safetensors_node.js';
import { fromRecords, latestCheckpoint, newestReadable } from '../common/checkpoint.js';
import { onHost } from '../common/trainer.js';
import { gridSize, type VlmoConfig } from './config.js';
import { kmeans, patchVectors, type Codebook } from './mim.js';
import { parseStages, stageConfig, type Stage } from './stages.js';
import type { StageDone, VlmoRunInfo } from './train.js';
import { Vlmo } from './vlmo.js';

/** What `trainedStages` reports: `trained` is null for a stage without done.json. */
export interface TrainedStages {
  stages: { stage: number; planned: number; trained: number | null }[];
  checkpoint: string | null;
  complete: boolean;
}

/**
 * What was trained, for eval.json and the printout: each stage's planned and trained steps (from
 * run.json and `stage<n>/done.json`) and the stage-3 checkpoint evaluated. A stage without done.json
 * was cut short (an interrupted run evaluated with `eval vlmo`).
 */
export async function trainedStages(out: string, info: VlmoRunInfo, checkpoint?: string): Promise<TrainedStages> {
  const planned: Record<number, number> = { 1: info.options.steps1, 2: info.options.steps2, 3: info.options.steps3 };
  const stages = parseStages(info.options.stages).map((stage) => {
    const done = join(out, `stage${stage}`, 'done.json');
    return {
      stage,
      planned: planned[stage],
      trained: existsSync(done) ? (JSON.parse(readFileSync(done, 'utf8')) as StageDone).steps : null,
    };
  });
  return {
    stages,
    checkpoint: checkpoint || (await latestCheckpoint(join(out, 'stage3', 'checkpoints'))),
    complete: stages.every((s) => s.trained === s.planned),
  };
}

/** The final weights of a finished stage, as a model of that stage. */
export async function loadStageModel(
  out: string,
  stage: Stage,
  config: VlmoConfig,
  checkpoint?: string,
): Promise<Vlmo> {
  return (await loadStageCheckpoint(out, stage, config, checkpoint)).model;
}

/** `loadStageModel`, with the checkpoint directory it read (the newest readable one unless `checkpoint` is given). */
export async function loadStageCheckpoint(
  out: string,
  stage: Stage,
  config: VlmoConfig,
  checkpoint?: string,
): Promise<{ model: Vlmo; checkpoint: string }> {
  const read = async (dir: string) => (await load(join(dir, 'model.safetensors'))).tensors;
  const found = checkpoint
    ? { path: checkpoint, value: await read(checkpoint) }
    : await newestReadable(join(out, `stage${stage}`, 'checkpoints'), read);
  if (!found)
    throw new Error(`no readable stage-${stage} checkpoint under ${out}; train first (vlgrad train vlmo --out ${out})`);
  const records = found.value;
  const model = onHost(() => new Vlmo(stageConfig(config, stage), { mim: stage === 1 })); // built on the host, then moved
  model.loadStateDict(fromRecords(records, getBackend('cpu')));
  return { model: model.to(defaultBackend()), checkpoint: found.path };
}

/**
 * The weights a stage starts from (on cpu): the final checkpoint of the nearest earlier stage that is
 * done, or null when none is. A done stage none of whose checkpoints reads is an error (starting
 * from an earlier stage, or from scratch, would be a silently different run).
 */
export async function previousWeights(
  out: string,
  stage: Stage,
): Promise<{ weights: Record<string, Tensor>; from: string } | null> {
  for (let s = stage - 1; s >= 1; s--) {
    if (!existsSync(join(out, `stage${s}`, 'done.json'))) continue;
    const found = await newestReadable(
      join(out, `stage${s}`, 'checkpoints'),
      async (dir) => (await load(join(dir, 'model.safetensors'))).tensors,
    );
    if (!found)
      throw new Error(
        `stage ${stage} starts from stage ${s}, which is done, but no checkpoint under ${join(out, `stage${s}`, 'checkpoints')} reads; retrain stage ${s} (--stages ${s},${stage} --overwrite) or restore its checkpoints`,
      );
    return { weights: fromRecords(found.value, getBackend('cpu')), from: found.path };
  }
  return null;
}

/** The stage-1 codebook saved at `path`, or null when there is none; one of another shape is an error. */
export async function readCodebook(path: string, c: VlmoConfig): Promise<Codebook | null> {
  if (!existsSync(path)) return null;
  const dim = 3 * c.patchSize ** 2,
    t = (await load(path)).tensors.centroids;
  if (!t || t.shape[0] !== c.codebookSize || t.shape[1] !== dim)
    throw new Error(
      `${path} holds ${t ? `a [${t.shape}] codebook` : 'no centroids'}; this config needs [${c.codebookSize}, ${dim}]`,
    );
  return { k: c.codebookSize, dim, centroids: Float32Array.from(t.data) };
}

/** The stage-1 codebook: k-means over the patches of the first `images` training images (normalized). */
export function buildCodebook(
  train: SceneDataset,
  normalize: Normalize,
  c: VlmoConfig,
  images: number,
  seed: number,
): Codebook {
  const n = Math.min(images, train.length),
    S = c.imageSize,
    plane = S * S,
    px = new Float32Array(n * 3 * plane);
  for (let i = 0; i < n; i++) train.image(i, false, px, i * 3 * plane);
  for (let i = 0; i < px.length; i++) {
    const ch = Math.floor(i / plane) % 3;
    px[i] = (px[i] - normalize.mean[ch]) / normalize.std[ch];
  }
  const rows = n * gridSize(c) ** 2;
  return kmeans(patchVectors(px, n, S, c.patchSize), rows, 3 * c.patchSize ** 2, c.codebookSize, new Rng(seed));
}

/** Writes a codebook where `readCodebook` finds it. */
export async function saveCodebook(path: string, cb: Codebook): Promise<void> {
  await save(path, { centroids: { dtype: 'float32', shape: [cb.k, cb.dim], data: cb.centroids } });
}

/** Builds (or reads back) the stage-1 codebook at `path`, saving a new one. */
export async function prepareCodebook(
  path: string,
  train: SceneDataset,
  normalize: Normalize,
  c: VlmoConfig,
  images: number,
  seed: number,
): Promise<Codebook> {
  const saved = await readCodebook(path, c);
  if (saved) return saved;
  const cb = buildCodebook(train, normalize, c, images, seed);
  await saveCodebook(path, cb);
  return cb;
}

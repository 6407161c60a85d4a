/**
 * Reading a VLMo run directory's stages back: what each stage trained (for eval.json) and the final
 * weights of a finished stage. Split from train.ts, which writes them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultBackend, getBackend } from '../../engine/index.js';
import { load } from '../../nn/safetensors_node.js';
import { fromRecords, latestCheckpoint, newestReadable } from '../common/checkpoint.js';
import { onHost } from '../common/trainer.js';
import type { VlmoConfig } from './config.js';
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

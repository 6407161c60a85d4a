/**
 * Training checkpoints. A checkpoint is a directory `step-000300/` holding `model.safetensors` (the
 * model's state dict under its checkpoint names: momentum model and queues included, loadable by the
 * PyTorch reference) and `trainer.safetensors` (optimizer moments as tensors; step, optimizer
 * hyper-parameters, RNG states and data-loader position as JSON metadata). Both files are written
 * into a temporary directory that is then renamed, so a crash leaves either no checkpoint or a whole one.
 */
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Tensor, type Backend, type Rng, type RngState } from '../../engine/index.js';
import type { Module } from '../../nn/module.js';
import type { Optimizer, OptimizerStateDict, ParamState } from '../../nn/optim.js';
import { load, save, type StateDict } from '../../nn/safetensors_node.js';
import { fromRecords, restoreRngs, toRecordsAsync } from './records.js';

export { fromRecords, moduleRngs, restoreRngs, rngStates, stateDictTo, toRecords, toRecordsAsync } from './records.js';

/** What a training checkpoint holds besides the model. */
export interface TrainerState {
  step: number;
  /** Named generators' states (dropout, hard negatives, ...). */
  rngs: Record<string, RngState>;
  /** Free-form JSON: data-loader position, run options, ... */
  extra: Record<string, unknown>;
}

async function optimizerToRecords(sd: OptimizerStateDict): Promise<{ tensors: StateDict; json: unknown }> {
  const tensors: Record<string, Tensor> = {}, state: Record<string, Record<string, number | string>> = {};
  for (const [id, s] of Object.entries(sd.state)) {
    state[id] = {};
    for (const [key, v] of Object.entries(s)) {
      if (v instanceof Tensor) { tensors[`optimizer.${id}.${key}`] = v; state[id][key] = '<tensor>'; } else state[id][key] = v;
    }
  }
  return { tensors: await toRecordsAsync(tensors), json: { state, paramGroups: sd.paramGroups } };
}

function optimizerFromRecords(records: StateDict, json: { state: Record<string, Record<string, number | string>>; paramGroups: OptimizerStateDict['paramGroups'] }, device?: Backend): OptimizerStateDict {
  const tensors = fromRecords(records, device), state: Record<number, ParamState> = {};
  for (const [id, s] of Object.entries(json.state)) {
    state[Number(id)] = {};
    for (const [key, v] of Object.entries(s)) state[Number(id)][key] = v === '<tensor>' ? tensors[`optimizer.${id}.${key}`] : (v as number);
  }
  return { state, paramGroups: json.paramGroups };
}

const stepDir = (step: number): string => `step-${String(step).padStart(6, '0')}`;

/** Writes checkpoint `step` under `dir` and keeps only the newest `keep` checkpoints. Returns its path. */
export async function saveCheckpoint(dir: string, model: Module, optimizer: Optimizer<any>, state: TrainerState, keep = 3): Promise<string> {
  await mkdir(dir, { recursive: true });
  const final = join(dir, stepDir(state.step)), tmp = join(dir, `.tmp-${stepDir(state.step)}-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  await save(join(tmp, 'model.safetensors'), await toRecordsAsync(model.stateDict()), { format: 'pt', producer: 'vlgrad' });
  const opt = await optimizerToRecords(optimizer.stateDict());
  await save(join(tmp, 'trainer.safetensors'), opt.tensors, { vlgrad: JSON.stringify({ ...state, optimizer: opt.json }) });
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  const all = await listCheckpoints(dir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) await rm(join(dir, stepDir(old)), { recursive: true, force: true });
  return final;
}

/** Steps of the complete checkpoints under `dir`, ascending ([] if none or no directory). */
export async function listCheckpoints(dir: string): Promise<number[]> {
  let names: string[];
  try { names = await readdir(dir); } catch { return []; }
  return names.map((n) => /^step-(\d+)$/.exec(n)).filter((m): m is RegExpExecArray => !!m).map((m) => Number(m[1])).sort((a, b) => a - b);
}

/** Path of the newest complete checkpoint under `dir`, or null. */
export async function latestCheckpoint(dir: string): Promise<string | null> {
  const steps = await listCheckpoints(dir);
  return steps.length ? join(dir, stepDir(steps[steps.length - 1])) : null;
}

/** Reads a checkpoint directory: the model's tensors, the optimizer state and the trainer state. */
export async function loadCheckpoint(path: string, device?: Backend): Promise<{ model: Record<string, Tensor>; optimizer: OptimizerStateDict; state: TrainerState }> {
  const model = fromRecords((await load(join(path, 'model.safetensors'))).tensors, device);
  const trainer = await load(join(path, 'trainer.safetensors'));
  const meta = trainer.metadata.vlgrad;
  if (!meta) throw new Error(`${path}/trainer.safetensors has no 'vlgrad' metadata; not a vlgrad training checkpoint`);
  const { optimizer, ...state } = JSON.parse(meta) as TrainerState & { optimizer: Parameters<typeof optimizerFromRecords>[1] };
  return { model, optimizer: optimizerFromRecords(trainer.tensors, optimizer, device), state };
}

/**
 * Continues a training run from checkpoint `path`: loads the model, the optimizer, every named RNG and
 * the data loader's position (saved as `extra.loader`), and returns the saved trainer state.
 */
export async function resumeTraining(path: string, run: { model: Module; optimizer: Optimizer<any>; rngs: Map<string, Rng>;
  loader: { setState(s: { epoch: number; batch: number }): unknown } }): Promise<TrainerState> {
  const ck = await loadCheckpoint(path);
  run.model.loadStateDict(ck.model);
  run.optimizer.loadStateDict(ck.optimizer);
  restoreRngs(run.rngs, ck.state.rngs);
  run.loader.setState(ck.state.extra.loader as { epoch: number; batch: number });
  return ck.state;
}

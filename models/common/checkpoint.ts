/**
 * Training checkpoints. A checkpoint is a directory `step-000300/` holding `model.safetensors` (the
 * model's state dict under its checkpoint names: momentum model and queues included, loadable by the
 * PyTorch reference) and `trainer.safetensors` (optimizer moments as tensors; step, optimizer
 * hyper-parameters, RNG states and data-loader position as JSON metadata). Both files are written
 * into a temporary directory that is then renamed, so a crash leaves either no checkpoint or a whole one;
 * the next save into that directory removes what a killed save left (its `.tmp-step-*` directory).
 * Pruning keeps the newest checkpoints up to the one just written and never deletes that one.
 */
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Tensor, type Backend, type Rng, type RngState } from '../../engine/index.js';
import type { Module } from '../../nn/module.js';
import type { Optimizer, OptimizerStateDict, ParamState } from '../../nn/optim.js';
import { load, save, type StateDict } from '../../nn/safetensors_node.js';
import { fromRecords, restoreRngs, toRecordsAsync } from './records.js';
import { cleanStaleTemporaries } from './run_dir.js';

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
  const tensors: Record<string, Tensor> = {},
    state: Record<string, Record<string, number | string>> = {};
  for (const [id, s] of Object.entries(sd.state)) {
    state[id] = {};
    for (const [key, v] of Object.entries(s)) {
      if (v instanceof Tensor) {
        tensors[`optimizer.${id}.${key}`] = v;
        state[id][key] = '<tensor>';
      } else state[id][key] = v;
    }
  }
  return { tensors: await toRecordsAsync(tensors), json: { state, paramGroups: sd.paramGroups } };
}

function optimizerFromRecords(
  records: StateDict,
  json: { state: Record<string, Record<string, number | string>>; paramGroups: OptimizerStateDict['paramGroups'] },
  device?: Backend,
): OptimizerStateDict {
  const tensors = fromRecords(records, device),
    state: Record<number, ParamState> = {};
  for (const [id, s] of Object.entries(json.state)) {
    state[Number(id)] = {};
    for (const [key, v] of Object.entries(s))
      state[Number(id)][key] = v === '<tensor>' ? tensors[`optimizer.${id}.${key}`] : (v as number);
  }
  return { state, paramGroups: json.paramGroups };
}

const stepDir = (step: number): string => `step-${String(step).padStart(6, '0')}`;

/**
 * Writes checkpoint `step` under `dir` and prunes older ones, keeping `keep` checkpoints of steps up to
 * `step` (this one included). Checkpoints of later steps are not touched: a run directory never holds
 * them (see run_dir.ts), and deleting the checkpoint just written would lose the run. Returns its path.
 */
export async function saveCheckpoint(
  dir: string,
  model: Module,
  optimizer: Optimizer<any>,
  state: TrainerState,
  keep = 3,
): Promise<string> {
  await mkdir(dir, { recursive: true });
  cleanStaleTemporaries(dir, false); // a killed save's .tmp-step-* (its process is gone)
  const final = join(dir, stepDir(state.step)),
    tmp = join(dir, `.tmp-${stepDir(state.step)}-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  await save(join(tmp, 'model.safetensors'), await toRecordsAsync(model.stateDict()), {
    format: 'pt',
    producer: 'vlgrad',
  });
  const opt = await optimizerToRecords(optimizer.stateDict());
  await save(join(tmp, 'trainer.safetensors'), opt.tensors, {
    vlgrad: JSON.stringify({ ...state, optimizer: opt.json }),
  });
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  const older = (await listCheckpoints(dir)).filter((s) => s < state.step);
  for (const old of older.slice(0, Math.max(0, older.length - (keep - 1))))
    await rm(join(dir, stepDir(old)), { recursive: true, force: true });
  return final;
}

/** Steps of the complete checkpoints under `dir`, ascending ([] if none or no directory). */
export async function listCheckpoints(dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  return names
    .map((n) => /^step-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** Path of the newest complete checkpoint under `dir`, or null. */
export async function latestCheckpoint(dir: string): Promise<string | null> {
  const steps = await listCheckpoints(dir);
  return steps.length ? join(dir, stepDir(steps[steps.length - 1])) : null;
}

/** A loaded training checkpoint and where it came from. */
export interface LoadedCheckpoint {
  path: string;
  model: Record<string, Tensor>;
  optimizer: OptimizerStateDict;
  state: TrainerState;
}

/** Reads a checkpoint directory: the model's tensors, the optimizer state and the trainer state. */
export async function loadCheckpoint(path: string, device?: Backend): Promise<LoadedCheckpoint> {
  const model = fromRecords((await load(join(path, 'model.safetensors'))).tensors, device);
  const trainer = await load(join(path, 'trainer.safetensors'));
  const meta = trainer.metadata.vlgrad;
  if (!meta) throw new Error(`${path}/trainer.safetensors has no 'vlgrad' metadata; not a vlgrad training checkpoint`);
  const { optimizer, ...state } = JSON.parse(meta) as TrainerState & {
    optimizer: Parameters<typeof optimizerFromRecords>[1];
  };
  return { path, model, optimizer: optimizerFromRecords(trainer.tensors, optimizer, device), state };
}

/**
 * The newest checkpoint under `dir` that `read` accepts, read: a checkpoint that fails to read
 * (truncated, corrupt, missing a file) is reported and skipped in favour of the next older one.
 * `skipped` lists the unreadable ones, newest first. Null when no checkpoint is readable.
 */
export async function newestReadable<T>(
  dir: string,
  read: (path: string) => Promise<T>,
  log: (line: string) => void = console.log,
): Promise<{ path: string; value: T; skipped: string[] } | null> {
  const steps = await listCheckpoints(dir),
    skipped: string[] = [];
  for (let i = steps.length - 1; i >= 0; i--) {
    const path = join(dir, stepDir(steps[i]));
    try {
      const value = await read(path);
      if (skipped.length) log(`falling back to ${path}: the newer ${skipped.join(', ')} could not be read`);
      return { path, value, skipped };
    } catch (e) {
      log(`checkpoint ${path} is unreadable: ${(e as Error).message}`);
      skipped.push(path);
    }
  }
  return null;
}

/**
 * Continues a training run from a checkpoint (a path, or one loaded with `loadCheckpoint`): loads the
 * model, the optimizer, every named RNG and the data loader's position (saved as `extra.loader`), and
 * returns the saved trainer state. Nothing is written.
 */
export async function resumeTraining(
  from: string | LoadedCheckpoint,
  run: {
    model: Module;
    optimizer: Optimizer<any>;
    rngs: Map<string, Rng>;
    loader: { setState(s: { epoch: number; batch: number }): unknown };
  },
): Promise<TrainerState> {
  const ck = typeof from === 'string' ? await loadCheckpoint(from) : from;
  run.model.loadStateDict(ck.model);
  run.optimizer.loadStateDict(ck.optimizer);
  restoreRngs(run.rngs, ck.state.rngs);
  run.loader.setState(ck.state.extra.loader as { epoch: number; batch: number });
  return ck.state;
}

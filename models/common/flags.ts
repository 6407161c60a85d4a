/**
 * Flag specs shared by the commands of both models, so one definition validates `--steps`,
 * `--device`, `--eval-size`, ... everywhere: run-directory flags, data flags, evaluation flags.
 */
import { getHeapStatistics } from 'node:v8';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DATASET_NAMES } from '../../data/index.js';
import { flag } from './cli.js';
import { checkTrainSizeFits, TRAINING_DEVICES } from './trainer.js';

const U32_MAX = 0xffffffff;

/** Image sizes the scene datasets render. */
export const DATASET_IMAGE_SIZES: readonly number[] = [32, 64];

/** `--seed`-like flags: the data generators take 32-bit seeds. */
export const seedFlag = (def: number, help: string) => flag.int(def, help, { min: 0, max: U32_MAX });

/** `--device`: every device, with what it is and how it starts. */
export const deviceFlag = (def: string) =>
  flag.choice(def, 'device to train on (evaluation runs on cpu)', TRAINING_DEVICES);

/** `--dataset`. */
export const datasetFlag = (def: string) => flag.choice(def, 'scene dataset', DATASET_NAMES);

/**
 * `--config` of a train command: the named configs whose images a scene dataset renders; the others
 * (base/large sizes, micro configs for gradient checks) are refused with the reason.
 */
export function trainConfigFlag(def: string, names: readonly string[], imageSizeOf: (name: string) => number) {
  const ok = names.filter((n) => DATASET_IMAGE_SIZES.includes(imageSizeOf(n)));
  const refused = Object.fromEntries(
    names
      .filter((n) => !ok.includes(n))
      .map((n) => [
        n,
        `its ${imageSizeOf(n)}-pixel images cannot be trained here (the scene datasets render ${DATASET_IMAGE_SIZES.join(' or ')}-pixel images; ` +
          `${n} is for ${imageSizeOf(n) < 32 ? 'gradient checks and PyTorch parity tests' : 'loading reference weights and counting parameters'})`,
      ]),
  );
  return flag.choice(def, 'model config', ok, refused);
}

/** Flags of every train command: the run directory and how to use it. */
export const RUN_FLAGS = {
  checkpointEvery: flag.int(100, 'checkpoint every N steps', { min: 1 }),
  resume: flag.bool(
    false,
    "continue the run in --out from its newest readable checkpoint (options not given are the saved run's)",
  ),
  overwrite: flag.bool(false, 'replace the run in --out (a new run refuses a non-empty --out)'),
  allowChange: flag.str(
    '',
    'with --resume: options allowed to differ from the saved run, e.g. steps,lr (recorded in run.json)',
  ),
  progress: flag.bool(true, 'show the progress bar'),
};

/** `--train-size` and `--noise`. */
export const DATA_FLAGS = {
  trainSize: flag.int(8192, 'training scenes', { min: 1 }),
  noise: flag.num(0, 'fraction of noisy (mismatched) training captions', { min: 0, max: 1 }),
};

/** Refuses a training-set size that cannot fit in this process's heap (before any data is built). */
export function checkTrainSize(trainSize: number, noise: number): void {
  checkTrainSizeFits(trainSize, noise, getHeapStatistics().heap_size_limit);
}

/** Flags of evaluation on the test split. */
export const EVAL_FLAGS = {
  evalSize: flag.int(1000, 'test scenes', { min: 1 }),
  evalK: flag.int(16, 'ITM re-ranking candidates per query', { min: 1 }),
  evalSeed: seedFlag(1, 'test split seed'),
  evalBatch: flag.int(64, 'evaluation batch', { min: 1 }),
};

/** `--run` and `--checkpoint` of the commands that read a trained run. */
export const runFlags = (def: string) => ({
  run: flag.str(def, 'run directory written by train'),
  checkpoint: flag.str('', 'checkpoint directory (default: the newest readable one of the run)'),
});

/** Checks an explicit `--checkpoint` before anything reads it: it must be a checkpoint directory. */
export function checkCheckpointFlag(path: string): void {
  if (!path) return;
  if (!existsSync(path))
    throw new Error(`--checkpoint ${path}: no such directory (checkpoints are <run>/checkpoints/step-NNNNNN)`);
  if (!existsSync(join(path, 'model.safetensors')))
    throw new Error(`--checkpoint ${path}: not a checkpoint directory (no model.safetensors in it)`);
}

/**
 * Pre-training ALBEF on the bundled scenes: data, AdamW with ALBEF's weight-decay groups, warm-up +
 * cosine learning rate, the α ramp, checkpoints with everything needed to resume bit for bit
 * (model + momentum model + queues, optimizer, every RNG, the loader's position).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setDefaultDevice } from '../../engine/index.js';
import type { Tokenizer } from '../../data/index.js';
import { moduleRngs, rngStates, saveCheckpoint } from '../common/checkpoint.js';
import { resumeFromCheckpoints } from '../common/resume.js';
import { pickOptions, withRunDir, type OpenRun } from '../common/run_dir.js';
import { JsonlLog, readJsonl } from '../common/jsonl.js';
import { lossCurvesSvg } from '../common/plot.js';
import { ProgressBar } from '../common/progress.js';
import { startTrainingDevice, trainLoop, type StepReport } from '../common/trainer.js';
import type { Albef } from './albef.js';
import { readVisionInit } from './pretrain.js';
import { albefSetup, type AlbefTrainOptions, type RunInfo } from './session.js';
import { albefStep } from './step.js';

export { batchInputs } from './step.js';
export { accuracy } from '../common/objectives.js';
export { TRAIN_DEFAULTS, type AlbefTrainOptions, type RunInfo } from './session.js';

/** Options that change a run's maths: a resume must keep them (or name them in `allowChange`). */
export const ALBEF_RESUME_KEYS = [
  'config',
  'dataset',
  'trainSize',
  'noise',
  'steps',
  'batchSize',
  'lr',
  'warmupLr',
  'warmupSteps',
  'minLr',
  'weightDecay',
  'seed',
  'dropout',
  'queueSize',
  'momentum',
] as const;

type Trained = { model: Albef; tokenizer: Tokenizer; info: RunInfo; seconds: number; steps: number };

/**
 * Builds the model, data and optimizer, resumes if asked, trains, and writes the run directory,
 * holding its lock throughout (another process training into `opts.out` is refused).
 */
export async function trainAlbef(opts: AlbefTrainOptions): Promise<Trained> {
  const where = { resume: opts.resume, overwrite: opts.overwrite, command: 'train albef' };
  return withRunDir(opts.out, where, (run) => trainInto(run, opts));
}

async function trainInto(run: OpenRun, opts: AlbefTrainOptions): Promise<Trained> {
  const device = await startTrainingDevice(opts.device);
  setDefaultDevice(device);
  const warm = opts.initVision ? await readVisionInit(opts.initVision, { tensors: !opts.resume }) : null;
  const { tokenizer, config, loader, model, optimizer, lrAt, alphaAt, info } = albefSetup(opts, device, warm);
  const rngs = moduleRngs(model);
  const ckptDir = join(opts.out, 'checkpoints');
  const resumed = await resumeFromCheckpoints({
    run,
    checkpoints: ckptDir,
    options: { ...opts },
    keys: ALBEF_RESUME_KEYS,
    allowChange: opts.allowChange,
    target: { model, optimizer, rngs, loader },
  });
  run.commit({ ...info }, resumed?.record); // the first write into the run directory
  const startStep = resumed?.step ?? 0,
    resumeFrom = resumed?.path ?? null;
  const log = new JsonlLog(join(opts.out, 'log.jsonl'), resumeFrom ? { resumeAfter: startStep } : { fresh: true });

  const step = (s: number): Promise<StepReport> =>
    albefStep(model, optimizer, loader.next(), lrAt(s - 1), alphaAt(s - 1));
  const checkpoint = (s: number): Promise<string> =>
    saveCheckpoint(ckptDir, model, optimizer, {
      step: s,
      rngs: rngStates(rngs),
      extra: { loader: loader.state(), options: pickOptions(opts, ALBEF_RESUME_KEYS) },
    });
  const result = await trainLoop({
    startStep,
    totalSteps: opts.steps,
    step,
    checkpoint,
    checkpointEvery: opts.checkpointEvery,
    log,
    progress: opts.progress ? new ProgressBar(process.stderr) : null,
    shouldStop: (_step, elapsed) => opts.maxMinutes > 0 && elapsed > 60 * opts.maxMinutes,
  });
  writeFileSync(
    join(opts.out, 'loss.svg'),
    lossCurvesSvg(readJsonl(log.path), ['itc', 'itm', 'mlm', 'total'], {
      title: `${config.name} on ${opts.dataset} (${opts.trainSize} scenes, batch ${opts.batchSize})`,
    }),
  );
  return { model, tokenizer, info, seconds: result.seconds, steps: result.step };
}

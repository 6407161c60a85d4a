/**
 * `--resume` for both trainers: find the newest readable checkpoint of a run (falling back past
 * unreadable ones, and saying so), check the options that change the maths against the ones it was
 * trained with, load it into the live model, optimizer, RNGs and loader, and only then move the
 * unreadable checkpoints aside. Nothing is written before the checkpoint has loaded.
 */
import type { Rng } from '../../engine/index.js';
import type { Module } from '../../nn/module.js';
import type { Optimizer } from '../../nn/optim.js';
import { loadCheckpoint, newestReadable, resumeTraining, type TrainerState } from './checkpoint.js';
import {
  checkResumeOptions,
  parseAllowChange,
  setAsideCheckpoints,
  type OpenRun,
  type ResumeRecord,
} from './run_dir.js';

export interface ResumeOptions {
  run: OpenRun;
  /** The checkpoints directory of what is resumed (a stage's, for VLMo). */
  checkpoints: string;
  /** The options of this invocation, and the keys that must match the checkpoint's (`extra.options`). */
  options: Record<string, unknown>;
  keys: readonly string[];
  /** `--allow-change`, comma-separated. */
  allowChange?: string;
  /** What the checkpoint is loaded into. */
  target: {
    model: Module;
    optimizer: Optimizer<any>;
    rngs: Map<string, Rng>;
    loader: { setState(s: { epoch: number; batch: number }): unknown };
  };
  /** Prefix of the "resuming from" line (e.g. 'stage 3: '). */
  label?: string;
}

/** A validated resume: the step to continue after and what to record in run.json. */
export interface Resumed {
  step: number;
  path: string;
  state: TrainerState;
  record: ResumeRecord;
}

/**
 * Resumes `o.target` from the newest readable checkpoint, or returns null when the run is not being
 * resumed or has no readable checkpoint (training then starts at step 0).
 */
export async function resumeFromCheckpoints(o: ResumeOptions): Promise<Resumed | null> {
  if (!o.run.resuming) return null;
  const found = await newestReadable(o.checkpoints, (p) => loadCheckpoint(p));
  if (!found) {
    console.log(`--resume: no readable checkpoint under ${o.checkpoints}; starting at step 0`);
    return null;
  }
  const ck = found.value,
    saved = (ck.state.extra.options as Record<string, unknown> | undefined) ?? o.run.saved?.options ?? {};
  // Changes accepted by an earlier resume of this run stay accepted (a fallback may land before them).
  const accepted = (o.run.saved?.resumes ?? []).flatMap((r) => Object.keys(r.changed ?? {}));
  const changed = checkResumeOptions({
    saved,
    current: o.options,
    keys: o.keys,
    allow: [...parseAllowChange(o.allowChange), ...accepted],
    source: found.path,
  });
  const state = await resumeTraining(ck, o.target); // throws on any mismatch before anything is written
  setAsideCheckpoints(found.skipped);
  console.log(`${o.label ?? ''}resuming from step ${state.step} (checkpoint ${found.path})`);
  const record: ResumeRecord = {
    step: state.step,
    checkpoint: found.path,
    time: new Date().toISOString(),
    ...(Object.keys(changed).length ? { changed } : {}),
    ...(found.skipped.length ? { skipped: found.skipped } : {}),
  };
  return { step: state.step, path: found.path, state, record };
}

/**
 * The training loop shared by ALBEF and VLMo: it calls the model's step function, logs every step to
 * JSONL, redraws the progress bar and writes periodic checkpoints. What a step does (forward,
 * backward, optimizer, EMA) and what a checkpoint holds belong to the model's trainer.
 */
import type { JsonlLog, LogRecord } from './jsonl.js';
import type { ProgressBar } from './progress.js';

/** What one optimization step reports. */
export interface StepReport {
  /** Loss components, shown on the progress bar and logged. */
  losses: Record<string, number>;
  /** Other logged numbers (lr, α, τ, accuracies). */
  extra?: Record<string, number>;
  /** Samples consumed (the batch size). */
  samples: number;
}

export interface TrainLoopOptions {
  /** Steps already done (0, or the step of the checkpoint resumed from). */
  startStep: number;
  /** Total steps of the run; the loop runs steps startStep+1 .. totalSteps. */
  totalSteps: number;
  /** Runs step number `step` (1-based). */
  step(step: number): StepReport;
  /** Writes a checkpoint after `step`; called every `checkpointEvery` steps and after the last. */
  checkpoint?(step: number): Promise<unknown>;
  checkpointEvery?: number;
  log?: JsonlLog;
  progress?: ProgressBar | null;
  /** Stop early (e.g. a time budget); checked after each step. */
  shouldStop?(step: number, elapsedSeconds: number): boolean;
}

export interface TrainLoopResult {
  records: LogRecord[];
  /** Wall seconds of this loop (excluding what happened before a resume). */
  seconds: number;
  /** The last step completed. */
  step: number;
}

/** Runs the loop. Every step is logged; the average rate is over this loop's steps. */
export async function trainLoop(o: TrainLoopOptions): Promise<TrainLoopResult> {
  const t0 = performance.now(), cpu0 = process.cpuUsage(), records: LogRecord[] = [];
  let samples = 0, step = o.startStep;
  while (step < o.totalSteps) {
    step++;
    const r = o.step(step);
    samples += r.samples;
    const elapsed = (performance.now() - t0) / 1000, rate = samples / Math.max(elapsed, 1e-9);
    const cpu = process.cpuUsage(cpu0), cpuSeconds = (cpu.user + cpu.system) / 1e6;       // all threads; a loaded machine inflates wall time, not this
    const record: LogRecord = { step, ...r.losses, ...(r.extra ?? {}), samples_per_s: Number(rate.toFixed(2)), time_s: Number(elapsed.toFixed(2)), cpu_s: Number(cpuSeconds.toFixed(2)) };
    records.push(record);
    o.log?.write(record);
    o.progress?.update({ step, total: o.totalSteps, elapsed, stepsDone: step - o.startStep, samplesPerSecond: rate, losses: r.losses });
    const last = step === o.totalSteps || (o.shouldStop?.(step, elapsed) ?? false);
    if (o.checkpoint && ((o.checkpointEvery && step % o.checkpointEvery === 0) || last)) await o.checkpoint(step);
    if (last) break;
  }
  o.progress?.done();
  return { records, seconds: (performance.now() - t0) / 1000, step };
}

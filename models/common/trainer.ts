/**
 * The training loop shared by ALBEF and VLMo: it calls the model's step function, logs every step to
 * JSONL, redraws the progress bar and writes periodic checkpoints. What a step does (forward,
 * backward, optimizer, EMA) and what a checkpoint holds belong to the model's trainer. Steps may be
 * asynchronous (they read their logged numbers with `await t.data()`, which works on every device,
 * 'webgpu' included); the loop awaits each one before the next.
 */
import { defaultBackend, getBackend, setDefaultDevice, type Backend } from '../../engine/index.js';
import { initBackend, isGpuJsDevice } from '../../kernels/index.js';
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
  /** Runs step number `step` (1-based); the loop awaits it when it returns a promise. */
  step(step: number): StepReport | Promise<StepReport>;
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
  const t0 = performance.now(), cpu0 = cpuSeconds(), records: LogRecord[] = [];
  let samples = 0, step = o.startStep;
  while (step < o.totalSteps) {
    step++;
    const r = await o.step(step);
    samples += r.samples;
    const elapsed = (performance.now() - t0) / 1000, rate = samples / Math.max(elapsed, 1e-9);
    const cpu = cpuSeconds() - cpu0;       // all threads; a loaded machine inflates wall time, not this
    const record: LogRecord = { step, ...r.losses, ...(r.extra ?? {}), samples_per_s: Number(rate.toFixed(2)), time_s: Number(elapsed.toFixed(2)),
      ...(Number.isNaN(cpu) ? {} : { cpu_s: Number(cpu.toFixed(2)) }) };
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

/** CPU seconds of this process, all threads (Node's process.cpuUsage); NaN where there is none (a browser). */
function cpuSeconds(): number {
  const p = (globalThis as { process?: { cpuUsage?: () => { user: number; system: number } } }).process;
  const u = p?.cpuUsage?.();
  return u ? (u.user + u.system) / 1e6 : NaN;
}

/** The devices whose data lives in host memory and that need no starting. */
export const HOST_DEVICES: readonly string[] = ['cpu', 'cpu-ref'];

/**
 * The backend of `--device name`, started if it must be: the gpu.js devices ('webgpu', 'webasm',
 * 'gpujs-cpu') through `initBackend`; 'cpu', 'cpu-ref' and registered devices as they are. A device
 * that cannot start is an error naming the device, the cause and the fix.
 */
export async function startTrainingDevice(name: string): Promise<Backend> {
  if (!isGpuJsDevice(name)) return getBackend(name);
  try {
    return await initBackend(name);
  } catch (e) {
    throw new Error(`--device ${name}: the device cannot start: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Runs `fn` with 'cpu' as the default device, then restores the default. Models are built there
 * (their initialisers write with synchronous host reads, which 'webgpu' refuses) and then moved to
 * the training device with `module.to(device)`, a no-op when that device is cpu.
 */
export function onHost<T>(fn: () => T): T {
  const previous = defaultBackend();
  setDefaultDevice('cpu');
  try { return fn(); } finally { setDefaultDevice(previous); }
}

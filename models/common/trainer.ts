/**
 * The training loop shared by ALBEF and VLMo: it calls the model's step function, logs every step to
 * JSONL, redraws the progress bar and writes periodic checkpoints. What a step does (forward,
 * backward, optimizer, EMA) and what a checkpoint holds belong to the model's trainer. Steps may be
 * asynchronous (they read their logged numbers with `await t.data()`, which works on every device,
 * 'webgpu' included); the loop awaits each one before the next. While a loop with checkpoints runs,
 * SIGINT and SIGTERM stop it at the next step boundary after a checkpoint (`TrainingInterrupted`).
 */
import { defaultBackend, getBackend, setDefaultDevice, type Backend } from '../../engine/index.js';
import { initBackend, isGpuJsDevice, startThreads, threads } from '../../kernels/index.js';
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
  /** Catch SIGINT/SIGTERM: save a checkpoint after the current step and throw TrainingInterrupted (default: when `checkpoint` is set). */
  handleSignals?: boolean;
}

const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;

/** The part of Node's `process` the signal handling uses (typed here: this module also loads in browsers). */
interface SignalProcess {
  on(signal: string, f: (s: keyof typeof SIGNAL_NUMBERS) => void): unknown;
  off(signal: string, f: (s: keyof typeof SIGNAL_NUMBERS) => void): unknown;
  exit(code: number): never;
  stderr: { write(s: string): unknown };
}

/**
 * Training stopped by SIGINT or SIGTERM after saving a checkpoint. `exitCode` is the shell's
 * convention for the signal (130, 143); the command line adds how to resume.
 */
export class TrainingInterrupted extends Error {
  override name = 'TrainingInterrupted';
  readonly exitCode: number;
  constructor(
    readonly signal: keyof typeof SIGNAL_NUMBERS,
    readonly step: number,
    readonly checkpoint: string,
  ) {
    super(`interrupted by ${signal} after step ${step}; saved checkpoint ${checkpoint}`);
    this.exitCode = 128 + SIGNAL_NUMBERS[signal];
  }
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
  const t0 = performance.now(),
    cpu0 = cpuSeconds(),
    records: LogRecord[] = [];
  let samples = 0,
    step = o.startStep,
    signal: keyof typeof SIGNAL_NUMBERS | null = null;
  const proc = (globalThis as { process?: SignalProcess }).process; // absent in a browser: no signals there
  const onSignal = (sig: keyof typeof SIGNAL_NUMBERS): void => {
    if (signal) {
      proc!.stderr.write(`\n${sig} again: exiting without a checkpoint\n`);
      proc!.exit(128 + SIGNAL_NUMBERS[sig]);
    }
    signal = sig;
    proc!.stderr.write(
      `\n${sig}: saving a checkpoint after step ${Math.max(step, o.startStep + 1)}, then stopping (send it again to quit at once)\n`,
    );
  };
  const handle = (o.handleSignals ?? !!o.checkpoint) && typeof proc?.on === 'function';
  if (handle) for (const sig of Object.keys(SIGNAL_NUMBERS)) proc!.on(sig, onSignal);
  try {
    while (step < o.totalSteps) {
      step++;
      const r = await o.step(step);
      samples += r.samples;
      const elapsed = (performance.now() - t0) / 1000,
        rate = samples / Math.max(elapsed, 1e-9);
      const cpu = cpuSeconds() - cpu0; // all threads; a loaded machine inflates wall time, not this
      const record: LogRecord = {
        step,
        ...r.losses,
        ...(r.extra ?? {}),
        samples_per_s: Number(rate.toFixed(2)),
        time_s: Number(elapsed.toFixed(2)),
        ...(Number.isNaN(cpu) ? {} : { cpu_s: Number(cpu.toFixed(2)) }),
      };
      records.push(record);
      o.log?.write(record);
      o.progress?.update({
        step,
        total: o.totalSteps,
        elapsed,
        stepsDone: step - o.startStep,
        samplesPerSecond: rate,
        losses: r.losses,
      });
      const last = step === o.totalSteps || (o.shouldStop?.(step, elapsed) ?? false);
      // On cpu a step resolves in microtasks only, which never lets the event loop deliver a signal: yield once.
      if (handle) await new Promise((resolve) => setTimeout(resolve, 0));
      let saved: unknown = null;
      if (o.checkpoint && ((o.checkpointEvery && step % o.checkpointEvery === 0) || last || signal))
        saved = await o.checkpoint(step);
      if (signal) {
        o.progress?.done();
        throw new TrainingInterrupted(signal, step, String(saved));
      }
      if (last) break;
    }
  } finally {
    if (handle) for (const sig of Object.keys(SIGNAL_NUMBERS)) proc!.off(sig, onSignal);
  }
  o.progress?.done();
  return { records, seconds: (performance.now() - t0) / 1000, step };
}

/** Every device `--device` accepts, with what it is and how it starts (for help and errors). */
export const TRAINING_DEVICES: Readonly<Record<string, string>> = {
  cpu: 'WASM SIMD matmul on worker threads; always there (default)',
  'cpu-ref': 'plain TypeScript reference loops; always there',
  webgpu:
    'gpu.js WGSL through Dawn; needs the optional npm packages gpu.js and webgpu and a GPU (or lavapipe), started for you',
  webasm: 'gpu.js kernels compiled to WebAssembly; needs the optional npm package gpu.js, started for you',
  'gpujs-cpu': 'gpu.js kernels as plain JavaScript; needs the optional npm package gpu.js, started for you',
};

/**
 * Host memory the data pipeline keeps per training scene: a held-out flag and a noise code (1 byte
 * each), the loader's shuffled order of the epoch (a JS array of small integers, up to 8 bytes) and,
 * with noisy captions, the noise pick's permutation (8 more).
 */
export const BYTES_PER_SCENE = (noise: number): number => 10 + (noise > 0 ? 8 : 0);

/**
 * Refuses a training-set size whose per-scene bookkeeping cannot fit in half of this process's
 * JavaScript heap, before anything is allocated (a huge --train-size would otherwise fail deep in a
 * typed-array constructor, or run for minutes and gigabytes first).
 */
export function checkTrainSizeFits(trainSize: number, noise: number, heapLimit: number): void {
  const need = trainSize * BYTES_PER_SCENE(noise),
    budget = heapLimit / 2,
    max = Math.floor(budget / BYTES_PER_SCENE(noise));
  if (need > budget) {
    throw new RangeError(
      `--train-size ${trainSize}: the data loader keeps ~${BYTES_PER_SCENE(noise)} bytes per scene in memory ` +
        `(${(need / 2 ** 30).toFixed(1)} GiB), more than half of this process's ${(heapLimit / 2 ** 30).toFixed(1)} GiB heap; ` +
        `use at most ${max} scenes, or raise the heap with NODE_OPTIONS=--max-old-space-size=MB`,
    );
  }
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
 * 'gpujs-cpu') through `initBackend`; 'cpu' with its matmul threads started and warmed up
 * (`startThreads`, at the configured count: VLGRAD_THREADS or every core), so the first steps run
 * at full speed; 'cpu-ref' and registered devices as they are. A device that cannot start is an
 * error naming the device, the cause and the fix.
 */
export async function startTrainingDevice(name: string): Promise<Backend> {
  if (name === 'cpu') await startThreads(threads());
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
  try {
    return fn();
  } finally {
    setDefaultDevice(previous);
  }
}

/** Messages between the demo page (main.ts) and its engine Worker (worker.ts), and the training options of a page spec. */
import { TRAIN_DEFAULTS, type AlbefTrainOptions } from '../models/albef/session.js';

/** How the page asks the worker to set up training. */
export interface TrainSpec {
  /** 'auto' picks webgpu when an adapter exists, else cpu (WASM kernels). */
  device: 'auto' | 'webgpu' | 'cpu';
  config: string;
  steps: number;
  batchSize: number;
  trainSize: number;
  seed: number;
}

export type ToWorker =
  | { type: 'init'; spec: TrainSpec }
  | { type: 'run' }
  | { type: 'pause' }
  | { type: 'checkpoint' }
  | { type: 'samples'; count: number }
  | { type: 'load'; model: ArrayBuffer; runJson: string }
  | { type: 'query'; caption: string; k: number }
  | { type: 'ground'; scene: number; caption: string };

/** One image with its caption: RGB bytes [size, size, 3]. */
export interface Picture {
  rgb: Uint8Array;
  size: number;
  caption: string;
}

export type FromWorker =
  | {
      type: 'ready';
      device: string;
      description: string;
      threads: number;
      crossOriginIsolated: boolean;
      steps: number;
      config: string;
    }
  | {
      type: 'step';
      step: number;
      total: number;
      losses: Record<string, number>;
      extra: Record<string, number>;
      seconds: number;
    }
  | { type: 'paused'; step: number }
  | { type: 'done'; step: number; seconds: number }
  | { type: 'checkpoint'; model: Uint8Array; runJson: string }
  | { type: 'samples'; pictures: Picture[] }
  | { type: 'loaded'; config: string; gallery: number }
  | { type: 'results'; caption: string; hits: (Picture & { scene: number; score: number })[] }
  | { type: 'grounding'; png: Uint8Array; itmProb: number }
  | { type: 'error'; message: string };

/** The training options of a page spec (the browser test builds the same ones in Node). */
export function demoOptions(spec: TrainSpec, device: string): AlbefTrainOptions {
  // The page trains on 'shapes' scenes: 'mnist-scenes' needs the 40 MB mnist package, a Node-side download.
  return {
    ...TRAIN_DEFAULTS,
    config: spec.config,
    dataset: 'shapes',
    trainSize: spec.trainSize,
    steps: spec.steps,
    // the warm-up must end before the schedule does: a short run warms up for a tenth of it
    warmupSteps: Math.min(TRAIN_DEFAULTS.warmupSteps, Math.floor(spec.steps / 10)),
    batchSize: spec.batchSize,
    seed: spec.seed,
    device,
    progress: false,
    out: '',
    maxMinutes: 0,
  };
}

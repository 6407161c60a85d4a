/**
 * The demo's engine, in a Worker so the page stays responsive: it picks the device, trains ALBEF
 * one step at a time (yielding between steps so pause and other messages get through), writes
 * checkpoints to bytes, and answers retrieval and grounding queries on a loaded checkpoint.
 */
import 'gpu.js'; // its browser build sets self.GPU, which vlgrad's webgpu device uses
import { setDefaultDevice } from '../engine/index.js';
import { initBackend, startThreads } from '../kernels/index.js';
import { chwToRgb8, makeDataset, type SceneDataset } from '../data/index.js';
import { serialize } from '../nn/safetensors.js';
import { AlbefSession, groundingPng } from '../models/albef/index.js';
import { toRecordsAsync } from '../models/common/records.js';
import { demoOptions, type FromWorker, type Picture, type ToWorker, type TrainSpec } from './protocol.js';
import { loadCheckpoint, topScenes, groundScene, type Loaded } from './retrieve.js';

const post = (m: FromWorker, transfer: Transferable[] = []): void =>
  (self as unknown as Worker).postMessage(m, transfer);

let session: AlbefSession | null = null;
let running = false,
  seconds = 0;
/** The checkpoint loaded for retrieval, on cpu. */
let loaded: Loaded | null = null;

/** webgpu when asked for (or 'auto') and an adapter exists; else cpu with the WASM kernels on every core we may use. */
async function pickDevice(
  want: TrainSpec['device'],
): Promise<{ device: string; description: string; threads: number }> {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (want !== 'cpu') {
    const adapter = gpu ? await gpu.requestAdapter() : null;
    if (adapter) {
      const be = await initBackend('webgpu');
      const info = (adapter as { info?: { vendor?: string; architecture?: string; description?: string } }).info;
      const description =
        be.description ||
        [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') ||
        'WebGPU adapter';
      return { device: 'webgpu', description, threads: 1 };
    }
    if (want === 'webgpu')
      throw new Error(
        gpu ? 'webgpu: navigator.gpu.requestAdapter() gave no adapter' : 'webgpu: this browser has no navigator.gpu',
      );
  }
  const threads = await startThreads(navigator.hardwareConcurrency);
  return { device: 'cpu', description: `WebAssembly SIMD, ${threads} thread${threads > 1 ? 's' : ''}`, threads };
}

async function init(spec: TrainSpec): Promise<void> {
  const picked = await pickDevice(spec.device);
  setDefaultDevice(picked.device === 'webgpu' ? 'webgpu' : 'cpu');
  session = new AlbefSession(demoOptions(spec, picked.device), picked.device);
  seconds = 0;
  post({
    type: 'ready',
    ...picked,
    crossOriginIsolated: self.crossOriginIsolated,
    steps: spec.steps,
    config: session.setup.config.name,
  });
}

async function run(): Promise<void> {
  if (!session || running) return;
  running = true;
  const total = session.options.steps;
  while (running && session.stepsDone < total) {
    const t0 = performance.now();
    const r = await session.step();
    seconds += (performance.now() - t0) / 1000;
    post({ type: 'step', step: session.stepsDone, total, losses: r.losses, extra: r.extra ?? {}, seconds });
    await new Promise((resolve) => setTimeout(resolve, 0)); // let 'pause' and queries in
  }
  if (session.stepsDone >= total) post({ type: 'done', step: session.stepsDone, seconds });
  else post({ type: 'paused', step: session.stepsDone });
  running = false;
}

async function checkpoint(): Promise<void> {
  if (!session) throw new Error('checkpoint: nothing is training yet');
  const { model, info } = session.setup;
  const bytes = serialize(await toRecordsAsync(model.stateDict()), {
    format: 'pt',
    producer: 'vlgrad demo',
    step: String(session.stepsDone),
  });
  post({ type: 'checkpoint', model: bytes, runJson: `${JSON.stringify(info, null, 2)}\n` }, [bytes.buffer]);
}

function picture(ds: SceneDataset, i: number, caption = ds.cleanCaption(i)): Picture {
  return { rgb: chwToRgb8(ds.image(i), ds.imageSize, ds.imageSize), size: ds.imageSize, caption };
}

function samples(count: number): void {
  const ds = makeDataset({ name: 'shapes', split: 'train', size: count, seed: 0, imageSize: 64 });
  post({ type: 'samples', pictures: Array.from({ length: count }, (_, i) => picture(ds, i)) });
}

/** Loads a checkpoint (model.safetensors bytes + run.json) on cpu and encodes the gallery. */
function load(bytes: ArrayBuffer, runJson: string): void {
  setDefaultDevice('cpu');
  loaded = loadCheckpoint(bytes, runJson);
  post({ type: 'loaded', config: loaded.model.config.name, gallery: loaded.gallery.length });
}

function query(caption: string, k: number): void {
  if (!loaded) throw new Error('query: load a checkpoint first');
  const l = loaded;
  post({
    type: 'results',
    caption,
    hits: topScenes(l, caption, k).map((h) => ({ ...picture(l.gallery, h.scene), ...h })),
  });
}

/** Per-word grounding maps of a gallery scene, drawn as the CLI's grounding PNG. */
function ground(scene: number, caption: string): void {
  if (!loaded) throw new Error('ground: load a checkpoint first');
  const g = groundScene(loaded, scene, caption),
    S = loaded.gallery.imageSize;
  post({ type: 'grounding', png: groundingPng(loaded.gallery.image(scene), S, caption, g), itmProb: g.itmProb });
}

self.onmessage = async (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  try {
    switch (m.type) {
      case 'init':
        await init(m.spec);
        break;
      case 'run':
        await run();
        break;
      case 'pause':
        running = false;
        break;
      case 'checkpoint':
        await checkpoint();
        break;
      case 'samples':
        samples(m.count);
        break;
      case 'load':
        load(m.model, m.runJson);
        break;
      case 'query':
        query(m.caption, m.k);
        break;
      case 'ground':
        ground(m.scene, m.caption);
        break;
    }
  } catch (err) {
    running = false;
    post({ type: 'error', message: (err as Error).message ?? String(err) });
  }
};
